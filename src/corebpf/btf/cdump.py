"""BTF → C header (``vmlinux.h``), compatible with what ``bpftool btf dump ... format c``
(bpftool 7.1 / libbpf 1.1) prints.

The dumper works straight on the raw type section (an ``array('I')`` of its words) rather
than on decoded ``types.Type`` objects: vmlinux has ~127k types and decoding them all
costs more than the whole dump may take. Only the types that end up in the header are
looked at more than once, and declarations of member types are cached as
(before-name, after-name) pairs.

Algorithm (the same as libbpf's btf_dump, so the output matches bpftool's):
1. mark every type that some other type refers to;
2. for each type id in order, *order* it: a depth-first walk that queues named
   structs/unions/enums/typedefs/forwards after everything they embed; a struct reached
   only through a pointer needs nothing but a forward declaration;
3. *emit* the queue: a struct's members first get what they need (definitions of embedded
   types, forward declarations of types used through pointers), then the struct itself.
Struct and enum names used twice get ``___N`` suffixes (the second one ``___2``) and
enumerators that clash with earlier identifiers likewise, in emission order.
"""
from __future__ import annotations

import struct
import sys
from array import array

TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Iterable

from ..errors import BTFError

# kinds
_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF, _VOLATILE, _CONST, _RESTRICT, \
    _FUNC, _FUNC_PROTO, _VAR, _DATASEC, _FLOAT, _DECL_TAG, _TYPE_TAG, _ENUM64 = range(1, 20)

_HEADER = struct.Struct("<HBBIIIII")
_PTR_SZ = 8

# order states / emit states
_NOT_ORDERED, _ORDERING, _ORDERED = 0, 1, 2
_NOT_EMITTED, _EMITTING, _EMITTED = 0, 1, 2

_PFX = "\t" * 32
_MAX_GAP_BITS = 1 << 24  # a 2 MiB hole would print 256k padding lines: corrupt BTF
_SENTINEL = "\x00"

_PROLOGUE = """#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

"""
_EPILOGUE = """#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */
"""


class _Raw:
    """The words of one BTF (base types first for split BTF), indexed by type id."""

    __slots__ = ("w", "off", "kind", "vlen", "kflag", "name_off", "strs", "n", "refs")

    def __init__(self, blobs: list[bytes]) -> None:
        words = array("I")
        off = [0]               # id 0: void (never read through off)
        strs = bytearray()
        kinds = bytearray(1)
        refs: list[int] = []
        for raw in blobs:
            if len(raw) < _HEADER.size:
                raise BTFError(f"BTF blob of {len(raw)} bytes is too short")
            magic, ver, _flags, hl, to, tl, so, sl = _HEADER.unpack_from(raw, 0)
            if magic != 0xEB9F or ver != 1:
                raise BTFError(f"not little-endian BTF v1 (magic {magic:#x}, version {ver})")
            if hl + to + tl > len(raw) or hl + so + sl > len(raw) or tl % 4:
                raise BTFError("BTF section bounds exceed the blob")
            base_w = len(words)
            a = array("I")
            a.frombytes(raw[hl + to:hl + to + tl])
            if sys.byteorder != "little":  # pragma: no cover
                a.byteswap()
            words.extend(a)
            strs += raw[hl + so:hl + so + sl]
            try:
                _index(a, base_w, off, kinds, refs)
            except IndexError:
                raise BTFError("BTF type section ends inside a type") from None
        self.w = words
        self.off = off
        self.kind = kinds
        self.strs = bytes(strs)
        self.n = len(off)
        if refs and max(refs) >= self.n:
            raise BTFError(f"a type refers to type id {max(refs)}, beyond the last one "
                           f"({self.n - 1})")
        self.refs = refs
        self.vlen = None
        self.kflag = None
        self.name_off = None


