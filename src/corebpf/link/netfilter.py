"""Netfilter hooks for BPF programs (``netfilter`` sections, Linux 6.4+)."""
from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import AttachError, KernelError
from . import _kernel as K
from .base import Link, fdnum

BPF_NETFILTER = 45
NFPROTO = {"ipv4": 2, "inet4": 2, "ip": 2, "ipv6": 10, "inet6": 10, "ip6": 10}
HOOKS = {"prerouting": 0, "pre_routing": 0, "input": 1, "local_in": 1, "forward": 2,
         "output": 3, "local_out": 3, "postrouting": 4, "post_routing": 4}
BPF_F_NETFILTER_IP_DEFRAG = 1


def attach_netfilter(program: Any, pf: str | int = "ipv4", hook: str | int = "input", *,
                     priority: int = 0, defrag: bool = False) -> Link:
    """Attach a netfilter program at ``pf`` (ipv4/ipv6) ``hook`` (prerouting, input,
    forward, output, postrouting) with ``priority`` (not 0 on most kernels: use e.g. -128)."""
    p = NFPROTO.get(pf, -1) if isinstance(pf, str) else pf
    h = HOOKS.get(hook.lower(), -1) if isinstance(hook, str) else hook
    if p < 0 or h < 0:
        raise AttachError(f"unknown netfilter family/hook {pf!r}/{hook!r}", hook="netfilter")
    tail = struct.pack("<IIiI", p, h, priority, BPF_F_NETFILTER_IP_DEFRAG if defrag else 0)
    target = f"{pf}/{hook} prio {priority}"
    try:
        fd = K.link_create(fdnum(program), 0, BPF_NETFILTER, 0, tail)
    except KernelError as e:
        hint = " (priority must be neither 0 nor INT_MIN/INT_MAX)" if e.errno == 22 else ""
        raise AttachError(f"{e}{hint}", hook="netfilter", target=target, cause=e) from e
    return Link(fd, program, "netfilter", target)


__all__ = ["attach_netfilter"]
