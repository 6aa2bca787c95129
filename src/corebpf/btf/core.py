"""CO-RE: rewrite instructions of a compiled object for the target kernel's BTF.

A self-contained unit (no loader state): given the raw instructions of one program, its
CO-RE records (``CoreRelo(insn_off, type_id, access_str, kind)``, ``insn_off`` in
instructions), the object's own BTF and the target BTF (the running kernel's, a module's,
or a custom file), compute for every record the value the compiler assumed (from local
types) and the value the target needs, then patch the instruction in place.

The semantics follow the kernel/libbpf definition of CO-RE so that the same object gives
the same instructions as with libbpf:

- candidates of a local type are target types of a compatible kind whose *essential* name
  (the name without a ``___flavor`` suffix) is the same; vmlinux first, module BTF only
  when vmlinux has none;
- a field access ``0:1:2`` is matched by member *names* through anonymous members and
  arrays; types must be compatible (``types_are_compat``), or, for TYPE_MATCHES, match
  structurally (``types_match``);
- several matching candidates must agree, or the relocation is ambiguous (an error);
- a relocation that cannot be satisfied *poisons* its instruction (a call to helper
  0xbad2310) instead of failing the load: code guarded by ``bpf_core_field_exists`` and
  friends is dead and the verifier removes it; reachable poison makes the verifier fail
  there, and :func:`explain` turns that into a message in C terms.
"""
from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Iterable, Sequence

from ..errors import CORERelocationError
from . import types as T

# enum bpf_core_relo_kind
FIELD_BYTE_OFFSET = 0
FIELD_BYTE_SIZE = 1
FIELD_EXISTS = 2
FIELD_SIGNED = 3
FIELD_LSHIFT_U64 = 4
FIELD_RSHIFT_U64 = 5
TYPE_ID_LOCAL = 6
TYPE_ID_TARGET = 7
TYPE_EXISTS = 8
TYPE_SIZE = 9
ENUMVAL_EXISTS = 10
ENUMVAL_VALUE = 11
TYPE_MATCHES = 12

KIND_NAMES = {
    0: "byte_off", 1: "byte_sz", 2: "field_exists", 3: "signed", 4: "lshift_u64",
    5: "rshift_u64", 6: "local_type_id", 7: "target_type_id", 8: "type_exists",
    9: "type_size", 10: "enumval_exists", 11: "enumval_value", 12: "type_matches",
}

_FIELD_KINDS = frozenset(range(0, 6))
_TYPE_KINDS = frozenset((6, 7, 8, 9, 12))
_ENUMVAL_KINDS = frozenset((10, 11))

POISON_HELPER = 0xbad2310  # "bad relo": the verifier reports "invalid func unknown#195896080"
MAX_SPEC_LEN = 64          # BPF_CORE_SPEC_MAX_LEN
_MAX_DEPTH = 32
_M64 = (1 << 64) - 1

_MODS = T.MODIFIERS
_ANY_ENUM = (T.ENUM, T.ENUM64)

# instruction classes / fields (uapi bpf.h)
_LD, _LDX, _ST, _STX, _ALU, _JMP, _ALU64 = 0, 1, 2, 3, 4, 5, 7
_LDIMM64 = 0x18  # BPF_LD | BPF_IMM | BPF_DW
_SIZE_BYTES = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}
_BYTES_SIZE = {4: 0x00, 2: 0x08, 1: 0x10, 8: 0x18}
_CALL = 0x85  # BPF_JMP | BPF_CALL

_insn = struct.Struct("<BBhi")


class _Poison(Exception):
    """Internal: the relocation cannot be satisfied; poison the instruction."""


class _Fail(Exception):
    """Internal: the relocation is invalid (hard error)."""


# --------------------------------------------------------------------------- names

def _essential(name: str) -> str:
    # The flavor separator is the last "X___Y" where X and Y are not underscores.
    if "___" not in name:
        return name
    n = len(name)
    for i in range(n - 5, -1, -1):
        if (name[i] != "_" and name[i + 1] == "_" and name[i + 2] == "_"
                and name[i + 3] == "_" and name[i + 4] != "_"):
            return name[:i + 1]
    return name


def essential_name(name: str) -> str:
    """``task_struct___old`` -> ``task_struct``: strip the last ``X___Y`` flavor suffix."""
    return _essential(name)


# --------------------------------------------------------------------------- type helpers

def _skip_mods(btf: Any, tid: int) -> tuple[T.Type, int]:
    t = btf[tid]
    n = 0
    while t.kind in _MODS:
        tid = t.type
        t = btf[tid]
        n += 1
        if n > _MAX_DEPTH:
            raise _Fail(f"type [{tid}]: modifier chain too long")
    return t, tid


def _size(btf: Any, tid: int) -> int:
    """Size in bytes of a type (like btf__resolve_size); _Fail when it has none."""
    nelems = 1
    for _ in range(_MAX_DEPTH):
        t = btf[tid]
        k = t.kind
        if k in (T.INT, T.STRUCT, T.UNION, T.ENUM, T.ENUM64, T.FLOAT, T.DATASEC):
            return nelems * t.size
        if k == T.PTR:
            return nelems * 8
        if k in _MODS or k == T.VAR:
            tid = t.type
        elif k == T.ARRAY:
            nelems *= t.nelems
            tid = t.type
        else:
            raise _Fail(f"type [{tid}] {t.kind_name} has no size")
    raise _Fail(f"type [{tid}]: type chain too long")


