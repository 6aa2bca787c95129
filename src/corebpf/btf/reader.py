"""Lazy BTF reader: raw BTF blobs, ELF ``.BTF`` sections, kernel and module BTF.

Indexing is one pass over the type section that records where each type starts (≈127k
types for vmlinux, ≈15 ms); a type is decoded into :mod:`corebpf.btf.types` objects only
when it is asked for, then cached. Names are looked up without per-type work at first: the
name is searched in the string section, then its offset among the type section's words (see
``_lookup_name`` and ``_LOW16``). For the running kernel's BTF the index and the name_off
column are kept in /run/corebpf for later processes of the same boot (≈1 ms instead of
≈15 + 5 ms).
"""
from __future__ import annotations

import gc
import mmap
import os
import stat
import struct
import _thread
from array import array, typecodes
from bisect import bisect_left
from itertools import accumulate, compress, repeat
from operator import getitem, index, is_

TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Iterator

from ..errors import BTFError
from . import types as T
from .types import (ARRAY, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC, FUNC_PROTO,
                    FWD, INT, MODIFIERS, PTR, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION, VAR,
                    VOLATILE)

BTF_MAGIC = 0xEB9F
HEADER = struct.Struct("<HBBIIIII")  # magic, version, flags, hdr_len, type/str off/len
HEADER_SIZE = HEADER.size  # 24

# words (u32) taken by each kind: fixed part (incl. the 3-word btf_type) + per vlen entry
_FIXED_WORDS = (None, 4, 3, 6, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3, 4, 3, 3)
_VLEN_WORDS = (0, 0, 0, 0, 3, 3, 2, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 3)
NR_KINDS = len(_FIXED_WORDS)

_MAX_DEPTH = 64  # modifier/array chains longer than this are treated as loops
_SMALL_BTF = 20000  # below this many types the name index decodes every name (robust)
# Name lookups on a large BTF: up to _SCANS_BEFORE_DICTS of them search the low16 text (see
# below, ≈0.1 ms each) or, with the index cache in /run, the name_off column kept there
# (≈0.3 ms each); after that dicts (≈15 ms once) answer in O(1). Without either (no 4-byte
# code unit array), the first few scan the type section (≈1 ms each) and the next ones a
# column gathered then (≈4 ms once).
_SCANS_BEFORE_COLUMN = 3
_SCANS_BEFORE_DICTS = 64
# Without a cached name column, a large BTF keeps the low 16 bits of every type-section word
# as text, one character per word (built in C-level passes at indexing, ≈2 ms for vmlinux
# in a fresh process, a third of it page faults on the 1.6 MB of text): str.find of one
# character runs at memchr speed and stops only at whole words, so a lookup takes ≈0.1 ms
# where bytes.find over the type section takes ≈0.8 ms. The column (≈4 ms to gather) is
# then not needed before the dicts. Built in chunks of this many words: small copies that
# malloc reuses (one chunk of 1 MB costs ≈2 ms more in faults on fresh pages).
_LOW16 = True
_LOW16_CHUNK = 1 << 15
# An array of 4-byte code units, which tounicode() turns into text: "u" (wchar_t, 4 bytes on
# Linux) takes any unit up to U+10FFFF; "w" (Python 3.13+, where "u" is deprecated) decodes
# UTF-32 strictly, so surrogate units (D800-DFFF) are first folded onto 5800-5FFF (clearing
# bit 15; the full-word check drops what that adds).
_UNIT = "w" if "w" in typecodes else ("u" if array("u").itemsize == 4 else None)
_NO_SURROGATE = bytes(range(0xD8)) + bytes(range(0x58, 0x60)) + bytes(range(0xE0, 0x100))
POINTER_SIZE = 8

KERNEL_BTF_PATH = "/sys/kernel/btf/vmlinux"


class _UnknownKind(Exception):
    pass


class _StepCache(dict):
    """info word -> words taken by the type; a miss computes and remembers the step.

    A dict lookup per type is the cheapest per-type work pure Python offers (measured:
    ≈2× faster than computing kind/vlen in the loop)."""

    def __missing__(self, info: int) -> int:
        kind = (info >> 24) & 0x1F
        if kind == 0 or kind >= NR_KINDS:
            raise _UnknownKind(kind)
        step = _FIXED_WORDS[kind] + _VLEN_WORDS[kind] * (info & 0xFFFF)
        self[info] = step
        return step


class _NoGC:
    """Turn the cyclic GC off around bulk object creation (it doubles parse cost)."""

    __slots__ = ("was",)

    def __enter__(self) -> None:
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was:
            gc.enable()


def _sign32(v: int) -> int:
    return v - 0x100000000 if v & 0x80000000 else v


