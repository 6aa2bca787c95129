"""Write BTF: encode types to the kernel's wire format, and sanitize object BTF for loading.

``marshal_btf(types)`` turns a list of :mod:`corebpf.btf.types` objects (in id order; their
references are ids in the same numbering) into a BTF blob with a deduplicated string table.

``sanitize(btf, features, datasecs=...)`` prepares an object's BTF for BPF_BTF_LOAD the way
libbpf does: kinds the running kernel lacks are replaced by look-alikes of the same size
(so type ids and layouts stay valid), DATASEC sizes and VAR offsets are filled in from the
ELF symbol table, and extern ``.ksyms``/``.kconfig`` variables get the form the kernel
accepts. Type ids never change; helper types are appended at the end.
"""
from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True

from ..errors import BTFError
from . import types as T
from .types import (ARRAY, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC, FUNC_PROTO,
                    FWD, INT, PTR, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION, VAR, VOLATILE)

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Iterable, Mapping
    from .reader import BTF

_HDR = struct.Struct("<HBBIIIII")
_TYPE = struct.Struct("<III")

# feature names understood by corebpf.features.has_btf_feature
BTF_FEATURES = ("func", "func_global", "datasec", "float", "decl_tag", "type_tag", "enum64",
                "qmark_datasec")

KSYMS_SEC = ".ksyms"
KCONFIG_SEC = ".kconfig"
VAR_GLOBAL_ALLOCATED = T.LINKAGE_GLOBAL  # BTF_VAR_GLOBAL_ALLOCATED == 1


def _info(kind: int, vlen: int = 0, kflag: int | bool = 0) -> int:
    return (int(bool(kflag)) << 31) | (kind << 24) | (vlen & 0xFFFF)


