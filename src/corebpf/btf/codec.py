"""Typed values: bytes <-> Python values, driven by BTF.

``Codec(btf, type_id)`` compiles a type once into Python source for a decoder and an
encoder (exec'd into functions), so decoding a value is a few ``Struct.unpack_from`` calls
plus one constructor call, not a walk over the type tree:

* every scalar leaf (ints, floats, enums, pointers, char arrays, bitfield storage) gets an
  absolute offset; leaves are grouped into runs of non-overlapping increasing offsets and
  each run is one precompiled ``struct.Struct`` (unions and bitfields just start new runs);
* structs become generated ``__slots__`` classes (attribute access, ``_asdict()``,
  ``obj["field"]``), arrays lists, ``char[N]`` text up to the first NUL, enums ``EnumInt``
  (an int whose ``str`` is the enumerator name), pointers ints, 16-byte ints ints.

Encoding accepts the decoded objects, dicts, tuples/lists (positional), objects with
attributes, ints, enumerator names and ``str``/``bytes`` for char arrays; missing struct
fields are zero.
"""
from __future__ import annotations

import keyword
import struct

TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True

from ..errors import BTFError
from . import types as T
from .types import (ARRAY, DATASEC, ENUM, ENUM64, FLOAT, INT, PTR, STRUCT, UNION, VAR)

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable
    import weakref

    from .reader import BTF

_INT_CODES = {1: "bB", 2: "hH", 4: "iI", 8: "qQ"}
_FLOAT_CODES = {2: "e", 4: "f", 8: "d"}
_MAX_UNROLL = 64  # array elements decoded inline; longer arrays use a loop
_MAX_DEPTH = 48
_MISSING = object()


class EnumInt(int):
    """An enum value: compares and computes as an int, prints as its enumerator name."""

    __slots__ = ()
    _names: dict[int, str] = {}
    _type_name = ""

    @property
    def name(self) -> str | None:
        return self._names.get(int(self))

    def __str__(self) -> str:
        return self._names.get(int(self)) or int.__repr__(self)

    def __repr__(self) -> str:
        n = self._names.get(int(self))
        return f"{n}({int(self)})" if n else int.__repr__(self)

    __format__ = int.__format__