def _kind_compat(a: int, b: int) -> bool:
    return a == b or (a in _ANY_ENUM and b in _ANY_ENUM)


def _is_composite(t: T.Type) -> bool:
    return t.kind == T.STRUCT or t.kind == T.UNION


def _enum_signed(t: T.Type) -> bool:
    return bool(getattr(t, "signed", False))


def _names_match(a: str, b: str) -> bool:
    if not b:
        return not a
    return _essential(a) == _essential(b)


def types_are_compat(lbtf: Any, lid: int, tbtf: Any, tid: int, level: int = _MAX_DEPTH) -> bool:
    """``bpf_core_types_are_compat``: may a target type stand for the local one?"""
    lt, tt = lbtf[lid], tbtf[tid]
    if not _kind_compat(lt.kind, tt.kind):
        return False
    for _ in range(_MAX_DEPTH):
        lt, lid = _skip_mods(lbtf, lid)
        tt, tid = _skip_mods(tbtf, tid)
        if not _kind_compat(lt.kind, tt.kind):
            return False
        k = lt.kind
        if k in (T.UNKN, T.STRUCT, T.UNION, T.ENUM, T.FWD, T.ENUM64):
            return True
        if k == T.INT:
            return lt.offset == 0 and tt.offset == 0
        if k == T.PTR:
            lid, tid = lt.type, tt.type
        elif k == T.ARRAY:
            lid, tid = lt.type, tt.type
        elif k == T.FUNC_PROTO:
            if len(lt.params) != len(tt.params):
                return False
            for lp, tp in zip(lt.params, tt.params):
                if level <= 0:
                    raise _Fail("type compatibility check too deep")
                _, a = _skip_mods(lbtf, lp.type)
                _, b = _skip_mods(tbtf, tp.type)
                if not types_are_compat(lbtf, a, tbtf, b, level - 1):
                    return False
            _, lid = _skip_mods(lbtf, lt.return_type)
            _, tid = _skip_mods(tbtf, tt.return_type)
        else:
            return False
    raise _Fail("type compatibility check too deep")


def types_match(lbtf: Any, lid: int, tbtf: Any, tid: int, behind_ptr: bool = False,
                level: int = _MAX_DEPTH) -> bool:
    """``__bpf_core_types_match``: the stricter structural check of TYPE_MATCHES."""
    if level <= 0:
        raise _Fail("type match check too deep")
    for _ in range(_MAX_DEPTH):
        lt, lid = _skip_mods(lbtf, lid)
        tt, tid = _skip_mods(tbtf, tid)
        if not _names_match(lt.name if lt.kind else "", tt.name if tt.kind else ""):
            return False
        lk, tk = lt.kind, tt.kind
        if lk == T.UNKN:
            return lk == tk
        if lk == T.FWD:
            if behind_ptr:
                if lk == tk:
                    return lt.union == tt.union
                return (tk == T.STRUCT and not lt.union) or (tk == T.UNION and lt.union)
            return lk == tk and lt.union == tt.union
        if lk in _ANY_ENUM:
            if tk not in _ANY_ENUM:
                return False
            return _enums_match(lt, tt)
        if lk in (T.STRUCT, T.UNION):
            if behind_ptr:
                if lk == tk:
                    return True
                if tk != T.FWD:
                    return False
                return (lk == T.UNION) == tt.union
            if lk != tk:
                return False
            return _composites_match(lbtf, lt, tbtf, tt, behind_ptr, level)
        if lk == T.INT:
            if lk != tk:
                return False
            return lt.size == tt.size and (lt.encoding & 1) == (tt.encoding & 1)
        if lk == T.PTR:
            if lk != tk:
                return False
            behind_ptr = True
            lid, tid = lt.type, tt.type
            continue
        if lk == T.ARRAY:
            if lk != tk or lt.nelems != tt.nelems:
                return False
            lid, tid = lt.type, tt.type
            continue
        if lk == T.FUNC_PROTO:
            if lk != tk or len(lt.params) != len(tt.params):
                return False
            for lp, tp in zip(lt.params, tt.params):
                if not types_match(lbtf, lp.type, tbtf, tp.type, behind_ptr, level - 1):
                    return False
            lid, tid = lt.return_type, tt.return_type
            continue
        return False
    raise _Fail("type match check too deep")


def _enums_match(lt: T.Type, tt: T.Type) -> bool:
    if lt.size != tt.size or len(lt.values) > len(tt.values):
        return False
    for lv in lt.values:
        if not any(_names_match(lv.name, tv.name) for tv in tt.values):
            return False
    return True


def _composites_match(lbtf: Any, lt: T.Type, tbtf: Any, tt: T.Type, behind_ptr: bool,
                      level: int) -> bool:
    if len(lt.members) > len(tt.members):
        return False
    for lm in lt.members:
        for tm in tt.members:
            if not _names_match(lm.name, tm.name):
                continue
            if types_match(lbtf, lm.type, tbtf, tm.type, behind_ptr, level - 1):
                break
        else:
            return False
    return True