class Builder:
    """Accumulates encoded types and a deduplicated string table.

    ``base`` makes split BTF: ids continue after the base's and string offsets after its
    string table.
    """

    def __init__(self, base: BTF | None = None, strings: bytes | None = None) -> None:
        self.base = base
        self._parts: list[bytes] = []
        self._strs: dict[str, int] = {"": 0}
        self._str_parts: list[bytes] = [] if base is not None else [b"\0"]
        if base is not None:
            self._str_base = base._base_strs + (base._str_end - base._str_start)
            self._str_len = 0
        else:
            self._str_base = 0
            self._str_len = 1
        if strings:
            # keep an existing string table as is, so offsets that live outside the types
            # (line info in .BTF.ext) stay valid
            if not strings.endswith(b"\0") or (base is None and strings[:1] != b"\0"):
                raise BTFError("seed string table must start and end with NUL")
            self._str_parts = [strings]
            self._str_len = len(strings)
            pos = 0
            for piece in strings.split(b"\0")[:-1]:
                self._strs.setdefault(piece.decode("utf-8", "replace"), self._str_base + pos)
                pos += len(piece) + 1
        self.next_id = len(base) if base is not None else 1

    def add_string(self, s: str) -> int:
        """Offset of ``s`` in the string table (added once)."""
        off = self._strs.get(s)
        if off is not None:
            return off
        b = s.encode()
        if b"\0" in b:
            raise BTFError(f"BTF string {s!r} contains NUL")
        off = self._str_base + self._str_len
        self._strs[s] = off
        self._str_parts.append(b + b"\0")
        self._str_len += len(b) + 1
        return off

    def add(self, t: T.Type) -> int:
        """Encode one type; returns the id it gets."""
        try:
            self._parts.append(self._encode(t))
        except (struct.error, AttributeError, TypeError, ValueError) as e:
            raise BTFError(f"cannot encode {t!r} as BTF: {e}") from None
        tid = self.next_id
        self.next_id += 1
        return tid

    def _encode(self, t: T.Type) -> bytes:
        k = t.kind
        name = self.add_string(t.name) if t.name and k not in (ARRAY, FUNC_PROTO) else 0
        pk = _TYPE.pack
        if k == INT:
            if t.bits > 128 or t.offset > 255:  # type: ignore[attr-defined]
                raise ValueError("INT bits/offset out of range")
            return pk(name, _info(INT), t.size) + struct.pack(  # type: ignore[attr-defined]
                "<I", (t.encoding << 24) | (t.offset << 16) | t.bits)  # type: ignore
        if k in (PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG):
            return pk(name, _info(k), t.type)  # type: ignore[attr-defined]
        if k == ARRAY:
            return pk(0, _info(ARRAY), 0) + struct.pack(
                "<III", t.type, t.index_type, t.nelems)  # type: ignore[attr-defined]
        if k in (STRUCT, UNION):
            ms = t.members  # type: ignore[attr-defined]
            kflag = any(m.bitfield_size for m in ms)
            out = [pk(name, _info(k, len(ms), kflag), t.size)]  # type: ignore[attr-defined]
            for m in ms:
                if kflag:
                    if m.bit_offset >= 1 << 24 or m.bitfield_size > 255:
                        raise ValueError(f"member {m.name!r} offset/bitfield too large")
                    off = (m.bitfield_size << 24) | m.bit_offset
                else:
                    off = m.bit_offset
                out.append(struct.pack("<III", self.add_string(m.name) if m.name else 0,
                                       m.type, off))
            return b"".join(out)
        if k == ENUM:
            vs = t.values  # type: ignore[attr-defined]
            out = [pk(name, _info(ENUM, len(vs), t.signed), t.size)]  # type: ignore
            for v in vs:
                out.append(struct.pack("<II", self.add_string(v.name), v.value & 0xFFFFFFFF))
            return b"".join(out)
        if k == ENUM64:
            vs = t.values  # type: ignore[attr-defined]
            out = [pk(name, _info(ENUM64, len(vs), t.signed), t.size)]  # type: ignore
            for v in vs:
                u = v.value & 0xFFFFFFFFFFFFFFFF
                out.append(struct.pack("<III", self.add_string(v.name), u & 0xFFFFFFFF, u >> 32))
            return b"".join(out)
        if k == FWD:
            return pk(name, _info(FWD, 0, t.union), 0)  # type: ignore[attr-defined]
        if k == FUNC:
            return pk(name, _info(FUNC, t.linkage), t.type)  # type: ignore[attr-defined]
        if k == FUNC_PROTO:
            ps = t.params  # type: ignore[attr-defined]
            out = [pk(0, _info(FUNC_PROTO, len(ps)), t.return_type)]  # type: ignore
            for p in ps:
                out.append(struct.pack("<II", self.add_string(p.name) if p.name else 0, p.type))
            return b"".join(out)
        if k == VAR:
            return pk(name, _info(VAR), t.type) + struct.pack(  # type: ignore[attr-defined]
                "<I", t.linkage)  # type: ignore[attr-defined]
        if k == DATASEC:
            vs = t.vars  # type: ignore[attr-defined]
            out = [pk(name, _info(DATASEC, len(vs)), t.size)]  # type: ignore[attr-defined]
            for v in vs:
                out.append(struct.pack("<III", v.type, v.offset, v.size))
            return b"".join(out)
        if k == FLOAT:
            return pk(name, _info(FLOAT), t.size)  # type: ignore[attr-defined]
        if k == DECL_TAG:
            return pk(name, _info(DECL_TAG), t.type) + struct.pack(  # type: ignore
                "<i", t.component_idx)  # type: ignore[attr-defined]
        raise ValueError(f"unknown kind {k}")

    def encode(self) -> bytes:
        """The BTF blob."""
        types = b"".join(self._parts)
        strs = b"".join(self._str_parts)
        hdr = _HDR.pack(0xEB9F, 1, 0, _HDR.size, 0, len(types), len(types), len(strs))
        return hdr + types + strs


