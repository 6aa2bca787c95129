"""The kernel calls link/ uses, as plain-int-fd wrappers over ``corebpf._sys``.

Only ``_sys`` talks to the kernel; this module adapts its ``FD``-returning calls to the
ints that ``Link`` owns (a Link closes its fds itself, in a fixed order).
"""
from __future__ import annotations

import os
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from .. import _sys
from ..errors import KernelError

PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_SET_BPF = 0x40042408


def kernel_error(command: str, err: int, hint: str = "", detail: str = "") -> KernelError:
    return _sys.error_from_errno(command, err, detail, hint)


def link_create(prog_fd: int, target_fd: int, attach_type: int, flags: int = 0,
                tail: bytes = b"") -> int:
    """BPF_LINK_CREATE; ``tail`` holds the kind-specific fields (from offset 16)."""
    return _sys.link_create(prog_fd, target_fd, attach_type, flags, tail or None).detach()


def link_update(link_fd: int, new_prog_fd: int, flags: int = 0, old_prog_fd: int = 0) -> None:
    _sys.link_update(link_fd, new_prog_fd, flags, old_prog_fd or None)


def link_detach(link_fd: int) -> None:
    _sys.link_detach(link_fd)


def link_get_fd_by_id(link_id: int) -> int:
    return _sys.link_get_fd_by_id(link_id).detach()


def raw_tracepoint_open(name: str | None, prog_fd: int, cookie: int = 0) -> int:
    return _sys.raw_tracepoint_open(prog_fd, name, cookie).detach()


def prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0,
                replace_fd: int = 0) -> None:
    _sys.prog_attach(prog_fd, target_fd, attach_type, flags,
                     replace_bpf_fd=replace_fd or None)


def prog_detach(target_fd: int, prog_fd: int, attach_type: int) -> None:
    _sys.prog_detach(target_fd, attach_type, prog_fd)


def prog_query(target_fd: int, attach_type: int, max_ids: int = 64) -> list[int]:
    """Program ids attached to ``target_fd`` for ``attach_type``."""
    return list(_sys.prog_query(target_fd, attach_type, max_progs=max_ids).prog_ids)


def obj_pin(fd: int, path: str) -> None:
    _sys.obj_pin(fd, path)


def obj_get(path: str, flags: int = 0) -> int:
    return _sys.obj_get(path, flags, kind="link").detach()


def obj_get_info(fd: int, info: Any) -> int:
    """Fill ``info`` (a writable buffer) with the object's bpf_*_info; returns bytes used."""
    return len(_sys.obj_get_info_by_fd(fd, info))


def iter_create(link_fd: int) -> int:
    return _sys.iter_create(link_fd).detach()


def perf_event_open(type: int, config: int = 0, *, pid: int = -1, cpu: int = 0,
                    **kw: Any) -> int:
    """perf_event_open(2) (close-on-exec); keywords as ``_sys.perf_event_open``."""
    return _sys.perf_event_open(type, config, pid=pid, cpu=cpu, **kw).detach()


def ioctl(fd: int, request: int, arg: int = 0, command: str = "ioctl") -> int:
    return _sys.ioctl(fd, request, arg, command)


def tracefs() -> str:
    """The tracefs mount point, mounting it at /sys/kernel/tracing if nothing is mounted."""
    p = _sys.tracefs_path()
    if p is not None:
        return p
    if os.path.isdir("/sys/kernel/tracing/events"):
        return "/sys/kernel/tracing"
    return _sys.mount_tracefs()


def tracefs_append(path: str, line: str) -> None:
    """Append one command line to a tracefs control file (kprobe_events, uprobe_events).

    Raw os.write: Python's append mode seeks to the end first, which tracefs refuses."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def fd_close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