class BTF:
    """A parsed BTF blob (base or split).

    ``btf[id]`` decodes a type on first access; ``len(btf)`` is the highest id + 1;
    iterating yields this blob's own ids (``start_id`` … ``len(btf) - 1``).
    """

    def __init__(self, data: bytes | bytearray | memoryview | mmap.mmap,
                 base: BTF | None = None, *, name: str | None = None,
                 index_cache: str | None = None) -> None:
        self.name = name
        self.base = base
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        self._data = data
        self._raw: bytes | None = data if isinstance(data, bytes) else None
        size = len(data)
        what = f"BTF {name}" if name else "BTF"
        if size < HEADER_SIZE:
            raise BTFError(f"{what}: {size} bytes is too short for a BTF header ({HEADER_SIZE})")
        magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = \
            HEADER.unpack_from(data, 0)
        if magic != BTF_MAGIC:
            if magic == 0x9FEB:
                raise BTFError(f"{what}: big-endian BTF is not supported")
            raise BTFError(f"{what}: bad magic {magic:#06x} (want {BTF_MAGIC:#06x})")
        if version != 1:
            raise BTFError(f"{what}: unsupported BTF version {version}")
        if hdr_len < HEADER_SIZE or hdr_len > size:
            raise BTFError(f"{what}: bad header length {hdr_len} (blob is {size} bytes)")
        self.flags = flags
        body = size - hdr_len
        if type_off % 4 or type_len % 4:
            raise BTFError(f"{what}: type section offset/length {type_off}/{type_len} "
                           "not 4-byte aligned")
        if type_off + type_len > body:
            raise BTFError(f"{what}: type section [{type_off}, {type_off + type_len}) out of "
                           f"bounds ({body} bytes after the header)")
        if str_off + str_len > body:
            raise BTFError(f"{what}: string section [{str_off}, {str_off + str_len}) out of "
                           f"bounds ({body} bytes after the header)")
        if type_len and str_len and str_off < type_off + type_len and type_off < str_off + str_len:
            raise BTFError(f"{what}: type and string sections overlap")
        self._str_start = hdr_len + str_off
        self._str_end = self._str_start + str_len
        if base is None:
            if str_len == 0 or data[self._str_start] != 0:
                raise BTFError(f"{what}: string section must start with an empty string")
            self._base_strs = 0
            self.start_id = 1
        else:
            self._base_strs = base._base_strs + (base._str_end - base._str_start)
            self.start_id = len(base)
        if str_len and data[self._str_end - 1] != 0:
            raise BTFError(f"{what}: string section does not end with NUL")
        tstart = hdr_len + type_off
        self._tstart = tstart
        self._w = memoryview(data)[tstart:tstart + type_len].cast("I")
        self._strings: dict[int, str] = {0: ""}  # (checked below for base BTF; split: base's)
        self._names: dict | None = None
        self._align_memo: dict[int, int] = {}
        self._sb: bytes | None = None
        self._flav: list[int] | None = None  # own string offsets of names with "___"
        self._low16: list[tuple[int, str]] | None = None  # see _LOW16
        self._index_cache = index_cache
        cached = _read_index(index_cache, self) if index_cache else None
        if cached is None:
            offs, self._cache = self._index()
            if index_cache and _index_writable(index_cache):
                self._offs = offs
                col = None
                if len(offs) > _SMALL_BTF:
                    # once per boot, so that every later process finds names in ≈0.3 ms
                    with _NoGC():
                        col = self._name_column().tobytes()
                    self._names = {"cache": {}, "scans": _SCANS_BEFORE_COLUMN, "na": col}
                _write_index(index_cache, offs, len(self._w), col, self._flavor_offsets())
            elif len(offs) > _SMALL_BTF and _LOW16:
                self._low16 = _low16_text(data, tstart, len(self._w))
        else:
            offs, col, self._flav = cached
            self._cache = {0: T.VOID}
            if col is not None and len(offs) > _SMALL_BTF:
                self._names = {"cache": {}, "scans": _SCANS_BEFORE_COLUMN, "na": col}
        self._offs = offs

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, base: BTF | None = None,
                   name: str | None = None) -> BTF:
        """Parse a raw BTF blob (``base`` for split BTF)."""
        return cls(data, base, name=name)

    @classmethod
    def from_file(cls, path: str | os.PathLike, base: BTF | None = None) -> BTF:
        """Raw BTF, or the ``.BTF`` section of an ELF object."""
        path = os.fspath(path)
        if "\0" in (path if isinstance(path, str) else path.decode("latin-1")):
            raise BTFError(f"cannot read BTF from {path!r}: the path contains a NUL byte")
        try:
            with open(path, "rb") as f:
                head = f.read(4)
                f.seek(0)
                if head == b"\x7fELF":
                    data = _elf_section(f.read(), ".BTF", path)
                    if data is None:
                        raise BTFError(f"{path}: ELF object has no .BTF section")
                    return cls(data, base, name=path)
                try:
                    m = mmap.mmap(f.fileno(), 0, mmap.MAP_PRIVATE, mmap.PROT_READ)
                except (OSError, ValueError):
                    return cls(f.read(), base, name=path)
        except OSError as e:
            raise BTFError(f"cannot read BTF from {path}: {e.strerror or e}") from e
        return cls(m, base, name=path)

    @classmethod
    def kernel(cls) -> BTF:
        """The running kernel's BTF (/sys/kernel/btf/vmlinux), cached process-wide."""
        global _KERNEL
        k = _KERNEL
        if k is None:
            with _LOCK:
                if _KERNEL is None:
                    _KERNEL = cls._open_sysfs(KERNEL_BTF_PATH, None)
                k = _KERNEL
        return k

    @classmethod
    def kernel_module(cls, name: str) -> BTF:
        """Split BTF of a loaded kernel module on top of vmlinux (cached)."""
        if "/" in name or name in ("", ".", "..", "vmlinux"):
            raise BTFError(f"bad kernel module name {name!r}")
        with _LOCK:
            m = _MODULES.get(name)
        if m is None:
            m = cls._open_sysfs(f"/sys/kernel/btf/{name}", cls.kernel())
            with _LOCK:
                m = _MODULES.setdefault(name, m)
        return m

    @classmethod
    def _open_sysfs(cls, path: str, base: BTF | None) -> BTF:
        if "\0" in path:
            raise BTFError(f"cannot read {path!r}: the path contains a NUL byte")
        try:
            with open(path, "rb") as f:
                try:
                    # sysfs BTF maps only privately and read-only (MAP_SHARED -> EPERM)
                    data: bytes | mmap.mmap = mmap.mmap(f.fileno(), 0, mmap.MAP_PRIVATE,
                                                        mmap.PROT_READ)
                except (OSError, ValueError):
                    data = f.read()
                cache = _index_cache_path(path, f.fileno()) if base is None else None
        except FileNotFoundError as e:
            hint = ("the kernel has no BTF (CONFIG_DEBUG_INFO_BTF)" if base is None
                    else "is the module loaded, and built with BTF?")
            raise BTFError(f"{path} not found: {hint}") from e
        except OSError as e:
            raise BTFError(f"cannot read {path}: {e.strerror or e}") from e
        return cls(data, base, name=path, index_cache=cache)

    @classmethod
    def from_kernel_id(cls, btf_id: int, base: BTF | None = None) -> BTF:
        """Fetch a BTF object loaded in the kernel by its id (e.g. a map's or program's)."""
        from .. import _sys
        blob, kname, is_kernel = _fetch_kernel_btf(_sys, btf_id)
        if base is None and is_kernel and kname and kname != "vmlinux":
            base = cls.kernel()
        elif base is None and blob[:2] == b"\x9f\xeb":
            try:  # a module's split BTF without the kernel flag (old kernels)
                cls(blob, None, name=f"btf id {btf_id}")
            except BTFError:
                base = cls.kernel()
        return cls(blob, base, name=f"btf id {btf_id}" + (f" ({kname})" if kname else ""))

    # ------------------------------------------------------------------ indexing
    def _index(self) -> tuple[array, dict]:
        """Word index of every type's info word (id order), one pass over the section.

        The walk runs as a pipeline of C iterators with no Python frame per type: the offsets
        array feeds its own growth. ``iter(offs)`` yields the offsets appended so far, each
        is mapped to its info word, then to the words the type takes (a dict lookup), and
        ``accumulate`` turns those steps into the next offset, which ``extend`` appends
        before the iterator asks for it (≈1.5× faster than the equivalent Python loop). It
        ends when an offset runs past the section: ``w[j]`` raises IndexError, after that
        offset was appended."""
        w = self._w
        n = len(w)
        offs = array("I")
        step = _StepCache()
        with _NoGC():
            try:
                offs.extend(accumulate(map(step.__getitem__, map(getitem, repeat(w), iter(offs))),
                                       initial=1))
            except IndexError:
                pass
            except _UnknownKind as e:
                raise BTFError(f"{self._what()}: unknown kind {e.args[0]} at id "
                               f"{self.start_id + len(offs) - 1}") from None
            last = offs.pop() - 1
            if last == n - 1:
                raise BTFError(f"{self._what()}: truncated type at id "
                               f"{self.start_id + len(offs)}")
            if last > n:
                raise BTFError(f"{self._what()}: type id {self.start_id + len(offs) - 1} "
                               "(vlen) runs past the end of the type section")
        # decoded types by id: a dict, not a list of 127k Nones (1 MB of fresh pages to
        # fault in, ≈0.5 ms, where a lookup decodes a few hundred types)
        return offs, {0: T.VOID}

    def _what(self) -> str:
        return f"BTF {self.name}" if self.name else "BTF"

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return self.start_id + len(self._offs)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start_id, self.start_id + len(self._offs)))

    def __contains__(self, tid: object) -> bool:
        return isinstance(tid, int) and 0 <= tid < len(self)

    def __repr__(self) -> str:
        extra = f" on {self.base.name or 'base'}" if self.base else ""
        return f"<BTF {self.name or ''} ids {self.start_id}..{len(self) - 1}{extra}>"

    @property
    def raw(self) -> bytes:
        """The original blob as bytes."""
        if self._raw is None:
            self._raw = bytes(self._data)
        return self._raw

    @property
    def count(self) -> int:
        """Number of this blob's own types."""
        return len(self._offs)

    def types(self) -> Iterator[T.Type]:
        """This blob's own types, decoded, in id order."""
        for tid in self:
            yield self[tid]

    def string(self, off: int) -> str:
        """The string at offset ``off`` of the (combined base + split) string table."""
        s = self._strings.get(off)
        if s is not None:
            return s
        if off < self._base_strs:
            return self.base.string(off)  # type: ignore[union-attr]
        start = self._str_start + off - self._base_strs
        if start >= self._str_end:
            raise BTFError(f"{self._what()}: string offset {off} out of range")
        end = self._data.find(b"\0", start, self._str_end)
        if end < 0:  # pragma: no cover - the section is known to end with NUL
            raise BTFError(f"{self._what()}: unterminated string at offset {off}")
        s = self._data[start:end].decode("utf-8", "replace")
        self._strings[off] = s
        return s

    def _strings_at(self, offs: list[int]) -> list[str]:
        """``[self.string(o) for o in offs]`` (the names of a struct's members: ≈250 for
        task_struct), decoding what is not cached yet with C-level maps, not a Python loop."""
        get = self._strings.get
        names = list(map(get, offs))
        if None not in names:
            return names
        miss = list(compress(offs, map(is_, names, repeat(None))))
        b0, lo, hi, data = self._base_strs, self._str_start, self._str_end, self._data
        first, last = min(miss), max(miss)
        if first < b0 or lo + last - b0 >= hi:  # base strings, or out of range (BTFError)
            # (string() keeps base strings in the base's cache, not in this one)
            self._strings.update(zip(miss, map(self.string, miss)))
            return list(map(get, offs))
        at = lo - b0  # + string offset = position in data
        if last - first <= 64 * len(miss):
            # The table holds strings in order of first use, so a struct's member names
            # mostly sit together: decode and split that run once and cache every string in
            # it (≈2× faster than one search per name). Only ASCII, where characters are
            # bytes, so that lengths give the offsets.
            run = data[at + first:data.find(b"\0", at + last, hi)]
            if run.isascii():
                pieces = run.decode("ascii").split("\0")
                self._strings.update(zip(accumulate(map((1).__add__, map(len, pieces)),
                                                    initial=first), pieces))
                names = list(map(get, offs))
                if None not in names:
                    return names
                # offsets into the middle of a string (a shared suffix)
                miss = list(compress(offs, map(is_, names, repeat(None))))
        starts = [at + o for o in miss]
        ends = map(data.find, repeat(b"\0"), starts, repeat(hi))  # the section ends with NUL
        raw = map(getitem, repeat(data), map(slice, starts, ends))
        self._strings.update(zip(miss, map(str, raw, repeat("utf-8"), repeat("replace"))))
        return list(map(get, offs))

    # ------------------------------------------------------------------ fast peeks
    def _words(self, tid: int) -> tuple[BTF, int]:
        """(owning BTF, word index of its btf_type) for an id."""
        b = self
        while tid < b.start_id:
            if b.base is None:
                break
            b = b.base
        if tid == 0:
            raise BTFError("type id 0 is void")
        try:
            if tid < b.start_id:
                raise IndexError
            return b, b._offs[tid - b.start_id] - 1
        except IndexError:
            raise BTFError(f"{self._what()}: type id {tid} out of range "
                           f"(ids 1..{len(self) - 1})") from None

    def kind_of(self, tid: int) -> int:
        """The kind of a type without decoding it (0 for void)."""
        if tid == 0:
            return T.UNKN
        b, o = self._words(tid)
        return (b._w[o + 1] >> 24) & 0x1F

    def name_of(self, tid: int) -> str:
        """The name of a type without decoding it ('' for anonymous types, 'void' for 0)."""
        if tid == 0:
            return "void"
        b, o = self._words(tid)
        try:
            return b.string(b._w[o])
        except BTFError as e:
            raise BTFError(f"{e} (name of type id {tid})") from None

    # ------------------------------------------------------------------ decoding
    def __getitem__(self, tid: int) -> T.Type:
        try:
            t = self._cache.get(tid)
        except TypeError:  # unhashable
            t = None
        if t is not None and tid.__class__ is int:  # (1.0 or True would find 1)
            return t
        if tid.__class__ is not int:
            try:
                tid = index(tid)  # bool, numpy integers; not floats
            except TypeError:
                raise BTFError(f"type id must be an int, not {type(tid).__name__}") from None
            return self[tid]
        if tid < self.start_id and self.base is not None and tid > 0:
            return self.base[tid]
        if tid == 0:
            return T.VOID
        if not self.start_id <= tid < self.start_id + len(self._offs):
            raise BTFError(f"{self._what()}: type id {tid} out of range "
                           f"(ids 1..{len(self) - 1})")
        t = self._cache[tid] = self._decode(tid)
        return t

    def get(self, tid: int) -> T.Type | None:
        """``btf[tid]`` or None when the id is out of range."""
        try:
            return self[tid]
        except BTFError:
            if 0 <= tid < len(self):
                raise
            return None

    def _decode(self, tid: int) -> T.Type:
        w = self._w
        o = self._offs[tid - self.start_id] - 1
        name_off, info, st = w[o], w[o + 1], w[o + 2]
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        kflag = info >> 31
        string = self.string
        try:
            name = string(name_off)
            if kind == INT:
                x = w[o + 3]
                return T.Int(tid, name, st, (x >> 24) & 0x0F, x & 0xFF, (x >> 16) & 0xFF)
            if kind in (STRUCT, UNION):
                words = w[o + 3:o + 3 + 3 * vlen].tolist()
                names = self._strings_at(words[0::3])
                offs = words[2::3]
                # the per-member work in C (map), not in a Python loop: ≈30% less per struct
                if kflag:
                    members = list(map(T.Member, names, words[1::3],
                                       map((0xFFFFFF).__and__, offs), map((24).__rrshift__, offs)))
                else:
                    members = list(map(T.Member, names, words[1::3], offs))
                return T.Composite(tid, kind, name, st, members)
            if kind in (PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG):
                return T.Ref(tid, kind, name, st)
            if kind == ARRAY:
                return T.Array(tid, w[o + 3], w[o + 4], w[o + 5])
            if kind == ENUM:
                vals = []
                p = o + 3
                for _ in range(vlen):
                    v = w[p + 1]
                    vals.append(T.EnumValue(string(w[p]), _sign32(v) if kflag else v))
                    p += 2
                return T.Enum(tid, ENUM, name, st, bool(kflag), vals)
            if kind == ENUM64:
                vals = []
                p = o + 3
                for _ in range(vlen):
                    v = w[p + 1] | (w[p + 2] << 32)
                    if kflag and v & (1 << 63):
                        v -= 1 << 64
                    vals.append(T.EnumValue(string(w[p]), v))
                    p += 3
                return T.Enum(tid, ENUM64, name, st, bool(kflag), vals)
            if kind == FWD:
                return T.Fwd(tid, name, bool(kflag))
            if kind == FUNC:
                return T.Func(tid, name, st, vlen)
            if kind == FUNC_PROTO:
                params = []
                p = o + 3
                for _ in range(vlen):
                    params.append(T.Param(string(w[p]), w[p + 1]))
                    p += 2
                return T.FuncProto(tid, st, params)
            if kind == VAR:
                return T.Var(tid, name, st, w[o + 3])
            if kind == DATASEC:
                vs = []
                p = o + 3
                for _ in range(vlen):
                    vs.append(T.VarSecinfo(w[p], w[p + 1], w[p + 2]))
                    p += 3
                return T.Datasec(tid, name, st, vs)
            if kind == FLOAT:
                return T.Float(tid, name, st)
            if kind == DECL_TAG:
                return T.DeclTag(tid, name, st, _sign32(w[o + 3]))
        except BTFError as e:
            raise BTFError(f"{e} (in type id {tid})") from None
        raise BTFError(f"{self._what()}: unknown kind {kind} at id {tid}")  # pragma: no cover

    # ------------------------------------------------------------------ names
    def _name_column(self) -> array:
        """name_off of every own type, in id order (gathered in C: ≈4 ms for vmlinux; through
        a list first it took ≈6 ms)."""
        # the view starts one word early, so an info-word index addresses the name word
        start = self._tstart - 4
        shifted = memoryview(self._data)[start:start + 4 * len(self._w)].cast("I")
        return array("I", map(getitem, repeat(shifted), self._offs))

    def _name_index(self) -> dict:
        idx = self._names
        if idx is not None:
            return idx
        if len(self._offs) <= _SMALL_BTF:
            # decode every name: robust against string tables with shared suffixes
            by_name: dict[str, list[int]] = {}
            s0 = self.start_id
            with _NoGC():
                for i, no in enumerate(self._name_column()):
                    if no:
                        try:
                            nm = self.string(no)
                        except BTFError:
                            continue
                        by_name.setdefault(nm, []).append(s0 + i)
            idx = {"by_name": by_name, "cache": {}}
        else:
            # Large BTF (vmlinux): no per-type work until lookups show it pays (see
            # _SCANS_BEFORE_COLUMN). This keeps the first find() cheap for callers (CO-RE)
            # that look up a handful of names.
            idx = {"cache": {}, "scans": 0}
        self._names = idx
        return idx

    def _strsection(self) -> tuple[bytes | mmap.mmap, int, int]:
        """(buffer, start, end) of this blob's own string section, to search it in place."""
        return self._data, self._str_start, self._str_end

    def _flavor_offsets(self) -> list[int]:
        """Offsets (in this blob's own string section) of the strings holding "___": the
        candidates for CO-RE flavor names (``task_struct___old``). One scan (≈2 ms for
        vmlinux, which has a few dozen); kept in the vmlinux index cache."""
        fl = self._flav
        if fl is None:
            data, lo, hi = self._data, self._str_start, self._str_end
            fl = []
            p = data.find(b"___", lo, hi)
            while p >= 0:
                start = data.rfind(b"\0", lo, p) + 1 or lo
                fl.append(start - lo)
                end = data.find(b"\0", p, hi)
                if end < 0:
                    break
                p = data.find(b"___", end, hi)
            self._flav = fl
        return fl

    def _flavor_strings(self) -> list[str]:
        """This blob's own strings that contain "___", in string table order."""
        s = self._base_strs
        return [self.string(s + o) for o in self._flavor_offsets()]

    def _strbytes(self) -> bytes:
        """This blob's own string section as bytes (copied once)."""
        sb = self._sb
        if sb is None:
            sb = self._sb = bytes(self._data[self._str_start:self._str_end])
        return sb

    def _own_ids_named(self, name: str) -> list[int]:
        idx = self._name_index()
        hit = idx["cache"].get(name)
        if hit is not None:
            return hit
        hit = idx["cache"][name] = self._lookup_name(idx, name)
        return hit

    def _name_offsets(self, name: str) -> list[int]:
        """name_off values (of the combined base + split table) that spell ``name``."""
        needle = name.encode()
        if not needle or b"\0" in needle:
            return []
        positions = []
        pat = b"\0" + needle + b"\0"
        b: BTF | None = self
        while b is not None:
            # split BTF may name its types with strings of the base's table
            # searched in place: mmap.find is as fast as bytes.find, and a copy of vmlinux's
            # string section costs ≈2 ms in a fresh process
            data, lo, hi = b._data, b._str_start, b._str_end
            if data[lo:lo + len(needle) + 1] == needle + b"\0":
                positions.append(b._base_strs)
            p = data.find(pat, lo, hi)
            if p >= 0:
                # Large (kernel) string tables are deduplicated, so the first hit is the
                # only one; stopping there saves a scan of the rest (~1 ms for vmlinux).
                positions.append(b._base_strs + p - lo + 1)
            b = b.base
        return positions

    def _scan_name_off(self, no: int, out: list[int]) -> None:
        """Append the ids of own types whose name_off is ``no``: its low 16 bits searched in
        the low16 text (see _LOW16), else its 4-byte value in the type section; a hit counts
        when the whole word matches and is the first word of a type (bisect)."""
        offs, s0, t0 = self._offs, self.start_id, self._tstart
        n = len(offs)
        low = self._low16
        if low is not None and no & 0xFFFF:  # (a low half of 0 would stop at most words)
            c = _low16_char(no)
            w = self._w
            last = len(w) - 1
            for first, text in low:
                find = text.find
                p = find(c)
                while p >= 0:
                    j = first + p  # the word index; a type starting there has info at j + 1
                    # most hits are type ids or offsets of members and params: the word after
                    # them has no kind, which is cheaper to see than bisecting the offsets
                    if w[j] == no and j < last and 0 < (w[j + 1] >> 24) & 0x1F < NR_KINDS:
                        i = bisect_left(offs, j + 1)
                        if i < n and offs[i] == j + 1:
                            out.append(s0 + i)
                    p = find(c, p + 1)
            return
        for q in _word_hits(self._data, no, t0, t0 + 4 * len(self._w)):
            j = ((q - t0) >> 2) + 1  # the info-word index a type starting here would have
            i = bisect_left(offs, j)
            if i < n and offs[i] == j:
                out.append(s0 + i)

    def _lookup_name(self, idx: dict, name: str) -> list[int]:
        by_name = idx.get("by_name")
        if by_name is not None:
            return by_name.get(name, [])
        positions = self._name_offsets(name)
        out: list[int] = []
        s0 = self.start_id
        if "first" not in idx:
            idx["scans"] += 1
            if ("na" not in idx and idx["scans"] > _SCANS_BEFORE_COLUMN
                    and self._low16 is None):
                with _NoGC():
                    idx["na"] = self._name_column().tobytes()
                if self._index_cache:
                    _write_index(self._index_cache, self._offs, len(self._w), idx["na"],
                                 self._flavor_offsets())
            if idx["scans"] <= _SCANS_BEFORE_DICTS:
                na = idx.get("na")
                for no in positions:
                    if na is None:
                        self._scan_name_off(no, out)
                    else:
                        out.extend(s0 + (q >> 2) for q in _word_hits(na, no, 0, len(na)))
                if len(positions) > 1:
                    out.sort()
                return out
            with _NoGC():
                col = idx["offs"] = array("I")
                na = idx.pop("na", None)
                if na is not None:
                    col.frombytes(na)
                else:
                    col.extend(self._name_column())
                self._low16 = None  # the dicts answer from now on
                n = len(col)
                idx["last"] = dict(zip(col, range(s0, s0 + n)))
                idx["first"] = dict(zip(reversed(col), range(s0 + n - 1, s0 - 1, -1)))
        name_offs = idx["offs"]
        for no in positions:
            lo = idx["first"].get(no)
            if lo is None:
                continue
            hi = idx["last"][no]
            if lo == hi:
                out.append(lo)
                continue
            i = lo - s0
            while True:
                out.append(s0 + i)
                if s0 + i == hi:
                    break
                i = name_offs.index(no, i + 1)
        if len(positions) > 1:
            out.sort()
        return out

    def find(self, name: str, kind: int | None = None) -> list[int]:
        """Ids of all types called ``name`` (optionally of one kind), base types first."""
        ids = self.base.find(name, kind) if self.base is not None else []
        own = self._own_ids_named(name)
        if kind is not None:
            own = [t for t in own if self.kind_of(t) == kind]
        return ids + own if ids else list(own)  # a copy: callers may modify it

    def find_one(self, name: str, kind: int | None = None) -> int:
        """The one type called ``name``; BTFError if there is none or several."""
        ids = self.find(name, kind)
        what = f"{T.KIND_NAMES[kind]} {name!r}" if kind is not None else repr(name)
        if not ids:
            raise BTFError(f"{self._what()}: no type {what}")
        if len(ids) > 1:
            raise BTFError(f"{self._what()}: {len(ids)} types named {what} "
                           f"(ids {', '.join(map(str, ids[:8]))}); give a kind")
        return ids[0]

    # ------------------------------------------------------------------ semantics
    def skip_mods(self, tid: int) -> int:
        """Follow typedef/const/volatile/restrict/type_tag to the underlying type id."""
        for _ in range(_MAX_DEPTH):
            if tid == 0:
                return 0
            k = self.kind_of(tid)
            if k not in MODIFIERS:
                return tid
            tid = self[tid].type  # type: ignore[attr-defined]
        raise BTFError(f"{self._what()}: modifier chain too long (loop?) at id {tid}")

    def resolve(self, tid: int) -> T.Type:
        """The type behind typedefs, qualifiers and type tags."""
        return self[self.skip_mods(tid)]

    def size_of(self, tid: int) -> int:
        """Size in bytes of a type (pointers are 8); BTFError for void/func/fwd."""
        mult = 1
        for _ in range(_MAX_DEPTH):
            t = self[tid]
            k = t.kind
            if k in (INT, FLOAT, ENUM, ENUM64, STRUCT, UNION, DATASEC):
                return mult * t.size  # type: ignore[attr-defined]
            if k == PTR:
                return mult * POINTER_SIZE
            if k in MODIFIERS or k == VAR:
                tid = t.type  # type: ignore[attr-defined]
            elif k == ARRAY:
                mult *= t.nelems  # type: ignore[attr-defined]
                tid = t.type  # type: ignore[attr-defined]
            else:
                raise BTFError(f"{self._what()}: type id {tid} ({t.kind_name} "
                               f"{t.name!r}) has no size")
        raise BTFError(f"{self._what()}: type chain too long (loop?) at id {tid}")

    def align_of(self, tid: int) -> int:
        """Natural alignment of a type; 1 for packed structs."""
        return self._align_of(tid, self._align_memo, set())

    def _align_of(self, tid: int, memo: dict, busy: set) -> int:
        a = memo.get(tid)
        if a is not None:
            return a
        if tid in busy or len(busy) > _MAX_DEPTH:
            raise BTFError(f"{self._what()}: type id {tid} contains itself (loop?)")
        t = self[tid]
        k = t.kind
        if k in (INT, FLOAT, ENUM, ENUM64):
            a = max(1, min(t.size, POINTER_SIZE if k != FLOAT else 16))  # type: ignore
        elif k == PTR:
            a = POINTER_SIZE
        elif k in MODIFIERS or k in (ARRAY, VAR):
            busy.add(tid)
            a = self._align_of(t.type, memo, busy)  # type: ignore[attr-defined]
            busy.discard(tid)
        elif k in (STRUCT, UNION):
            busy.add(tid)
            a = 1
            for m in t.members:  # type: ignore[attr-defined]
                ma = self._align_of(m.type, memo, busy)
                if not m.bitfield_size and m.bit_offset % (8 * ma):
                    a = 0  # a misplaced member means the struct is packed
                    break
                a = max(a, ma)
            busy.discard(tid)
            if a == 0 or t.size % a:  # type: ignore[attr-defined]
                a = 1
        elif k == DATASEC:
            a = 1
        else:
            raise BTFError(f"{self._what()}: type id {tid} ({t.kind_name} {t.name!r}) "
                           "has no alignment")
        memo[tid] = a
        return a

    def type_name(self, tid: int) -> str:
        """C spelling of a type: ``struct task_struct *``, ``unsigned int[16]``."""
        return self._c_decl(tid, "", 0, [4096])

    def _c_decl(self, tid: int, inner: str, depth: int, budget: list) -> str:
        budget[0] -= 1
        if depth > _MAX_DEPTH or budget[0] < 0:
            raise BTFError(f"{self._what()}: type nesting too deep (loop?) at id {tid}")
        t = self[tid]
        k = t.kind
        if k == PTR:
            pk = self.kind_of(t.type)  # type: ignore[attr-defined]
            d = "*" + inner
            if pk in (ARRAY, FUNC_PROTO):
                d = "(" + d + ")"
            return self._c_decl(t.type, d, depth + 1, budget)  # type: ignore[attr-defined]
        if k in (CONST, VOLATILE, RESTRICT):
            q = {CONST: "const", VOLATILE: "volatile", RESTRICT: "restrict"}[k]
            tk = self.kind_of(t.type)  # type: ignore[attr-defined]
            if tk == PTR:  # `char *const`: the qualifier binds to the pointer
                return self._c_decl(t.type, q + (" " + inner if inner else ""),  # type: ignore
                                    depth + 1, budget)
            return q + " " + self._c_decl(t.type, inner, depth + 1, budget)  # type: ignore
        if k == TYPE_TAG:
            return self._c_decl(t.type, inner, depth + 1, budget)  # type: ignore[attr-defined]
        if k == ARRAY:
            return self._c_decl(t.type, f"{inner}[{t.nelems}]", depth + 1, budget)  # type: ignore
        if k == FUNC_PROTO:
            ps = []
            for p in t.params:  # type: ignore[attr-defined]
                ps.append("..." if p.type == 0 else
                          self._c_decl(p.type, p.name, depth + 1, budget))
            d = f"{inner}({', '.join(ps) or 'void'})"
            return self._c_decl(t.return_type, d, depth + 1, budget)  # type: ignore[attr-defined]
        if k == FUNC:
            return self._c_decl(t.type, t.name + inner, depth + 1, budget)  # type: ignore
        if k == VAR:
            return self._c_decl(t.type, t.name + inner, depth + 1, budget)  # type: ignore
        if k in (STRUCT, UNION, ENUM, ENUM64, FWD):
            kw = ("union" if k == UNION or (k == FWD and t.union) else  # type: ignore
                  "enum" if k in (ENUM, ENUM64) else "struct")
            base = f"{kw} {t.name or '(anon)'}"
        elif k == DATASEC:
            base = f"SEC(\"{t.name}\")"
        elif k == DECL_TAG:
            base = f"__attribute__((btf_decl_tag(\"{t.name}\")))"
        else:
            base = t.name or "void"
        if not inner:
            return base
        if inner[0] == "[":
            return base + inner
        return base + " " + inner

    # ------------------------------------------------------------------ members
    def member_path(self, tid: int, path: str) -> tuple[int, T.Member]:
        """(bit offset from the start of ``tid``, Member) for ``"a.b.c"`` or ``"a[2].b"``.

        Members of anonymous structs/unions are found as if they were direct members, as in
        C. An index ``[n]`` steps into an array member.
        """
        bit = 0
        member: T.Member | None = None
        cur = tid
        for part in path.replace("[", ".[").split("."):
            if not part:
                continue
            if part.startswith("["):
                if not part.endswith("]") or member is None:
                    raise BTFError(f"bad member path {path!r}")
                arr = self.resolve(cur)
                if arr.kind != ARRAY:
                    raise BTFError(f"{path!r}: {self.type_name(cur)} is not an array")
                try:
                    i = int(part[1:-1], 0)
                except ValueError:
                    raise BTFError(f"bad array index in member path {path!r}") from None
                if not 0 <= i < arr.nelems:  # type: ignore[attr-defined]
                    raise BTFError(f"{path!r}: index {i} out of range "
                                   f"[0, {arr.nelems})")  # type: ignore[attr-defined]
                bit += 8 * i * self.size_of(arr.type)  # type: ignore[attr-defined]
                cur = arr.type  # type: ignore[attr-defined]
                member = T.Member(member.name, cur, bit, 0)
                continue
            found = self._find_member(cur, part, 0)
            if found is None:
                raise BTFError(f"{self.type_name(cur)} has no member {part!r} "
                               f"(path {path!r})")
            off, member = found
            bit += off
            cur = member.type
        if member is None:
            raise BTFError(f"empty member path {path!r}")
        return bit, member

    def _find_member(self, tid: int, name: str, depth: int,
                     seen: set | None = None) -> tuple[int, T.Member] | None:
        if depth > _MAX_DEPTH:
            return None
        seen = set() if seen is None else seen
        t = self.resolve(tid)
        if t.kind not in (STRUCT, UNION):
            raise BTFError(f"{self.type_name(tid)} is not a struct or union")
        for m in t.members:  # type: ignore[attr-defined]
            if m.name == name:
                return m.bit_offset, m
        seen.add(t.id)  # searched already: a second visit cannot find more
        for m in t.members:  # type: ignore[attr-defined]
            if not m.name:
                inner = self.resolve(m.type)
                if inner.kind in (STRUCT, UNION) and inner.id not in seen:
                    r = self._find_member(m.type, name, depth + 1, seen)
                    if r is not None:
                        return m.bit_offset + r[0], r[1]
        return None

    def member_offset(self, tid: int, path: str) -> int:
        """Byte offset of a (nested) member; BTFError for bitfields not on a byte."""
        bit, m = self.member_path(tid, path)
        if bit % 8:
            raise BTFError(f"{path!r} is a bitfield at bit {bit}, not on a byte boundary")
        return bit // 8