def marshal_btf(types: Iterable[T.Type], base: BTF | None = None,
                strings: bytes | None = None) -> bytes:
    """BTF bytes for ``types`` given in id order (the first gets id 1, or ``len(base)``).
    ``strings`` seeds the string table (its offsets are kept)."""
    b = Builder(base, strings)
    for t in types:
        if t.kind == T.UNKN:
            continue  # void (id 0) is implicit
        b.add(t)
    return b.encode()


# ---------------------------------------------------------------------------- sanitizer

def _kernel_features() -> set[str]:
    """BTF features of the running kernel (all assumed present when probing is impossible)."""
    try:
        from ..features import has_btf_feature  # type: ignore[attr-defined]
    except ImportError:
        return set(BTF_FEATURES)
    out = set()
    for f in BTF_FEATURES:
        try:
            if has_btf_feature(f):
                out.add(f)
        except Exception:  # noqa: BLE001 - an unknown probe name means "assume present"
            out.add(f)
    return out


def _copy(t: T.Type) -> T.Type:
    """A shallow copy with fresh member/param/value/var lists (we edit them in place)."""
    c = object.__new__(type(t))
    for cls in type(t).__mro__:
        for s in getattr(cls, "__slots__", ()):
            if hasattr(t, s):
                object.__setattr__(c, s, getattr(t, s))
    k = t.kind
    if k in (STRUCT, UNION):
        c.members = [T.Member(m.name, m.type, m.bit_offset, m.bitfield_size)  # type: ignore
                     for m in t.members]  # type: ignore[attr-defined]
    elif k == FUNC_PROTO:
        c.params = [T.Param(p.name, p.type) for p in t.params]  # type: ignore
    elif k in (ENUM, ENUM64):
        c.values = [T.EnumValue(v.name, v.value) for v in t.values]  # type: ignore
    elif k == DATASEC:
        c.vars = [T.VarSecinfo(v.type, v.offset, v.size) for v in t.vars]  # type: ignore
    return c