def _fields_compat(lbtf: Any, lid: int, tbtf: Any, tid: int) -> bool:
    """``bpf_core_fields_are_compat``: may the target field stand for the local one?"""
    for _ in range(_MAX_DEPTH):
        lt, lid = _skip_mods(lbtf, lid)
        tt, tid = _skip_mods(tbtf, tid)
        if _is_composite(lt) and _is_composite(tt):
            return True
        if not _kind_compat(lt.kind, tt.kind):
            return False
        k = lt.kind
        if k in (T.PTR, T.FLOAT):
            return True
        if k in (T.FWD, T.ENUM, T.ENUM64):
            a, b = _essential(lt.name), _essential(tt.name)
            return not a or not b or a == b
        if k == T.INT:
            return lt.offset == 0 and tt.offset == 0
        if k == T.ARRAY:
            lid, tid = lt.type, tt.type
            continue
        return False
    raise _Fail("field compatibility check too deep")


# --------------------------------------------------------------------------- specs

class Accessor:
    __slots__ = ("type_id", "idx", "name")

    def __init__(self, type_id: int, idx: int, name: str | None) -> None:
        self.type_id, self.idx, self.name = type_id, idx, name


class Spec:
    """A parsed access: ``raw`` (every index), ``acc`` (named fields and array indices),
    and the resulting ``bit_offset`` in the root type."""

    __slots__ = ("btf", "root_type_id", "kind", "raw", "acc", "bit_offset")

    def __init__(self, btf: Any, root_type_id: int, kind: int) -> None:
        self.btf, self.root_type_id, self.kind = btf, root_type_id, kind
        self.raw: list[int] = []
        self.acc: list[Accessor] = []
        self.bit_offset = 0

    def copy(self) -> "Spec":
        s = Spec(self.btf, self.root_type_id, self.kind)
        s.raw, s.acc, s.bit_offset = list(self.raw), list(self.acc), self.bit_offset
        return s

    def c_path(self) -> str:
        """The access in C terms: ``task_struct.__state``, ``foo.arr[3]``, ``e::VAL``,
        ``struct foo``."""
        btf = self.btf
        root = btf[self.root_type_id]
        name = root.name or "<anon>"
        if self.kind in _TYPE_KINDS:
            return f"{_kw(root)}{name}"
        if self.kind in _ENUMVAL_KINDS:
            return f"{name}::{self.acc[0].name}" if self.acc else name
        out = [name]
        for i, a in enumerate(self.acc):
            if a.name:
                out.append("." + a.name)
            elif i > 0 or a.idx > 0:
                out.append(f"[{a.idx}]")
        return "".join(out)


def _kw(t: T.Type) -> str:
    return {T.STRUCT: "struct ", T.UNION: "union ", T.ENUM: "enum ", T.ENUM64: "enum ",
            T.FWD: "struct "}.get(t.kind, "")


def _is_flex(btf: Any, parent: Accessor | None, arr: T.Array) -> bool:
    """Only the last member of a struct, with zero elements, may be indexed past its end."""
    if parent is None or not parent.name or arr.nelems > 0:
        return False
    return parent.idx == len(btf[parent.type_id].members) - 1


def parse_spec(btf: Any, type_id: int, access: str, kind: int) -> Spec:
    """Parse the local side of a record (``bpf_core_parse_spec``)."""
    spec = Spec(btf, type_id, kind)
    if not access or access[0] == ":":
        raise _Fail(f"bad access string {access!r}")
    if kind in _TYPE_KINDS:
        if access != "0":
            raise _Fail(f"type-based relocation with access string {access!r}")
        return spec
    try:
        raw = [int(x) for x in access.split(":")]
    except ValueError:
        raise _Fail(f"bad access string {access!r}") from None
    if not raw or len(raw) > MAX_SPEC_LEN or any(x < 0 for x in raw):
        raise _Fail(f"bad access string {access!r}")
    spec.raw = raw
    t, tid = _skip_mods(btf, type_id)
    idx = raw[0]
    if kind in _ENUMVAL_KINDS:
        if t.kind not in _ANY_ENUM or len(raw) > 1 or idx >= len(t.values):
            raise _Fail(f"enum value access {access!r} into [{type_id}] {t.kind_name}")
        spec.acc.append(Accessor(tid, idx, t.values[idx].name))
        return spec
    if kind not in _FIELD_KINDS:
        raise _Fail(f"unknown relocation kind {kind}")
    spec.acc.append(Accessor(tid, idx, None))
    spec.bit_offset = idx * _size(btf, tid) * 8
    for i in range(1, len(raw)):
        t, tid = _skip_mods(btf, tid)
        idx = raw[i]
        if t.kind == T.STRUCT or t.kind == T.UNION:
            if idx >= len(t.members):
                raise _Fail(f"member index {idx} out of range in [{tid}] {t.name or '<anon>'}")
            m = t.members[idx]
            spec.bit_offset += m.bit_offset
            if m.name:
                spec.acc.append(Accessor(tid, idx, m.name))
            tid = m.type
        elif t.kind == T.ARRAY:
            flex = _is_flex(btf, spec.acc[-1] if spec.acc else None, t)
            _, tid = _skip_mods(btf, t.type)
            if not flex and idx >= t.nelems:
                raise _Fail(f"array index {idx} out of range ({t.nelems} elements)")
            spec.acc.append(Accessor(tid, idx, None))
            spec.bit_offset += idx * _size(btf, tid) * 8
        else:
            raise _Fail(f"access {access!r} at position {i} goes into [{tid}] {t.kind_name}")
    return spec