def _low16_char(no: int) -> str:
    """The character that stands for a word with these low 16 bits in the low16 text."""
    lo = no & 0xFFFF
    return chr(lo & 0x7FFF if _UNIT == "w" and 0xD800 <= lo <= 0xDFFF else lo)


def _low16_text(data: bytes | mmap.mmap, start: int, nwords: int) -> list[tuple[int, str]] | None:
    """The low 16 bits of the u32 words at ``data[start:start + 4 * nwords]`` as text, one
    character per word, in chunks: ``[(index of the chunk's first word, text), ...]``.

    No per-word Python work: a copy, the high halves zeroed by two strided slice assignments,
    the buffer taken as 4-byte code units and turned into a str (≤ U+FFFF, so 2 bytes a
    character; see _UNIT for surrogates). None when this Python has no 4-byte code unit
    array."""
    if _UNIT is None:
        return None
    out = []
    with memoryview(data) as view:
        for first in range(0, nwords, _LOW16_CHUNK):
            k = min(_LOW16_CHUNK, nwords - first)
            buf = bytearray(view[start + 4 * first:start + 4 * (first + k)])
            zeros = bytes(k)
            buf[2::4] = zeros
            buf[3::4] = zeros
            if _UNIT == "w":
                buf[1::4] = buf[1::4].translate(_NO_SURROGATE)
            units = array(_UNIT)
            units.frombytes(buf)
            del buf
            out.append((first, units.tounicode()))
    return out