def sanitize_types(btf: BTF, features: Iterable[str] | None = None, *,
                   datasecs: Mapping[str, tuple[int, Mapping[str, int]]] | None = None,
                   static_vars: Iterable[str] = (), static_funcs: Iterable[str] = (),
                   ) -> list[T.Type]:
    """The sanitized types of ``btf`` (own ids, in order, plus appended helpers).

    ``features``: names from :data:`BTF_FEATURES` the kernel supports (None: probe).
    ``datasecs``: ``{section: (size, {var: offset})}`` from the ELF symbol table, for DATASECs
    whose size clang left 0. ``static_vars``/``static_funcs``: hidden-visibility globals that
    become static (as libbpf does for STV_HIDDEN symbols).
    """
    if btf.base is not None:
        raise BTFError("sanitize works on an object's own BTF, not on split BTF")
    feats = set(_kernel_features() if features is None else features)
    unknown = feats - set(BTF_FEATURES)
    if unknown:
        raise BTFError(f"unknown BTF feature names {sorted(unknown)}; known: {BTF_FEATURES}")
    datasecs = dict(datasecs or {})
    static_vars, static_funcs = set(static_vars), set(static_funcs)
    types: list[T.Type] = [T.VOID] + [_copy(btf[i]) for i in btf]
    extra: list[T.Type] = []

    def add(t: T.Type) -> int:
        t.id = len(types) + len(extra)
        extra.append(t)
        return t.id

    int_id = 0

    def int_type() -> int:
        nonlocal int_id
        if not int_id:
            for t in types:
                if t.kind == INT and t.size == 4 and t.bits == 32 and not t.offset:  # type: ignore
                    int_id = t.id
                    break
            else:
                int_id = add(T.Int(0, "int", 4, T.INT_SIGNED, 32))
        return int_id

    # --- 1. DATASEC sizes, VAR offsets and linkage (btf_fixup_datasec + externs) ---------
    for t in types:
        if t.kind == FUNC and t.name in static_funcs and t.linkage == T.LINKAGE_GLOBAL:  # type: ignore
            t.linkage = T.LINKAGE_STATIC  # type: ignore[attr-defined]
        if t.kind != DATASEC:
            continue
        sec = t.name
        if sec == KSYMS_SEC:
            dummy = 0
            for i, v in enumerate(t.vars):  # type: ignore[attr-defined]
                vt = types[v.type] if v.type < len(types) else None
                if vt is None or vt.kind not in (VAR, FUNC):
                    raise BTFError(f"DATASEC {sec}: entry {i} is not a VAR or FUNC")
                if vt.kind == FUNC:
                    # the kernel has no extern FUNCs: keep the prototype, make the function
                    # global, and let the section slot point at a dummy int VAR
                    if not dummy:
                        dummy = add(T.Var(0, "dummy_ksym", int_type(), VAR_GLOBAL_ALLOCATED))
                    vt.linkage = T.LINKAGE_GLOBAL  # type: ignore[attr-defined]
                    proto = types[vt.type] if vt.type < len(types) else None  # type: ignore
                    if proto is not None and proto.kind == FUNC_PROTO:
                        for p in proto.params:  # type: ignore[attr-defined]
                            if p.type and not p.name:
                                p.name = "dummy_ksym"
                    v.type = dummy
                else:
                    vt.linkage = VAR_GLOBAL_ALLOCATED  # type: ignore[attr-defined]
                    vt.type = int_type()  # type: ignore[attr-defined]
                v.offset, v.size = 4 * i, 4
            t.size = 4 * len(t.vars)  # type: ignore[attr-defined]
            continue
        if sec == KCONFIG_SEC:
            given = datasecs.get(sec)
            off = 0
            for v in t.vars:  # type: ignore[attr-defined]
                vt = types[v.type] if v.type < len(types) else None
                if vt is None or vt.kind != VAR:
                    raise BTFError(f"DATASEC {sec}: entry is not a VAR")
                size = btf.size_of(vt.type)  # type: ignore[attr-defined]
                if given is not None and vt.name in given[1]:
                    v.offset = given[1][vt.name]
                else:
                    a = btf.align_of(vt.type)  # type: ignore[attr-defined]
                    v.offset = (off + a - 1) // a * a
                v.size = size
                off = max(off, v.offset + size)
                vt.linkage = VAR_GLOBAL_ALLOCATED  # type: ignore[attr-defined]
            t.size = given[0] if given is not None and given[0] else off  # type: ignore
        else:
            given = datasecs.get(sec)
            if t.size == 0:  # type: ignore[attr-defined]
                if given is None or not given[0]:
                    raise BTFError(f"DATASEC {sec!r} has size 0 and the ELF section size is "
                                   "unknown (pass datasecs={section: (size, offsets)})")
                t.size = given[0]  # type: ignore[attr-defined]
                fix_offsets = True
            else:
                fix_offsets = False
            for v in t.vars:  # type: ignore[attr-defined]
                vt = types[v.type] if v.type < len(types) else None
                if vt is None or vt.kind != VAR:
                    raise BTFError(f"DATASEC {sec!r}: entry type {v.type} is not a VAR")
                if vt.linkage in (T.LINKAGE_STATIC, T.LINKAGE_EXTERN):  # type: ignore
                    continue
                if fix_offsets:
                    offs = given[1] if given is not None else {}
                    if vt.name not in offs:
                        raise BTFError(f"DATASEC {sec!r}: no ELF symbol for VAR {vt.name!r}")
                    v.offset = offs[vt.name]
                if vt.name in static_vars:
                    vt.linkage = T.LINKAGE_STATIC  # type: ignore[attr-defined]
        t.vars.sort(key=lambda v: v.offset)  # type: ignore[attr-defined]

    # --- 2. kinds the kernel lacks (bpf_object__sanitize_btf) ------------------------------
    has = feats.__contains__
    placeholder = 0
    all_types = types + extra
    for i in range(1, len(types)):
        t = types[i]
        k = t.kind
        if (k == VAR and not has("datasec")) or (k == DECL_TAG and not has("decl_tag")):
            # an INT of size 1 is small enough for any variable it stands for
            types[i] = T.Int(i, t.name, 1, 0, 8)
        elif k == DATASEC and not has("datasec"):
            name = t.name.replace(".", "_").replace("?", "_")
            ms = []
            for v in t.vars:  # type: ignore[attr-defined]
                vt = all_types[v.type] if v.type < len(all_types) else None
                ms.append(T.Member(vt.name if vt is not None else "", v.type, v.offset * 8))
            types[i] = T.Composite(i, STRUCT, name, t.size, ms)  # type: ignore[attr-defined]
        elif k == DATASEC and not has("qmark_datasec") and t.name.startswith("?"):
            t.name = "_" + t.name[1:]
        elif k == FUNC_PROTO and not has("func"):
            # unnamed params would be unnamed enumerators, which kernels with name checks
            # refuse; a generated name is harmless everywhere
            vals = [T.EnumValue(p.name or f"__param{j}", p.type)
                    for j, p in enumerate(t.params)]  # type: ignore[attr-defined]
            types[i] = T.Enum(i, ENUM, "", 4, False, vals)
        elif k == FUNC and not has("func"):
            types[i] = T.Ref(i, TYPEDEF, t.name, t.type)  # type: ignore[attr-defined]
        elif k == FUNC and not has("func_global"):
            t.linkage = T.LINKAGE_STATIC  # type: ignore[attr-defined]
        elif k == FLOAT and not has("float"):
            # C compilers reject `struct float`, so the stand-in is anonymous
            types[i] = T.Composite(i, STRUCT, "", t.size, [])  # type: ignore[attr-defined]
        elif k == TYPE_TAG and not has("type_tag"):
            types[i] = T.Ref(i, CONST, "", t.type)  # type: ignore[attr-defined]
        elif k == ENUM and not has("enum64"):
            t.signed = False  # type: ignore[attr-defined]  # kernels before enum64: no kflag
        elif k == ENUM64 and not has("enum64"):
            if not placeholder:
                placeholder = add(T.Int(0, "enum64_placeholder", 1, 0, 8))
            ms = [T.Member(v.name, placeholder, 0) for v in t.values]  # type: ignore
            types[i] = T.Composite(i, UNION, t.name, t.size, ms)  # type: ignore[attr-defined]
    return types[1:] + extra


