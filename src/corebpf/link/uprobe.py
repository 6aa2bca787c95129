"""uprobes: uprobe/uretprobe on a function of an executable or shared library, uprobe.multi.

A target is a path (``/usr/bin/bash``), a program on ``$PATH`` (``bash``), or a library
name (``libc.so.6``, ``libc``) found in the library directories or, with ``pid``, in
``/proc/PID/maps``. Functions are found in .symtab/.dynsym and turned into file offsets.
"""
from __future__ import annotations

import ctypes
import itertools
import os
import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Sequence

from ..errors import AttachError, KernelError
from . import _kernel as K
from ._elf import ElfFile
from .base import HookUnavailable, Link, fdnum, prog_name
from .perf_event import attach_perf_fd, attach_tracefs_probe

BPF_TRACE_UPROBE_MULTI = 48
BPF_F_UPROBE_MULTI_RETURN = 1
_PMU = "/sys/bus/event_source/devices/uprobe"
_LIB_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
             "/lib", "/usr/lib", "/usr/local/lib")
_seq = itertools.count()  # unique tracefs event names within this process


def resolve_path(binary: str, pid: int | None = None) -> str:
    """The absolute path of ``binary`` (a path, a command on $PATH, or a library name)."""
    if "/" in binary:
        if pid is not None and not os.path.exists(binary):
            alt = f"/proc/{pid}/root{binary}"
            if os.path.exists(alt):
                return alt
        if not os.path.exists(binary):
            raise AttachError("no such file", hook="uprobe", target=binary)
        return os.path.abspath(binary)
    is_lib = binary.startswith("lib") or ".so" in binary
    if pid is not None and is_lib:
        for path in _maps_paths(pid):
            base = os.path.basename(path)
            if base == binary or base.startswith(binary + ".") or \
                    base.startswith(binary + "-") or base.startswith(binary + ".so"):
                return path
    if is_lib:
        for d in _LIB_DIRS:
            for cand in (binary, binary + ".so"):
                p = os.path.join(d, cand)
                if _is_elf(p):   # libc.so is a linker script, libc.so.6 the library
                    return os.path.realpath(p)
        for d in _LIB_DIRS:
            try:
                names = sorted(os.listdir(d))
            except OSError:
                continue
            for n in names:
                if (n.startswith(binary + ".so") or n.startswith(binary + "-")) and \
                        _is_elf(os.path.join(d, n)):
                    return os.path.realpath(os.path.join(d, n))
    else:
        for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
            p = os.path.join(d, binary)
            if d and os.path.isfile(p) and os.access(p, os.X_OK):
                return os.path.realpath(p)
    raise AttachError("cannot find this binary or library (give a path)", hook="uprobe",
                      target=binary)


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _maps_paths(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/maps") as f:
            out = []
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    p = parts[5].strip()
                    if p not in out:
                        out.append(p)
            return out
    except OSError as e:
        raise AttachError(f"cannot read /proc/{pid}/maps: {e.strerror}", hook="uprobe",
                          target=str(pid), cause=e) from e


def symbol_offset(binary: str, func: str, pid: int | None = None) -> tuple[str, int]:
    """(resolved path, file offset) of ``func`` in ``binary``. ``func`` may be ``name+0x10``
    or a hex address ``0x1139`` (taken as a virtual address)."""
    path = resolve_path(binary, pid)
    extra = 0
    if "+" in func:
        func, _, off = func.partition("+")
        try:
            extra = int(off, 0)
        except ValueError:
            raise AttachError(f"bad offset {off!r}", hook="uprobe",
                              target=f"{binary}:{func}") from None
    with ElfFile(path) as elf:
        if func.startswith("0x"):
            return path, elf.addr_to_offset(int(func, 16)) + extra
        return path, elf.symbol_offset(func) + extra


def _pmu_type() -> int:
    try:
        with open(_PMU + "/type") as f:
            return int(f.read())
    except OSError:
        return -1


def attach_uprobe(program: Any, binary: str, func: str | None = None, *, offset: int = 0,
                  retprobe: bool = False, pid: int | None = None, ref_ctr_offset: int = 0,
                  cookie: int = 0) -> Link:
    """Attach a uprobe (``retprobe=True``: uretprobe) to ``func`` (+``offset``) of ``binary``.

    With ``func=None`` ``offset`` is the file offset. ``pid`` limits the probe to one
    process (and helps find libraries through /proc/PID/maps). Example:
    ``attach_uprobe(prog, "libc.so.6", "malloc")``. Needs Linux 4.17+ (perf PMU). Close the
    returned Link to detach.
    """
    hook = "uretprobe" if retprobe else "uprobe"
    if func is not None:
        path, off = symbol_offset(binary, func, pid)
        off += offset
        target = f"{path}:{func}" + (f"+{offset}" if offset else "")
    else:
        path, off = resolve_path(binary, pid), offset
        target = f"{path}:{offset:#x}"
    ptype = _pmu_type()
    if ptype < 0:
        return _attach_legacy(program, path, off, retprobe, pid, cookie, hook, target)
    pathbuf = ctypes.create_string_buffer(os.fsencode(path))
    config = (1 if retprobe else 0) | (ref_ctr_offset << 32)
    try:
        pfd = K.perf_event_open(ptype, config, pid=-1 if pid is None else pid,
                                cpu=0 if pid is None else -1,
                                config1=ctypes.addressof(pathbuf), config2=off,
                                sample_period=1, wakeup_events=1)
    except KernelError as e:
        raise AttachError(f"program {prog_name(program)!r}: perf_event_open: {e}", hook=hook,
                          target=target, cause=e) from e
    return attach_perf_fd(program, pfd, hook, target, cookie)


def _attach_legacy(program: Any, path: str, off: int, retprobe: bool, pid: int | None,
                   cookie: int, hook: str, target: str) -> Link:
    ev = f"corebpf_{os.getpid()}_{next(_seq)}_{'r' if retprobe else 'p'}_{off:x}"
    return attach_tracefs_probe(program, "uprobe", ev, f"{path}:{off:#x}", retprobe, hook,
                                target, cookie, pid)


def attach_uretprobe(program: Any, binary: str, func: str | None = None, **kw: Any) -> Link:
    """Attach a uretprobe: runs when ``func`` of ``binary`` returns."""
    return attach_uprobe(program, binary, func, retprobe=True, **kw)


def _kernel_before(major: int, minor: int) -> bool:
    try:
        rel = os.uname().release.split("-")[0].split(".")
        return (int(rel[0]), int(rel[1])) < (major, minor)
    except (ValueError, IndexError):
        return False


def attach_uprobe_multi(program: Any, binary: str,
                        funcs: Sequence[str] | str | None = None, *,
                        offsets: Sequence[int] | None = None, retprobe: bool = False,
                        pid: int = 0, cookies: Sequence[int] | None = None,
                        ref_ctr_offsets: Sequence[int] | None = None) -> Link:
    """Attach one ``uprobe.multi`` program to many places of ``binary`` (Linux 6.6+).

    ``funcs`` is a list of function names (``"name+0x4"`` for an offset into one) or a glob
    pattern over the binary's function symbols (functions sharing an address are probed
    once); or give raw file ``offsets``. ``cookies`` / ``ref_ctr_offsets``: one per place,
    with an explicit list. ``pid`` limits the probes to that process.
    """
    hook = "uretprobe.multi" if retprobe else "uprobe.multi"
    pname = prog_name(program)
    if (funcs is None) == (offsets is None):
        raise AttachError(f"program {pname!r}: give funcs (names or a glob) or offsets, "
                          "not both", hook=hook, target=binary)
    path = resolve_path(binary, pid or None)
    if offsets is not None:
        offs = [int(o) for o in offsets]
        names = [f"{o:#x}" for o in offs]
    else:
        with ElfFile(path) as elf:
            if isinstance(funcs, str):
                if cookies is not None or ref_ctr_offsets is not None:
                    raise AttachError(f"program {pname!r}: cookies and ref_ctr_offsets need "
                                      "an explicit list of functions (a glob's matches "
                                      "have no fixed order)", hook=hook,
                                      target=f"{path}:{funcs}")
                import fnmatch
                names, offs, seen = [], [], set()
                for n in sorted(n for n in elf.symbols() if "@" not in n
                                and fnmatch.fnmatchcase(n, funcs)):
                    off = elf.symbol_offset(n)
                    if off not in seen:   # aliases (getppid, __getppid): one probe
                        seen.add(off)
                        names.append(n)
                        offs.append(off)
                if not names:
                    raise AttachError(f"program {pname!r}: no function of {path} matches "
                                      f"{funcs!r}", hook=hook, target=f"{path}:{funcs}")
            else:
                names = [str(f) for f in funcs]  # type: ignore[union-attr]
                offs = [_func_offset(elf, f, hook, path, pname) for f in names]
    n = len(offs)
    target = f"{path}:{','.join(names)}"
    if not n:
        raise AttachError(f"program {pname!r}: no functions given", hook=hook, target=target)
    for what, seq in (("cookies", cookies), ("ref_ctr_offsets", ref_ctr_offsets)):
        if seq is not None and len(seq) != n:
            raise AttachError(f"program {pname!r}: {len(seq)} {what} for {n} places",
                              hook=hook, target=target)
    pathbuf = ctypes.create_string_buffer(os.fsencode(path))
    a_offs = (ctypes.c_uint64 * n)(*offs)
    a_ck = (ctypes.c_uint64 * n)(*(cookies or [0] * n))
    a_ref = (ctypes.c_uint64 * n)(*(ref_ctr_offsets or [0] * n))
    tail = struct.pack("<QQQQIII", ctypes.addressof(pathbuf), ctypes.addressof(a_offs),
                       ctypes.addressof(a_ref) if ref_ctr_offsets else 0,
                       ctypes.addressof(a_ck) if cookies else 0, n,
                       BPF_F_UPROBE_MULTI_RETURN if retprobe else 0, pid)
    try:
        fd = K.link_create(fdnum(program), 0, BPF_TRACE_UPROBE_MULTI, 0, tail)
    except KernelError as e:
        eat = getattr(program, "expected_attach_type", None)
        if e.errno in (22, 95) and eat in (None, BPF_TRACE_UPROBE_MULTI) and \
                _kernel_before(6, 6):
            raise HookUnavailable(f"program {pname!r}: uprobe.multi links need Linux 6.6+ "
                                  f"(this kernel is {os.uname().release}); use uprobe/ "
                                  "sections, one link per function", hook=hook,
                                  target=target, command="link_create(uprobe_multi)",
                                  err=e.errno or 95) from e
        hint = ""
        if e.errno == 22:
            hint = ("; load the program from a 'uprobe.multi' section (expected attach "
                    "type BPF_TRACE_UPROBE_MULTI)" if eat not in (None, BPF_TRACE_UPROBE_MULTI)
                    else "; an offset is not an instruction of the file, or bad flags")
        elif e.errno == 3:
            hint = f"; no process {pid}"
        raise AttachError(f"program {pname!r}: {e}{hint}", hook=hook, target=target,
                          cause=e) from e
    return Link(fd, program, hook, target)


def _func_offset(elf: ElfFile, func: str, hook: str, path: str, pname: str) -> int:
    name, plus, extra = func.partition("+")
    try:
        add = int(extra, 0) if plus else 0
    except ValueError:
        raise AttachError(f"program {pname!r}: bad offset {extra!r}", hook=hook,
                          target=f"{path}:{func}") from None
    try:
        return elf.symbol_offset(name) + add
    except AttachError as e:   # the ELF reader names the symbol; say whose attach it was
        msg = str(e).partition(": ")[2] or str(e)
        raise AttachError(f"program {pname!r}: {msg}", hook=hook,
                          target=f"{path}:{func}") from None


__all__ = ["attach_uprobe", "attach_uretprobe", "attach_uprobe_multi", "symbol_offset",
           "resolve_path"]
