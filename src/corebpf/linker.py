"""Linking: turn one entry program and the subprograms it reaches into loadable instructions.

``link(entry, functions, resolver)`` appends the subprograms an entry program calls (bpf-to-bpf
calls and callbacks passed by address), depth first in instruction order exactly as libbpf
places them (so the kernel holds the same translated program either way), fixes call and
``ld_imm64`` offsets, merges func_info/line_info with shifted instruction offsets and resolves
references to maps, global data, ``.kconfig`` and ``.ksyms`` externs and kfuncs through a
``Resolver``.

Instructions stay raw ``bytearray``s patched with ``struct.pack_into``: no Python object per
instruction. This module also reads what externs need from the running kernel: the kernel
version, its ``CONFIG_*`` values and ``/proc/kallsyms``.
"""
from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Iterable

from .errors import Error, ObjectError

_INSN = struct.Struct("<BBhi")  # code, regs (dst | src << 4), off, imm
_IMM = struct.Struct("<i")

# opcodes and pseudo sources (include/uapi/linux/bpf.h)
_LD_IMM64 = 0x18                # BPF_LD | BPF_IMM | BPF_DW
_CALL = 0x85                    # BPF_JMP | BPF_CALL
PSEUDO_MAP_FD, PSEUDO_MAP_VALUE, PSEUDO_BTF_ID, PSEUDO_FUNC = 1, 2, 3, 4
PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE = 5, 6
PSEUDO_CALL, PSEUDO_KFUNC_CALL = 1, 2


class LinkError(ObjectError):
    """A reference in a program cannot be resolved (unknown map, function or extern)."""


class Linked:
    """One entry program ready for BPF_PROG_LOAD.

    ``insns`` (bytearray), ``func_info`` [(insn_off, btf type id)], ``line_info``
    [(insn_off, LineInfo)] in load order, ``layout`` [(first insn, ProgramSpec)] for each
    function placed (the entry first), ``fd_array`` (list of fds for module kfuncs; index 0
    unused, as libbpf reserves it) and ``kfunc_btf_fds``.
    """

    __slots__ = ("name", "insns", "func_info", "line_info", "layout", "fd_array")

    def __init__(self, name: str) -> None:
        self.name = name
        self.insns = bytearray()
        self.func_info: list[tuple[int, int]] = []
        self.line_info: list[tuple[int, Any]] = []
        self.layout: list[tuple[int, Any]] = []
        self.fd_array: list[int] = []

    def function_at(self, insn: int) -> tuple[Any, int]:
        """The function holding instruction ``insn`` and the index within it."""
        best = self.layout[0]
        for start, fn in self.layout:
            if start <= insn:
                best = (start, fn)
        return best[1], insn - best[0]

    def source_line(self, insn: int) -> Any:
        """The LineInfo in effect at ``insn`` (the last record at or before it), or None."""
        found = None
        for off, li in self.line_info:
            if off <= insn:
                found = li
            else:
                break
        return found


class Resolver:
    """What the linker asks the loader. Override the methods; each returns ints.

    ``map_fd(name)``: fd of a map (declared or internal) by its spec name.
    ``kconfig(name)``: (fd of the .kconfig map, byte offset of the extern in it).
    ``ksym(name)``: ("btf", btf id, btf object fd) for typed ksyms, ("addr", address) for
    typeless ones or missing weak ones (address 0).
    ``kfunc(name)``: (btf id, btf object fd or 0 for vmlinux), or None for a missing weak kfunc.
    Optional: ``fd_array`` (list) and ``fd_index(btf_fd) -> int``: an object-wide numbering
    of module BTF fds for kfunc calls (else each program numbers its own from 1).
    """

    def map_fd(self, name: str) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def kconfig(self, name: str) -> tuple[int, int]:  # pragma: no cover - interface
        raise NotImplementedError

    def ksym(self, name: str) -> tuple:  # pragma: no cover - interface
        raise NotImplementedError

    def kfunc(self, name: str) -> tuple[int, int] | None:  # pragma: no cover - interface
        raise NotImplementedError


def _is_call(buf: bytearray, pos: int) -> bool:
    return buf[pos] == _CALL and (buf[pos + 1] >> 4) == PSEUDO_CALL


def _is_pseudo_func(buf: bytearray, pos: int) -> bool:
    return buf[pos] == _LD_IMM64 and (buf[pos + 1] >> 4) == PSEUDO_FUNC