def sanitize(btf: BTF, features: Iterable[str] | None = None, **kw: Any) -> bytes:
    """Sanitized BTF bytes of ``btf`` for BPF_BTF_LOAD (see :func:`sanitize_types`)."""
    if features is None:
        features = _kernel_features()
    fast = _sanitize_in_place(btf, features, **kw)
    if fast is not None:
        return fast
    own = btf._data[btf._str_start:btf._str_end]
    return marshal_btf(sanitize_types(btf, features, **kw), strings=bytes(own))


_SECINFO = struct.Struct("<III")


def ids_of_kind(btf: BTF, *kinds: int) -> list[int]:
    """The own ids of ``btf`` whose kind is one of ``kinds``, in id order: one pass over the
    info words (4× faster than ``kind_of`` per id; the load path walks an object's ~400
    types twice looking for its few DATASECs)."""
    w, s0 = btf._w, btf.start_id
    ks = frozenset(kinds)
    return [s0 + i for i, o in enumerate(btf._offs) if (w[o] >> 24) & 0x1F in ks]


def _sanitize_in_place(btf: BTF, features: Iterable[str], *,
                       datasecs: Mapping[str, tuple[int, Mapping[str, int]]] | None = None,
                       static_vars: Iterable[str] = (), static_funcs: Iterable[str] = (),
                       ) -> bytes | None:
    """The common case without decoding the object's types: a kernel with every BTF kind,
    so only DATASEC sizes, VAR offsets and linkage change; they are patched into a copy of
    the blob (≈0.3 ms instead of ≈10 ms for decode + copy + re-encode). None when the full
    sanitizer is needed (missing kinds, ``.ksyms``, anything unexpected: it also reports the
    errors)."""
    feats = set(features)
    if btf.base is not None or feats != set(BTF_FEATURES):
        return None
    raw = btf.raw
    hdr_len, type_off = struct.unpack_from("<II", raw, 4)
    if hdr_len != _HDR.size:
        return None
    buf = bytearray(raw)
    tbase = hdr_len + type_off  # byte offset of the type section
    datasecs = datasecs or {}
    static_vars, static_funcs = set(static_vars), set(static_funcs)
    kind_of, name_of, offs, s0 = btf.kind_of, btf.name_of, btf._offs, btf.start_id
    u32 = struct.Struct("<I")
    for tid in ids_of_kind(btf, DATASEC, FUNC) if static_funcs else ids_of_kind(btf, DATASEC):
        k = kind_of(tid)
        at = tbase + 4 * (offs[tid - s0] - 1)  # the btf_type of tid
        info = u32.unpack_from(buf, at + 4)[0]
        if k == FUNC:
            if info & 0xFFFF == T.LINKAGE_GLOBAL and name_of(tid) in static_funcs:
                u32.pack_into(buf, at + 4, (info & ~0xFFFF) | T.LINKAGE_STATIC)
            continue
        sec = name_of(tid)
        if sec == KSYMS_SEC:
            return None
        vlen = info & 0xFFFF
        size = u32.unpack_from(buf, at + 8)[0]
        given = datasecs.get(sec)
        entries = [list(_SECINFO.unpack_from(buf, at + 12 + 12 * i)) for i in range(vlen)]
        var_at = {}
        for e in entries:
            if e[0] < s0 or e[0] >= len(btf) or kind_of(e[0]) != VAR:
                return None
            var_at[e[0]] = tbase + 4 * (offs[e[0] - s0] - 1)
        if sec == KCONFIG_SEC:
            off = 0
            for e in entries:
                vt = e[0]
                vtype = u32.unpack_from(buf, var_at[vt] + 8)[0]
                vsize = btf.size_of(vtype)
                vname = name_of(vt)
                if given is not None and vname in given[1]:
                    e[1] = given[1][vname]
                else:
                    a = btf.align_of(vtype)
                    e[1] = (off + a - 1) // a * a
                e[2] = vsize
                off = max(off, e[1] + vsize)
                u32.pack_into(buf, var_at[vt] + 12, VAR_GLOBAL_ALLOCATED)
            size = given[0] if given is not None and given[0] else off
        else:
            fix = size == 0
            if fix:
                if given is None or not given[0]:
                    return None
                size = given[0]
            for e in entries:
                vt = e[0]
                linkage = u32.unpack_from(buf, var_at[vt] + 12)[0]
                if linkage in (T.LINKAGE_STATIC, T.LINKAGE_EXTERN):
                    continue
                vname = name_of(vt)
                if fix:
                    if vname not in given[1]:  # type: ignore[index]
                        return None
                    e[1] = given[1][vname]  # type: ignore[index]
                if vname in static_vars:
                    u32.pack_into(buf, var_at[vt] + 12, T.LINKAGE_STATIC)
        u32.pack_into(buf, at + 8, size)
        entries.sort(key=lambda e: e[1])
        for i, e in enumerate(entries):
            _SECINFO.pack_into(buf, at + 12 + 12 * i, *e)
    return bytes(buf)