def _match_member(lbtf: Any, lacc: Accessor, tbtf: Any, tid: int, spec: Spec) -> int | None:
    """Find the local named member in the target composite (through anonymous members).
    Returns the member's type id, or None."""
    tt, tid = _skip_mods(tbtf, tid)
    if not _is_composite(tt):
        return None
    lm = lbtf[lacc.type_id].members[lacc.idx]
    lname = lm.name
    for i, m in enumerate(tt.members):
        if len(spec.raw) >= MAX_SPEC_LEN:
            raise _Fail("access too deep")
        spec.bit_offset += m.bit_offset
        spec.raw.append(i)
        if not m.name:
            found = _match_member(lbtf, lacc, tbtf, m.type, spec)
            if found is not None:
                return found
        elif m.name == lname:
            if _fields_compat(lbtf, lm.type, tbtf, m.type):
                spec.acc.append(Accessor(tid, i, m.name))
                return m.type
            return None
        spec.bit_offset -= m.bit_offset
        spec.raw.pop()
    return None


def match_spec(local: Spec, tbtf: Any, tid: int) -> Spec | None:
    """Match a local spec against one target candidate (``bpf_core_spec_match``)."""
    spec = Spec(tbtf, tid, local.kind)
    kind = local.kind
    lbtf = local.btf
    if kind in _TYPE_KINDS:
        if kind == TYPE_MATCHES:
            ok = types_match(lbtf, local.root_type_id, tbtf, tid)
        else:
            ok = types_are_compat(lbtf, local.root_type_id, tbtf, tid)
        return spec if ok else None
    if kind in _ENUMVAL_KINDS:
        tt, tid = _skip_mods(tbtf, tid)
        if tt.kind not in _ANY_ENUM:
            return None
        want = _essential(local.acc[0].name or "")
        for i, v in enumerate(tt.values):
            if _essential(v.name) == want:
                spec.acc.append(Accessor(tid, i, v.name))
                spec.raw.append(i)
                return spec
        return None
    for i, lacc in enumerate(local.acc):
        tt, tid = _skip_mods(tbtf, tid)
        if lacc.name:
            nxt = _match_member(lbtf, lacc, tbtf, tid, spec)
            if nxt is None:
                return None
            tid = nxt
        else:
            if i > 0:
                if tt.kind != T.ARRAY:
                    return None
                flex = _is_flex(tbtf, spec.acc[-1] if spec.acc else None, tt)
                if not flex and lacc.idx >= tt.nelems:
                    return None
                _, tid = _skip_mods(tbtf, tt.type)
            if len(spec.raw) >= MAX_SPEC_LEN:
                raise _Fail("access too deep")
            spec.acc.append(Accessor(tid, lacc.idx, None))
            spec.raw.append(lacc.idx)
            spec.bit_offset += lacc.idx * _size(tbtf, tid) * 8
    return spec


# --------------------------------------------------------------------------- values

class _Res:
    __slots__ = ("orig", "new", "poison", "validate", "fail_memsz", "orig_sz", "new_sz",
                 "orig_tid", "new_tid", "reason")

    def __init__(self) -> None:
        self.orig = self.new = 0
        self.poison = False
        self.validate = True
        self.fail_memsz = False
        self.orig_sz = self.new_sz = 0
        self.orig_tid = self.new_tid = 0
        self.reason = ""


