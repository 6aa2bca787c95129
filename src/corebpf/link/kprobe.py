"""kprobes: kprobe/kretprobe (perf PMU or legacy kprobe_events), kprobe.multi, ksyscall.

On kernels without kprobes (CONFIG_KPROBES off: no ``kprobe`` PMU and no kprobe_events in
tracefs) every attach raises ``HookUnavailable`` (an AttachError and a NotSupported) that
says so, before touching anything.
"""
from __future__ import annotations

import ctypes
import itertools
import os
import platform
import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Sequence

from ..errors import AttachError, KernelError
from . import _kernel as K
from .base import HookUnavailable, Link, fdnum
from .perf_event import attach_perf_fd, attach_tracefs_probe

BPF_TRACE_KPROBE_MULTI = 42
BPF_F_KPROBE_MULTI_RETURN = 1
_PMU = "/sys/bus/event_source/devices/kprobe"
UNAVAILABLE = "kprobes are not available on this kernel (CONFIG_KPROBES off or no kprobe PMU)"
_seq = itertools.count()  # unique tracefs event names within this process


def kprobes_available() -> bool:
    """True if this kernel can create kprobes (a kprobe PMU or tracefs kprobe_events)."""
    if os.path.exists(_PMU + "/type"):
        return True
    try:
        return os.path.exists(os.path.join(K.tracefs(), "kprobe_events"))
    except KernelError:
        return False


def _require(hook: str, target: str | None) -> None:
    if not kprobes_available():
        raise HookUnavailable(UNAVAILABLE, hook=hook, target=target,
                              command="perf_event_open(kprobe)", err=95)


def _pmu_bit(name: str) -> int:
    with open(f"{_PMU}/format/{name}") as f:
        spec = f.read().strip()  # "config:0"
    return int(spec.split(":")[1].split("-")[0])


def attach_kprobe(program: Any, func: str, offset: int = 0, *, retprobe: bool = False,
                  cookie: int = 0) -> Link:
    """Attach a kprobe (``retprobe=True``: kretprobe) program at ``func+offset``.

    Example: ``attach_kprobe(prog, "do_unlinkat")``. Needs CONFIG_KPROBES (perf PMU 4.17+).
    """
    hook = "kretprobe" if retprobe else "kprobe"
    _require(hook, func)
    if os.path.exists(_PMU + "/type"):
        with open(_PMU + "/type") as f:
            ptype = int(f.read())
        name = ctypes.create_string_buffer(func.encode())
        config = (1 << _pmu_bit("retprobe")) if retprobe else 0
        try:
            pfd = K.perf_event_open(ptype, config, config1=ctypes.addressof(name),
                                    config2=offset, sample_period=1, wakeup_events=1)
        except KernelError as e:
            raise AttachError(f"{e} (unknown or non-probeable function?)", hook=hook,
                              target=func, cause=e) from e
        return attach_perf_fd(program, pfd, hook, func, cookie)
    return _attach_legacy(program, func, offset, retprobe, cookie)


def _attach_legacy(program: Any, func: str, offset: int, retprobe: bool,
                   cookie: int) -> Link:
    hook = "kretprobe" if retprobe else "kprobe"
    ev = (f"corebpf_{os.getpid()}_{next(_seq)}_"
          f"{''.join(c if c.isalnum() else '_' for c in func)[:32]}_{offset}")
    probe = func + (f"+{offset}" if offset else "")
    return attach_tracefs_probe(program, "kprobe", ev, probe, retprobe, hook, func, cookie)


def attach_kretprobe(program: Any, func: str, offset: int = 0, *, cookie: int = 0) -> Link:
    """Attach a kretprobe program on return of ``func``."""
    return attach_kprobe(program, func, offset, retprobe=True, cookie=cookie)


def syscall_prefix() -> str:
    """The arch prefix of syscall entry points (``__x64_sys_`` on x86-64)."""
    m = platform.machine()
    return {"x86_64": "__x64_sys_", "aarch64": "__arm64_sys_", "s390x": "__s390x_sys_",
            "riscv64": "__riscv_sys_"}.get(m, "sys_")


def attach_ksyscall(program: Any, syscall: str, *, retprobe: bool = False,
                    cookie: int = 0) -> Link:
    """Attach a kprobe to the entry (or return) of system call ``syscall`` (``"openat"``)."""
    _require("kretsyscall" if retprobe else "ksyscall", syscall)
    return attach_kprobe(program, syscall_prefix() + syscall, retprobe=retprobe, cookie=cookie)


def attach_kprobe_multi(program: Any, symbols: Sequence[str] | str, *,
                        retprobe: bool = False, cookies: Sequence[int] | None = None) -> Link:
    """Attach one program to many kernel functions at once (Linux 5.18+).

    ``symbols`` is a list of names or a glob pattern matched against
    available_filter_functions.
    """
    hook = "kretprobe.multi" if retprobe else "kprobe.multi"
    target = symbols if isinstance(symbols, str) else ",".join(symbols)
    _require(hook, target)
    if isinstance(symbols, str):
        import fnmatch
        try:
            with open(os.path.join(K.tracefs(), "available_filter_functions")) as f:
                names = {ln.split()[0] for ln in f if ln.strip()}
        except OSError as e:
            raise AttachError(f"cannot list functions: {e}", hook=hook, target=target) from e
        symbols = sorted(n for n in names if fnmatch.fnmatchcase(n, symbols))
        if not symbols:
            raise AttachError("no function matches", hook=hook, target=target)
    bufs = [ctypes.create_string_buffer(s.encode()) for s in symbols]
    ptrs = (ctypes.c_uint64 * len(bufs))(*[ctypes.addressof(b) for b in bufs])
    ck = (ctypes.c_uint64 * len(bufs))(*(cookies or [0] * len(bufs)))
    tail = struct.pack("<IIQQQ", BPF_F_KPROBE_MULTI_RETURN if retprobe else 0, len(bufs),
                       ctypes.addressof(ptrs), 0, ctypes.addressof(ck) if cookies else 0)
    try:
        fd = K.link_create(fdnum(program), 0, BPF_TRACE_KPROBE_MULTI, 0, tail)
    except KernelError as e:
        raise AttachError(str(e), hook=hook, target=target, cause=e) from e
    return Link(fd, program, hook, target)


__all__ = ["attach_kprobe", "attach_kretprobe", "attach_ksyscall", "attach_kprobe_multi",
           "kprobes_available", "UNAVAILABLE"]