def _word_hits(data: bytes | mmap.mmap, value: int, start: int, end: int) -> list[int]:
    """Positions ``p`` in [start, end) with ``p - start`` 4-aligned holding the u32
    ``value`` (little-endian), in order."""
    full = struct.pack("<I", value)
    # The needle leaves out the value's high zero bytes: a needle ending in 0, the commonest
    # byte of BTF, defeats bytes.find's skip heuristic (≈5× slower for a type section). Each
    # match is checked in full; the search restarts at p + 1, so overlapping matches (e.g.
    # 05 00 05 00) cannot hide an aligned one behind an unaligned one.
    needle = full.rstrip(b"\0") or full
    find = data.find
    out = []
    p = find(needle, start, end)
    while p >= 0:
        if not (p - start) & 3 and data[p:p + 4] == full:
            out.append(p)
        p = find(needle, p + 1, end)
    return out


_KERNEL: BTF | None = None

# The kernel's BTF cannot change while it runs, so the index of vmlinux (one offset per type,
# ≈0.5 MB) is kept in /run (a tmpfs emptied at boot) under a name holding this boot's id, and
# the next process reads it (≈0.2 ms) instead of walking 127k types (≈15 ms). Best effort:
# any failure means no cache. COREBPF_NO_BTF_CACHE=1 turns it off.
INDEX_CACHE_DIR = "/run/corebpf"
_IDX_MAGIC = b"CBI6"
_NO_FLAVORS = 0xFFFFFFFF  # flavor string offsets not in the file
_IDX_SAMPLES = 256  # offsets checked against the blob when a cached index is read