def _calc_field(kind: int, spec: Spec | None, want_validate: bool) -> tuple[int, int, int, bool]:
    """-> (value, memory size, field type id, validate)."""
    if kind == FIELD_EXISTS:
        return (1 if spec else 0), 0, 0, True
    if spec is None:
        raise _Poison()
    btf = spec.btf
    acc = spec.acc[-1]
    if not acc.name:
        if kind == FIELD_BYTE_OFFSET:
            return spec.bit_offset // 8, _size(btf, acc.type_id), acc.type_id, True
        if kind == FIELD_BYTE_SIZE:
            return _size(btf, acc.type_id), 0, 0, True
        raise _Fail(f"relocation {KIND_NAMES.get(kind, kind)} cannot apply to an array element")
    t = btf[acc.type_id]
    m = t.members[acc.idx]
    mt, ftid = _skip_mods(btf, m.type)
    bit_off = spec.bit_offset
    bit_sz = m.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        byte_sz = mt.size
        byte_off = bit_off // 8 // byte_sz * byte_sz
        # the smallest load that covers the whole bitfield
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise _Fail("bitfield cannot be read with a 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = _size(btf, ftid)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    validate = not bitfield
    mem_sz = tid = 0
    if kind == FIELD_BYTE_OFFSET:
        val = byte_off
        if not bitfield:
            mem_sz, tid = byte_sz, ftid
    elif kind == FIELD_BYTE_SIZE:
        val = byte_sz
    elif kind == FIELD_SIGNED:
        val = int((mt.kind in _ANY_ENUM and _enum_signed(mt))
                  or (mt.kind == T.INT and bool(mt.encoding & T.INT_SIGNED)))
        validate = True
    elif kind == FIELD_LSHIFT_U64:
        val = 64 - (bit_off + bit_sz - byte_off * 8)
    elif kind == FIELD_RSHIFT_U64:
        val = 64 - bit_sz
        validate = True
    else:
        raise _Fail(f"unknown field relocation kind {kind}")
    return val, mem_sz, tid, validate


def _calc_type(kind: int, spec: Spec | None) -> tuple[int, bool]:
    if spec is None:
        return 0, True
    if kind == TYPE_ID_TARGET:
        return spec.root_type_id, False
    if kind in (TYPE_EXISTS, TYPE_MATCHES):
        return 1, True
    if kind == TYPE_SIZE:
        return _size(spec.btf, spec.root_type_id), True
    raise _Fail(f"unknown type relocation kind {kind}")


def _calc_enumval(kind: int, spec: Spec | None) -> int:
    if kind == ENUMVAL_EXISTS:
        return 1 if spec else 0
    if spec is None:
        raise _Poison()
    a = spec.acc[0]
    t = spec.btf[a.type_id]
    v = t.values[a.idx].value
    if t.kind == T.ENUM:
        # a 32-bit enumerator is stored as s32 and widened with its sign, whatever the
        # enum's signedness (that is what the kernel/libbpf put into the instruction)
        v &= 0xffffffff
        if v >= 1 << 31:
            v -= 1 << 32
    return v & _M64


def _calc(kind: int, local: Spec, targ: Spec | None) -> _Res:
    r = _Res()
    try:
        if kind in _FIELD_KINDS:
            r.orig, r.orig_sz, r.orig_tid, r.validate = _calc_field(kind, local, True)
            r.new, r.new_sz, r.new_tid, _ = _calc_field(kind, targ, False)
            if r.orig_sz != r.new_sz:
                ot, nt = local.btf[r.orig_tid], targ.btf[r.new_tid]  # type: ignore[union-attr]
                # only pointers (32-bit kernel pointers) and unsigned ints keep their value
                # when the load size changes; anything else would read garbage
                ok = (ot.kind == T.PTR and nt.kind == T.PTR) or (
                    ot.kind == T.INT and nt.kind == T.INT
                    and ot.encoding != T.INT_SIGNED and nt.encoding != T.INT_SIGNED)
                r.fail_memsz = not ok
        elif kind in _TYPE_KINDS:
            r.orig, r.validate = _calc_type(kind, local)
            r.new, _ = _calc_type(kind, targ)
        elif kind in _ENUMVAL_KINDS:
            r.orig = _calc_enumval(kind, local)
            r.new = _calc_enumval(kind, targ)
        else:
            raise _Fail(f"unknown relocation kind {kind}")
    except _Poison:
        r.poison = True
        r.reason = "no match in target BTF"
    return r


# --------------------------------------------------------------------------- candidates

class _Target:
    """One target BTF; finds flavored names (``foo___bar``) by searching its string
    table for the essential name followed by the separator."""

    __slots__ = ("btf", "label", "first_id", "_strs", "_calls", "_table")

    def __init__(self, btf: Any, label: str, first_id: int) -> None:
        self.btf, self.label, self.first_id = btf, label, first_id
        self._strs: tuple[Any, int, int] | None = None  # (buffer, start, end) of the strings
        self._calls = 0
        self._table: dict[str, list[str]] | None = None

    def flavors(self, ess: str) -> list[str]:
        """Full names ``ess___X`` present in this BTF's string table."""
        if self._table is None and self._strs is None:
            listed = getattr(self.btf, "_flavor_strings", None)
            if listed is not None:
                # the reader lists its strings with "___" (for vmlinux: from its index cache)
                self._table = _flavor_table_of(listed())
        if self._table is not None:
            return list(self._table.get(ess, ()))
        if self._strs is None:
            sect = getattr(self.btf, "_strsection", None)
            if sect is not None:
                # the reader's own buffer (an mmap for kernel BTF), searched in place: a copy
                # of vmlinux's 2.3 MB string section costs ≈2 ms in a fresh process
                self._strs = sect()
            else:
                raw = getattr(self.btf, "raw", None)
                sb = (_string_section(raw) if raw else None) or b""
                self._strs = (sb, 0, len(sb))
        strs, lo, hi = self._strs
        if hi <= lo:
            return [n for n in _all_names(self.btf) if n != ess and _essential(n) == ess]
        self._calls += 1
        if self._calls > _FLAVOR_SCANS:
            self._table = _flavor_table(strs, lo, hi)
            return list(self._table.get(ess, ()))
        out = []
        pat = b"\0" + ess.encode() + b"___"
        if strs[lo:lo + len(pat) - 1] == pat[1:]:
            e = strs.find(b"\0", lo, hi)
            name = bytes(strs[lo:e if e >= 0 else hi]).decode("utf-8", "replace")
            if _essential(name) == ess:
                out.append(name)
        pos = strs.find(pat, lo, hi)
        while pos >= 0:
            e = strs.find(b"\0", pos + 1, hi)
            name = bytes(strs[pos + 1:e if e >= 0 else hi]).decode("utf-8", "replace")
            if _essential(name) == ess:
                out.append(name)
            pos = strs.find(pat, pos + 1, hi)
        return out

    def find(self, ess: str, kind: int) -> list[int]:
        """Ids of own types of a compatible kind whose essential name is ``ess``."""
        btf = self.btf
        out = []
        for nm in [ess, *self.flavors(ess)]:
            for tid in _find_all(btf, nm):
                if tid < self.first_id:
                    continue
                t = btf[tid]
                if _kind_compat(t.kind, kind) and t.name and _essential(t.name) == ess:
                    out.append(tid)
        return sorted(set(out))


_FLAVOR_SCANS = 2  # per-name string table scans (≈1 ms each for vmlinux) before a table


def _flavor_table(strs: Any, lo: int = 0, hi: int | None = None) -> dict[str, list[str]]:
    """Essential name -> flavored names (``ess___X``) in the string table ``strs[lo:hi]``,
    in table order: one scan for "___" (≈2 ms for vmlinux, which has a few dozen)."""
    hi = len(strs) if hi is None else hi
    names = []
    p = strs.find(b"___", lo, hi)
    while p >= 0:
        start = strs.rfind(b"\0", lo, p) + 1 or lo
        end = strs.find(b"\0", p, hi)
        if end < 0:
            end = hi
        names.append(bytes(strs[start:end]).decode("utf-8", "replace"))
        p = strs.find(b"___", end, hi)
    return _flavor_table_of(names)


def _flavor_table_of(names: Iterable[str]) -> dict[str, list[str]]:
    """Essential name -> the flavored ones among ``names``, in their order."""
    out: dict[str, list[str]] = {}
    for name in names:
        ess = _essential(name)
        if ess != name and ess:
            out.setdefault(ess, []).append(name)
    return out


def _all_names(btf: Any) -> list[str]:
    return [btf[i].name for i in range(getattr(btf, "start_id", 1), len(btf))
            if "___" in btf[i].name]


def _find_all(btf: Any, name: str) -> list[int]:
    find = getattr(btf, "find", None)
    if find is not None:
        try:
            return list(find(name))
        except Exception:  # noqa: BLE001 - a reader without this name index: scan
            pass
    return [i for i in range(getattr(btf, "start_id", 1), len(btf)) if btf[i].name == name]


def _string_section(raw: bytes) -> bytes | None:
    if len(raw) < 24 or raw[:2] not in (b"\x9f\xeb", b"\xeb\x9f"):
        return None
    order = "<" if raw[:2] == b"\x9f\xeb" else ">"
    hdr_len, _to, _tl, so, sl = struct.unpack_from(order + "IIIII", raw, 4)
    start = hdr_len + so
    return bytes(raw[start:start + sl])


class CoreCache:
    """Candidate lists per local root type, shared by every program of an object (and
    across objects loaded against the same targets).

    ``modules``: a callable returning module BTFs (split on top of vmlinux), consulted
    only when vmlinux has no candidate, like libbpf.
    """

    def __init__(self, modules: Any = None) -> None:
        self._targets: dict[int, _Target] = {}
        # (id(local btf), local id, target ids) -> (local btf, candidates): the BTF
        # objects are kept so that their ids cannot be reused by new objects
        self._cands: dict[tuple, tuple[Any, list[tuple[Any, int]]]] = {}
        self._modules = modules
        self._module_targets: list[_Target] | None = None

    def _target(self, btf: Any, label: str, first_id: int) -> _Target:
        key = id(btf)
        t = self._targets.get(key)
        if t is None or t.btf is not btf:
            t = self._targets[key] = _Target(btf, label, first_id)
        return t

    def candidates(self, local_btf: Any, local_id: int,
                   targets: Sequence[Any]) -> list[tuple[Any, int]]:
        key = (id(local_btf), local_id, tuple(id(t) for t in targets))
        hit = self._cands.get(key)
        if hit is not None and hit[0] is local_btf:
            return hit[1]
        lt = local_btf[local_id]
        if not lt.name or local_id == 0:
            raise _Fail("relocation on an anonymous type")
        ess = _essential(lt.name)
        main = self._target(targets[0], "vmlinux", 1)
        c = [(main.btf, i) for i in main.find(ess, lt.kind)]
        if not c:
            mods = list(targets[1:])
            if not mods and self._modules is not None:
                if self._module_targets is None:
                    self._module_targets = [
                        self._target(m, getattr(m, "name", "module"),
                                     getattr(m, "start_id", 1)) for m in self._modules()]
                mtargets = self._module_targets
            else:
                mtargets = [self._target(m, getattr(m, "name", "module"),
                                         getattr(m, "start_id", 1)) for m in mods]
            for mt in mtargets:
                c.extend((mt.btf, i) for i in mt.find(ess, lt.kind))
        for t in targets:
            self._target(t, "target", getattr(t, "start_id", 1))  # keeps t alive
        self._cands[key] = (local_btf, c)
        return c


# --------------------------------------------------------------------------- results

class RelocResult:
    """What one CO-RE record did. ``spec`` is the access in C terms
    (``task_struct.__state``), ``poisoned`` is True when the instruction was replaced by a
    call to the invalid helper 0xbad2310 and ``reason`` says why."""

    __slots__ = ("index", "insn", "kind", "type_id", "access", "spec", "orig", "new",
                 "poisoned", "reason", "target_type_id", "orig_size", "new_size", "section")

    def __init__(self, index: int, insn: int, kind: int, type_id: int, access: str,
                 spec: str, section: str = "") -> None:
        self.index, self.insn, self.kind, self.type_id = index, insn, kind, type_id
        self.access, self.spec, self.section = access, spec, section
        self.orig = self.new = 0
        self.poisoned = False
        self.reason = ""
        self.target_type_id = 0
        self.orig_size = self.new_size = 0

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, str(self.kind))

    def message(self) -> str:
        """``task_struct.__state``: no match in kernel BTF (field_exists...)."""
        if self.poisoned:
            return f"`{self.spec}`: {self.reason}"
        return f"`{self.spec}`: {self.kind_name} {self.orig} -> {self.new}"

    def __repr__(self) -> str:
        p = f" POISONED ({self.reason})" if self.poisoned else ""
        return (f"<RelocResult #{self.index} insn {self.insn} {self.kind_name} {self.spec} "
                f"{self.orig} -> {self.new}{p}>")