class Struct:
    """Base of generated struct classes: attribute access, ``_asdict()``, dict-like reads."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _type_name = ""

    def _asdict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self._fields}

    def keys(self) -> tuple[str, ...]:
        return self._fields

    def __getitem__(self, key: str) -> Any:
        if key not in self._fields:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Struct):
            return self._fields == other._fields and all(
                getattr(self, f) == getattr(other, f) for f in self._fields)
        if isinstance(other, dict):
            return self._asdict() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{self._type_name or type(self).__name__}({inner})"


def _enum_get(members: dict, v: int) -> Any:
    return members.get(v, v)


def _cstr(b: bytes) -> str:
    i = b.find(b"\0")
    # surrogateescape keeps non-UTF-8 bytes, so decode -> encode gives the same bytes
    return (b if i < 0 else b[:i]).decode("utf-8", "surrogateescape")


_RESERVED = frozenset(("_fields", "_type_name", "_asdict"))


def _make_class(cname: str, fields: list[str], type_name: str) -> type:
    """A ``Struct`` subclass with __slots__ and a positional __init__ (generated source).

    Python mangles ``__slots__`` entries that start with two underscores (``__state`` of
    task_struct), so such fields live in a slot with a safe name behind a property."""
    fields = ["f_" + f if f in _RESERVED or (f.startswith("__") and f.endswith("__")) else f
              for f in fields]

    def plain(f: str) -> bool:
        return f.isidentifier() and not keyword.iskeyword(f) and not f.startswith("__")

    slots = tuple(f if plain(f) else f"_f{i}_" for i, f in enumerate(fields))
    ns_cls: dict[str, Any] = {"__slots__": slots, "_fields": tuple(fields),
                              "_type_name": type_name}
    cls = type(cname, (Struct,), ns_cls)
    for f, slot in zip(fields, slots):
        if slot != f:  # reachable with getattr() under its C name
            d = getattr(cls, slot)
            setattr(cls, f, property(d.__get__, d.__set__))
    ns: dict[str, Any] = {}
    body = []
    for i, (f, slot) in enumerate(zip(fields, slots)):
        if _py_name(slot) and slot == f:
            body.append(f"    self.{f} = a{i}")
        else:  # keywords and private names: set through the slot descriptor
            ns[f"_set{i}"] = getattr(cls, slot).__set__
            body.append(f"    _set{i}(self, a{i})")
    params = "".join(f", a{i}" for i in range(len(fields)))
    src = f"def __init__(self{params}):\n" + ("\n".join(body) or "    pass")
    exec(compile(src, f"<struct {type_name}>", "exec"), ns)  # noqa: S102 - our own code
    cls.__init__ = ns["__init__"]  # type: ignore[misc]
    return cls


def _py_name(name: str) -> str:
    return name if name.isidentifier() and not keyword.iskeyword(name) else ""


class _Leaf:
    __slots__ = ("off", "code", "size", "run", "pos")

    def __init__(self, off: int, code: str, size: int) -> None:
        self.off, self.code, self.size = off, code, size
        self.run = self.pos = 0


class _Compiler:
    """Generates decode/encode source for one type (and helpers it needs)."""

    def __init__(self, btf: BTF, cache: dict) -> None:
        self.btf = btf
        self.cache = cache  # type id -> Codec (for sub-codecs of long arrays)
        self.ns: dict[str, Any] = {"_cstr": _cstr, "_from": int.from_bytes, "_M": _MISSING,
                                    "_ge": _enum_get,
                                    "_BTFError": BTFError, "_structerr": struct.error}
        self.leaves: list[_Leaf] = []
        self.leaf_by_key: dict[tuple[int, str], _Leaf] = {}
        self.n = 0
        self.classes: dict[int, type] = {}
        self.budget = 100_000  # nodes visited; garbage BTF must not explode the code size

    def spend(self, tid: int) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise BTFError(f"type {self.btf.type_name(tid)} is too complex to compile a codec "
                           "for (or the BTF is corrupt)")

    def name(self, prefix: str, obj: Any) -> str:
        self.n += 1
        nm = f"{prefix}{self.n}"
        self.ns[nm] = obj
        return nm

    # ---------------------------------------------------------------- decode side
    def leaf(self, off: int, code: str, size: int) -> _Leaf:
        key = (off, code)
        lf = self.leaf_by_key.get(key)
        if lf is None:
            lf = _Leaf(off, code, size)
            self.leaf_by_key[key] = lf
            self.leaves.append(lf)
        return lf

    def ref(self, lf: _Leaf, many: bool = False) -> str:
        # placeholder resolved after the runs are laid out: one value, or a slice
        return f"@{id(lf)}:{'n' if many else '1'}@"

    def struct_class(self, tid: int, t: T.Type, fields: list[str]) -> type:
        cls = self.classes.get(tid)
        if cls is None:
            cname = _py_name(t.name) or f"anon_{tid}"
            cls = _make_class(cname, fields, self.btf.type_name(tid))
            self.classes[tid] = cls
        return cls

    def enum_class(self, tid: int, t: T.Type) -> tuple[dict, dict]:
        names = {}
        for v in t.values:  # type: ignore[attr-defined]
            names.setdefault(v.value, v.name)
        cls = type(_py_name(t.name) or f"enum_{tid}", (EnumInt,),
                   {"__slots__": (), "_names": names, "_type_name": self.btf.type_name(tid)})
        members = {v: cls(v) for v in names}
        by_name = {v.name: v.value for v in t.values}  # type: ignore[attr-defined]
        return members, by_name

    def members_of(self, t: T.Type, base_bits: int, depth: int) -> list[tuple[str, T.Member, int]]:
        """(field name, member, absolute bit offset); anonymous members flattened as in C."""
        out: list[tuple[str, T.Member, int]] = []
        seen: set[str] = set()
        self.spend(t.id)
        for i, m in enumerate(t.members):  # type: ignore[attr-defined]
            bit = base_bits + m.bit_offset
            if not m.name and not m.bitfield_size:
                inner = self.btf.resolve(m.type)
                if inner.kind in (STRUCT, UNION) and depth < _MAX_DEPTH:
                    for nm, mm, b in self.members_of(inner, bit, depth + 1):
                        if nm not in seen:
                            seen.add(nm)
                            out.append((nm, mm, b))
                    continue
            nm = m.name or f"_anon{i}"
            if not m.name and m.bitfield_size:
                continue  # unnamed bitfields are padding
            if nm in seen:
                continue
            seen.add(nm)
            out.append((nm, m, bit))
        return out

    def enter(self, tid: int, depth: int) -> tuple[int, T.Type]:
        """Count one step into ``tid`` (budget, depth) and resolve it: (id, type)."""
        self.spend(tid)
        if depth > _MAX_DEPTH:
            raise BTFError(f"type {self.btf.type_name(tid)} nests too deep (loop?)")
        tid = self.btf.skip_mods(tid)
        return tid, self.btf[tid]

    def dec(self, tid: int, off: int, depth: int, bitfield: tuple[int, int] | None = None) -> str:
        """Source of an expression decoding type ``tid`` at byte ``off`` (from ``off0``)."""
        tid, t = self.enter(tid, depth)
        btf = self.btf
        k = t.kind
        if bitfield is not None:
            bit_off, bits = bitfield  # absolute bit offset, width
            first = bit_off // 8
            nbytes = (bit_off + bits + 7) // 8 - first
            lf = self.leaf(first, f"{nbytes}s", nbytes)
            shift = bit_off - first * 8
            mask = (1 << bits) - 1
            signed = (k == INT and t.signed) or (k in (ENUM, ENUM64) and t.signed)  # type: ignore
            expr = f"((_from({self.ref(lf)}, 'little') >> {shift}) & {mask})"
            if signed:
                expr = f"(({expr} ^ {1 << (bits - 1)}) - {1 << (bits - 1)})"
            if k == INT and t.encoding & T.INT_BOOL:  # type: ignore[attr-defined]
                expr = f"bool({expr})"
            if k in (ENUM, ENUM64):
                members, _ = self.enum_class(tid, t)
                e = self.name("E", members)
                expr = f"_ge({e}, {expr})"
            return expr
        if k == INT:
            size = t.size  # type: ignore[attr-defined]
            if t.encoding & T.INT_BOOL and size == 1:  # type: ignore[attr-defined]
                return self.ref(self.leaf(off, "?", 1))
            codes = _INT_CODES.get(size)
            if codes is not None and t.bits == size * 8 and not t.offset:  # type: ignore
                return self.ref(self.leaf(off, codes[0 if t.signed else 1], size))
            lf = self.leaf(off, f"{size}s", size)
            return f"_from({self.ref(lf)}, 'little', signed={t.signed})"  # type: ignore
        if k == PTR:
            return self.ref(self.leaf(off, "Q", 8))
        if k == FLOAT:
            code = _FLOAT_CODES.get(t.size)  # type: ignore[attr-defined]
            if code:
                return self.ref(self.leaf(off, code, t.size))  # type: ignore[attr-defined]
            return self.ref(self.leaf(off, f"{t.size}s", t.size))  # type: ignore
        if k in (ENUM, ENUM64):
            size = t.size  # type: ignore[attr-defined]
            members, _ = self.enum_class(tid, t)
            e = self.name("E", members)
            codes = _INT_CODES.get(size)
            if codes is None:
                raise BTFError(f"enum {t.name!r} has unsupported size {size}")
            r = self.ref(self.leaf(off, codes[0 if t.signed else 1], size))  # type: ignore
            return f"{e}.get({r}, {r})"
        if k == ARRAY:
            n = t.nelems  # type: ignore[attr-defined]
            et = btf.skip_mods(t.type)  # type: ignore[attr-defined]
            e = btf[et]
            esz = btf.size_of(et) if n else 0
            if e.kind == INT and e.size == 1 and (e.encoding & T.INT_CHAR or  # type: ignore
                                                  e.name == "char"):
                r = self.ref(self.leaf(off, f'{n}s', n))
                return f"{r}.partition(b'\\0')[0].decode('utf-8', 'surrogateescape')"
            if n == 0:
                return "[]"
            code = None
            if e.kind == INT and e.bits == e.size * 8 and not e.offset:  # type: ignore
                c = _INT_CODES.get(e.size)  # type: ignore[attr-defined]
                if c and not e.encoding & T.INT_BOOL:  # type: ignore[attr-defined]
                    code = c[0 if e.signed else 1]  # type: ignore[attr-defined]
            elif e.kind == FLOAT and e.size in _FLOAT_CODES:  # type: ignore[attr-defined]
                code = _FLOAT_CODES[e.size]  # type: ignore[attr-defined]
            elif e.kind == PTR:
                code = "Q"
            if code is not None:
                lf = self.leaf(off, f"{n}{code}", n * esz)
                return f"list({self.ref(lf, True)})"
            if n <= _MAX_UNROLL and self.count_leaves(et, depth) * n <= 4 * _MAX_UNROLL:
                return "[" + ", ".join(self.dec(et, off + i * esz, depth + 1)
                                       for i in range(n)) + "]"
            if esz == 0 and n > 1 << 16:
                raise BTFError(f"{btf.type_name(tid)}: {n} elements of size 0")
            sub = self.sub_codec(et)
            f = self.name("D", sub._decode_at)
            return f"[{f}(buf, off0 + {off} + {esz} * _i) for _i in range({n})]"
        if k in (STRUCT, UNION):
            fields = self.members_of(t, off * 8, depth)
            cls = self.struct_class(tid, t, [nm for nm, _, _ in fields])
            c = self.name("C", cls)
            args = []
            for nm, m, bit in fields:
                if m.bitfield_size:
                    args.append(self.dec(m.type, 0, depth + 1, (bit, m.bitfield_size)))
                elif bit % 8:
                    raise BTFError(f"{btf.type_name(tid)}.{nm}: member not on a byte boundary")
                else:
                    args.append(self.dec(m.type, bit // 8, depth + 1))
            return f"{c}({', '.join(args)})"
        if k == DATASEC:
            names, args = [], []
            for v in t.vars:  # type: ignore[attr-defined]
                vt = btf[v.type]
                if vt.kind != VAR:
                    continue
                names.append(vt.name)
                args.append(self.dec(vt.type, off + v.offset, depth + 1))  # type: ignore
            cls = self.struct_class(tid, t, names)
            return f"{self.name('C', cls)}({', '.join(args)})"
        if k == VAR:
            return self.dec(t.type, off, depth + 1)  # type: ignore[attr-defined]
        raise BTFError(f"cannot decode values of {btf.type_name(tid)} ({t.kind_name})")

    def count_leaves(self, tid: int, depth: int) -> int:
        self.spend(tid)
        if depth > _MAX_DEPTH:
            raise BTFError(f"type {self.btf.type_name(tid)} nests too deep (loop?)")
        t = self.btf.resolve(tid)
        if t.kind in (STRUCT, UNION):
            return sum(self.count_leaves(m.type, depth + 1) for m in t.members) or 1  # type: ignore
        if t.kind == ARRAY:
            return max(1, t.nelems) * self.count_leaves(t.type, depth + 1)  # type: ignore
        return 1

    def sub_codec(self, tid: int) -> Codec:
        c = self.cache.get(tid)
        if c is None:
            if len(self.cache) > 256:
                raise BTFError(f"type {self.btf.type_name(tid)} is too complex (or corrupt)")
            c = Codec(self.btf, tid, _cache=self.cache)
        elif not hasattr(c, "_decode_at"):
            raise BTFError(f"type {self.btf.type_name(tid)} contains itself (corrupt BTF)")
        return c

    def layout(self, expr: str) -> tuple[list[str], str]:
        """Group leaves into runs; returns (unpack lines, final expression)."""
        leaves = sorted(self.leaves, key=lambda lf: (lf.off, -lf.size))
        runs: list[list[_Leaf]] = []
        ends: list[int] = []
        for lf in leaves:
            for ri, end in enumerate(ends):  # first run this leaf can extend
                if lf.off >= end:
                    runs[ri].append(lf)
                    ends[ri] = lf.off + lf.size
                    break
            else:
                runs.append([lf])
                ends.append(lf.off + lf.size)
        lines = []
        for ri, run in enumerate(runs):
            fmt, pos, cur = ["<"], 0, run[0].off
            for lf in run:
                if lf.off > cur:
                    fmt.append(f"{lf.off - cur}x")
                fmt.append(lf.code)
                lf.run, lf.pos = ri, pos
                c = lf.code
                cnt = int(c[:-1]) if len(c) > 1 and c[-1] != "s" else 1
                pos += cnt
                cur = lf.off + lf.size
            s = self.name("S", struct.Struct("".join(fmt)))
            lines.append(f"r{ri} = {s}.unpack_from(buf, off0 + {run[0].off})")
        for lf in leaves:
            c = lf.code
            cnt = int(c[:-1]) if len(c) > 1 and c[-1] != "s" else 1
            ph = f"@{id(lf)}:"
            expr = expr.replace(ph + "1@", f"r{lf.run}[{lf.pos}]")
            expr = expr.replace(ph + "n@", f"r{lf.run}[{lf.pos}:{lf.pos + cnt}]")
        return lines, expr

    # ---------------------------------------------------------------- encode side
    def enc(self, tid: int, src: str, off: str, depth: int, path: str,
            bitfield: tuple[int, int] | None = None, ind: str = "    ") -> list[str]:
        """Lines writing value ``src`` of type ``tid`` into ``buf`` at ``off`` (an expr)."""
        tid, t = self.enter(tid, depth)
        btf = self.btf
        k = t.kind
        P = self.name
        if bitfield is not None:
            bit_off, bits = bitfield
            conv = src
            if k in (ENUM, ENUM64):
                _, by_name = self.enum_class(tid, t)
                conv = f"_en({P('N', by_name)}, {src}, {path!r})"
            f = P("B", _bitfield_writer(bit_off, bits))
            return [f"{ind}{f}(buf, {off}, {conv}, {path!r})"]
        if k == INT or k == PTR or (k == FLOAT and t.size in _FLOAT_CODES) or \
                k in (ENUM, ENUM64):  # type: ignore[attr-defined]
            size = 8 if k == PTR else t.size  # type: ignore[attr-defined]
            if k == FLOAT:
                code = _FLOAT_CODES[size]
            elif k == INT and t.encoding & T.INT_BOOL and size == 1:  # type: ignore
                code = "?"
            else:
                codes = _INT_CODES.get(size)
                signed = k != PTR and t.signed  # type: ignore[attr-defined]
                if codes is None or (k == INT and (t.bits != size * 8 or t.offset)):  # type: ignore
                    f = P("W", _wide_int_writer(size, signed))
                    return [f"{ind}{f}(buf, {off}, {src}, {path!r})"]
                code = codes[0 if signed else 1]
            s = P("S", struct.Struct("<" + code))
            if k in (ENUM, ENUM64):
                _, by_name = self.enum_class(tid, t)
                src = f"_en({P('N', by_name)}, {src}, {path!r})"
            return [f"{ind}try:", f"{ind}    {s}.pack_into(buf, {off}, {src})",
                    f"{ind}except (_structerr, TypeError) as e:",
                    f"{ind}    raise _BTFError({path!r} + f': {{e}}') from None"]
        if k == FLOAT:
            f = P("W", _raw_writer(t.size))  # type: ignore[attr-defined]
            return [f"{ind}{f}(buf, {off}, {src}, {path!r})"]
        if k == ARRAY:
            n = t.nelems  # type: ignore[attr-defined]
            et = btf.skip_mods(t.type)  # type: ignore[attr-defined]
            e = btf[et]
            if e.kind == INT and e.size == 1 and (e.encoding & T.INT_CHAR or  # type: ignore
                                                  e.name == "char"):
                f = P("W", _text_writer(n))
                return [f"{ind}{f}(buf, {off}, {src}, {path!r})"]
            esz = btf.size_of(et) if n else 0
            v = f"_a{depth}"
            i = f"_i{depth}"
            lines = [f"{ind}{v} = _seq({src}, {n}, {path!r})",
                     f"{ind}for {i} in range(len({v})):"]
            lines += self.enc(et, f"{v}[{i}]", f"{off} + {esz} * {i}", depth + 1,
                              f"{path}[]", ind=ind + "    ")
            return lines
        if k in (STRUCT, UNION, DATASEC):
            if k == DATASEC:
                fields = []
                for vs in t.vars:  # type: ignore[attr-defined]
                    vt = btf[vs.type]
                    if vt.kind == VAR:
                        fields.append((vt.name, T.Member(vt.name, vt.type, 0, 0),  # type: ignore
                                       vs.offset * 8))
            else:
                fields = self.members_of(t, 0, depth)
            names = tuple(nm for nm, _, _ in fields)
            g = f"_g{depth}"
            lines = [f"{ind}{g} = _fields({src}, {P('F', names)}, {path!r})"]
            for j, (nm, m, bit) in enumerate(fields):
                vv = f"_v{depth}"
                lines.append(f"{ind}{vv} = {g}[{j}]")
                lines.append(f"{ind}if {vv} is not _M:")
                sub_path = f"{path}.{nm}"
                if m.bitfield_size:
                    lines += self.enc(m.type, vv, off, depth + 1, sub_path,
                                      (bit, m.bitfield_size), ind + "    ")
                else:
                    lines += self.enc(m.type, vv, f"{off} + {bit // 8}", depth + 1, sub_path,
                                      ind=ind + "    ")
            return lines
        if k == VAR:
            return self.enc(t.type, src, off, depth + 1, path, ind=ind)  # type: ignore
        raise BTFError(f"cannot encode values of {btf.type_name(tid)} ({t.kind_name})")


    def fast_enc(self, tid: int, path: str) -> tuple[list[str], list[str]] | None:
        """One ``pack_into`` for a plain struct (no bitfields/unions/nesting) or a scalar;
        None when the type needs the general encoder."""
        btf = self.btf
        tid = btf.skip_mods(tid)
        t = btf[tid]
        P = self.name

        def leaf(ftid: int, v: str, fpath: str) -> tuple[str, str] | None:
            ftid = btf.skip_mods(ftid)
            f = btf[ftid]
            k = f.kind
            if k == INT and f.bits == f.size * 8 and not f.offset:  # type: ignore
                if f.encoding & T.INT_BOOL and f.size == 1:  # type: ignore[attr-defined]
                    return "?", f"({v} if {v} is not _M else 0)"
                c = _INT_CODES.get(f.size)  # type: ignore[attr-defined]
                if c:
                    return c[0 if f.signed else 1], f"({v} if {v} is not _M else 0)"  # type: ignore
            elif k == PTR:
                return "Q", f"({v} if {v} is not _M else 0)"
            elif k == FLOAT and f.size in _FLOAT_CODES:  # type: ignore[attr-defined]
                return _FLOAT_CODES[f.size], f"({v} if {v} is not _M else 0.0)"  # type: ignore
            elif k in (ENUM, ENUM64) and f.size in _INT_CODES:  # type: ignore[attr-defined]
                _, by_name = self.enum_class(ftid, f)
                return (_INT_CODES[f.size][0 if f.signed else 1],  # type: ignore
                        f"(_en({P('N', by_name)}, {v}, {fpath!r}) if {v} is not _M else 0)")
            elif k == ARRAY:
                n = f.nelems  # type: ignore[attr-defined]
                e = btf[btf.skip_mods(f.type)]  # type: ignore[attr-defined]
                if e.kind == INT and e.size == 1 and (e.encoding & T.INT_CHAR or  # type: ignore
                                                      e.name == "char"):
                    return f"{n}s", f"_tb({v}, {n}, {fpath!r})"
                if n and e.kind == INT and e.bits == e.size * 8 and not e.offset and \
                        e.size in _INT_CODES and not e.encoding & T.INT_BOOL:  # type: ignore
                    code = _INT_CODES[e.size][0 if e.signed else 1]  # type: ignore
                    return f"{n}{code}", f"*_arr({v}, {n}, {fpath!r})"
            return None

        if t.kind != STRUCT:
            r = leaf(tid, "x", path)
            if r is None or r[0].endswith("s") or r[1].startswith("*"):
                return None
            s = P("S", struct.Struct("<" + r[0]))
            return [f"    {s}.pack_into(buf, off, {r[1]})"], [f"    return {s}.pack({r[1]})"]
        fields = self.members_of(t, 0, 0)
        fmt, args, cur = ["<"], [], 0
        for j, (nm, m, bit) in enumerate(fields):
            if m.bitfield_size or bit % 8 or bit // 8 < cur:
                return None
            r = leaf(m.type, f"_g[{j}]", f"{path}.{nm}")
            if r is None:
                return None
            if bit // 8 > cur:
                fmt.append(f"{bit // 8 - cur}x")
            fmt.append(r[0])
            args.append(r[1])
            cur = bit // 8 + btf.size_of(m.type)
        if cur > t.size:  # type: ignore[attr-defined]
            return None
        s = P("S", struct.Struct("".join(fmt)))
        full = P("S", struct.Struct("".join(fmt) + (f"{t.size - cur}x" if t.size > cur else "")))
        names = P("F", tuple(nm for nm, _, _ in fields))
        pre = f"    _g = _fields(x, {names}, {path!r})"
        return ([pre, f"    {s}.pack_into(buf, off, {', '.join(args)})"],
                [pre, f"    return {full}.pack({', '.join(args)})"])


def _text_bytes(v: Any, n: int, path: str) -> bytes:
    if v is _MISSING:
        return b""
    if isinstance(v, str):
        v = v.encode("utf-8", "surrogateescape")
    elif isinstance(v, (list, tuple)):
        v = bytes(v)
    elif not isinstance(v, (bytes, bytearray, memoryview)):
        raise BTFError(f"{path}: expected str or bytes for char[{n}], got {type(v).__name__}")
    if len(v) > n:
        raise BTFError(f"{path}: {len(v)} bytes do not fit char[{n}]")
    return bytes(v)


def _arr_vals(v: Any, n: int, path: str) -> Any:
    if v is _MISSING:
        return (0,) * n
    v = _seq(v, n, path)
    return v if len(v) == n else list(v) + [0] * (n - len(v))



def _fields(x: Any, names: tuple[str, ...], path: str) -> tuple:
    """Values of struct fields from an object, dict or sequence (_MISSING where absent)."""
    if isinstance(x, Struct) and x._fields == names:
        return tuple(getattr(x, n) for n in names)
    if isinstance(x, dict):
        extra = set(x) - set(names)
        if extra:
            raise BTFError(f"{path}: no field(s) {', '.join(sorted(map(str, extra)))} "
                           f"(fields: {', '.join(names)})")
        return tuple(x.get(n, _MISSING) for n in names)
    if isinstance(x, (tuple, list)):
        if len(x) > len(names):
            raise BTFError(f"{path}: {len(x)} values for {len(names)} fields")
        return tuple(x) + (_MISSING,) * (len(names) - len(x))
    if x is None or isinstance(x, (int, float, str, bytes)):
        raise BTFError(f"{path}: expected a struct value (dict, object or tuple), "
                       f"got {type(x).__name__}")
    return tuple(getattr(x, n, _MISSING) for n in names)


def _seq(x: Any, n: int, path: str) -> Any:
    if isinstance(x, (str, bytes, dict)) or not hasattr(x, "__len__"):
        raise BTFError(f"{path}: expected a list of {n} values, got {type(x).__name__}")
    if len(x) > n:
        raise BTFError(f"{path}: {len(x)} values do not fit an array of {n}")
    return x


def _en(by_name: dict, v: Any, path: str) -> int:
    if isinstance(v, str):
        try:
            return by_name[v]
        except KeyError:
            raise BTFError(f"{path}: unknown enumerator {v!r} (known: "
                           f"{', '.join(list(by_name)[:12])})") from None
    return v


def _text_writer(n: int) -> Callable:
    pk = struct.Struct(f"<{n}s").pack_into

    def w(buf: bytearray, off: int, v: Any, path: str) -> None:
        if isinstance(v, str):
            v = v.encode("utf-8", "surrogateescape")
        elif isinstance(v, (list, tuple)):
            v = bytes(v)
        elif not isinstance(v, (bytes, bytearray, memoryview)):
            raise BTFError(f"{path}: expected str or bytes for char[{n}], got "
                           f"{type(v).__name__}")
        if len(v) > n:
            raise BTFError(f"{path}: {len(v)} bytes do not fit char[{n}]")
        pk(buf, off, bytes(v))
    return w


def _wide_int_writer(size: int, signed: bool) -> Callable:
    def w(buf: bytearray, off: int, v: Any, path: str) -> None:
        try:
            buf[off:off + size] = int(v).to_bytes(size, "little", signed=signed)
        except (OverflowError, TypeError, ValueError) as e:
            raise BTFError(f"{path}: {v!r} does not fit a {size}-byte "
                           f"{'signed' if signed else 'unsigned'} int: {e}") from None
    return w


def _raw_writer(size: int) -> Callable:
    def w(buf: bytearray, off: int, v: Any, path: str) -> None:
        if not isinstance(v, (bytes, bytearray)) or len(v) != size:
            raise BTFError(f"{path}: expected {size} raw bytes")
        buf[off:off + size] = v
    return w


def _bitfield_writer(bit_off: int, bits: int) -> Callable:
    first = bit_off // 8
    nbytes = (bit_off + bits + 7) // 8 - first
    shift = bit_off - first * 8
    mask = (1 << bits) - 1

    def w(buf: bytearray, off: int, v: Any, path: str) -> None:
        v = int(v)
        if v < -(1 << (bits - 1)) or v > mask:
            raise BTFError(f"{path}: {v} does not fit a {bits}-bit field")
        lo = off + first
        cur = int.from_bytes(buf[lo:lo + nbytes], "little")
        cur = (cur & ~(mask << shift)) | ((v & mask) << shift)
        buf[lo:lo + nbytes] = cur.to_bytes(nbytes, "little")
    return w


class Codec:
    """Decoder/encoder of one BTF type. ``size``, ``decode(buf, off=0)``, ``encode(value)``,
    ``encode_into(value, buf, off=0)``; ``enum_name(v)`` for enums; ``cls`` is the generated
    class for structs/unions."""

    __slots__ = ("btf", "type_id", "size", "type_name", "decode", "_decode_at", "_encode_into",
                 "_encode_fast", "cls", "_enum_names", "source")

    def __init__(self, btf: BTF, type_id: int, *, _cache: dict | None = None) -> None:
        self.btf = btf
        self.type_id = type_id
        self.type_name = btf.type_name(type_id)
        cache = {} if _cache is None else _cache
        cache[type_id] = self
        self.size = btf.size_of(type_id)
        comp = _Compiler(btf, cache)
        expr = comp.dec(type_id, 0, 0)
        lines, expr = comp.layout(expr)
        size = self.size
        name = self.type_name
        # decode() repeats the body instead of calling _decode_at(): one Python call less
        # per value is measurable at millions of records per second
        src = ["def _decode_at(buf, off0):"] + ["    " + ln for ln in lines] + \
              [f"    return {expr}",
               "def decode(buf, off0=0):",
               "    try:"] + ["        " + ln for ln in lines] + \
              [f"        return {expr}",
               "    except _structerr:",
               f"        raise _BTFError(f'decode {{_tname}}: need {size} bytes at offset {{off0}}, '",
               "                        f'got {len(buf) - off0}') from None"]
        fast = comp.fast_enc(type_id, self.type_name or "value")
        slow = comp.enc(type_id, "x", "off", 0, self.type_name or "value")
        # the general encoder names the field that failed; the fast one asks it why
        src += ["def _slow_into(x, buf, off):", "    try:"] + ["    " + ln for ln in slow] + \
               ["    except (_structerr, TypeError, ValueError) as e:",
                "        raise _BTFError(f'encode {_tname}: {e}') from None"]
        catch = ["    except (_structerr, TypeError, ValueError) as e:",
                 f"        _slow_into(x, bytearray({size}), 0)",
                 "        raise _BTFError(f'encode {_tname}: {e}') from None"]
        if fast:  # plain layouts: one Struct.pack per value
            src += ["def _encode_into(x, buf, off):", "    try:"] + \
                ["    " + ln for ln in fast[0]] + catch
            src += ["def _encode(x):", "    try:"] + ["    " + ln for ln in fast[1]] + catch
        else:
            src += ["_encode_into = _slow_into"]
        ns = comp.ns
        # the name goes in as a value, never as source text: corrupt BTF may put quotes,
        # braces or newlines in it
        ns.update(_fields=_fields, _seq=_seq, _en=_en, _tb=_text_bytes, _arr=_arr_vals,
                  _tname=name)
        self.source = "\n".join(src)
        exec(compile(self.source, f"<codec {name}>", "exec"), ns)  # noqa: S102 - our own code
        self.decode = ns["decode"]
        self._decode_at = ns["_decode_at"]
        self._encode_into = ns["_encode_into"]
        self._encode_fast = ns.get("_encode")
        rt = btf.resolve(type_id)
        self.cls = comp.classes.get(btf.skip_mods(type_id))
        self._enum_names = ({v.value: v.name for v in rt.values}  # type: ignore[attr-defined]
                            if rt.kind in (ENUM, ENUM64) else None)

    @classmethod
    def cached(cls, btf: BTF, type_id: int) -> Codec:
        """A shared codec for ``(btf, type_id)`` (compiling one costs ~1-20 ms)."""
        global _CACHE
        if _CACHE is None:
            import weakref  # here: not needed by processes that never compile a codec
            _CACHE = weakref.WeakKeyDictionary()
        per = _CACHE.get(btf)
        if per is None:
            per = _CACHE[btf] = {}
        c = per.get(type_id)
        if c is None:
            c = per[type_id] = cls(btf, type_id)
        return c

    def encode(self, value: Any) -> bytes:
        """The bytes of ``value`` (``size`` long)."""
        f = self._encode_fast
        if f is not None:
            return f(value)
        buf = bytearray(self.size)
        self._encode_into(value, buf, 0)
        return bytes(buf)

    def encode_into(self, value: Any, buf: bytearray | memoryview, off: int = 0) -> None:
        """Write ``value`` into a writable buffer at ``off`` (other bytes are kept)."""
        if len(buf) - off < self.size:
            raise BTFError(f"encode {self.type_name}: need {self.size} bytes at offset {off}")
        self._encode_into(value, buf, off)

    def enum_name(self, value: int) -> str | None:
        """The enumerator name of ``value`` (enums only)."""
        if self._enum_names is None:
            raise BTFError(f"{self.type_name} is not an enum")
        return self._enum_names.get(int(value))

    def __repr__(self) -> str:
        return f"<Codec {self.type_name} size {self.size}>"


_CACHE: weakref.WeakKeyDictionary | None = None  # btf -> {type id: Codec}


def to_jsonable(value: Any) -> Any:
    """A JSON-ready form of a decoded value: structs → dicts, enums → names, bytes → hex."""
    if isinstance(value, EnumInt):
        return value.name if value.name is not None else int(value)
    if isinstance(value, Struct):
        return {k: to_jsonable(getattr(value, k)) for k in value._fields}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:  # raw bytes kept by surrogateescape: show U+FFFD
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def to_json(value: Any, **kw: Any) -> str:
    """``json.dumps`` of :func:`to_jsonable` (keyword arguments go to ``json.dumps``)."""
    import json  # here: json costs ≈3 ms of import and most users of codecs never call this
    return json.dumps(to_jsonable(value), **kw)
