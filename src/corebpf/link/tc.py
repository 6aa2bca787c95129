"""TC: tcx links (Linux 6.6+) and classic clsact qdisc + cls_bpf filters through netlink.

``attach_tc(prog, "eth0", "ingress")`` prefers a tcx link and falls back to clsact +
cls_bpf (direct-action) on kernels without tcx; ``mode="tcx"`` / ``mode="clsact"`` force
one. Closing a tcx link detaches it; closing a classic attachment deletes its filter (the
clsact qdisc stays, as other filters may use it; ``remove_clsact()`` removes it).
"""
from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import AttachError, KernelError
from . import _kernel as K
from . import _netlink as NL
from .base import Link, fdnum, prog_name

BPF_TCX_INGRESS = 46
BPF_TCX_EGRESS = 47
BPF_F_BEFORE = 1 << 3
BPF_F_AFTER = 1 << 4

TC_H_CLSACT = 0xFFFFFFF1
TC_H_MIN_INGRESS = 0xFFF2
TC_H_MIN_EGRESS = 0xFFF3
ETH_P_ALL = 0x0003
TCA_KIND = 1
TCA_OPTIONS = 2
TCA_BPF_FD = 6
TCA_BPF_NAME = 7
TCA_BPF_FLAGS = 8
TCA_BPF_FLAG_ACT_DIRECT = 1
DIRECTIONS = ("ingress", "egress")


def _direction(direction: str, iface: Any) -> str:
    d = (direction or "ingress").lower()
    if d not in DIRECTIONS:
        raise AttachError(f"direction must be 'ingress' or 'egress', not {direction!r}",
                          hook="tc", target=str(iface))
    return d


def attach_tcx(program: Any, iface: str | int, direction: str = "ingress", *,
               before: Any = None, after: Any = None, expected_revision: int = 0) -> Link:
    """Attach a SCHED_CLS program with a tcx link (Linux 6.6+); ``before``/``after`` place
    it relative to another program (or ``True`` for first/last)."""
    d = _direction(direction, iface)
    try:
        idx = NL.ifindex(iface)
    except KernelError as e:
        raise AttachError(str(e), hook="tcx", target=str(iface), cause=e) from e
    flags, rel = 0, 0
    if before is not None:
        flags |= BPF_F_BEFORE
        rel = 0 if before is True else fdnum(before)
    elif after is not None:
        flags |= BPF_F_AFTER
        rel = 0 if after is True else fdnum(after)
    tail = struct.pack("<IIQ", rel, 0, expected_revision)
    atype = BPF_TCX_INGRESS if d == "ingress" else BPF_TCX_EGRESS
    try:
        fd = K.link_create(fdnum(program), idx, atype, flags, tail)
    except KernelError as e:
        raise AttachError(str(e), hook="tcx", target=f"{iface}/{d}", cause=e) from e
    return Link(fd, program, "tcx", f"{iface}/{d}")


def _tcmsg(idx: int, handle: int, parent: int, info: int) -> bytes:
    return struct.pack("<BBHiIII", 0, 0, 0, idx, handle, parent, info)


def ensure_clsact(iface: str | int) -> bool:
    """Add a clsact qdisc to ``iface`` if it has none; True if one was added."""
    idx = NL.ifindex(iface)
    body = _tcmsg(idx, 0xFFFF0000, TC_H_CLSACT, 0) + NL.attr_str(TCA_KIND, "clsact")
    try:
        NL.request(NL.RTM_NEWQDISC, NL.NLM_F_CREATE | NL.NLM_F_EXCL, body, "add clsact qdisc")
    except KernelError as e:
        if e.errno == 17:  # EEXIST: already there
            return False
        raise
    return True


def remove_clsact(iface: str | int) -> None:
    """Delete the clsact qdisc (and so every classic TC filter) of ``iface``."""
    idx = NL.ifindex(iface)
    body = _tcmsg(idx, 0xFFFF0000, TC_H_CLSACT, 0) + NL.attr_str(TCA_KIND, "clsact")
    NL.request(NL.RTM_DELQDISC, 0, body, "delete clsact qdisc")


def attach_clsact(program: Any, iface: str | int, direction: str = "ingress", *,
                  priority: int = 1, handle: int = 0) -> Link:
    """Attach a SCHED_CLS program as a direct-action cls_bpf filter on clsact.

    Adds the clsact qdisc if missing. ``handle`` 0 picks the first free one at
    ``priority``. Close the Link to delete the filter.
    """
    d = _direction(direction, iface)
    target = f"{iface}/{d}"
    try:
        idx = NL.ifindex(iface)
        ensure_clsact(idx)
    except KernelError as e:
        raise AttachError(str(e), hook="tc", target=target, cause=e) from e
    parent = 0xFFFF0000 | (TC_H_MIN_INGRESS if d == "ingress" else TC_H_MIN_EGRESS)
    info = ((priority & 0xFFFF) << 16) | struct.unpack("<H", struct.pack(">H", ETH_P_ALL))[0]
    opts = (NL.attr_u32(TCA_BPF_FD, fdnum(program))
            + NL.attr_str(TCA_BPF_NAME, prog_name(program)[:255])
            + NL.attr_u32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT))
    handles = [handle] if handle else list(range(1, 65))
    for h in handles:
        body = (_tcmsg(idx, h, parent, info) + NL.attr_str(TCA_KIND, "bpf")
                + NL.attr(TCA_OPTIONS | NL.NLA_F_NESTED, opts))
        try:
            NL.request(NL.RTM_NEWTFILTER, NL.NLM_F_CREATE | NL.NLM_F_EXCL, body,
                       "add cls_bpf filter")
        except KernelError as e:
            if e.errno == 17 and not handle:
                continue
            raise AttachError(str(e), hook="tc", target=target, cause=e) from e
        break
    else:
        raise AttachError(f"no free filter handle at priority {priority}", hook="tc",
                          target=target)

    def undo(h: int = h) -> None:
        body = _tcmsg(idx, h, parent, info) + NL.attr_str(TCA_KIND, "bpf")
        try:
            NL.request(NL.RTM_DELTFILTER, 0, body, "delete cls_bpf filter")
        except KernelError as e:
            if e.errno not in (2, 19, 22):  # already gone (interface or qdisc deleted)
                raise
    link = Link(None, program, "tc", target, undo=undo)
    return link


def attach_tc(program: Any, iface: str | int, direction: str = "ingress", *,
              mode: str | None = None, priority: int = 1, handle: int = 0,
              **tcx: Any) -> Link:
    """Attach a TC (SCHED_CLS) program on ``iface`` ``direction``: tcx link when the
    kernel has it (6.6+), else clsact + cls_bpf. ``mode`` = "tcx" or "clsact" forces one."""
    if mode not in (None, "tcx", "clsact", "classic", "netlink"):
        raise AttachError(f"unknown TC mode {mode!r}; use 'tcx' or 'clsact'", hook="tc",
                          target=str(iface))
    if mode in (None, "tcx"):
        try:
            return attach_tcx(program, iface, direction, **tcx)
        except AttachError as e:
            if mode == "tcx" or getattr(e, "errno", None) not in (22, 95, 524):
                raise
    return attach_clsact(program, iface, direction, priority=priority, handle=handle)


__all__ = ["attach_tc", "attach_tcx", "attach_clsact", "ensure_clsact", "remove_clsact"]