def _err(section: str, idx: int, insn: int, what: str, msg: str) -> CORERelocationError:
    where = f"{section}: " if section else ""
    return CORERelocationError(f"{where}relocation #{idx} at instruction {insn} ({what}): {msg}")


def relocate(insns: bytearray, relos: Iterable[Any], local_btf: Any, target: Any,
             section: str = "", cache: CoreCache | None = None, insn_offset: int = 0,
             target_label: str = "kernel BTF") -> list[RelocResult]:
    """Apply CO-RE records to ``insns`` (raw ``struct bpf_insn`` bytes) in place.

    ``relos``: records with ``insn_off`` (instructions, section-relative), ``type_id``,
    ``access_str``, ``kind``; records outside ``[insn_offset, insn_offset + len)`` are
    skipped (a section may hold several programs). ``target``: a BTF, or a list
    ``[vmlinux, module, ...]``. Raises :class:`CORERelocationError` for invalid or
    ambiguous records; unsatisfiable ones are poisoned and reported in the results.
    """
    targets = list(target) if isinstance(target, (list, tuple)) else [target]
    if not targets:
        raise CORERelocationError("CO-RE relocation needs a target BTF")
    cache = cache if cache is not None else CoreCache()
    n_insns = len(insns) // 8
    results: list[RelocResult] = []
    for ridx, rel in enumerate(relos):
        kind = rel.kind
        iidx = rel.insn_off - insn_offset
        if iidx < 0 or iidx >= n_insns:
            continue
        access = rel.access_str
        try:
            local = parse_spec(local_btf, rel.type_id, access, kind)
        except (_Fail, IndexError, KeyError, AttributeError, TypeError) as e:
            raise _err(section, ridx, iidx, f"[{rel.type_id}] + {access!r}",
                       f"invalid record: {e}") from None
        except Exception as e:  # the reader raises BTFError for bad ids
            raise _err(section, ridx, iidx, f"[{rel.type_id}] + {access!r}",
                       f"invalid record: {e}") from None
        res = RelocResult(ridx, iidx, kind, rel.type_id, access, local.c_path(), section)
        try:
            r, tspec = _resolve(local, kind, cache, local_btf, rel.type_id, targets)
        except _Fail as e:
            raise _err(section, ridx, iidx, res.spec, str(e)) from None
        if r.poison:
            r.reason = f"no match in {target_label}"
        res.orig, res.new, res.orig_size, res.new_size = r.orig, r.new, r.orig_sz, r.new_sz
        res.target_type_id = tspec.root_type_id if tspec is not None else 0
        try:
            _patch(insns, iidx, r, res)
        except _Fail as e:
            raise _err(section, ridx, iidx, res.spec, str(e)) from None
        results.append(res)
    return results


