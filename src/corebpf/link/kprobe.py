"""kprobes: kprobe/kretprobe (perf PMU or legacy kprobe_events), kprobe.multi, ksyscall.

On kernels without kprobes (CONFIG_KPROBES off: no ``kprobe`` PMU and no kprobe_events in
tracefs) every attach raises ``HookUnavailable`` (an AttachError and a NotSupported) that
says so, before touching anything. kprobe.multi links also need CONFIG_FPROBE (off in
Debian's 6.1, for one): the kernel's EOPNOTSUPP becomes a ``HookUnavailable`` saying so.
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
from .base import HookUnavailable, Link, fdnum, prog_name
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


def _require(hook: str, target: str | None, program: Any = None) -> None:
    if not kprobes_available():
        who = f"program {prog_name(program)!r}: " if program is not None else ""
        raise HookUnavailable(who + UNAVAILABLE, hook=hook, target=target,
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
    _require(hook, func, program)
    if os.path.exists(_PMU + "/type"):
        with open(_PMU + "/type") as f:
            ptype = int(f.read())
        name = ctypes.create_string_buffer(func.encode())
        config = (1 << _pmu_bit("retprobe")) if retprobe else 0
        try:
            pfd = K.perf_event_open(ptype, config, config1=ctypes.addressof(name),
                                    config2=offset, sample_period=1, wakeup_events=1)
        except KernelError as e:
            raise AttachError(f"program {prog_name(program)!r}: {e} (unknown or "
                              "non-probeable function?)", hook=hook,
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
    _require("kretsyscall" if retprobe else "ksyscall", syscall, program)
    return attach_kprobe(program, syscall_prefix() + syscall, retprobe=retprobe, cookie=cookie)


_INVALID = "__ftrace_invalid_address__"  # placeholders ftrace lists for dropped functions


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _glob_regex(pattern: str) -> str:
    """A shell glob (``*``, ``?``, ``[...]``) as a regex for one whitespace-free name."""
    import re
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append(r"\S*")
        elif c == "?":
            out.append(r"\S")
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            j = pattern.find("]", j)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:j].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


# The files scanned here have 10^5 lines: one multi-line regex over the whole text keeps
# the scan in C (a Python loop per line costs seconds under emulation).
def _kallsyms(names: set[str] | None, pattern: str | None = None) -> dict[str, list[int]]:
    """Text symbols of /proc/kallsyms (name -> addresses) that are in ``names`` or match
    the glob ``pattern``; module entries ("name [mod]") count under their bare name."""
    import re
    text = _read("/proc/kallsyms")
    if not text:
        return {}
    if names is not None:
        if not names:
            return {}
        rx = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    else:
        rx = _glob_regex(pattern or "")
    out: dict[str, list[int]] = {}
    for m in re.finditer(rf"^([0-9a-f]+) [tT] ({rx})(?=\s|$)", text, re.M):
        out.setdefault(m.group(2), []).append(int(m.group(1), 16))
    return out


def resolve_kprobe_multi(pattern: str) -> tuple[list[str], list[int]]:
    """The functions a ``kprobe.multi`` glob attaches to, as libbpf finds them:
    (names, function entry addresses), sorted by address (addresses ``[]`` when
    /proc/kallsyms hides them: the kernel then resolves the names).

    The names come from the traceable functions tracefs lists
    (``available_filter_functions_addrs`` on 6.5+, else ``available_filter_functions``;
    else every kallsyms text symbol), each copy of a duplicated static name by its own
    address. The addresses are kallsyms' function entries, not ftrace's patch sites
    (func+4 after an ENDBR): the kernel finds a cookie by the entry address.
    """
    import re
    rx = _glob_regex(pattern)
    sites: list[tuple[int, str]] = []     # (ftrace patch site or 0, name)
    text = None
    try:
        base: str | None = K.tracefs()
    except KernelError:
        base = None
    if base is not None:
        text = _read(os.path.join(base, "available_filter_functions_addrs"))
        if text is not None:
            sites = [(int(m.group(1), 16), m.group(2)) for m in
                     re.finditer(rf"^([0-9a-f]+) ({rx})(?=\s|$)", text, re.M)]
        else:
            text = _read(os.path.join(base, "available_filter_functions"))
            if text is not None:
                sites = [(0, m.group(1)) for m in re.finditer(rf"^({rx})(?=\s|$)", text, re.M)]
    if text is None:
        found = _kallsyms(None, pattern)
        return _sorted_unique([(a, n) for n, v in found.items() for a in v if a])
    sites = [(a, n) for a, n in sites if not n.startswith(_INVALID)]
    names = {n for _, n in sites}
    if not names:
        return [], []
    entries = _kallsyms(names)
    if any(not a for v in entries.values() for a in v) or set(entries) != names:
        return sorted(names), []   # addresses hidden (kptr_restrict): by name
    pairs = []
    for site, name in sites:
        cands = entries[name]
        if site:  # the copy whose entry is the closest at or below the patch site
            below = [a for a in cands if a <= site]
            pairs.append((max(below) if below else min(cands), name))
        else:
            pairs.extend((a, name) for a in cands)
    return _sorted_unique(pairs)


def _sorted_unique(pairs: list[tuple[int, str]]) -> tuple[list[str], list[int]]:
    pairs = sorted(set(pairs))
    return [n for _, n in pairs], [a for a, _ in pairs]


_GLOB_CHARS = frozenset("*?[")


def attach_kprobe_multi(program: Any, symbols: Sequence[str] | str | None = None, *,
                        addresses: Sequence[int] | None = None, retprobe: bool = False,
                        cookies: Sequence[int] | None = None) -> Link:
    """Attach one program to many kernel functions at once (Linux 5.18+, CONFIG_FPROBE).

    ``symbols`` is a list of function names, or a glob pattern (``"vfs_*"``) resolved as
    libbpf does (:func:`resolve_kprobe_multi`); or give raw kernel ``addresses``.
    ``cookies`` (one per symbol/address, read with bpf_get_attach_cookie()) need an
    explicit list. The program must come from a ``kprobe.multi``/``kretprobe.multi``
    section (expected attach type BPF_TRACE_KPROBE_MULTI).
    """
    hook = "kretprobe.multi" if retprobe else "kprobe.multi"
    pname = prog_name(program)
    if (symbols is None) == (addresses is None):
        raise AttachError(f"program {pname!r}: give symbols (names or a glob) or addresses, "
                          "not both", hook=hook)
    if addresses is not None:
        addrs = [int(a) for a in addresses]
        target = ",".join(f"{a:#x}" for a in addrs)
        names: list[str] = []
    elif isinstance(symbols, str) and not _GLOB_CHARS & set(symbols):
        # one plain name (kprobe.multi/NAME): the kernel resolves it, which also finds
        # aliases ftrace lists under another name (__x64_sys_getppid = __do_sys_getppid)
        symbols = [symbols]
        target, addrs, names = symbols[0], [], list(symbols)
    elif isinstance(symbols, str):
        target = symbols
        addrs = []
        names = [symbols]
    else:
        names = [str(x) for x in symbols]  # type: ignore[union-attr]
        target, addrs = ",".join(names), []
    if isinstance(symbols, str) and cookies is not None:
        raise AttachError(f"program {pname!r}: cookies need an explicit list of functions "
                          "(a glob's matches have no fixed order)", hook=hook, target=target)
    if not isinstance(symbols, str):
        count = len(addrs) or len(names)
        if not count:
            raise AttachError(f"program {pname!r}: no functions given", hook=hook,
                              target=target)
        if cookies is not None and len(cookies) != count:
            raise AttachError(f"program {pname!r}: {len(cookies)} cookies for {count} "
                              "functions", hook=hook, target=target)
    _require(hook, target, program)
    if isinstance(symbols, str):
        names, addrs = resolve_kprobe_multi(symbols)
        if not names:
            raise AttachError(f"program {pname!r}: no traceable kernel function matches "
                              f"{symbols!r}", hook=hook, target=target)
        if addrs:
            names = []   # as libbpf: addresses cover every copy of a duplicated name
    count = len(addrs) or len(names)
    bufs = [ctypes.create_string_buffer(s.encode()) for s in names]
    ptrs = (ctypes.c_uint64 * len(bufs))(*[ctypes.addressof(b) for b in bufs])
    a_addrs = (ctypes.c_uint64 * len(addrs))(*addrs)
    ck = (ctypes.c_uint64 * count)(*(cookies or [0] * count))
    tail = struct.pack("<IIQQQ", BPF_F_KPROBE_MULTI_RETURN if retprobe else 0, count,
                       ctypes.addressof(ptrs) if names else 0,
                       ctypes.addressof(a_addrs) if addrs else 0,
                       ctypes.addressof(ck) if cookies else 0)
    try:
        fd = K.link_create(fdnum(program), 0, BPF_TRACE_KPROBE_MULTI, 0, tail)
    except KernelError as e:
        raise _multi_error(e, program, hook, target, names) from e
    return Link(fd, program, hook, target)


def _multi_error(e: KernelError, program: Any, hook: str, target: str,
                 names: list[str]) -> AttachError:
    pname = prog_name(program)
    if e.errno == 95:  # the !CONFIG_FPROBE stub (or a kernel before 5.18)
        return HookUnavailable(f"program {pname!r}: kprobe.multi links need Linux 5.18+ built "
                               "with CONFIG_FPROBE, which this kernel lacks (use kprobe/ "
                               f"sections, one link per function): {e}", hook=hook,
                               target=target, command="link_create(kprobe_multi)", err=95)
    hint = ""
    if e.errno in (2, 3):   # ENOENT, ESRCH (ftrace_lookup_symbols): a name not found
        unknown = _unknown_functions(names)
        hint = (f"; no such kernel function: {', '.join(unknown[:5])}" if unknown else
                "; a function is not traceable (not in available_filter_functions) or "
                "an address is not a function entry")
    elif e.errno == 22:
        eat = getattr(program, "expected_attach_type", None)
        hint = ("; load the program from a 'kprobe.multi' section (expected attach type "
                "BPF_TRACE_KPROBE_MULTI)" if eat not in (None, BPF_TRACE_KPROBE_MULTI)
                else "; bad flags, duplicate functions, or an address that is not a "
                "function entry")
    elif e.errno == 16:
        hint = "; a function is traced by another ftrace user that excludes sharing"
    return AttachError(f"program {pname!r}: {e}{hint}", hook=hook, target=target, cause=e)


def _unknown_functions(names: list[str]) -> list[str]:
    """Which of ``names`` /proc/kallsyms does not know ([] if it cannot tell)."""
    if not names:
        return []
    known = _kallsyms(set(names))
    if not known:
        return []
    return [n for n in names if n not in known]


def kprobe_multi_info(link: Any) -> dict[str, Any]:
    """What the kernel reports about a kprobe_multi link (Linux 6.6+): ``count``,
    ``flags`` (1 = return probe), ``missed`` (6.7+), ``addrs`` (the functions' addresses,
    sorted; zeros when kallsyms hides addresses) and ``cookies`` (6.9+, in addrs order)."""
    fd = fdnum(link)
    info = ctypes.create_string_buffer(256)
    K.obj_get_info(fd, info)
    ltype, = struct.unpack_from("<I", info, 0)
    if ltype != 8:
        raise AttachError(f"link fd {fd} is not a kprobe_multi link (type {ltype})",
                          hook="kprobe.multi")
    count = struct.unpack_from("<I", info, 24)[0]
    addrs = (ctypes.c_uint64 * max(count, 1))()
    cookies = (ctypes.c_uint64 * max(count, 1))()
    info = ctypes.create_string_buffer(256)
    struct.pack_into("<QI", info, 16, ctypes.addressof(addrs), count)
    struct.pack_into("<Q", info, 40, ctypes.addressof(cookies))
    K.obj_get_info(fd, info)
    count, flags, missed = struct.unpack_from("<IIQ", info, 24)
    return {"count": count, "flags": flags, "missed": missed, "addrs": list(addrs[:count]),
            "cookies": list(cookies[:count])}


__all__ = ["attach_kprobe", "attach_kretprobe", "attach_ksyscall", "attach_kprobe_multi",
           "resolve_kprobe_multi", "kprobe_multi_info", "kprobes_available", "UNAVAILABLE"]