def link(entry: Any, functions: dict[str, Any], resolver: Resolver | None,
         insns_of: Callable[[Any], bytearray] | None = None, *, file: str | None = None) -> Linked:
    """Build the loadable instructions of ``entry``.

    ``functions`` maps every function name of the object to its ProgramSpec;
    ``insns_of(fn)`` gives the (CO-RE patched) instructions of a function, default
    ``fn.insns``. With ``resolver`` None only code is placed (no data references patched).
    """
    get = insns_of or (lambda fn: fn.insns)
    out = Linked(entry.name)
    placed: dict[str, int] = {}
    by_section: dict[str, list[Any]] | None = None
    kfunc_fds: dict[int, int] = {}

    def find_in_section(section: str, sec_insn: int) -> Any:
        nonlocal by_section
        if by_section is None:
            by_section = {}
            for f in functions.values():
                by_section.setdefault(f.section, []).append(f)
        for f in by_section.get(section, ()):
            if f.section_offset <= sec_insn < f.section_offset + len(get(f)) // 8:
                return f
        return None

    def place(fn: Any) -> int:
        start = len(out.insns) // 8
        placed[fn.name] = start
        out.layout.append((start, fn))
        out.insns += get(fn)
        for off, type_id in fn.func_info:
            out.func_info.append((off + start, type_id))
        for li in fn.line_info:
            out.line_info.append((li.insn_off + start, li))
        return start

    def process(fn: Any, start: int) -> None:
        buf = out.insns
        relos = {r.insn: r for r in fn.relocations}
        n = len(get(fn)) // 8
        for i in range(n):
            pos = (start + i) * 8
            call = _is_call(buf, pos)
            r = relos.get(i)
            if not call and not _is_pseudo_func(buf, pos):
                if r is None or r.kind != "func_ptr" or buf[pos] != _LD_IMM64:
                    continue
                buf[pos + 1] = (buf[pos + 1] & 0x0F) | (PSEUDO_FUNC << 4)
            if r is not None and r.kind == "kfunc":
                continue  # resolved with the data references
            if r is not None and r.kind in ("call", "func_ptr"):
                target = functions.get(r.target)
                if target is None:
                    raise LinkError(f"{fn.name}: call to unknown function {r.target!r}",
                                    file=file, section=fn.section, symbol=r.target)
                t_insn = r.offset
            elif r is None and call:
                # a static function of the same section: no relocation, imm is relative
                imm = _IMM.unpack_from(buf, pos + 4)[0]
                sec_insn = fn.section_offset + i + imm + 1
                target = find_in_section(fn.section, sec_insn)
                if target is None:
                    raise LinkError(f"{fn.name}: call at instruction {i} lands outside any "
                                    "function", file=file, section=fn.section)
                t_insn = sec_insn - target.section_offset
            else:
                raise LinkError(f"{fn.name}: instruction {i} refers to a function but has "
                                f"an unexpected relocation {r!r}", file=file, section=fn.section)
            t_start = placed.get(target.name)
            if t_start is None:
                t_start = place(target)
                process(target, t_start)
                buf = out.insns
            _IMM.pack_into(buf, pos + 4, t_start + t_insn - (start + i) - 1)

    start = place(entry)
    process(entry, start)
    cb = getattr(entry, "exception_cb", None)
    if cb is not None and cb not in placed:
        # nothing calls an exception callback: the kernel finds it through a decl tag and
        # wants it in func_info, so it goes after everything the program calls (libbpf)
        target = functions.get(cb)
        if target is None:
            raise LinkError(f"{entry.name}: unknown exception callback {cb!r}", file=file,
                            section=entry.section, symbol=cb)
        process(target, place(target))
    if resolver is not None:
        for f_start, fn in out.layout:
            _resolve_data(out, fn, f_start, resolver, kfunc_fds, file)
    return out