def _resolve(local: Spec, kind: int, cache: CoreCache, local_btf: Any, type_id: int,
             targets: list[Any]) -> tuple[_Res, Spec | None]:
    if kind == TYPE_ID_LOCAL:
        r = _Res()
        r.validate = False
        r.orig = r.new = local.root_type_id
        return r, None
    cands = cache.candidates(local_btf, type_id, targets)
    best: _Res | None = None
    best_spec: Spec | None = None
    keep = []
    for cbtf, cid in cands:
        cspec = match_spec(local, cbtf, cid)
        if cspec is None:
            continue
        r = _calc(kind, local, cspec)
        if best is None:
            best, best_spec = r, cspec
        elif cspec.bit_offset != best_spec.bit_offset:  # type: ignore[union-attr]
            raise _Fail(f"field offset ambiguity: {cspec.bit_offset} != "
                        f"{best_spec.bit_offset} bits in [{best_spec.root_type_id}] and "  # type: ignore[union-attr]
                        f"[{cid}]")
        elif r.poison != best.poison or r.new != best.new:
            raise _Fail(f"relocation decision ambiguity: candidates [{best_spec.root_type_id}] "  # type: ignore[union-attr]
                        f"and [{cid}] give {best.new} and {r.new}")
        keep.append((cbtf, cid))
    if keep and len(keep) != len(cands):
        # prune structurally incompatible candidates for later records, as libbpf does
        cands[:] = keep
    if best is None:
        return _calc(kind, local, None), None
    return best, best_spec


