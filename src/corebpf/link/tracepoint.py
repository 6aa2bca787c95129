"""Tracepoints (``tp/CATEGORY/NAME``): a perf event of type TRACEPOINT + a perf link."""
from __future__ import annotations

import os
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import AttachError, KernelError
from . import _kernel as K
from .base import Link
from .perf_event import PERF_TYPE_TRACEPOINT, attach_perf_fd


def tracepoint_id(category: str, name: str) -> int:
    """The id of tracepoint ``category:name`` from tracefs (mounted if needed)."""
    if not category or not name or "/" in category or "/" in name or ".." in (category, name):
        raise AttachError("a tracepoint is named CATEGORY/NAME (e.g. sched/sched_process_exec)",
                          hook="tracepoint", target=f"{category}/{name}")
    try:
        root = K.tracefs()
    except KernelError as e:
        raise AttachError(f"tracefs is not mounted and cannot be mounted: {e}",
                          hook="tracepoint", target=f"{category}/{name}", cause=e) from e
    path = os.path.join(root, "events", category, name, "id")
    try:
        with open(path) as f:
            return int(f.read())
    except FileNotFoundError:
        raise AttachError(f"no such tracepoint (no {path}); list them in "
                          f"{root}/available_events", hook="tracepoint",
                          target=f"{category}/{name}") from None
    except (OSError, ValueError) as e:
        raise AttachError(f"cannot read {path}: {e}", hook="tracepoint",
                          target=f"{category}/{name}", cause=e) from e


def attach_tracepoint(program: Any, category: str, name: str | None = None, *,
                      cookie: int = 0, use_link: bool | None = None) -> Link:
    """Attach a tracepoint program to ``category:name``.

    ``attach_tracepoint(prog, "sched", "sched_process_exec")`` (or ``"sched/sched_process_exec"``
    as one argument). Needs Linux 4.7+; a perf link (5.15+) when available, else the perf
    event ioctl (``use_link=False`` forces it). Close the returned Link to detach.
    """
    if name is None:
        category, _, name = category.replace(":", "/").partition("/")
    tid = tracepoint_id(category, name)
    target = f"{category}/{name}"
    try:
        pfd = K.perf_event_open(PERF_TYPE_TRACEPOINT, tid, pid=-1, cpu=0,
                                sample_period=1, wakeup_events=1)
    except KernelError as e:
        raise AttachError(f"perf_event_open: {e}", hook="tracepoint", target=target,
                          cause=e) from e
    return attach_perf_fd(program, pfd, "tracepoint", target, cookie, use_link=use_link)


__all__ = ["attach_tracepoint", "tracepoint_id"]