def _resolve_data(out: Linked, fn: Any, start: int, resolver: Resolver,
                  kfunc_fds: dict[int, int], file: str | None) -> None:
    buf = out.insns
    for r in fn.relocations:
        kind = r.kind
        if kind in ("call", "func_ptr"):
            continue
        pos = (start + r.insn) * 8
        if r.insn < 0 or pos + 8 > len(buf):
            raise LinkError(f"{fn.name}: {kind} relocation at instruction {r.insn} lies "
                            "outside the function", file=file, section=fn.section,
                            symbol=r.target)
        code = buf[pos]
        if kind == "kfunc":
            if code != _CALL:
                raise LinkError(f"{fn.name}: kfunc relocation at instruction {r.insn} is not "
                                "a call", file=file, section=fn.section, symbol=r.target)
            res = resolver.kfunc(r.target)
            regs = (buf[pos + 1] & 0x0F) | (PSEUDO_KFUNC_CALL << 4)
            if res is None:  # missing weak kfunc: libbpf leaves imm 0 / off 0
                _INSN.pack_into(buf, pos, _CALL, regs, 0, 0)
                continue
            btf_id, btf_fd = res
            idx = 0
            shared = getattr(resolver, "fd_index", None)
            if btf_fd and shared is not None:
                # the loader numbers module BTFs once per object, as libbpf does (its
                # fd_array is the object's), so every program gets the same insn->off
                idx = shared(btf_fd)
                out.fd_array = list(resolver.fd_array)  # type: ignore[attr-defined]
            elif btf_fd:
                idx = kfunc_fds.get(btf_fd, 0)
                if not idx:
                    if not out.fd_array:
                        out.fd_array.append(0)  # index 0 means vmlinux: keep it free
                    idx = len(out.fd_array)
                    out.fd_array.append(btf_fd)
                    kfunc_fds[btf_fd] = idx
            _INSN.pack_into(buf, pos, _CALL, regs, idx, btf_id)
            continue
        if code != _LD_IMM64 or pos + 16 > len(buf):
            raise LinkError(f"{fn.name}: {kind} relocation at instruction {r.insn} is not an "
                            "ld_imm64", file=file, section=fn.section, symbol=r.target)
        dst = buf[pos + 1] & 0x0F
        if kind == "map":
            _INSN.pack_into(buf, pos, _LD_IMM64, dst | (PSEUDO_MAP_FD << 4), 0,
                            _fd(resolver.map_fd, r.target, fn, file))
            _IMM.pack_into(buf, pos + 12, 0)
        elif kind == "data":
            _INSN.pack_into(buf, pos, _LD_IMM64, dst | (PSEUDO_MAP_VALUE << 4), 0,
                            _fd(resolver.map_fd, r.target, fn, file))
            _IMM.pack_into(buf, pos + 12, r.offset)
        elif kind == "kconfig":
            fd, off = resolver.kconfig(r.target)
            _INSN.pack_into(buf, pos, _LD_IMM64, dst | (PSEUDO_MAP_VALUE << 4), 0, fd)
            _IMM.pack_into(buf, pos + 12, off)
        elif kind == "ksym":
            res = resolver.ksym(r.target)
            if res[0] == "btf":
                _INSN.pack_into(buf, pos, _LD_IMM64, dst | (PSEUDO_BTF_ID << 4), 0, res[1])
                _IMM.pack_into(buf, pos + 12, res[2])
            else:
                addr = res[1]
                _INSN.pack_into(buf, pos, _LD_IMM64, dst, 0, _s32(addr & 0xFFFFFFFF))
                _IMM.pack_into(buf, pos + 12, _s32(addr >> 32))
        else:
            raise LinkError(f"{fn.name}: unknown relocation kind {kind!r}", file=file,
                            section=fn.section, symbol=r.target)


def _fd(get: Callable[[str], int], name: str, fn: Any, file: str | None) -> int:
    try:
        return get(name)
    except KeyError:
        raise LinkError(f"{fn.name}: refers to unknown map {name!r}", file=file,
                        section=fn.section, symbol=name) from None


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def reachable(entry: Any, functions: dict[str, Any]) -> list[Any]:
    """The functions ``entry`` reaches (itself first), in libbpf's placement order."""
    return [fn for _, fn in link(entry, functions, None, lambda f: bytearray(f.insns)).layout]


# --- what externs need from the running kernel -------------------------------------------

def kernel_version() -> int:
    """LINUX_KERNEL_VERSION as libbpf computes it: Ubuntu's /proc/version_signature first,
    else uname's release, as KERNEL_VERSION(major, minor, min(patch, 255)). Read once."""
    global _KVERSION
    if _KVERSION is None:
        import os
        v = None
        try:
            with open("/proc/version_signature") as f:
                parts = f.read().split()
            v = _parse_kv(parts[2]) if len(parts) > 2 else None
        except OSError:
            pass
        if v is None:
            v = _parse_kv(os.uname().release)
        _KVERSION = v or 0
    return _KVERSION


_KVERSION: int | None = None