def _index(a: array, base: int, off: list, kinds: bytearray, refs: list) -> None:
    """Append the word offset and kind of every type in ``a`` (offsets shifted by base),
    and to ``refs`` the ids the types refer to."""
    p = 0
    n = len(a)
    append = off.append
    kappend = kinds.append
    rappend = refs.append
    rextend = refs.extend
    while p < n:
        info = a[p + 1]
        kind = (info >> 24) & 0x1f
        append(p + base)
        kappend(kind)
        if kind == _FUNC:
            rappend(a[p + 2])
            p += 3
        elif kind == _STRUCT or kind == _UNION:
            vlen = info & 0xffff
            rextend(a[p + 4:p + 3 + 3 * vlen:3])
            p += 3 + 3 * vlen
        elif kind == _PTR or kind == _CONST or kind == _TYPEDEF or kind == _VOLATILE \
                or kind == _RESTRICT or kind == _TYPE_TAG:
            rappend(a[p + 2])
            p += 3
        elif kind == _FUNC_PROTO:
            vlen = info & 0xffff
            rappend(a[p + 2])
            rextend(a[p + 4:p + 3 + 2 * vlen:2])
            p += 3 + 2 * vlen
        elif kind == _ENUM:
            p += 3 + 2 * (info & 0xffff)
        elif kind == _ARRAY:
            rappend(a[p + 3])
            rappend(a[p + 4])
            p += 6
        elif kind == _INT:
            p += 4
        elif kind == _VAR or kind == _DECL_TAG:
            rappend(a[p + 2])
            p += 4
        elif kind == _DATASEC:
            vlen = info & 0xffff
            rextend(a[p + 3:p + 3 + 3 * vlen:3])
            p += 3 + 3 * vlen
        elif kind == _ENUM64:
            p += 3 + 3 * (info & 0xffff)
        elif kind == _FWD or kind == _FLOAT:
            p += 3
        else:
            raise BTFError(f"unknown BTF kind {kind} at type id {len(off) - 1}")
    if p != n:
        raise BTFError("BTF type section ends inside a type")


def _all_strings(strs: bytes) -> dict[int, str]:
    """offset -> string for every string of an ASCII string table, decoded in one go
    (names are looked up ~100k times for vmlinux); {} otherwise (decoded on demand)."""
    if not strs.isascii():
        return {}
    from itertools import accumulate
    parts = strs.decode("ascii").split("\0")
    offs = accumulate((len(x) + 1 for x in parts), initial=0)
    return dict(zip(offs, parts))