def _index_cache_path(path: str, fd: int) -> str | None:
    if os.environ.get("COREBPF_NO_BTF_CACHE"):
        return None
    try:
        st = os.fstat(fd)
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            boot = f.read(64).strip().decode("ascii", "replace")
    except OSError:
        return None
    if not boot or "/" in boot:
        return None
    return (f"{INDEX_CACHE_DIR}/{os.path.basename(path)}-{boot}-{st.st_size}-"
            f"{st.st_mtime_ns}.idx")


def _index_writable(path: str) -> bool:
    """Whether ``path`` may be created (its directory, or the parent that would hold it, is
    writable to us): without that, gathering the name column for the file is lost work (a
    user without write access to /run gets the low16 text instead)."""
    d = os.path.dirname(path)
    return os.access(d if os.path.isdir(d) else os.path.dirname(d), os.W_OK)


def _read_index(path: str, btf: BTF) -> tuple[memoryview, bytes | None, list[int] | None] | None:
    """The cached (offsets, name column bytes or None, flavor string offsets or None) when
    present and consistent with ``btf`` (first and last type, total length, a sample of
    steps and names, every flavor string), else None."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            # only files this user or root wrote, and nobody else may change
            if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o022:
                return None
            # mapped, not read: a 1 MB read costs ≈0.3 ms of copying and page faults; the
            # writer replaces the file (os.replace), so our inode never changes under us
            try:
                blob = mmap.mmap(f.fileno(), 0, mmap.MAP_PRIVATE, mmap.PROT_READ)
            except (OSError, ValueError):
                blob = f.read()
    except OSError:
        return None
    if len(blob) < 20 or blob[:4] != _IDX_MAGIC:
        return None
    n, nwords, has_col, nflav = struct.unpack_from("<IIII", blob, 4)
    flav_len = 0 if nflav == _NO_FLAVORS else 4 * nflav
    if n == 0 or has_col > 1 or len(blob) != 20 + 4 * n * (1 + has_col) + flav_len \
            or nwords != len(btf._w):
        return None
    # a view of the file's bytes, no copy (a fresh 0.5 MB copy costs ≈0.3 ms in page faults);
    # the column is searched with bytes.find, so it is bytes
    offs = memoryview(blob)[20:20 + 4 * n].cast("I")
    col_end = 20 + 4 * n * (1 + has_col)
    col = blob[20 + 4 * n:col_end] if has_col else None
    flav = None
    if nflav != _NO_FLAVORS:
        flav = list(memoryview(blob)[col_end:].cast("I"))
        data, lo, hi = btf._data, btf._str_start, btf._str_end
        for o in flav:  # each must start a string that holds "___"
            p = lo + o
            end = data.find(b"\0", p, hi)
            if p >= hi or (o and data[p - 1] != 0) or end < 0 or data.find(b"___", p, end) < 0:
                return None
    w = btf._w
    step = _StepCache()
    try:
        if offs[0] != 1 or offs[-1] + step[w[offs[-1]]] != nwords + 1:
            return None
        for i in range(0, n, max(1, n // _IDX_SAMPLES)):
            o = offs[i]
            if i + 1 < n and o + step[w[o]] != offs[i + 1]:
                return None
            if col is not None and col[4 * i:4 * i + 4] != w[o - 1].to_bytes(4, "little"):
                return None
    except (IndexError, _UnknownKind):
        return None
    return offs, col, flav


def _write_index(path: str, offs: array, nwords: int, col: bytes | None = None,
                 flav: list[int] | None = None) -> None:
    """Best effort: a failure only costs the next process the full pass."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(INDEX_CACHE_DIR, mode=0o755, exist_ok=True)
        st = os.lstat(INDEX_CACHE_DIR)
        # only into a real directory that nobody else may write to (no planted symlinks)
        if (not stat.S_ISDIR(st.st_mode) or st.st_uid not in (0, os.geteuid())
                or st.st_mode & 0o022):
            return
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with open(fd, "wb") as f:
            f.write(_IDX_MAGIC + struct.pack("<IIII", len(offs), nwords, col is not None,
                                             _NO_FLAVORS if flav is None else len(flav)))
            f.write(offs.tobytes())
            if col is not None:
                f.write(col)
            if flav is not None:
                f.write(array("I", flav).tobytes())
        os.replace(tmp, path)  # atomic: readers see no file or the whole file
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