def _parse_kv(text: str) -> int | None:
    """KERNEL_VERSION of the leading "A.B.C" of ``text`` (sscanf "%u.%u.%u"; no `re`,
    which costs milliseconds of import on the load path)."""
    nums = []
    for part in text.split(".", 2):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            return None
        nums.append(int(digits))
        if len(digits) != len(part) and len(nums) < 3:
            return None
    return _kv(*nums) if len(nums) == 3 else None


def _kv(a: int, b: int, c: int) -> int:
    return (a << 16) + (b << 8) + min(c, 255)


_KCONFIG_CACHE: dict[str, str] | None = None


def read_kconfig(path: str | None = None) -> dict[str, str]:
    """The running kernel's CONFIG_* values as raw strings ("y", "m", "100", '"str"'),
    from /proc/config.gz or /boot/config-$(uname -r) (or ``path``)."""
    global _KCONFIG_CACHE
    if path is None and _KCONFIG_CACHE is not None:
        return _KCONFIG_CACHE
    import gzip
    import os
    data = None
    # libbpf's order: the distribution's /boot file first, then the kernel's own copy
    candidates = [path] if path else [f"/boot/config-{os.uname().release}", "/proc/config.gz"]
    for p in candidates:
        try:
            if p.endswith(".gz"):
                with gzip.open(p, "rt", errors="replace") as f:
                    data = f.read()
            else:
                with open(p, errors="replace") as f:
                    data = f.read()
            break
        except OSError:
            continue
    if data is None:
        raise Error("cannot read the kernel config (/proc/config.gz or /boot/config-"
                    f"{os.uname().release}) for .kconfig externs")
    values: dict[str, str] = {}
    for line in data.splitlines():
        if not line.startswith("CONFIG_"):
            continue
        name, sep, value = line.partition("=")
        if sep:
            values[name] = value.strip()
    if path is None:
        _KCONFIG_CACHE = values
    return values


def kconfig_value(ext: Any, raw: str, file: str | None = None) -> bytes:
    """Encode one CONFIG_* value for the extern ``ext`` (ExternSpec) as libbpf does."""
    kind, size, name = ext.kconfig_type, ext.size, ext.name

    def bad(why: str) -> LinkError:
        return LinkError(f"kconfig extern {name!r}: {why}", file=file, section=".kconfig",
                         symbol=name)

    if raw in ("y", "n", "m"):
        if kind == "bool":
            if raw == "m":
                raise bad("value 'm' needs a tristate or char type")
            return (1 if raw == "y" else 0).to_bytes(size, "little")
        if kind == "tristate":
            return {"n": 0, "y": 1, "m": 2}[raw].to_bytes(size, "little")
        if kind == "char":
            return raw.encode().ljust(size, b"\0")
        raise bad(f"value {raw!r} needs a bool, tristate or char type")
    if raw.startswith('"'):
        if kind != "char_array":
            raise bad(f"string value {raw} needs a char array type")
        s = raw[1:-1] if raw.endswith('"') and len(raw) > 1 else raw[1:]
        s = s.replace('\\"', '"').replace("\\\\", "\\")
        b = s.encode()[: max(size - 1, 0)]
        return b.ljust(size, b"\0")
    # numbers as libbpf reads them: strtoull(value, 0) into a u64, then into an int, char
    # or bool extern when the value fits its size (signedness as declared)
    if kind not in ("int", "char", "bool"):
        raise bad(f"numeric value {raw!r} needs an integer, char or bool type")
    v = _strtoull(raw)
    if v is None:
        raise bad(f"cannot parse value {raw!r} as an integer")
    if kind == "bool" and v > 1:
        raise bad(f"value {raw} is not a boolean")
    bits = size * 8
    if size < 8:
        fits = ((v + (1 << (bits - 1))) & _U64_MASK) < (1 << bits) if ext.signed \
            else v >> bits == 0
        if not fits:
            raise bad(f"value {raw} does not fit in {size} bytes")
    return (v & ((1 << bits) - 1)).to_bytes(size, "little")


_U64_MASK = (1 << 64) - 1


def _strtoull(text: str) -> int | None:
    """C's strtoull(text, &end, 0) with the whole string consumed: 0x hex, 0 octal,
    decimal, an optional sign (a negative value wraps, as in C); None if malformed or out
    of the u64 range."""
    t = text.strip()
    neg = t.startswith("-")
    if t[:1] in "+-":
        t = t[1:]
    if t[:2].lower() == "0x":
        base, digits = 16, t[2:]
    elif t.startswith("0") and len(t) > 1:
        base, digits = 8, t[1:]
    else:
        base, digits = 10, t
    if not digits or not all(c in "0123456789abcdefABCDEF"[:base + (6 if base == 16 else 0)]
                             for c in digits):
        return None
    v = int(digits, base)
    if v > _U64_MASK:
        return None
    return (-v) & _U64_MASK if neg else v


