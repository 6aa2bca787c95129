"""Corrupt BTF/.BTF.ext input raises BTFError only (never struct.error/IndexError/hangs)."""
from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from corebpf.btf import BTF, types as T
from corebpf.btf.codec import Codec
from corebpf.btf.ext import parse_btf_ext
from corebpf.btf.marshal import marshal_btf
from corebpf.errors import BTFError

TYPES = [
    T.Int(1, "int", 4, T.INT_SIGNED),
    T.Ref(2, T.PTR, "", 1),
    T.Array(3, 1, 1, 4),
    T.Composite(4, T.STRUCT, "s", 24, [T.Member("a", 1, 0), T.Member("p", 2, 64),
                                       T.Member("b", 1, 128, 5)]),
    T.Enum(5, T.ENUM, "e", 4, False, [T.EnumValue("X", 1)]),
    T.FuncProto(6, 1, [T.Param("x", 2)]),
    T.Func(7, "f", 6, 1),
    T.Ref(8, T.TYPEDEF, "s_t", 4),
    T.Var(9, "v", 8, 1),
    T.Datasec(10, ".data", 24, [T.VarSecinfo(9, 0, 24)]),
    T.Enum(11, T.ENUM64, "e64", 8, True, [T.EnumValue("Y", -2)]),
    T.DeclTag(12, "t", 4, -1),
]
GOOD = marshal_btf(TYPES)


def exercise(btf: BTF) -> None:
    """Touch everything a caller might."""
    for tid in btf:
        t = btf[tid]
        btf.type_name(tid)
        try:
            btf.size_of(tid)
            btf.align_of(tid)
        except BTFError:
            pass
        if t.kind in (T.STRUCT, T.UNION, T.INT, T.ENUM, T.ENUM64, T.ARRAY, T.TYPEDEF):
            try:
                c = Codec(btf, tid)
                if c.size <= 1 << 16:  # garbage may claim huge arrays; don't allocate them
                    v = c.decode(bytes(c.size))
                    c.encode(v)
            except BTFError:
                pass
    for name in ("s", "int", "e", "nope"):
        btf.find(name)


def check(data: bytes) -> None:
    try:
        btf = BTF.from_bytes(data)
    except BTFError:
        return
    try:
        exercise(btf)
    except BTFError:
        pass
    except RecursionError:
        pytest.fail("recursion error on corrupt input")


def test_good_blob_works():
    exercise(BTF.from_bytes(GOOD))


@pytest.mark.parametrize("data, msg", [
    (b"", "too short"),
    (b"\xeb\x9f" + GOOD[2:], "big-endian"),
    (b"\x00\x00" + GOOD[2:], "bad magic"),
    (GOOD[:2] + b"\x02" + GOOD[3:], "version"),
    (GOOD[:4] + struct.pack("<I", 8) + GOOD[8:], "header length"),
    (GOOD[:12] + struct.pack("<I", 1 << 30) + GOOD[16:], "type section"),
    (GOOD[:20] + struct.pack("<I", 1 << 30) + GOOD[24:], "string section"),
    (GOOD[:-1], "string section|out of bounds"),
])
def test_header_errors(data, msg):
    with pytest.raises(BTFError, match=msg):
        BTF.from_bytes(data)


def test_unknown_kind_and_vlen():
    data = bytearray(GOOD)
    # type 1's info word: make its kind 31
    struct.pack_into("<I", data, 24 + 4, 31 << 24)
    with pytest.raises(BTFError, match="unknown kind 31 at id 1"):
        BTF.from_bytes(bytes(data))
    data = bytearray(GOOD)
    # struct s (id 4) claims 60000 members
    off = 24 + 16 + 12 + 24  # INT(16) PTR(12) ARRAY(24)
    info, = struct.unpack_from("<I", data, off + 4)
    struct.pack_into("<I", data, off + 4, (info & ~0xFFFF) | 60000)
    with pytest.raises(BTFError, match="runs past the end"):
        BTF.from_bytes(bytes(data))


def test_string_offset_out_of_range():
    data = bytearray(GOOD)
    struct.pack_into("<I", data, 24, 1 << 20)  # name_off of type 1
    btf = BTF.from_bytes(bytes(data))
    with pytest.raises(BTFError, match="string offset"):
        btf[1]


def test_type_loops_do_not_hang():
    loop = [T.Ref(1, T.TYPEDEF, "a", 2), T.Ref(2, T.CONST, "", 1),
            T.Array(3, 3, 0, 2), T.Composite(4, T.STRUCT, "s", 4, [T.Member("x", 4, 0)])]
    btf = BTF.from_bytes(marshal_btf(loop))
    for tid in (1, 2, 3, 4):
        with pytest.raises(BTFError):
            btf.size_of(tid) if tid != 4 else Codec(btf, tid)
    with pytest.raises(BTFError):
        btf.resolve(1)
    with pytest.raises(BTFError):
        btf.type_name(3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), max_size=8))
def test_mutated_blobs(muts):
    data = bytearray(GOOD)
    for pos, val in muts:
        data[pos] = val
    check(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(GOOD)))
def test_truncated_blobs(n):
    data = bytearray(GOOD[:n])
    if len(data) >= 24:  # keep the header consistent with the shorter blob
        body = len(data) - 24
        tl = min(struct.unpack_from("<I", data, 12)[0], body) // 4 * 4
        struct.pack_into("<IIII", data, 8, 0, tl, tl, max(0, body - tl))
    check(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(blob):
    check(GOOD[:24] + blob)
    check(blob)


def _ext_blob() -> tuple[bytes, BTF]:
    btf = BTF.from_bytes(GOOD)
    # func_info: one section named "s" (string offset of "s") with 1 record
    so = GOOD[24 + struct.unpack_from("<I", GOOD, 16)[0]:].index(b"\0s\0") + 1
    fi = struct.pack("<IIIII", 8, so, 1, 0, 7)
    li = struct.pack("<IIIIIII", 16, so, 1, 8, so, so, (3 << 10) | 4)
    cr = struct.pack("<IIIIIII", 16, so, 1, 16, 4, so, 0)
    hdr = struct.pack("<HBBIIIIIII", 0xEB9F, 1, 0, 32, 0, len(fi), len(fi), len(li),
                      len(fi) + len(li), len(cr))
    return hdr + fi + li + cr, btf


def test_ext_good():
    data, btf = _ext_blob()
    ext = parse_btf_ext(data, btf)
    assert ext.func_info == {"s": [(0, 7)]}
    li = ext.line_info["s"][0]
    assert (li.insn_off, li.file, li.line, li.col, li.text) == (1, "s", 3, 4, "s")
    cr = ext.core_relos["s"][0]
    assert (cr.insn_off, cr.type_id, cr.access_str, cr.kind) == (2, 4, "s", 0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
       st.integers(0, 200))
def test_ext_mutated(muts, cut):
    data, btf = _ext_blob()
    data = bytearray(data)
    for pos, val in muts:
        if pos < len(data):
            data[pos] = val
    for blob in (bytes(data), bytes(data[:cut])):
        try:
            parse_btf_ext(blob, btf)
        except BTFError:
            pass
