"""Raw tracepoints (``raw_tp/NAME``, ``raw_tracepoint.w/NAME``): BPF_RAW_TRACEPOINT_OPEN."""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import AttachError, KernelError
from . import _kernel as K
from .base import Link, fdnum


def attach_raw_tracepoint(program: Any, name: str, *, cookie: int = 0) -> Link:
    """Attach a raw tracepoint program to tracepoint ``name`` (e.g. ``"sched_switch"``).

    Needs Linux 4.17+ (cookies 6.10+). Close the returned Link to detach.
    """
    if not name or "/" in name:
        raise AttachError("a raw tracepoint is named by the tracepoint alone "
                          "(e.g. 'sched_switch', not 'sched/sched_switch')",
                          hook="raw_tp", target=name)
    try:
        fd = K.raw_tracepoint_open(name, fdnum(program), cookie)
    except KernelError as e:
        hint = " (no such tracepoint?)" if e.errno == 2 else ""
        raise AttachError(f"{e}{hint}", hook="raw_tp", target=name, cause=e) from e
    return Link(fd, program, "raw_tp", name)


__all__ = ["attach_raw_tracepoint"]