def load_btf(data: bytes | bytearray | memoryview, *, log_level: int = 0,
             log_size: int = 0) -> Any:
    """BPF_BTF_LOAD ``data``; returns the kernel's ``FD``. A refusal raises BTFError with
    the kernel's log (the original KernelError is its ``__cause__``)."""
    from .. import _sys
    from ..errors import KernelError, PermissionDenied
    try:
        return _sys.btf_load(bytes(data), log_level=log_level, log_size=log_size)
    except PermissionDenied:
        raise
    except KernelError as e:
        log = getattr(e, "log", "") or ""
        lines = [ln.strip() for ln in log.strip().splitlines() if ln.strip()]
        msg = f"the kernel refused the BTF ({len(data)} bytes): {e}"
        if lines:
            msg += "\nkernel log (last lines):\n  " + "\n  ".join(lines[-8:])
        err = BTFError(msg)
        err.log = log  # type: ignore[attr-defined]
        err.errno = e.errno  # type: ignore[attr-defined]
        raise err from e


# --------------------------------------------------------------------------- __arg_ctx

# BPF program type -> the context struct the verifier of kernels before the arg:ctx decl
# tag (< 6.8) recognises a global subprogram's ctx argument by (libbpf's table; program
# types missing here have no named context struct, so nothing can be done for them)
ARG_CTX_STRUCTS: dict[int, str] = {
    1: "__sk_buff",                  # SOCKET_FILTER
    2: "bpf_user_pt_regs_t",         # KPROBE
    3: "__sk_buff",                  # SCHED_CLS
    4: "__sk_buff",                  # SCHED_ACT
    6: "xdp_md",                     # XDP
    7: "bpf_perf_event_data",        # PERF_EVENT
    8: "__sk_buff",                  # CGROUP_SKB
    9: "bpf_sock",                   # CGROUP_SOCK
    10: "__sk_buff",                 # LWT_IN
    11: "__sk_buff",                 # LWT_OUT
    12: "__sk_buff",                 # LWT_XMIT
    13: "bpf_sock_ops",              # SOCK_OPS
    14: "__sk_buff",                 # SK_SKB
    15: "bpf_cgroup_dev_ctx",        # CGROUP_DEVICE
    16: "sk_msg_md",                 # SK_MSG
    17: "bpf_raw_tracepoint_args",   # RAW_TRACEPOINT
    18: "bpf_sock_addr",             # CGROUP_SOCK_ADDR
    19: "__sk_buff",                 # LWT_SEG6LOCAL
    21: "sk_reuseport_md",           # SK_REUSEPORT
    22: "__sk_buff",                 # FLOW_DISSECTOR
    23: "bpf_sysctl",                # CGROUP_SYSCTL
    24: "bpf_raw_tracepoint_args",   # RAW_TRACEPOINT_WRITABLE
    25: "bpf_sockopt",               # CGROUP_SOCKOPT
    30: "bpf_sk_lookup",             # SK_LOOKUP
    32: "bpf_nf_ctx",                # NETFILTER
}

