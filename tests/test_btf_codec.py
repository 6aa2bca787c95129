"""Typed values: decode/encode round trips, layouts against the C compiler, JSON."""
from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings, strategies as st

from corebpf.btf import BTF, types as T
from corebpf.btf.codec import Codec, EnumInt, to_json, to_jsonable
from corebpf.btf.marshal import marshal_btf
from corebpf.errors import BTFError


@pytest.fixture(scope="module")
def kinds():
    import pathlib
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    from conftest import build_prog
    return BTF.from_file(build_prog("btf_kinds"))


def event_value():
    return {"pid": 1, "ppid": 2, "comm": "bash", "ts": 123, "delta": -5, "flag": True,
            "color": "BTF_GREEN",
            "bits": {"a": 5, "b": 31, "c": -3, "d": (1 << 40) - 1, "tail": 7},
            "un": {"word": 0x01020304}, "ratio": 1.5, "big": 2.25, "ptr": 0xFFFF,
            "matrix": [[1, 2, 3], [4, 5, 6]]}


def test_event_layout_matches_c(kinds):
    """Offsets the C compiler chose (from BTF) are where the codec reads."""
    c = Codec(kinds, kinds.find_one("btf_event"))
    assert c.size == kinds.size_of(kinds.find_one("btf_event"))
    raw = bytearray(c.size)
    ev = kinds[kinds.find_one("btf_event")]
    off = {m.name: m.bit_offset // 8 for m in ev.members}
    struct.pack_into("<I", raw, off["pid"], 4242)
    raw[off["comm"]:off["comm"] + 5] = b"init\0"
    struct.pack_into("<d", raw, off["big"], 3.5)
    struct.pack_into("<I", raw, off["matrix"] + 4 * 5, 99)
    v = c.decode(raw)
    assert v.pid == 4242 and v.comm == "init" and v.big == 3.5 and v.matrix[1][2] == 99


def test_event_roundtrip_and_json(kinds):
    c = Codec(kinds, kinds.find_one("btf_event"))
    raw = c.encode(event_value())
    v = c.decode(raw)
    assert v.pid == 1 and v["ppid"] == 2 and v.comm == "bash"
    assert v.bits.a == 5 and v.bits.c == -3 and v.bits.d == (1 << 40) - 1
    assert v.un.bytes == [4, 3, 2, 1]
    assert isinstance(v.color, EnumInt) and str(v.color) == "BTF_GREEN" and v.color == 2
    assert c.encode(v) == raw
    assert c.encode(v._asdict()) == raw
    d = json.loads(to_json(v))
    assert d["color"] == "BTF_GREEN" and d["bits"]["c"] == -3 and d["comm"] == "bash"
    assert c.decode(c.encode(d)) == v
    assert dict(v)["pid"] == 1 if hasattr(v, "keys") else True


def test_bitfields_against_kernel_layout(kinds):
    """Bitfield bits land where the compiler put them."""
    c = Codec(kinds, kinds.find_one("btf_bits"))
    raw = c.encode({"a": 0b101, "b": 0b10011, "c": -1, "d": 1, "tail": 0x41})
    lo = int.from_bytes(raw[:8], "little")
    assert lo & 7 == 0b101 and (lo >> 3) & 31 == 0b10011 and (lo >> 8) & 0x7F == 0x7F
    st_ = kinds[kinds.find_one("btf_bits")]
    dbit = st_.member("d").bit_offset
    assert (int.from_bytes(raw, "little") >> dbit) & ((1 << 40) - 1) == 1
    assert raw[st_.member("tail").bit_offset // 8] == 0x41


def test_errors(kinds):
    c = Codec(kinds, kinds.find_one("btf_event"))
    with pytest.raises(BTFError, match="need 96 bytes"):
        c.decode(b"\0" * 10)
    with pytest.raises(BTFError, match="comm"):
        c.encode({"comm": "x" * 17})
    with pytest.raises(BTFError, match="no field"):
        c.encode({"nope": 1})
    with pytest.raises(BTFError, match="unknown enumerator"):
        c.encode({"color": "PURPLE"})
    with pytest.raises(BTFError, match=r"btf_event\.pid: .*range"):
        c.encode({"pid": -1})
    with pytest.raises(BTFError, match=r"matrix\[\]\[\]"):
        c.encode({"matrix": [[1, 2, "x"]]})
    with pytest.raises(BTFError, match="bits.a"):
        c.encode({"bits": {"a": 9}})
    with pytest.raises(BTFError, match="matrix"):
        c.encode({"matrix": [[1, 2, 3]] * 3})
    with pytest.raises(BTFError, match="cannot decode|has no size"):
        Codec(kinds, kinds.find_one("btf_helper"))


def test_scalars_and_enums(kinds):
    u32 = Codec(kinds, kinds.find_one("__u32"))
    assert u32.size == 4 and u32.decode(b"\x01\0\0\0") == 1 and u32.encode(7) == b"\7\0\0\0"
    e = Codec(kinds, kinds.find_one("btf_color"))
    assert e.enum_name(2) == "BTF_GREEN" and e.enum_name(99) is None
    assert e.encode("BTF_RED") == b"\1\0\0\0"
    assert repr(e.decode(b"\2\0\0\0")) == "BTF_GREEN(2)"
    assert to_jsonable(e.decode(b"\x09\0\0\0")) == 9
    with pytest.raises(BTFError, match="not an enum"):
        u32.enum_name(1)


def test_datasec_values(kinds):
    """A DATASEC (global variables) decodes as an object of its variables."""
    types = [T.Int(1, "unsigned int", 4), T.Var(2, "a", 1, 1), T.Var(3, "b", 1, 1),
             T.Datasec(4, ".data", 8, [T.VarSecinfo(2, 0, 4), T.VarSecinfo(3, 4, 4)])]
    btf = BTF.from_bytes(marshal_btf(types))
    c = Codec(btf, 4)
    v = c.decode(struct.pack("<II", 5, 6))
    assert (v.a, v.b) == (5, 6) and c.encode({"b": 1}) == struct.pack("<II", 0, 1)


def test_kernel_structs():
    k = BTF.kernel()
    for name in ("task_struct", "sk_buff", "rb_node", "perf_event_attr", "bpf_attr"):
        tid = k.find(name)[0]
        c = Codec(k, tid)
        raw = bytes(range(256)) * (c.size // 256 + 1)
        v = c.decode(raw[:c.size])
        again = c.encode(v)
        assert c.decode(again) == v, name


# ------------------------------------------------------------------ hypothesis round trips
def build(fields):
    """A struct of random scalar members: [(kind, size, signed, nelems, bitfield)]."""
    types: list[T.Type] = []
    members = []
    bit = 0
    for i, (kind, size, signed, n, bf) in enumerate(fields):
        tid = len(types) + 1
        if kind == "int":
            types.append(T.Int(tid, f"i{size}{'s' if signed else 'u'}", size,
                               T.INT_SIGNED if signed else 0))
        elif kind == "float":
            types.append(T.Float(tid, f"f{size}", size))
        else:
            types.append(T.Enum(tid, T.ENUM, f"e{tid}", 4, signed,
                                [T.EnumValue(f"V{tid}_{j}", j - 1) for j in range(3)]))
            size = 4
        et = tid
        if n and not bf:
            types.append(T.Array(len(types) + 1, et, et, n))
            et = len(types)
        if bf and kind != "float":
            bits = min(bf, size * 8)
            members.append(T.Member(f"m{i}", tid, bit, bits))
            bit += bits
            continue
        align = size * 8
        bit = (bit + align - 1) // align * align
        members.append(T.Member(f"m{i}", et, bit))
        bit += size * 8 * (n or 1)
    total = (bit + 63) // 64 * 8 or 8
    types.append(T.Composite(len(types) + 1, T.STRUCT, "rand", total, members))
    return BTF.from_bytes(marshal_btf(types)), len(types)


field = st.tuples(st.sampled_from(["int", "int", "float", "enum"]), st.sampled_from([1, 2, 4, 8]),
                  st.booleans(), st.sampled_from([0, 0, 1, 3]), st.sampled_from([0, 0, 1, 3, 7]))


@settings(max_examples=150, deadline=None)
@given(st.lists(field, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_random_struct_roundtrip(fields, rnd):
    fields = [(k, s if k != "float" else (4 if s < 4 else 8), sg, n, bf)
              for k, s, sg, n, bf in fields]
    btf, tid = build(fields)
    c = Codec(btf, tid)
    raw = bytes(rnd.getrandbits(8) for _ in range(c.size))
    v = c.decode(raw)
    again = c.encode(v)
    # bytes not covered by members (padding) come back as zero; members come back equal
    v2 = c.decode(again)
    assert json.dumps(to_jsonable(v2)) == json.dumps(to_jsonable(v)) or \
        any(isinstance(x, float) and x != x for x in _flat(v))
    assert c.encode(v2) == again


def _flat(v):
    if hasattr(v, "_fields"):
        for f in v._fields:
            yield from _flat(getattr(v, f))
    elif isinstance(v, list):
        for x in v:
            yield from _flat(x)
    else:
        yield v


@settings(max_examples=100, deadline=None)
@given(st.integers(-(1 << 127), (1 << 128) - 1))
def test_int128(x):
    types = [T.Int(1, "__int128 unsigned", 16, 0), T.Int(2, "__int128", 16, T.INT_SIGNED)]
    btf = BTF.from_bytes(marshal_btf(types))
    tid = 2 if x < 0 else 1
    c = Codec(btf, tid)
    if x >= 1 << 127 and tid == 2:
        return
    assert c.decode(c.encode(x)) == x


def test_cached_codec(kinds):
    tid = kinds.find_one("btf_event")
    assert Codec.cached(kinds, tid) is Codec.cached(kinds, tid)


@pytest.mark.parametrize("name", ["ev'x", 'ev"x', "ev\nx", "ev{x}", "ev\\", "{e}'\"\n"])
def test_names_never_become_source(name):
    """Corrupt (or hostile) BTF may name a type or member with quotes, braces or newlines:
    the compiled codec must still build and its errors name the type (found by hypothesis)."""
    types = [T.Int(1, "int", 4, T.INT_SIGNED),
             T.Composite(2, T.STRUCT, name, 8, [T.Member(name, 1, 0), T.Member("b", 1, 32)])]
    btf = BTF.from_bytes(marshal_btf(types))
    c = Codec(btf, 2)
    assert c.encode({name: 1, "b": 2}) == struct.pack("<ii", 1, 2)
    with pytest.raises(BTFError) as ei:
        c.decode(b"\0")
    assert name in str(ei.value)
    with pytest.raises(BTFError):
        c.encode({name: "x", "b": 2})