class _Dumper:
    def __init__(self, raw: _Raw) -> None:
        self.r = raw
        self.w = raw.w
        self.off = raw.off
        self.kinds = raw.kind
        n = raw.n
        self.n = n
        self.order_state = bytearray(n)
        self.emit_state = bytearray(n)
        self.fwd_emitted = bytearray(n)
        self.referenced: set[int] = set()
        self.names: dict[int, str] = {}          # id -> resolved (deduplicated) name
        self.type_names: dict[str, int] = {}     # struct/union/enum namespace
        self.ident_names: dict[str, int] = {}    # typedefs and enumerators
        self.strcache: dict[int, str] = _all_strings(raw.strs)
        self.align_cache: dict[int, int] = {}
        self.packed: dict[int, bool] = {}
        self.size_cache: dict[int, int] = {}
        self.decl_cache: dict[int, tuple[str, str]] = {}
        self.out: list[str] = []
        self.queue: list[int] = []
        self._inline = False

    # -------------------------------------------------------------- basics
    def s(self, off: int) -> str:
        c = self.strcache.get(off)
        if c is None:
            strs = self.r.strs
            e = strs.find(b"\0", off)
            if e < 0:
                raise BTFError(f"string offset {off} out of range")
            c = strs[off:e].decode("utf-8", "replace")
            self.strcache[off] = c
        return c

    def _check(self, tid: int) -> None:
        if tid >= self.n:
            raise BTFError(f"reference to type id {tid} beyond the last type ({self.n - 1})")

    def mark_referenced(self) -> None:
        """Flag every type another type refers to (only anonymous enums and forwards
        care: those are emitted on their own only when nothing refers to them)."""
        self.referenced = set(self.r.refs)
        self.referenced.discard(0)

    # -------------------------------------------------------------- naming
    def type_name(self, tid: int) -> str:
        """Struct/union/enum/fwd name with the ___N suffix of duplicates."""
        nm = self.names.get(tid)
        if nm is not None:
            return nm
        k = self.kinds[tid]
        # forward declarations (and enum forwards) reuse the name of the full type
        fwd = k == _FWD or (k == _ENUM and (self.w[self.off[tid] + 1] & 0xffff) == 0)
        return self._new_name(tid, None if fwd else self.type_names)

    def ident_name(self, tid: int) -> str:
        nm = self.names.get(tid)
        if nm is not None:
            return nm
        return self._new_name(tid, self.ident_names)

    def _new_name(self, tid: int, seen: dict[str, int] | None) -> str:
        """The C name of ``tid``, made unique against ``seen`` (a ___N suffix), memoized."""
        name_off = self.w[self.off[tid]]
        nm = self.s(name_off) if name_off else ""
        if nm and seen is not None:
            cnt = seen.get(nm, 0) + 1
            seen[nm] = cnt
            if cnt > 1:
                nm = f"{nm}___{cnt}"
        self.names[tid] = nm
        return nm

    # -------------------------------------------------------------- sizes
    def align_of(self, tid: int) -> int:
        a = self.align_cache.get(tid)
        if a is not None:
            return a
        w, off, kinds = self.w, self.off, self.kinds
        orig = tid
        for _ in range(64):
            if tid == 0:
                a = 0
                break
            k = kinds[tid]
            p = off[tid]
            if k in (_INT, _ENUM, _ENUM64, _FLOAT):
                a = min(_PTR_SZ, w[p + 2])
                break
            if k == _PTR:
                a = _PTR_SZ
                break
            if k in (_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG):
                tid = w[p + 2]
                continue
            if k == _ARRAY:
                tid = w[p + 3]
                continue
            if k == _STRUCT or k == _UNION:
                a = self._composite_align(tid)
                break
            a = 0
            break
        else:
            a = 0
        self.align_cache[orig] = a
        return a

    def _composite_align(self, tid: int) -> int:
        """Alignment of a struct/union (1 when its layout shows it is packed); also
        records whether a struct is packed for struct_def."""
        w = self.w
        p = self.off[tid]
        info = w[p + 1]
        vlen = info & 0xffff
        kflag = info >> 31
        max_align = 1
        cache = self.align_cache
        cache[tid] = 1  # guards against (invalid) self-embedding loops
        packed = False
        res = 0
        for mp in range(p + 3, p + 3 + 3 * vlen, 3):
            mt = w[mp + 1]
            a = cache.get(mt)
            if a is None:
                a = self.align_of(mt)
            if a <= 0:
                self.packed[tid] = self._is_packed_slow(tid)
                cache[tid] = 0
                return 0
            if a > max_align:
                max_align = a
            moff = w[mp + 2]
            if kflag:
                if moff >> 24 == 0 and (moff & 0xffffff) % (8 * a):
                    packed = True
            elif moff % (8 * a):
                packed = True
        if w[p + 2] % max_align:
            packed = True
        res = 1 if packed else max_align
        cache[tid] = res
        self.packed[tid] = packed
        return res

    def size_of(self, tid: int) -> int:
        s = self.size_cache.get(tid)
        if s is not None:
            return s
        w, off, kinds = self.w, self.off, self.kinds
        orig = tid
        mult = 1
        s = -1
        for _ in range(64):
            if tid == 0:
                break
            k = kinds[tid]
            p = off[tid]
            if k in (_INT, _ENUM, _ENUM64, _FLOAT, _STRUCT, _UNION, _DATASEC):
                s = mult * w[p + 2]
                break
            if k == _PTR:
                s = mult * _PTR_SZ
                break
            if k in (_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG, _VAR):
                tid = w[p + 2]
                continue
            if k == _ARRAY:
                mult *= w[p + 5]
                tid = w[p + 3]
                continue
            break
        self.size_cache[orig] = s
        return s

    def is_packed(self, tid: int) -> bool:
        if tid not in self.packed:
            self.align_cache.pop(tid, None)
            self.align_of(tid)
        return self.packed[tid]

    def _is_packed_slow(self, tid: int) -> bool:
        w = self.w
        p = self.off[tid]
        info = w[p + 1]
        vlen = info & 0xffff
        kflag = info >> 31
        max_align = 1
        for i in range(vlen):
            mp = p + 3 + 3 * i
            a = self.align_of(w[mp + 1])
            moff = w[mp + 2]
            bsz = (moff >> 24) if kflag else 0
            if kflag:
                moff &= 0xffffff
            if a and bsz == 0 and moff % (8 * a):
                return True
            if a > max_align:
                max_align = a
        return w[p + 2] % max_align != 0

    # -------------------------------------------------------------- ordering
    def order(self, tid: int, through_ptr: bool) -> int:
        """Queue what must be emitted for ``tid`` (btf_dump_order_type). Returns 1 when
        the type is a strong (embedding) dependency, 0 when a forward declaration will
        do."""
        st = self.order_state
        if st[tid] == _ORDERED:
            return 1
        if tid == 0:
            return 0
        w = self.w
        p = self.off[tid]
        k = self.kinds[tid]
        if st[tid] == _ORDERING:
            if (k == _STRUCT or k == _UNION) and through_ptr and w[p]:
                return 0
            raise BTFError(f"unsatisfiable type cycle through type id {tid}")
        if k == _INT or k == _FLOAT:
            st[tid] = _ORDERED
            return 0
        if k == _PTR:
            t = w[p + 2]
            r = self.order(t, True) if st[t] != _ORDERED else 1
            st[tid] = _ORDERED
            return r
        if k == _ARRAY:
            return self.order(w[p + 3], False)
        if k == _STRUCT or k == _UNION:
            if through_ptr and w[p]:
                return 0
            st[tid] = _ORDERING
            vlen = w[p + 1] & 0xffff
            for t in w[p + 4:p + 3 + 3 * vlen:3]:
                if st[t] != _ORDERED:
                    self.order(t, False)
            if w[p]:
                self.queue.append(tid)
            st[tid] = _ORDERED
            return 1
        if k == _ENUM or k == _ENUM64 or k == _FWD:
            if w[p] or tid not in self.referenced:
                self.queue.append(tid)
            st[tid] = _ORDERED
            return 1
        if k == _TYPEDEF:
            t = w[p + 2]
            strong = 1 if st[t] == _ORDERED else self.order(t, through_ptr)
            if through_ptr and not strong:
                return 0
            self.queue.append(tid)
            st[tid] = _ORDERED
            return 1
        if k in (_VOLATILE, _CONST, _RESTRICT, _TYPE_TAG):
            return self.order(w[p + 2], through_ptr)
        if k == _FUNC_PROTO:
            t = w[p + 2]
            strong = st[t] == _ORDERED or self.order(t, through_ptr) > 0
            vlen = w[p + 1] & 0xffff
            for t in w[p + 4:p + 3 + 2 * vlen:2]:
                if st[t] == _ORDERED or self.order(t, through_ptr) > 0:
                    strong = True
            return 1 if strong else 0
        # FUNC, VAR, DATASEC, DECL_TAG: nothing to declare
        st[tid] = _ORDERED
        return 0

    # -------------------------------------------------------------- emission
    def emit(self, tid: int, cont: int) -> None:
        """Emit ``tid`` and what it needs (btf_dump_emit_type); cont: the containing
        struct being defined, 0 at top level."""
        es = self.emit_state
        if es[tid] == _EMITTED or tid == 0:
            return
        w = self.w
        p = self.off[tid]
        k = self.kinds[tid]
        out = self.out
        if es[tid] == _EMITTING:
            if self.fwd_emitted[tid]:
                return
            if k == _STRUCT or k == _UNION:
                if tid == cont:
                    return
                if not w[p]:
                    return  # anonymous struct loop: cannot be declared ahead
                out.append(f"{'struct' if k == _STRUCT else 'union'} {self.type_name(tid)};\n\n")
                self.fwd_emitted[tid] = 1
            elif k == _TYPEDEF:
                if not self._blacklisted(tid):
                    out.append(self.typedef_def(tid, 0) + ";\n\n")
                self.fwd_emitted[tid] = 1
            return
        if k == _INT or k == _FLOAT:
            es[tid] = _EMITTED
        elif k == _ENUM or k == _ENUM64:
            if cont == 0:
                out.append(self.enum_def(tid, 0) + ";\n\n")
            es[tid] = _EMITTED
        elif k in (_PTR, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG):
            self.emit(w[p + 2], cont)
        elif k == _ARRAY:
            self.emit(w[p + 3], cont)
        elif k == _FWD:
            out.append(f"{'union' if w[p + 1] >> 31 else 'struct'} {self.type_name(tid)};\n\n")
            es[tid] = _EMITTED
        elif k == _TYPEDEF:
            es[tid] = _EMITTING
            self.emit(w[p + 2], tid)
            if not self.fwd_emitted[tid] and not self._blacklisted(tid):
                out.append(self.typedef_def(tid, 0) + ";\n\n")
            es[tid] = _EMITTED
        elif k == _STRUCT or k == _UNION:
            es[tid] = _EMITTING
            named = w[p] != 0
            if cont == 0 or not named:
                new_cont = tid if named else cont
                vlen = w[p + 1] & 0xffff
                kinds, off = self.kinds, self.off
                for t in w[p + 4:p + 3 + 3 * vlen:3]:
                    # pointers, qualifiers and arrays only pass the request on: peel
                    # them here instead of recursing through each
                    while t:
                        kk = kinds[t]
                        if kk == _PTR or kk == _CONST or kk == _VOLATILE or kk == _RESTRICT \
                                or kk == _TYPE_TAG:
                            t = w[off[t] + 2]
                        elif kk == _ARRAY:
                            t = w[off[t] + 3]
                        else:
                            if es[t] != _EMITTED:
                                self.emit(t, new_cont)
                            break
            elif not self.fwd_emitted[tid] and tid != cont:
                out.append(f"{'struct' if k == _STRUCT else 'union'} {self.type_name(tid)};\n\n")
                self.fwd_emitted[tid] = 1
            if cont == 0:
                out.append(self.struct_def(tid, 0) + ";\n\n")
                es[tid] = _EMITTED
            else:
                es[tid] = _NOT_EMITTED
        elif k == _FUNC_PROTO:
            self.emit(w[p + 2], cont)
            vlen = w[p + 1] & 0xffff
            for t in w[p + 4:p + 3 + 2 * vlen:2]:
                self.emit(t, cont)

    def _blacklisted(self, tid: int) -> bool:
        return self.s(self.w[self.off[tid]]) == "__builtin_va_list"

    def typedef_def(self, tid: int, lvl: int) -> str:
        name = self.ident_name(tid)
        t = self.w[self.off[tid] + 2]
        if t == 0 and name == "__gnuc_va_list":
            return "typedef __builtin_va_list __gnuc_va_list"
        return "typedef " + self.decl(t, name, lvl)

    def enum_def(self, tid: int, lvl: int) -> str:
        w = self.w
        p = self.off[tid]
        info = w[p + 1]
        vlen = info & 0xffff
        signed = info >> 31
        name = self.type_name(tid)
        head = f"enum {name}" if name else "enum"
        if not vlen:
            return head
        parts = [head, " {"]
        pfx = _PFX[:lvl + 1]
        idents = self.ident_names
        s = self.s
        if self.kinds[tid] == _ENUM:
            for i in range(vlen):
                vp = p + 3 + 2 * i
                nm = s(w[vp])
                v = w[vp + 1]
                if signed and v >= 0x80000000:
                    v -= 0x100000000
                cnt = idents.get(nm, 0) + 1
                idents[nm] = cnt
                if cnt > 1:
                    parts.append(f"\n{pfx}{nm}___{cnt} = {v},")
                else:
                    parts.append(f"\n{pfx}{nm} = {v},")
        else:
            for i in range(vlen):
                vp = p + 3 + 3 * i
                nm = s(w[vp])
                v = w[vp + 1] | (w[vp + 2] << 32)
                if signed and v >= 1 << 63:
                    v -= 1 << 64
                suffix = "LL" if signed else "ULL"
                cnt = idents.get(nm, 0) + 1
                idents[nm] = cnt
                if cnt > 1:
                    parts.append(f"\n{pfx}{nm}___{cnt} = {v}{suffix},")
                else:
                    parts.append(f"\n{pfx}{nm} = {v}{suffix},")
        parts.append(f"\n{_PFX[:lvl]}}}")
        # enums the compiler would not size like BTF says: bpftool 7.1 leaves these out
        # and gets the layout of the structs that hold them wrong; later libbpf (and we)
        # force the size with a mode attribute
        size = w[p + 2]
        if size == 1:
            parts.append(" __attribute__((mode(byte)))")
        elif size == 8:
            if self.kinds[tid] == _ENUM or not any(
                    w[p + 5 + 3 * i] for i in range(vlen)):
                parts.append(" __attribute__((mode(word)))")
        return "".join(parts)

    def struct_def(self, tid: int, lvl: int) -> str:
        w = self.w
        p = self.off[tid]
        info = w[p + 1]
        vlen = info & 0xffff
        kflag = info >> 31
        is_struct = self.kinds[tid] == _STRUCT
        size = w[p + 2]
        # bpftool 7.1 checks structs only; a union whose size is not a multiple of its
        # members' alignment needs the attribute as well (cros_ec's unions in 6.12)
        packed = self.is_packed(tid)
        name = self.type_name(tid)
        kw = "struct" if is_struct else "union"
        parts = [f"{kw} {name} {{" if name else f"{kw} {{"]
        pfx = "\n" + _PFX[:lvl + 1]
        off = 0
        prev_bitfield = False
        s = self.s
        dcache = self.decl_cache
        strcache = self.strcache
        scache = self.size_cache
        size8 = size * 8
        end = p + 3 + 3 * vlen
        for mname_off, mtype, moff in zip(w[p + 3:end:3], w[p + 4:end:3], w[p + 5:end:3]):
            if mname_off:
                fname = strcache.get(mname_off)
                if fname is None:
                    fname = s(mname_off)
            else:
                fname = ""
            if kflag:
                msz = moff >> 24
                moff &= 0xffffff
            else:
                msz = 0
            if off < moff:
                if moff > size8:
                    raise BTFError(f"type id {tid}: member at bit {moff} is beyond the "
                                   f"{size}-byte {kw}")
                m_align = 1 if packed else self.align_of(mtype)
                self.bit_padding(parts, off, moff, m_align, prev_bitfield and msz != 0, lvl + 1)
            c = dcache.get(mtype)
            if c is not None and fname:
                decl = c[0] + fname + c[1]
            else:
                decl = self.decl(mtype, fname, lvl + 1)
            if msz:
                parts.append(f"{pfx}{decl}: {msz};")
                off = moff + msz
                prev_bitfield = True
            else:
                sz = scache.get(mtype)
                if sz is None:
                    sz = self.size_of(mtype)
                off = moff + (sz if sz > 0 else 0) * 8
                prev_bitfield = False
                parts.append(pfx + decl + ";")
        if is_struct and off < size * 8:
            self.bit_padding(parts, off, size * 8, self.align_of(tid), False, lvl + 1)
        if vlen or size:
            parts.append("\n" + _PFX[:lvl] + "}")
        else:
            parts.append("}")
        if packed:
            parts.append(" __attribute__((packed))")
        return "".join(parts)

    @staticmethod
    def bit_padding(parts: list, cur: int, nxt: int, next_align: int, in_bitfield: bool,
                    lvl: int) -> None:
        """Explicit padding for a gap the compiler would not leave by itself (libbpf 1.1
        rules: natural alignment first, then whole `type: bits` chunks)."""
        if cur >= nxt:
            return
        if nxt - cur > _MAX_GAP_BITS:
            raise BTFError(f"a {nxt - cur}-bit hole between struct members is not plausible")
        pfx = _PFX[:lvl]
        pads = (("long", _PTR_SZ * 8), ("int", 32), ("short", 16), ("char", 8))
        pad_type, pad_bits, new_off = "char", 8, cur
        for pad_type, pad_bits in pads:
            new_off = -(-cur // pad_bits) * pad_bits
            if new_off <= nxt:
                break
        if cur < new_off <= nxt:
            if (in_bitfield
                    or (new_off == nxt and -(-cur // (next_align * 8 or 1)) * (next_align * 8 or 1) != new_off)
                    or (new_off != nxt and nxt - new_off <= new_off - cur)):
                parts.append(f"\n{pfx}{pad_type}: {new_off - cur if in_bitfield else 0};")
            cur = new_off
        while cur != nxt:
            bits = min(nxt - cur, pad_bits)
            if bits == pad_bits:
                parts.append(f"\n{pfx}{pad_type}: {pad_bits};")
                cur += bits
                continue
            for pt, pb in reversed(pads):
                if pb < bits:
                    continue
                parts.append(f"\n{pfx}{pt}: {bits};")
                cur += bits
                break

    # -------------------------------------------------------------- declarations
    def decl(self, tid: int, fname: str, lvl: int) -> str:
        """C declaration of ``fname`` with type ``tid`` (btf_dump_emit_type_decl)."""
        c = self.decl_cache.get(tid)
        if c is not None and fname:
            return c[0] + fname + c[1]
        outer = self._inline
        self._inline = False
        try:
            stack = self._push(tid)
            parts: list[str] = []
            if fname:
                self._chain(stack, _SENTINEL, lvl, parts)
                text = "".join(parts)
                # inline (anonymous) definitions depend on the nesting level: not cached
                if not self._inline and text.count(_SENTINEL) == 1:
                    before, after = text.split(_SENTINEL)
                    self.decl_cache[tid] = (before, after)
                return text.replace(_SENTINEL, fname)
            self._chain(stack, "", lvl, parts)
            return "".join(parts)
        finally:
            self._inline = outer or self._inline

    def _push(self, tid: int) -> list[int]:
        w, off, kinds = self.w, self.off, self.kinds
        stack = []
        for _ in range(256):
            stack.append(tid)
            if tid == 0:
                break
            k = kinds[tid]
            if k in (_PTR, _VOLATILE, _CONST, _RESTRICT, _FUNC_PROTO, _TYPE_TAG):
                tid = w[off[tid] + 2]
            elif k == _ARRAY:
                tid = w[off[tid] + 3]
            else:
                break
        else:
            raise BTFError(f"declaration chain of type id {stack[0]} too long")
        return stack

    def _mods(self, stack: list[int], parts: list[str]) -> None:
        kinds = self.kinds
        while stack:
            k = kinds[stack[-1]] if stack[-1] else 0
            if k == _VOLATILE:
                parts.append("volatile ")
            elif k == _CONST:
                parts.append("const ")
            elif k == _RESTRICT:
                parts.append("restrict ")
            else:
                return
            stack.pop()

    def _drop_mods(self, stack: list[int]) -> None:
        kinds = self.kinds
        while stack and stack[-1] and kinds[stack[-1]] in (_VOLATILE, _CONST, _RESTRICT,
                                                             _TYPE_TAG):
            stack.pop()

    def _chain(self, stack: list[int], fname: str, lvl: int, parts: list[str]) -> None:
        w, off, kinds = self.w, self.off, self.kinds
        last_was_ptr = True
        while stack:
            tid = stack.pop()
            if tid == 0:
                self._mods(stack, parts)
                parts.append("void")
                last_was_ptr = False
                continue
            k = kinds[tid]
            p = off[tid]
            if k == _INT or k == _FLOAT:
                self._mods(stack, parts)
                parts.append(self.s(w[p]))
            elif k == _STRUCT or k == _UNION:
                self._mods(stack, parts)
                if not w[p]:
                    self._inline = True
                    parts.append(self.struct_def(tid, lvl))
                else:
                    parts.append(("struct " if k == _STRUCT else "union ") + self.type_name(tid))
            elif k == _ENUM or k == _ENUM64:
                self._mods(stack, parts)
                if not w[p]:
                    self._inline = True
                    parts.append(self.enum_def(tid, lvl))
                else:
                    parts.append("enum " + self.type_name(tid))
            elif k == _FWD:
                self._mods(stack, parts)
                parts.append(("union " if w[p + 1] >> 31 else "struct ") + self.type_name(tid))
            elif k == _TYPEDEF:
                self._mods(stack, parts)
                parts.append(self.ident_name(tid))
            elif k == _PTR:
                parts.append("*" if last_was_ptr else " *")
            elif k == _VOLATILE:
                parts.append(" volatile")
            elif k == _CONST:
                parts.append(" const")
            elif k == _RESTRICT:
                parts.append(" restrict")
            elif k == _TYPE_TAG:
                self._mods(stack, parts)
                parts.append(f" __attribute__((btf_type_tag(\"{self.s(w[p])}\")))")
            elif k == _ARRAY:
                nelems = w[p + 5]
                self._drop_mods(stack)
                if not stack:
                    if fname and not last_was_ptr:
                        parts.append(" ")
                    parts.append(f"{fname}[{nelems}]")
                    return
                multidim = stack[-1] != 0 and kinds[stack[-1]] == _ARRAY
                if fname and not last_was_ptr:
                    parts.append(" ")
                if not multidim:
                    parts.append("(")
                self._chain(stack, fname, lvl, parts)
                if not multidim:
                    parts.append(")")
                parts.append(f"[{nelems}]")
                return
            elif k == _FUNC_PROTO:
                vlen = w[p + 1] & 0xffff
                self._drop_mods(stack)
                if stack:
                    parts.append(" (")
                    self._chain(stack, fname, lvl, parts)
                    parts.append(")")
                else:
                    if fname and not last_was_ptr:
                        parts.append(" ")
                    parts.append(fname)
                parts.append("(")
                if vlen == 0 or (vlen == 1 and w[p + 4] == 0):
                    parts.append("void)")
                    return
                inline = self._inline
                for i in range(vlen):
                    if i:
                        parts.append(", ")
                    pt = w[p + 4 + 2 * i]
                    if i == vlen - 1 and pt == 0:
                        parts.append("...")
                        break
                    pn = w[p + 3 + 2 * i]
                    sub = self._push(pt)
                    self._chain(sub, self.s(pn) if pn else "", lvl, parts)
                self._inline = self._inline or inline
                parts.append(")")
                return
            else:
                raise BTFError(f"type id {tid} (kind {k}) cannot appear in a declaration")
            last_was_ptr = k == _PTR
        if fname and not last_was_ptr:
            parts.append(" ")
        parts.append(fname)

    # -------------------------------------------------------------- driver
    def dump(self, ids: Iterable[int]) -> str:
        self.mark_referenced()
        out = self.out
        out.append(_PROLOGUE)
        st = self.order_state
        kinds = self.kinds
        skip = (_FUNC, _VAR, _DATASEC, _DECL_TAG, _INT, _FLOAT)
        for tid in ids:
            if st[tid] == _ORDERED or kinds[tid] in skip:
                continue
            self.queue = []
            self.order(tid, False)
            for q in self.queue:
                self.emit(q, 0)
        out.append(_EPILOGUE)
        return "".join(out)


def _blobs(btf: Any) -> list[bytes]:
    chain = []
    b = btf
    while b is not None:
        chain.append(b)
        b = getattr(b, "base", None)
    out = []
    for b in reversed(chain):
        raw = b.raw if hasattr(b, "raw") else b
        out.append(bytes(raw))
    return out


def dump_c(btf: Any, types: Iterable[int | str] | None = None) -> str:
    """The C header for ``btf`` (a ``BTF``, or raw BTF bytes): every type, or only
    ``types`` (ids or names) and what they need, like ``bpftool btf dump ... format c``."""
    import gc
    raw = _Raw(_blobs(btf) if not isinstance(btf, (bytes, bytearray, memoryview)) else [bytes(btf)])
    d = _Dumper(raw)
    if types is None:
        ids: list[int] | range = range(1, raw.n)
    else:
        ids = []
        for t in types:
            if isinstance(t, int):
                ids.append(t)
            else:
                found = btf.find(t) if hasattr(btf, "find") else []
                if not found:
                    raise BTFError(f"no type named {t!r}")
                ids.extend(found)
        for t in ids:
            d._check(t)
    limit = sys.getrecursionlimit()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        sys.setrecursionlimit(max(limit, 20000))
        return d.dump(ids)
    except RecursionError:
        raise BTFError("type graph too deep to dump") from None
    finally:
        sys.setrecursionlimit(limit)
        if gc_was:
            gc.enable()


_KIND_NAMES = ("UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF",
               "VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC",
               "FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64")
_INT_ENC = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}
_LINKAGE = ("static", "global", "extern")


def dump_raw(btf: Any, ids: Iterable[int] | None = None) -> str:
    """One line per type (plus one per member/value/param), exactly like
    ``bpftool btf dump file X format raw``; for split BTF only its own types."""
    raw = _Raw(_blobs(btf) if not isinstance(btf, (bytes, bytearray, memoryview)) else [bytes(btf)])
    w, off, kinds = raw.w, raw.off, raw.kind
    strs = raw.strs
    cache: dict[int, str] = {0: "(anon)"}

    def q(o: int) -> str:
        c = cache.get(o)
        if c is None:
            e = strs.find(b"\0", o)
            if o >= len(strs) or e < 0:
                c = "(invalid)"
            else:
                c = strs[o:e].decode("utf-8", "replace") or "(anon)"
            cache[o] = c
        return c

    if ids is None:
        start = getattr(btf, "start_id", 1) if not isinstance(btf, (bytes, bytearray)) else 1
        ids = range(start, raw.n)
    out: list[str] = []
    app = out.append
    for tid in ids:
        if not 0 < tid < raw.n:
            raise BTFError(f"no type id {tid}")
        p = off[tid]
        k = kinds[tid]
        info = w[p + 1]
        vlen = info & 0xffff
        kflag = info >> 31
        head = f"[{tid}] {_KIND_NAMES[k]} '{q(w[p])}'"
        if k == _INT:
            v = w[p + 3]
            app(f"{head} size={w[p + 2]} bits_offset={(v >> 16) & 0xff} nr_bits={v & 0xff} "
                f"encoding={_INT_ENC.get((v >> 24) & 0xf, 'UNKN')}\n")
        elif k in (_PTR, _TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG):
            app(f"{head} type_id={w[p + 2]}\n")
        elif k == _ARRAY:
            app(f"{head} type_id={w[p + 3]} index_type_id={w[p + 4]} nr_elems={w[p + 5]}\n")
        elif k == _STRUCT or k == _UNION:
            app(f"{head} size={w[p + 2]} vlen={vlen}\n")
            for mp in range(p + 3, p + 3 + 3 * vlen, 3):
                mo = w[mp + 2]
                if kflag and mo >> 24:
                    app(f"\t'{q(w[mp])}' type_id={w[mp + 1]} bits_offset={mo & 0xffffff} "
                        f"bitfield_size={mo >> 24}\n")
                else:
                    app(f"\t'{q(w[mp])}' type_id={w[mp + 1]} bits_offset="
                        f"{mo & 0xffffff if kflag else mo}\n")
        elif k == _ENUM:
            app(f"{head} encoding={'SIGNED' if kflag else 'UNSIGNED'} size={w[p + 2]} "
                f"vlen={vlen}\n")
            for vp in range(p + 3, p + 3 + 2 * vlen, 2):
                v = w[vp + 1]
                if kflag and v >= 1 << 31:
                    v -= 1 << 32
                app(f"\t'{q(w[vp])}' val={v}\n")
        elif k == _ENUM64:
            app(f"{head} encoding={'SIGNED' if kflag else 'UNSIGNED'} size={w[p + 2]} "
                f"vlen={vlen}\n")
            for vp in range(p + 3, p + 3 + 3 * vlen, 3):
                v = w[vp + 1] | (w[vp + 2] << 32)
                if kflag and v >= 1 << 63:
                    v -= 1 << 64
                app(f"\t'{q(w[vp])}' val={v}{'LL' if kflag else 'ULL'}\n")
        elif k == _FWD:
            app(f"{head} fwd_kind={'union' if kflag else 'struct'}\n")
        elif k == _FUNC:
            app(f"{head} type_id={w[p + 2]} linkage="
                f"{_LINKAGE[vlen] if vlen < 3 else vlen}\n")
        elif k == _FUNC_PROTO:
            app(f"{head} ret_type_id={w[p + 2]} vlen={vlen}\n")
            for pp in range(p + 3, p + 3 + 2 * vlen, 2):
                app(f"\t'{q(w[pp])}' type_id={w[pp + 1]}\n")
        elif k == _VAR:
            lk = w[p + 3]
            app(f"{head} type_id={w[p + 2]}, linkage={_LINKAGE[lk] if lk < 3 else lk}\n")
        elif k == _DATASEC:
            app(f"{head} size={w[p + 2]} vlen={vlen}\n")
            for vp in range(p + 3, p + 3 + 3 * vlen, 3):
                vt = w[vp]
                vn = q(w[off[vt]]) if 0 < vt < raw.n else "(invalid)"
                app(f"\ttype_id={vt} offset={w[vp + 1]} size={w[vp + 2]} (VAR '{vn}')\n")
        elif k == _FLOAT:
            app(f"{head} size={w[p + 2]}\n")
        elif k == _DECL_TAG:
            ci = w[p + 3]
            if ci >= 1 << 31:
                ci -= 1 << 32
            app(f"{head} type_id={w[p + 2]} component_idx={ci}\n")
        else:
            app(head + "\n")
    return "".join(out)


__all__ = ["dump_c", "dump_raw"]