_MODULES: dict[str, BTF] = {}
_LOCK = _thread.allocate_lock()  # _thread: no import cost of threading


def _fetch_kernel_btf(_sys, btf_id: int) -> tuple[bytes, str, bool]:
    """(blob, name, is_kernel_btf) of a kernel BTF object, via BPF_OBJ_GET_INFO_BY_FD."""
    fn = getattr(_sys, "btf_info", None)
    if fn is not None:  # preferred: _sys knows the bpf_btf_info layout
        with _sys.btf_get_fd_by_id(btf_id) as fd:
            info = fn(fd, data=True)
            return bytes(info["btf"]), info.get("name", ""), bool(info.get("kernel_btf"))
    import ctypes

    # struct bpf_btf_info { u64 btf; u32 btf_size; u32 id; u64 name; u32 name_len;
    #                       u32 kernel_btf; }
    class _Info(ctypes.Structure):
        _fields_ = [("btf", ctypes.c_uint64), ("btf_size", ctypes.c_uint32),
                    ("id", ctypes.c_uint32), ("name", ctypes.c_uint64),
                    ("name_len", ctypes.c_uint32), ("kernel_btf", ctypes.c_uint32)]

    with _sys.btf_get_fd_by_id(btf_id) as fd:
        info = _Info()
        _sys.obj_get_info_by_fd(fd, info)
        size = info.btf_size
        if size <= 0 or size > (1 << 30):
            raise BTFError(f"btf id {btf_id}: kernel reports {size} bytes of BTF")
        buf = ctypes.create_string_buffer(size)
        name = ctypes.create_string_buffer(64)
        info2 = _Info()
        info2.btf = ctypes.addressof(buf)
        info2.btf_size = size
        info2.name = ctypes.addressof(name)
        info2.name_len = len(name)
        _sys.obj_get_info_by_fd(fd, info2)
        return buf.raw[:info2.btf_size], name.value.decode(errors="replace"), \
            bool(info2.kernel_btf)


