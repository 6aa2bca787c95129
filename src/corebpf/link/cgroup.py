"""cgroup hooks: every cgroup attach type, through a cgroup link (5.7+) or BPF_PROG_ATTACH.

``attach_cgroup(prog, "/sys/fs/cgroup/unified/mygroup")`` finds the attach type from the
program (its expected attach type or its section name, e.g. ``cgroup_skb/egress``);
``attach_type=`` (a name such as ``"inet_egress"`` or a number) overrides it. Several
programs may share a hook (links are always multi; the fallback uses BPF_F_ALLOW_MULTI).
"""
from __future__ import annotations

import os
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import AttachError, KernelError
from . import _kernel as K
from .base import Link, fdnum

BPF_F_ALLOW_OVERRIDE = 1 << 0
BPF_F_ALLOW_MULTI = 1 << 1

# attach type names (bpf_attach_type without the BPF_CGROUP_ prefix, lower case)
ATTACH_TYPES = {
    "inet_ingress": 0, "inet_egress": 1, "inet_sock_create": 2, "sock_ops": 3, "device": 6,
    "inet4_bind": 8, "inet6_bind": 9, "inet4_connect": 10, "inet6_connect": 11,
    "inet4_post_bind": 12, "inet6_post_bind": 13, "udp4_sendmsg": 14, "udp6_sendmsg": 15,
    "sysctl": 18, "udp4_recvmsg": 19, "udp6_recvmsg": 20, "getsockopt": 21,
    "setsockopt": 22, "inet4_getpeername": 29, "inet6_getpeername": 30,
    "inet4_getsockname": 31, "inet6_getsockname": 32, "inet_sock_release": 34,
    "lsm_cgroup": 43, "unix_connect": 49, "unix_sendmsg": 50, "unix_recvmsg": 51,
    "unix_getpeername": 52, "unix_getsockname": 53,
}
CGROUP_ATTACH_TYPES = frozenset(ATTACH_TYPES.values())

# section name (as libbpf spells it) -> attach type
SECTION_ATTACH = {
    "cgroup_skb/ingress": 0, "cgroup_skb/egress": 1, "cgroup/skb": 0,
    "cgroup/sock_create": 2, "cgroup/sock": 2, "cgroup/sock_release": 34, "sockops": 3,
    "cgroup/dev": 6, "cgroup/bind4": 8, "cgroup/bind6": 9, "cgroup/connect4": 10,
    "cgroup/connect6": 11, "cgroup/post_bind4": 12, "cgroup/post_bind6": 13,
    "cgroup/sendmsg4": 14, "cgroup/sendmsg6": 15, "cgroup/sysctl": 18,
    "cgroup/recvmsg4": 19, "cgroup/recvmsg6": 20, "cgroup/getsockopt": 21,
    "cgroup/setsockopt": 22, "cgroup/getpeername4": 29, "cgroup/getpeername6": 30,
    "cgroup/getsockname4": 31, "cgroup/getsockname6": 32, "cgroup/connect_unix": 49,
    "cgroup/sendmsg_unix": 50, "cgroup/recvmsg_unix": 51, "cgroup/getpeername_unix": 52,
    "cgroup/getsockname_unix": 53,
}
_NAMES = {v: k for k, v in ATTACH_TYPES.items()}


def cgroup_attach_type(program: Any, attach_type: int | str | None = None) -> int:
    """The cgroup attach type for ``program`` (explicit, expected, or from its section)."""
    if isinstance(attach_type, str):
        key = attach_type.lower().removeprefix("bpf_cgroup_").removeprefix("cgroup_")
        if key not in ATTACH_TYPES:
            raise AttachError(f"unknown cgroup attach type {attach_type!r}; known: "
                              f"{', '.join(ATTACH_TYPES)}", hook="cgroup")
        return ATTACH_TYPES[key]
    if attach_type is not None:
        return attach_type
    sec = str(getattr(program, "section", "") or "")
    if sec.startswith("lsm_cgroup"):
        return ATTACH_TYPES["lsm_cgroup"]
    if sec in SECTION_ATTACH:
        return SECTION_ATTACH[sec]
    eat = getattr(program, "expected_attach_type", None)
    if eat in CGROUP_ATTACH_TYPES and (eat or sec.startswith("cgroup")):
        return eat
    raise AttachError(f"cannot tell the cgroup attach type of section {sec!r}: give "
                      "attach_type=", hook="cgroup")


def attach_cgroup(program: Any, cgroup: str | int, *, attach_type: int | str | None = None,
                  use_link: bool | None = None, flags: int = 0) -> Link:
    """Attach a cgroup program (skb, sock, sock_addr, sockopt, sysctl, dev, sock_ops,
    lsm_cgroup) to the cgroup v2 directory ``cgroup`` (a path or an open fd).

    Uses a cgroup link (Linux 5.7+) or, failing that (or ``use_link=False``),
    BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI. Close the Link to detach.
    """
    atype = cgroup_attach_type(program, attach_type)
    hook = f"cgroup/{_NAMES.get(atype, atype)}"
    own = isinstance(cgroup, str)
    try:
        cfd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if own else cgroup
    except OSError as e:
        raise AttachError(f"cannot open cgroup: {e.strerror}", hook=hook, target=str(cgroup),
                          cause=e) from e
    try:
        if use_link is not False:
            try:
                fd = K.link_create(fdnum(program), cfd, atype, 0)
                return Link(fd, program, hook, cgroup)
            except KernelError as e:
                if use_link or e.errno not in (22, 95, 524):
                    raise AttachError(str(e), hook=hook, target=str(cgroup), cause=e) from e
        mflags = flags or BPF_F_ALLOW_MULTI
        try:
            K.prog_attach(cfd, fdnum(program), atype, mflags)
        except KernelError as e:
            raise AttachError(str(e), hook=hook, target=str(cgroup), cause=e) from e
        dfd = os.dup(cfd)
        pfd = os.dup(fdnum(program))  # the detach names the program by fd

        def undo() -> None:
            try:
                K.prog_detach(dfd, pfd, atype)
            except KernelError as e:
                if e.errno != 2:
                    raise
        return Link(None, program, hook, cgroup, owned=[dfd, pfd], undo=undo)
    finally:
        if own:
            os.close(cfd)


def query_cgroup(cgroup: str, attach_type: int | str) -> list[int]:
    """Ids of the programs attached to ``cgroup`` at ``attach_type``."""
    atype = cgroup_attach_type(None, attach_type)
    fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return K.prog_query(fd, atype)
    finally:
        os.close(fd)


__all__ = ["attach_cgroup", "cgroup_attach_type", "query_cgroup", "ATTACH_TYPES"]