def _patch(buf: bytearray, idx: int, r: _Res, res: RelocResult) -> None:
    off = idx * 8
    code, regs, ioff, imm = _insn.unpack_from(buf, off)
    cls = code & 7
    if r.poison:
        _poison(buf, idx, code, res, r.reason)
        return
    orig, new = r.orig & _M64, r.new & _M64
    if cls in (_ALU, _ALU64):
        if code & 0x08:
            raise _Fail(f"instruction (code {code:#x}) uses a register, not an immediate")
        if r.validate and (imm & _M64) != orig:
            raise _Fail(f"unexpected ALU immediate {imm}, expected {orig}")
        newimm = new & 0xffffffff
        if newimm >= 1 << 31:
            newimm -= 1 << 32
        _insn.pack_into(buf, off, code, regs, ioff, newimm)
    elif cls in (_LDX, _ST, _STX):
        if r.validate and (ioff & _M64) != orig:
            raise _Fail(f"unexpected memory offset {ioff}, expected {orig}")
        if new > 0x7fff:
            raise _Fail(f"memory offset {new} too big")
        if r.fail_memsz:
            _poison(buf, idx, code, res,
                    "field size changed and the load cannot be resized safely "
                    "(only pointers and unsigned integers can)")
            return
        if r.new_sz != r.orig_sz:
            have = _SIZE_BYTES.get(code & 0x18)
            if have != r.orig_sz:
                raise _Fail(f"unexpected memory size {have}, expected {r.orig_sz}")
            sz = _BYTES_SIZE.get(r.new_sz)
            if sz is None:
                raise _Fail(f"invalid new memory size {r.new_sz}")
            code = (code & 0xe0) | sz | cls
        _insn.pack_into(buf, off, code, regs, new if new < 0x8000 else new - 0x10000, imm)
    elif cls == _LD:
        if (code != _LDIMM64 or (regs >> 4) != 0 or ioff != 0 or off + 16 > len(buf)):
            raise _Fail("ld_imm64 instruction has an unexpected form")
        c2, r2, o2, imm2 = _insn.unpack_from(buf, off + 8)
        if c2 != 0 or r2 != 0 or o2 != 0:
            raise _Fail("ld_imm64 instruction has an unexpected form")
        cur = ((imm & 0xffffffff) | ((imm2 & 0xffffffff) << 32)) & _M64
        if r.validate and cur != orig:
            raise _Fail(f"unexpected ld_imm64 value {cur}, expected {orig}")
        lo, hi = new & 0xffffffff, (new >> 32) & 0xffffffff
        _insn.pack_into(buf, off, code, regs, ioff, lo - (1 << 32) if lo >= 1 << 31 else lo)
        _insn.pack_into(buf, off + 8, c2, r2, o2, hi - (1 << 32) if hi >= 1 << 31 else hi)
    else:
        raise _Fail(f"cannot relocate instruction with code {code:#x}")


def _poison(buf: bytearray, idx: int, code: int, res: RelocResult, reason: str) -> None:
    off = idx * 8
    if code == _LDIMM64 and off + 16 <= len(buf):
        # poison the second half too, or the verifier complains about opcode 00 instead
        _insn.pack_into(buf, off + 8, _CALL, 0, 0, POISON_HELPER)
    _insn.pack_into(buf, off, _CALL, 0, 0, POISON_HELPER)
    res.poisoned = True
    res.reason = reason


# --------------------------------------------------------------------------- explain

def poisoned_at(results: Iterable[RelocResult], insn: int) -> RelocResult | None:
    """The poisoned relocation at instruction ``insn`` (program-relative), if any."""
    for r in results:
        if r.poisoned and (r.insn == insn or r.insn + 1 == insn):
            return r
    return None


def explain(results: Iterable[RelocResult], verifier_log: str) -> str | None:
    """If the verifier failed at a poisoned instruction, say which relocation it was, in C
    terms (``task_struct.__state``: no match in kernel BTF); else None."""
    import re
    results = list(results)
    if not any(r.poisoned for r in results):
        return None
    m = None
    for m in re.finditer(r"^(\d+): \(85\) call unknown#195896080", verifier_log, re.M):
        pass
    if m is None and "195896080" not in verifier_log:
        return None
    if m is not None:
        r = poisoned_at(results, int(m.group(1)))
        if r is not None:
            return r.message()
    # fall back to the first poisoned relocation (instruction numbers may have moved)
    r = next(r for r in results if r.poisoned)
    return r.message()


__all__ = ["relocate", "CoreCache", "RelocResult", "parse_spec", "match_spec",
           "types_are_compat", "types_match", "essential_name", "explain", "poisoned_at",
           "POISON_HELPER", "KIND_NAMES"]