# the struct behind the kernel's bpf_user_pt_regs_t typedef, per architecture
_USER_PT_REGS = {"aarch64": "user_pt_regs", "arm64": "user_pt_regs",
                 "s390x": "user_regs_struct"}


def _arg_needs_ctx(btf: BTF, prog_type: int, param_type: int, ctx: str, arch: str) -> bool:
    """Whether a parameter tagged arg:ctx must be retyped for an old verifier: ``void *``
    and the usual stand-ins (``struct pt_regs *`` in a kprobe, ``u64 *`` in a raw
    tracepoint) are; a pointer to the context struct already is what it wants, and any
    other type is left for the verifier to refuse (libbpf's rule)."""
    ptr = btf.skip_mods(param_type)
    if ptr == 0 or btf.kind_of(ptr) != PTR:
        return False
    tgt = btf.skip_mods(btf[ptr].type)  # type: ignore[attr-defined]
    if tgt == 0:
        return True
    k, name = btf.kind_of(tgt), btf.name_of(tgt)
    if k == STRUCT and name == ctx:
        return False
    if prog_type == 2:
        return k == STRUCT and name == "pt_regs"
    if prog_type == 7:
        return k == STRUCT and name == _USER_PT_REGS.get(arch, "pt_regs")
    if prog_type in (17, 24):
        return k == INT and btf.size_of(tgt) == 8
    return False