def _elf_section(data: bytes, want: str, path: str = "") -> bytes | None:
    """The bytes of one named section of a little-endian ELF64 file (no ELF reader needed)."""
    try:
        from ..elf import ELFFile  # the real ELF reader, when present
    except ImportError:  # pragma: no cover - elf.py is written in parallel
        ELFFile = None
    if ELFFile is not None:
        from ..errors import ObjectError
        try:
            sec = ELFFile(data, name=path or "<bytes>").section_by_name(want)
        except ObjectError as e:
            raise BTFError(f"{path or 'ELF object'}: {e}") from None
        if sec is None:
            return None
        return bytes(sec.data())
    where = path or "ELF object"
    if len(data) < 64 or data[:4] != b"\x7fELF":
        raise BTFError(f"{where}: not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise BTFError(f"{where}: only little-endian ELF64 objects are supported")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if shentsize < 64 or shoff + shnum * shentsize > len(data) or shstrndx >= max(shnum, 1):
        raise BTFError(f"{where}: bad ELF section header table")
    sections = []
    for i in range(shnum):
        name, typ, _flags, _addr, off, size = struct.unpack_from("<IIQQQQ", data,
                                                                 shoff + i * shentsize)
        sections.append((name, typ, off, size))
    _, _, stroff, strsize = sections[shstrndx]
    if stroff + strsize > len(data):
        raise BTFError(f"{where}: section name table out of bounds")
    for name, typ, off, size in sections:
        if name >= strsize:
            continue
        end = data.find(b"\0", stroff + name, stroff + strsize)
        if end < 0:
            continue
        if data[stroff + name:end].decode(errors="replace") == want:
            if typ == 8:  # SHT_NOBITS
                return b""
            if off + size > len(data):
                raise BTFError(f"{where}: section {want} out of bounds")
            return data[off:off + size]
    return None
