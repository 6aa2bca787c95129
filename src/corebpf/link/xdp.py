"""XDP: a bpf_link on an interface (Linux 5.9+), or the netlink IFLA_XDP fallback.

Modes: ``"native"`` (driver), ``"generic"`` (skb, works everywhere), ``"offload"``, or
``None`` (let the kernel choose: native when the driver has it, else generic).
"""
from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import AttachError, KernelError
from . import _kernel as K
from . import _netlink as NL
from .base import Link, fdnum

BPF_XDP = 37
XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_FLAGS_HW_MODE = 1 << 3
XDP_FLAGS_REPLACE = 1 << 4
MODES = {None: 0, "auto": 0, "generic": XDP_FLAGS_SKB_MODE, "skb": XDP_FLAGS_SKB_MODE,
         "native": XDP_FLAGS_DRV_MODE, "driver": XDP_FLAGS_DRV_MODE,
         "drv": XDP_FLAGS_DRV_MODE, "offload": XDP_FLAGS_HW_MODE, "hw": XDP_FLAGS_HW_MODE}
IFLA_XDP = 43
IFLA_XDP_FD = 1
IFLA_XDP_FLAGS = 3


def attach_xdp(program: Any, iface: str | int, *, mode: str | None = None,
               use_link: bool | None = None) -> Link:
    """Attach an XDP program to interface ``iface`` (name or index).

    ``attach_xdp(prog, "eth0", mode="generic")``. Uses an XDP link (5.9+), falling back to
    netlink on kernels without one (``use_link=False`` forces netlink). Close to detach.
    """
    if mode not in MODES:
        raise AttachError(f"unknown XDP mode {mode!r}; use one of native, generic, offload",
                          hook="xdp", target=str(iface))
    try:
        idx = NL.ifindex(iface)
    except KernelError as e:
        raise AttachError(str(e), hook="xdp", target=str(iface), cause=e) from e
    flags = MODES[mode]
    target = f"{iface}" + (f" ({mode})" if mode else "")
    if use_link is not False:
        try:
            fd = K.link_create(fdnum(program), idx, BPF_XDP, flags)
            return Link(fd, program, "xdp", target)
        except KernelError as e:
            if use_link or e.errno not in (22, 95, 524):
                hint = ""
                if e.errno == 16:
                    hint = " (another XDP program is attached there)"
                elif e.errno in (95, 524) and mode in ("native", "driver", "drv"):
                    hint = " (the driver has no native XDP: try mode='generic')"
                raise AttachError(f"{e}{hint}", hook="xdp", target=target, cause=e) from e
    return _attach_netlink(program, idx, flags, target)


def _set_link_xdp(idx: int, prog_fd: int, flags: int, what: str) -> None:
    body = struct.pack("<BBHiII", 0, 0, 0, idx, 0, 0)
    nested = NL.attr(IFLA_XDP_FD, struct.pack("<i", prog_fd))
    if flags:
        nested += NL.attr_u32(IFLA_XDP_FLAGS, flags)
    body += NL.attr(IFLA_XDP | NL.NLA_F_NESTED, nested)
    NL.request(NL.RTM_SETLINK, 0, body, what)


def _attach_netlink(program: Any, idx: int, flags: int, target: str) -> Link:
    flags |= XDP_FLAGS_UPDATE_IF_NOEXIST
    try:
        _set_link_xdp(idx, fdnum(program), flags, "netlink IFLA_XDP attach")
    except KernelError as e:
        raise AttachError(str(e), hook="xdp", target=target, cause=e) from e
    det_flags = flags & ~XDP_FLAGS_UPDATE_IF_NOEXIST

    def undo() -> None:
        _set_link_xdp(idx, -1, det_flags, "netlink IFLA_XDP detach")
    return Link(None, program, "xdp", target, undo=undo)


__all__ = ["attach_xdp", "MODES"]