def arg_ctx_clones(data: bytes, prog_types: Iterable[int], *, decl_tags: bool = True,
                   arch: str | None = None) -> tuple[bytes, dict[int, dict[int, int]]]:
    """``__arg_ctx`` for kernels whose verifier ignores the ``arg:ctx`` decl tag (before
    6.8, e.g. Debian's 6.1), as libbpf ≥ 1.4 does it: for every global FUNC with a
    parameter tagged ``arg:ctx`` that needs it (see :func:`_arg_needs_ctx`), a copy of the
    FUNC and its FUNC_PROTO is appended to the (sanitized) object BTF ``data`` in which
    that parameter points to an empty ``struct <context of the program type>`` (the old
    verifier goes by the struct's name), plus a copy of the tag when the kernel has decl
    tags. Returns the new bytes and ``{prog type: {FUNC id: clone id}}`` for rewriting the
    func_info of programs of that type; ``(data, {})`` when nothing is tagged. Existing
    ids and string offsets do not move."""
    import platform
    from .reader import BTF as _BTF
    btf = _BTF.from_bytes(data)
    if btf.base is not None:
        return data, {}
    tagged: dict[int, list[int]] = {}
    for tid in ids_of_kind(btf, DECL_TAG):
        if btf.name_of(tid) != "arg:ctx":
            continue
        tag: Any = btf[tid]
        fn = tag.type
        if not 0 < fn < len(btf) or btf.kind_of(fn) != FUNC:
            continue
        f: Any = btf[fn]
        if f.linkage != T.LINKAGE_GLOBAL or btf.kind_of(f.type) != FUNC_PROTO:
            continue
        if 0 <= tag.component_idx < len(btf[f.type].params):
            tagged.setdefault(fn, []).append(tag.component_idx)
    if not tagged:
        return data, {}
    arch = arch or platform.machine()
    hdr = _HDR.unpack_from(data, 0)
    hdr_len, type_off, type_len, str_off, str_len = hdr[3:]
    types = bytearray(data[hdr_len + type_off:hdr_len + type_off + type_len])
    strs = bytearray(data[hdr_len + str_off:hdr_len + str_off + str_len])
    new_strs: dict[str, int] = {}

    def s(text: str) -> int:
        off = new_strs.get(text)
        if off is None:
            off = new_strs[text] = len(strs)
            strs.extend(text.encode() + b"\0")
        return off

    next_id = len(btf)
    ptr_of: dict[str, int] = {}
    clones: dict[tuple, int] = {}
    out: dict[int, dict[int, int]] = {}
    for pt in sorted(set(prog_types)):
        ctx = ARG_CTX_STRUCTS.get(pt)
        if ctx is None:
            continue
        for fn, idxs in tagged.items():
            f = btf[fn]
            proto: Any = btf[f.type]
            fix = tuple(sorted({i for i in idxs if _arg_needs_ctx(
                btf, pt, proto.params[i].type, ctx, arch)}))
            if not fix:
                continue
            key = (fn, ctx, fix)
            if key not in clones:
                if ctx not in ptr_of:
                    types += _TYPE.pack(s(ctx), _info(STRUCT), 0)
                    types += _TYPE.pack(0, _info(PTR), next_id)
                    ptr_of[ctx] = next_id + 1
                    next_id += 2
                params = proto.params
                types += _TYPE.pack(0, _info(FUNC_PROTO, len(params)),
                                    proto.return_type)
                for i, p in enumerate(params):
                    types += struct.pack("<II", s(p.name) if p.name else 0,
                                         ptr_of[ctx] if i in fix else p.type)
                types += _TYPE.pack(s(f.name), _info(FUNC, f.linkage), next_id)
                clone = clones[key] = next_id + 1
                next_id += 2
                if decl_tags:
                    for i in fix:
                        types += _TYPE.pack(s("arg:ctx"), _info(DECL_TAG), clone)
                        types += struct.pack("<i", i)
                        next_id += 1
            out.setdefault(pt, {})[fn] = clones[key]
    if not out:
        return data, {}
    head = _HDR.pack(hdr[0], hdr[1], hdr[2], hdr_len, 0, len(types), len(types), len(strs))
    return head + bytes(data[_HDR.size:hdr_len]) + bytes(types) + bytes(strs), out
