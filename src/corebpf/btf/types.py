"""The BTF type model shared by the reader, writer, CO-RE engine, C dumper and codecs.

Types refer to other types by *id* (an int), never by object: that keeps decoding lazy
(vmlinux has ~127k types and we decode only what is asked for) and makes split BTF (module
on top of vmlinux) a matter of id ranges. Resolve an id through the owning ``BTF`` object:
``btf[t.type]``. Id 0 is ``void``.

Plain classes with ``__slots__`` (no dataclasses/enums) keep import time low.
"""
from __future__ import annotations

# enum btf_kind (include/uapi/linux/btf.h)
UNKN, INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, \
    FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(20)

KIND_NAMES = ("UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF",
              "VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC",
              "FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64")

# BTF_INT_* encoding bits
INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4

# linkage of FUNC (enum btf_func_linkage) and VAR
LINKAGE_STATIC, LINKAGE_GLOBAL, LINKAGE_EXTERN = 0, 1, 2

# kinds that only qualify/alias another type
MODIFIERS = frozenset((TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG))


class Type:
    """A BTF type. ``id`` is its id in the owning BTF, ``kind`` one of the constants above."""

    __slots__ = ("id", "kind", "name")

    def __init__(self, id: int, kind: int, name: str = "") -> None:
        self.id = id
        self.kind = kind
        self.name = name

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind] if 0 <= self.kind < len(KIND_NAMES) else str(self.kind)

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields())
        return f"<{self.kind_name} [{self.id}] {self.name!r}{', ' + extra if extra else ''}>"

    def _fields(self) -> tuple[str, ...]:
        return tuple(s for c in type(self).__mro__[:-2] for s in getattr(c, "__slots__", ()))


class Void(Type):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(0, UNKN, "void")


class Int(Type):
    """INT: ``size`` in bytes, ``encoding`` (INT_SIGNED|INT_CHAR|INT_BOOL), ``bits`` used,
    ``offset`` (bit offset of the value; 0 in practice)."""

    __slots__ = ("size", "encoding", "bits", "offset")

    def __init__(self, id: int, name: str, size: int, encoding: int = 0, bits: int | None = None,
                 offset: int = 0) -> None:
        super().__init__(id, INT, name)
        self.size, self.encoding, self.offset = size, encoding, offset
        self.bits = size * 8 if bits is None else bits

    @property
    def signed(self) -> bool:
        return bool(self.encoding & INT_SIGNED)


class Float(Type):
    __slots__ = ("size",)

    def __init__(self, id: int, name: str, size: int) -> None:
        super().__init__(id, FLOAT, name)
        self.size = size


class Ref(Type):
    """PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG: a type that refers to ``type``."""

    __slots__ = ("type",)

    def __init__(self, id: int, kind: int, name: str, type: int) -> None:
        super().__init__(id, kind, name)
        self.type = type


class Array(Type):
    __slots__ = ("type", "index_type", "nelems")

    def __init__(self, id: int, type: int, index_type: int, nelems: int) -> None:
        super().__init__(id, ARRAY, "")
        self.type, self.index_type, self.nelems = type, index_type, nelems


class Member:
    """A struct/union member. ``bit_offset`` from the start of the composite;
    ``bitfield_size`` 0 unless it is a bitfield."""

    __slots__ = ("name", "type", "bit_offset", "bitfield_size")

    def __init__(self, name: str, type: int, bit_offset: int, bitfield_size: int = 0) -> None:
        # one statement each: ≈20% faster than a 4-tuple assignment (vmlinux structs are
        # decoded member by member)
        self.name = name
        self.type = type
        self.bit_offset = bit_offset
        self.bitfield_size = bitfield_size

    @property
    def byte_offset(self) -> int:
        return self.bit_offset // 8

    def __repr__(self) -> str:
        bf = f":{self.bitfield_size}" if self.bitfield_size else ""
        return f"<Member {self.name!r}{bf} type={self.type} bit_offset={self.bit_offset}>"


class Composite(Type):
    """STRUCT or UNION."""

    __slots__ = ("size", "members")

    def __init__(self, id: int, kind: int, name: str, size: int, members: list[Member]) -> None:
        super().__init__(id, kind, name)
        self.size, self.members = size, members

    def member(self, name: str) -> Member | None:
        for m in self.members:
            if m.name == name:
                return m
        return None


class EnumValue:
    __slots__ = ("name", "value")

    def __init__(self, name: str, value: int) -> None:
        self.name, self.value = name, value

    def __repr__(self) -> str:
        return f"<EnumValue {self.name}={self.value}>"


class Enum(Type):
    """ENUM or ENUM64; ``signed`` from the kind flag; values already sign-corrected."""

    __slots__ = ("size", "signed", "values")

    def __init__(self, id: int, kind: int, name: str, size: int, signed: bool,
                 values: list[EnumValue]) -> None:
        super().__init__(id, kind, name)
        self.size, self.signed, self.values = size, signed, values


class Fwd(Type):
    __slots__ = ("union",)

    def __init__(self, id: int, name: str, union: bool = False) -> None:
        super().__init__(id, FWD, name)
        self.union = union


class Func(Type):
    """FUNC: ``type`` is its FUNC_PROTO, ``linkage`` static/global/extern."""

    __slots__ = ("type", "linkage")

    def __init__(self, id: int, name: str, type: int, linkage: int = LINKAGE_STATIC) -> None:
        super().__init__(id, FUNC, name)
        self.type, self.linkage = type, linkage


class Param:
    __slots__ = ("name", "type")

    def __init__(self, name: str, type: int) -> None:
        self.name, self.type = name, type

    def __repr__(self) -> str:
        return f"<Param {self.name!r} type={self.type}>"


class FuncProto(Type):
    """FUNC_PROTO: ``return_type`` and ``params``; a last param with type 0 means varargs."""

    __slots__ = ("return_type", "params")

    def __init__(self, id: int, return_type: int, params: list[Param]) -> None:
        super().__init__(id, FUNC_PROTO, "")
        self.return_type, self.params = return_type, params


class Var(Type):
    __slots__ = ("type", "linkage")

    def __init__(self, id: int, name: str, type: int, linkage: int = LINKAGE_STATIC) -> None:
        super().__init__(id, VAR, name)
        self.type, self.linkage = type, linkage


class VarSecinfo:
    __slots__ = ("type", "offset", "size")

    def __init__(self, type: int, offset: int, size: int) -> None:
        self.type, self.offset, self.size = type, offset, size

    def __repr__(self) -> str:
        return f"<VarSecinfo type={self.type} offset={self.offset} size={self.size}>"


class Datasec(Type):
    __slots__ = ("size", "vars")

    def __init__(self, id: int, name: str, size: int, vars: list[VarSecinfo]) -> None:
        super().__init__(id, DATASEC, name)
        self.size, self.vars = size, vars


class DeclTag(Type):
    """DECL_TAG: ``component_idx`` -1 tags the type itself, else a member/param index."""

    __slots__ = ("type", "component_idx")

    def __init__(self, id: int, name: str, type: int, component_idx: int) -> None:
        super().__init__(id, DECL_TAG, name)
        self.type, self.component_idx = type, component_idx


VOID = Void()