_SYSCALL_WRAPPER: int | None = None


def _has_bpf_cookie() -> int:
    """LINUX_HAS_BPF_COOKIE as libbpf probes it: may a kprobe program call
    bpf_get_attach_cookie (helper 174)?"""
    try:
        from .features import has_helper
        return 1 if has_helper(2, 174) else 0
    except Exception:
        return 0


def _has_syscall_wrapper() -> int:
    """LINUX_HAS_SYSCALL_WRAPPER as libbpf decides it: 1 only if a kprobe can be created on
    ``__<arch>_sys_bpf`` (a kprobe PMU perf event, else a legacy tracefs kprobe). A kernel
    without kprobes says 0 even though the wrapper exists (BPF_KSYSCALL then reads the
    arguments directly), and so must we for the same instructions."""
    global _SYSCALL_WRAPPER
    if _SYSCALL_WRAPPER is None:
        _SYSCALL_WRAPPER = _probe_syscall_wrapper()
    return _SYSCALL_WRAPPER


def _probe_syscall_wrapper() -> int:
    # features holds the probe (a kprobe perf event on __<arch>_sys_bpf, else a legacy
    # tracefs kprobe), cached there too
    try:
        from .features import has_feature
        return 1 if has_feature("syscall_wrapper") else 0
    except Exception:
        return 0


def kconfig_contents(externs: Iterable[Any], size: int, file: str | None = None) -> bytearray:
    """The value of the ``.kconfig`` map: each kconfig extern at its offset.

    Missing values: weak → 0, strong → ``LinkError`` naming the extern."""
    buf = bytearray(size)
    config: dict[str, str] | None = None
    unreadable = ""
    for ext in externs:
        if ext.kind != "kconfig":
            continue
        name = ext.name
        data: bytes | None = None
        if name == "LINUX_KERNEL_VERSION":
            data = kernel_version().to_bytes(ext.size, "little")
        elif name == "LINUX_HAS_BPF_COOKIE":
            data = _has_bpf_cookie().to_bytes(ext.size, "little")
        elif name == "LINUX_HAS_SYSCALL_WRAPPER":
            data = _has_syscall_wrapper().to_bytes(ext.size, "little")
        elif name.startswith("CONFIG_"):
            if config is None:
                try:
                    config = read_kconfig()
                except Error as e:
                    # weak externs default to 0; a strong one fails below, naming itself
                    config, unreadable = {}, f" ({e})"
            raw = config.get(name)
            if raw is not None:
                data = kconfig_value(ext, raw, file)
        if data is None:
            if ext.weak:
                continue  # stays zero
            raise LinkError(f"kconfig extern {name!r} has no value in this kernel{unreadable} "
                            "(declare it __weak to default to 0)", file=file,
                            section=".kconfig", symbol=name)
        if ext.offset + len(data) > size:
            raise LinkError(f"kconfig extern {name!r} lies outside .kconfig ({size} bytes)",
                            file=file, section=".kconfig", symbol=name)
        buf[ext.offset:ext.offset + len(data)] = data
    return buf


_KALLSYMS: dict[str, int] | None = None
# names with several addresses: libbpf refuses a typeless ksym of such a name (ambiguous)
_KALLSYMS_AMBIGUOUS: set[str] = set()


def kallsyms_ambiguous(name: str) -> bool:
    """Does /proc/kallsyms list ``name`` at more than one address?"""
    kallsyms()
    return name in _KALLSYMS_AMBIGUOUS


def kallsyms() -> dict[str, int]:
    """Symbol → address from /proc/kallsyms (first occurrence wins), read once."""
    global _KALLSYMS
    if _KALLSYMS is None:
        table: dict[str, int] = {}
        try:
            with open("/proc/kallsyms", "rb") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 3:
                        name = parts[2].decode(errors="replace")
                        addr = int(parts[0], 16)
                        old = table.get(name)
                        if old is None:
                            table[name] = addr
                        elif old != addr:
                            _KALLSYMS_AMBIGUOUS.add(name)
        except OSError:
            pass
        _KALLSYMS = table
    return _KALLSYMS
