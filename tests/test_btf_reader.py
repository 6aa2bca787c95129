"""BTF reader: vmlinux against bpftool, ELF objects, split BTF, API behaviour."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from corebpf.btf import BTF, types as T
from corebpf.btf.marshal import Builder, marshal_btf
from corebpf.errors import BTFError

VMLINUX = "/sys/kernel/btf/vmlinux"
needs_vmlinux = pytest.mark.skipif(not os.path.exists(VMLINUX), reason="no kernel BTF")

_ENC = {0: "(none)", T.INT_SIGNED: "SIGNED", T.INT_CHAR: "CHAR", T.INT_BOOL: "BOOL"}
_LINK_FUNC = {0: "static", 1: "global", 2: "extern"}
_LINK_VAR = {0: "static", 1: "global", 2: "extern"}


def as_bpftool(btf: BTF, tid: int) -> dict:
    """Our decoded type in the shape of `bpftool btf dump -j`."""
    t = btf[tid]
    k = t.kind
    d = {"id": tid, "kind": t.kind_name, "name": t.name or "(anon)"}
    if k == T.INT:
        d.update(size=t.size, bits_offset=t.offset, nr_bits=t.bits, encoding=_ENC[t.encoding])
    elif k in (T.PTR, T.TYPEDEF, T.VOLATILE, T.CONST, T.RESTRICT, T.TYPE_TAG):
        d.update(type_id=t.type)
    elif k == T.ARRAY:
        d.update(type_id=t.type, index_type_id=t.index_type, nr_elems=t.nelems)
    elif k in (T.STRUCT, T.UNION):
        ms = []
        for m in t.members:
            md = {"name": m.name or "(anon)", "type_id": m.type, "bits_offset": m.bit_offset}
            if m.bitfield_size:
                md["bitfield_size"] = m.bitfield_size
            ms.append(md)
        d.update(size=t.size, vlen=len(ms), members=ms)
    elif k in (T.ENUM, T.ENUM64):
        d.update(encoding="SIGNED" if t.signed else "UNSIGNED", size=t.size,
                 vlen=len(t.values), values=[{"name": v.name, "val": v.value} for v in t.values])
    elif k == T.FWD:
        d.update(fwd_kind="union" if t.union else "struct")
    elif k == T.FUNC:
        d.update(type_id=t.type, linkage=_LINK_FUNC[t.linkage])
    elif k == T.FUNC_PROTO:
        d.update(ret_type_id=t.return_type, vlen=len(t.params),
                 params=[{"name": p.name or "(anon)", "type_id": p.type} for p in t.params])
    elif k == T.VAR:
        d.update(type_id=t.type, linkage=_LINK_VAR[t.linkage])
    elif k == T.DATASEC:
        d.update(size=t.size, vlen=len(t.vars),
                 vars=[{"type_id": v.type, "offset": v.offset, "size": v.size} for v in t.vars])
    elif k == T.FLOAT:
        d.update(size=t.size)
    elif k == T.DECL_TAG:
        d.update(type_id=t.type, component_idx=t.component_idx)
    return d


def normalize(d: dict) -> dict:
    """bpftool prints some members/keys we do not model the same way; keep comparable ones."""
    d = dict(d)
    if d["kind"] == "ENUM" and d["encoding"] == "UNSIGNED":
        # bpftool 7.1 prints 32-bit enum values through a signed int (0xffff0000 shows as
        # 2**64 - 65536); the value in the BTF is the unsigned 32-bit one
        d["values"] = [{"name": v["name"], "val": v["val"] & 0xFFFFFFFF} for v in d["values"]]
    return d


@pytest.fixture(scope="module")
def bpftool_json(bpftool, tmp_path_factory):
    out = subprocess.run([bpftool, "btf", "dump", "file", VMLINUX, "-j"], check=True,
                         capture_output=True).stdout
    return json.loads(out)["types"]


@needs_vmlinux
def test_vmlinux_matches_bpftool(bpftool_json):
    btf = BTF.kernel()
    assert len(btf) == len(bpftool_json) + 1
    n = len(bpftool_json)
    step = max(1, n // 2000)
    sample = set(range(0, n, step)) | {n - 1}
    ts = btf.find_one("task_struct", T.STRUCT)
    sample |= {ts - 1} | {m.type - 1 for m in btf[ts].members}
    seen_kinds = set()
    for i in sorted(sample):
        want = bpftool_json[i]
        got = as_bpftool(btf, want["id"])
        assert got == normalize(want), f"type id {want['id']}"
        seen_kinds.add(want["kind"])
    assert {"INT", "STRUCT", "UNION", "ENUM", "FUNC", "FUNC_PROTO", "PTR", "TYPEDEF",
            "ARRAY"} <= seen_kinds


@needs_vmlinux
def test_vmlinux_every_kind_decodes(bpftool_json):
    """One type of every kind bpftool shows, incl. the rare ones."""
    btf = BTF.kernel()
    first: dict[str, dict] = {}
    for t in bpftool_json:
        first.setdefault(t["kind"], t)
    for kind, want in first.items():
        assert as_bpftool(btf, want["id"]) == normalize(want), kind


@needs_vmlinux
def test_kernel_cached_and_lookup():
    a = BTF.kernel()
    assert BTF.kernel() is a
    ts = a.find_one("task_struct", T.STRUCT)
    t = a[ts]
    assert t.name == "task_struct" and t.size > 1000
    assert a[ts] is t  # cached
    assert a.find("task_struct", T.STRUCT) == [ts]
    assert a.find("no_such_type_corebpf") == []
    with pytest.raises(BTFError, match="no type"):
        a.find_one("no_such_type_corebpf")
    assert a.type_name(a.find_one("int", T.INT)) == "int"
    pid = t.member("pid")
    assert a.type_name(pid.type) == "pid_t"
    assert a.resolve(pid.type).name == "int"
    assert a.size_of(ts) == t.size
    assert a.align_of(ts) == 64 or a.align_of(ts) >= 8
    assert a.member_offset(ts, "pid") == pid.bit_offset // 8
    assert a.kind_of(ts) == T.STRUCT and a.name_of(ts) == "task_struct"
    ptr = [i for i in range(1, 500) if a.kind_of(i) == T.PTR and
           a.kind_of(a[i].type) == T.STRUCT][0]
    assert a.type_name(ptr).startswith("struct ") and a.type_name(ptr).endswith(" *")
    with pytest.raises(BTFError, match="out of range"):
        a[len(a)]
    with pytest.raises(BTFError, match="out of range"):
        a[-1]
    assert a[0].kind == T.UNKN
    assert list(iter(a))[:2] == [1, 2]


@needs_vmlinux
def test_member_paths_nested():
    a = BTF.kernel()
    ts = a.find_one("task_struct", T.STRUCT)
    se = a[ts].member("se")
    vr = a.resolve(se.type).member("vruntime")
    assert a.member_offset(ts, "se.vruntime") == (se.bit_offset + vr.bit_offset) // 8
    bit, m = a.member_path(ts, "comm[3]")
    assert bit == a[ts].member("comm").bit_offset + 24
    with pytest.raises(BTFError, match="no member"):
        a.member_offset(ts, "se.nope")


def _small_types() -> list[T.Type]:
    return [
        T.Int(1, "int", 4, T.INT_SIGNED),
        T.Int(2, "unsigned char", 1),
        T.Ref(3, T.PTR, "", 1),
        T.Array(4, 2, 1, 16),
        T.Composite(5, T.STRUCT, "pair", 40, [T.Member("a", 1, 0), T.Member("b", 3, 64),
                                              T.Member("c", 4, 128), T.Member("f", 1, 256, 3)]),
        T.Ref(6, T.TYPEDEF, "pair_t", 5),
        T.Enum(7, T.ENUM, "e", 4, True, [T.EnumValue("A", -1), T.EnumValue("B", 2)]),
        T.Enum(8, T.ENUM64, "e64", 8, False, [T.EnumValue("BIG", 1 << 40)]),
        T.Fwd(9, "fwdu", True),
        T.FuncProto(10, 1, [T.Param("x", 3), T.Param("", 0)]),
        T.Func(11, "fn", 10, T.LINKAGE_GLOBAL),
        T.Var(12, "v", 6, T.LINKAGE_GLOBAL),
        T.Datasec(13, ".data", 40, [T.VarSecinfo(12, 0, 40)]),
        T.Float(14, "double", 8),
        T.DeclTag(15, "tag", 5, 1),
        T.Ref(16, T.TYPE_TAG, "user", 1),
        T.Ref(17, T.CONST, "", 16),
        T.Ref(18, T.VOLATILE, "", 17),
        T.Ref(19, T.RESTRICT, "", 3),
        T.Composite(20, T.UNION, "", 4, [T.Member("i", 1, 0), T.Member("u", 2, 0)]),
    ]


def same(a: T.Type, b: T.Type) -> bool:
    return type(a) is type(b) and a.kind == b.kind and a.name == b.name and \
        all(repr(getattr(a, f)) == repr(getattr(b, f)) for f in a._fields())


def test_small_btf_roundtrip_all_kinds():
    types = _small_types()
    btf = BTF.from_bytes(marshal_btf(types))
    assert len(btf) == len(types) + 1
    for t in types:
        assert same(btf[t.id], t), t
    assert btf.find("pair") == [5]
    assert btf.find("pair_t", T.TYPEDEF) == [6]
    assert btf.type_name(3) == "int *"
    assert btf.type_name(4) == "unsigned char[16]"
    assert btf.type_name(10) == "int (int *x, ...)"
    assert btf.type_name(19) == "int *restrict"
    assert btf.type_name(18) == "volatile const int"
    assert btf.size_of(6) == 40 and btf.align_of(6) == 8
    assert btf.size_of(4) == 16 and btf.align_of(4) == 1
    with pytest.raises(BTFError, match="no size"):
        btf.size_of(10)


def test_split_btf_ids_and_strings(tmp_path, bpftool):
    base = BTF.from_bytes(marshal_btf(_small_types()))
    b = Builder(base)
    b.add(T.Composite(0, T.STRUCT, "modstruct", 8, [T.Member("p", 3, 0)]))
    b.add(T.Ref(0, T.PTR, "", len(base)))
    b.add(T.Ref(0, T.TYPEDEF, "int", 1))  # a name that also exists in base
    split = BTF.from_bytes(b.encode(), base=base)
    assert split.start_id == len(base)
    assert len(split) == len(base) + 3
    first = split.start_id
    assert split[first].name == "modstruct"
    assert split[1] is base[1]  # base ids resolve through the base
    assert split.type_name(first + 1) == "struct modstruct *"
    assert split.find("int") == [1, first + 2]
    assert list(split) == [first, first + 1, first + 2]
    # bpftool agrees on the split BTF
    (tmp_path / "base.btf").write_bytes(base.raw)
    (tmp_path / "split.btf").write_bytes(split.raw)
    out = subprocess.run([bpftool, "btf", "dump", "-B", str(tmp_path / "base.btf"), "file",
                          str(tmp_path / "split.btf"), "-j"], check=True,
                         capture_output=True, text=True).stdout
    got = json.loads(out)["types"]
    assert [as_bpftool(split, t["id"]) for t in got] == [normalize(t) for t in got]


@needs_vmlinux
def test_kernel_modules_split():
    mods = [m for m in os.listdir("/sys/kernel/btf") if m != "vmlinux"]
    if not mods:
        pytest.skip("no module BTF on this kernel (everything built in)")
    m = BTF.kernel_module(mods[0])
    assert m.base is BTF.kernel() and m.start_id == len(BTF.kernel())
    for tid in list(m)[:50]:
        m.type_name(tid)


def test_kernel_module_missing():
    with pytest.raises(BTFError, match="not found"):
        BTF.kernel_module("corebpf_no_such_module")


def test_elf_object_btf(bpf_prog, bpftool):
    path = bpf_prog("btf_kinds")
    btf = BTF.from_file(path)
    ev = btf[btf.find_one("btf_event", T.STRUCT)]
    assert [m.name for m in ev.members][:4] == ["pid", "ppid", "comm", "ts"]
    bits = btf.resolve(ev.member("bits").type)
    assert [(m.name, m.bitfield_size) for m in bits.members][:3] == [("a", 3), ("b", 5),
                                                                     ("c", 7)]
    kinds = {btf[i].kind for i in btf}
    assert {T.DECL_TAG, T.TYPE_TAG, T.FLOAT, T.DATASEC, T.VAR, T.FUNC} <= kinds
    out = subprocess.run([bpftool, "btf", "dump", "file", str(path), "-j"], check=True,
                         capture_output=True, text=True).stdout
    want = json.loads(out)["types"]
    assert [as_bpftool(btf, t["id"]) for t in want] == [normalize(t) for t in want]


def test_from_file_raw_and_errors(tmp_path):
    p = tmp_path / "x.btf"
    p.write_bytes(marshal_btf(_small_types()))
    assert BTF.from_file(p).find("pair") == [5]
    with pytest.raises(BTFError, match="cannot read"):
        BTF.from_file(tmp_path / "missing")
    elf = tmp_path / "noBTF.o"
    subprocess.run(["clang", "-target", "bpf", "-c", "-x", "c", "-", "-o", str(elf)],
                   input=b"int x;\n", check=True)
    with pytest.raises(BTFError, match="no .BTF"):
        BTF.from_file(elf)
    for bad in ("a\0b", b"a\0b"):
        with pytest.raises(BTFError, match="NUL byte"):
            BTF.from_file(bad)
    with pytest.raises(BTFError, match="NUL byte"):
        BTF.kernel_module("x\0y")


@pytest.mark.kernel
def test_from_kernel_id(no_fd_leak):
    from corebpf import _sys
    from corebpf.btf.marshal import load_btf
    data = marshal_btf(_small_types()[:6])
    with load_btf(data) as fd:
        info = _sys.btf_info(fd)
        btf = BTF.from_kernel_id(info["id"])
        assert btf.find("pair") == [5]
        assert btf.raw == data
    # vmlinux is BTF object id 1 on a kernel with BTF
    k = BTF.from_kernel_id(1)
    assert len(k) == len(BTF.kernel())


@pytest.mark.parametrize("low16", [True, False])
@pytest.mark.parametrize("column, scans", [(100, 100), (0, 100), (2, 4), (0, 0)])
def test_large_btf_name_index_paths(monkeypatch, column, scans, low16):
    """The kernel-sized lookup (string search + name_off scan, then dicts) agrees with the
    small-BTF path that decodes every name."""
    import corebpf.btf.reader as R
    types = _small_types() + [T.Ref(21, T.TYPEDEF, "pair", 5), T.Int(22, "int", 4)]
    data = marshal_btf(types)
    small = BTF.from_bytes(data)
    monkeypatch.setattr(R, "_SMALL_BTF", 0)
    monkeypatch.setattr(R, "_LOW16", low16)
    monkeypatch.setattr(R, "_LOW16_CHUNK", 5)  # chunk edges fall inside types
    monkeypatch.setattr(R, "_SCANS_BEFORE_COLUMN", column)
    monkeypatch.setattr(R, "_SCANS_BEFORE_DICTS", scans)
    big = BTF.from_bytes(data)
    assert (big._low16 is not None) == low16
    for name in {t.name for t in types if t.name} | {"nope", "in", "ai"}:
        assert big.find(name) == small.find(name), name
        assert big.find(name) == small.find(name), name  # cached answer
    assert big.find("pair") == [5, 21] and big.find("int") == [1, 22]
    assert big.find("pair", T.STRUCT) == [5]


@pytest.mark.parametrize("small", [True, False])
def test_split_btf_names_from_base_strings(monkeypatch, small):
    """Module BTF may name its types with offsets into vmlinux's string table."""
    import struct as st
    import corebpf.btf.reader as R
    if not small:
        monkeypatch.setattr(R, "_SMALL_BTF", 0)
    base = BTF.from_bytes(marshal_btf(_small_types()))
    pair_off = base._strbytes().index(b"\0pair\0") + 1
    # one STRUCT named by the base's "pair" string, and an empty own string table
    types = st.pack("<III", pair_off, (T.STRUCT << 24), 0)
    strs = b"\0"
    hdr = st.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs))
    split = BTF.from_bytes(hdr + types + strs, base=base)
    assert split[split.start_id].name == "pair"
    assert split.find("pair") == [5, split.start_id]


@pytest.mark.parametrize("low16", [True, False])
@pytest.mark.parametrize("column", [100, 0])
def test_name_scan_finds_overlapping_hits(monkeypatch, column, low16):
    """A name_off whose bytes repeat (05 00 05 00) can also match across the previous word
    (00 00 05 00 | 05 00 05 00): the scan must still see the aligned hit after it."""
    import corebpf.btf.reader as R
    monkeypatch.setattr(R, "_SMALL_BTF", 0)
    monkeypatch.setattr(R, "_LOW16", low16)
    monkeypatch.setattr(R, "_SCANS_BEFORE_COLUMN", column)
    monkeypatch.setattr(R, "_SCANS_BEFORE_DICTS", 100)
    no = 0x00050005
    strings = b"\0" + b"x" * (no - 2) + b"\0target\0"
    types = [T.Int(1, "int", 4, T.INT_SIGNED),
             T.Array(2, 1, 1, 0x00050000),  # last word: bytes 00 00 05 00
             T.Composite(3, T.STRUCT, "target", 4, [T.Member("a", 1, 0)]),
             T.Composite(4, T.STRUCT, "", 0x00050000, []),  # size word: 00 00 05 00
             T.Composite(5, T.UNION, "target", 4, [T.Member("a", 1, 0)])]
    btf = BTF.from_bytes(marshal_btf(types, strings=strings))
    assert btf.name_of(3) == "target" and btf._w[btf._offs[2] - 1] == no
    assert btf.find("target") == [3, 5]
    data = b"\0\0\5\0\5\0\5\0"
    assert R._word_hits(data, no, 0, 8) == [4]
    assert R._word_hits(b"xyz" + data + data, no, 3, 19) == [7, 15]
    # the needle leaves out high zero bytes; matches are still checked in full
    assert R._word_hits(b"\x78\0\0\1\x78\0\0\0\x78\0", 0x78, 0, 8) == [4]


def test_type_ids_of_other_types():
    """Types are cached by id in a dict: True is id 1 (the same object), other
    non-integers are a BTFError, not an answer for the equal int."""
    btf = BTF.from_bytes(marshal_btf(_small_types()))
    assert btf[True] is btf[1] and btf[False] is T.VOID and btf[0] is T.VOID
    for bad in (1.0, 2.5, "1", [1], None):
        with pytest.raises(BTFError, match="must be an int"):
            btf[bad]
    with pytest.raises(BTFError, match="out of range"):
        btf[len(btf)]
    assert btf.get(len(btf)) is None and btf.get(5) is btf[5]


def test_low16_text(monkeypatch):
    """One character per word holding its low 16 bits, whatever the high half (which a
    4-byte code unit array would refuse above U+10FFFF), across chunk edges."""
    import struct as st
    import corebpf.btf.reader as R
    words = [0, 1, 0xFFFF, 0x10000, 0xD800, 0xDFFF0041, 0xFFFFFFFF, 0x8400002A, 0x1234ABCD]
    blob = b"xyz" + st.pack(f"<{len(words)}I", *words) + b"tail"
    for chunk in (1, 2, 4, 1 << 15):
        monkeypatch.setattr(R, "_LOW16_CHUNK", chunk)
        got = R._low16_text(blob, 3, len(words))
        assert [first for first, _ in got] == list(range(0, len(words), chunk))
        assert "".join(text for _, text in got) == "".join(map(R._low16_char, words))
        assert R._low16_text(blob, 3, 0) == []
    # (a surrogate stands for itself in "u" units; "w" units fold it onto 5800-5FFF)
    assert [R._low16_char(x) for x in (0x1D800, 0x5800, 0xE000)] == (
        ["\u5800", "\u5800", "\ue000"] if R._UNIT == "w" else ["\ud800", "\u5800", "\ue000"])


@pytest.mark.parametrize("low16", [True, False])
def test_large_btf_lookup_hard_name_offsets(monkeypatch, low16):
    """Name offsets whose low half is 0 (not searchable as text), and words that equal a
    name offset without starting a type (a member's type id, an array's length, a member
    whose next word looks like an info word) must neither be missed nor be taken."""
    import corebpf.btf.reader as R
    monkeypatch.setattr(R, "_SMALL_BTF", 0)
    monkeypatch.setattr(R, "_LOW16", low16)
    strings = b"\0" + b"x" * (0x10000 - 2) + b"\0target\0" + b"y" * 9 + b"\0other\0"
    target, other = 0x10000, 0x10000 + 7 + 10
    assert strings[target:target + 7] == b"target\0" and strings[other:other + 6] == b"other\0"
    types = [T.Int(1, "int", 4, T.INT_SIGNED),
             T.Array(2, 1, 1, target),  # a word equal to "target"'s offset
             T.Composite(3, T.STRUCT, "target", 8, [T.Member("a", 1, 0)]),
             # member type ids / offsets equal to the offsets, followed by a word whose top
             # byte is a valid kind (a bitfield member's offset word)
             T.Composite(4, T.STRUCT, "", 8, [T.Member("a", 1, other),
                                              T.Member("b", 1, 0x10, 4)]),
             T.Composite(5, T.UNION, "other", 4, [T.Member("i", 1, 0)]),
             T.Ref(6, T.TYPEDEF, "target", 3)]
    btf = BTF.from_bytes(marshal_btf(types, strings=strings))
    assert btf.name_of(3) == "target" and btf._w[btf._offs[2] - 1] == target
    assert btf.find("target") == [3, 6] and btf.find("other") == [5]
    assert btf.find_one("target", T.STRUCT) == 3 and btf.find("int") == [1]


def _member_names_btf(names: list[str], strings: bytes | None = None) -> bytearray:
    types = [T.Int(1, "int", 4, T.INT_SIGNED),
             T.Composite(2, T.STRUCT, "s", 4 * len(names),
                         [T.Member(n, 1, 32 * i) for i, n in enumerate(names)]),
             T.Composite(3, T.STRUCT, "bits", 4, [T.Member("lo", 1, 0, 3),
                                                  T.Member("hi", 1, 3, 29)])]
    return bytearray(marshal_btf(types, strings=strings))


def _set_member_name(data: bytearray, btf: BTF, tid: int, i: int, off: int) -> None:
    import struct as st
    first = btf._offs[tid - btf.start_id] + 2  # word index of the first member
    st.pack_into("<I", data, btf._tstart + 4 * (first + 3 * i), off)


def test_large_btf_lookup_surrogate_low_half(monkeypatch):
    """A name offset whose low half is a surrogate code (D800-DFFF), next to a word whose
    low half is what "w" code units fold that onto (5900)."""
    import corebpf.btf.reader as R
    monkeypatch.setattr(R, "_SMALL_BTF", 0)
    strings = b"\0" + b"x" * (0xD900 - 2) + b"\0target\0"
    types = [T.Int(1, "int", 4, T.INT_SIGNED), T.Array(2, 1, 1, 0x5900),
             T.Composite(3, T.STRUCT, "target", 4, [T.Member("a", 1, 0)]),
             T.Ref(4, T.TYPEDEF, "target", 3)]
    btf = BTF.from_bytes(marshal_btf(types, strings=strings))
    assert btf._low16 is not None and btf._w[btf._offs[2] - 1] == 0xD900
    assert btf.find("target") == [3, 4]


@pytest.mark.parametrize("far", [False, True])
def test_member_names_decode_paths(far):
    """Member names come from a run of the string table split once (ASCII, close together)
    or one by one (far apart): the empty name, a name in the middle of another string (a
    shared suffix), and the same names cached for the next struct."""
    names = ["alpha", "beta", "gamma", "", "epsilon"] + (["far"] if far else [])
    strings = b"\0far\0" + b"z" * 5000 + b"\0" if far else None
    data = _member_names_btf(names, strings)
    btf = BTF.from_bytes(bytes(data))
    assert [m.name for m in btf[2].members] == names
    assert [(m.bit_offset, m.bitfield_size) for m in btf[3].members] == [(0, 3), (3, 29)]
    gamma = btf._strbytes().index(b"\0gamma\0") + 1
    _set_member_name(data, btf, 2, 2, gamma + 2)  # "gamma" -> its suffix "mma"
    btf = BTF.from_bytes(bytes(data))
    want = ["alpha", "beta", "mma", "", "epsilon"] + (["far"] if far else [])
    assert [m.name for m in btf[2].members] == want
    assert [btf.string(o) for o in (gamma, gamma + 2)] == ["gamma", "mma"]
    assert btf._strings_at([gamma + 1, gamma + 2, 0]) == ["amma", "mma", ""]
    assert btf._strings_at([gamma + 1, gamma + 2, 0]) == ["amma", "mma", ""]  # cached


def test_split_btf_member_names_from_base_and_own_strings():
    """A module's struct may name members with the base's strings and its own."""
    base = BTF.from_bytes(marshal_btf(_small_types()))
    types = [T.Composite(len(base), T.STRUCT, "modstruct", 8,
                         [T.Member("pair_t", 1, 0), T.Member("own", 1, 32)])]
    data = bytearray(marshal_btf(types, base=base))
    split = BTF.from_bytes(bytes(data), base=base)
    _set_member_name(data, split, len(base), 0, base._strbytes().index(b"\0pair_t\0") + 1)
    split = BTF.from_bytes(bytes(data), base=base)
    assert split[len(base)].members[0].name == "pair_t"
    assert [m.name for m in split[len(base)].members] == ["pair_t", "own"]
    assert split.find("modstruct") == [len(base)]


def test_member_names_not_ascii_and_out_of_range():
    """Non-ASCII and invalid UTF-8 member names decode as string() does (with U+FFFD); an
    offset out of range is a BTFError naming the type."""
    names = ["alpha", "délta", "omega"]
    data = _member_names_btf(names)
    btf = BTF.from_bytes(bytes(data))
    assert [m.name for m in btf[2].members] == names
    at = btf._str_start + btf._strbytes().index("délta".encode())
    data[at + 1:at + 3] = b"\xff\xfe"  # the 2 bytes of "é"
    btf = BTF.from_bytes(bytes(data))
    assert [m.name for m in btf[2].members] == ["alpha", "d\ufffd\ufffdlta", "omega"]
    _set_member_name(data, btf, 2, 2, 1 << 20)
    with pytest.raises(BTFError, match=r"string offset .* \(in type id 2\)"):
        BTF.from_bytes(bytes(data))[2]


def test_large_btf_corrupt_only_btferror(monkeypatch):
    """The kernel-sized lookup paths on mutated blobs: BTFError or an answer, nothing else."""
    import random
    import corebpf.btf.reader as R
    monkeypatch.setattr(R, "_SMALL_BTF", 0)
    monkeypatch.setattr(R, "_LOW16_CHUNK", 7)
    good = marshal_btf(_small_types())
    rnd = random.Random(7)
    for i in range(400):
        data = bytearray(good)
        for _ in range(rnd.randint(1, 6)):
            data[rnd.randrange(len(data))] = rnd.choice((0, 1, 5, 0xFF, rnd.randrange(256)))
        monkeypatch.setattr(R, "_LOW16", bool(i & 1))
        try:
            btf = BTF.from_bytes(bytes(data))
            for name in ("pair", "int", "e", "fn", "nope", "a"):
                for tid in btf.find(name):
                    btf[tid]
        except BTFError:
            pass


def test_index_cache_roundtrip_and_validation(tmp_path, monkeypatch):
    """The on-disk index is used when it matches the blob, and ignored (then rewritten)
    when it does not."""
    import corebpf.btf.reader as R
    types = _small_types() * 1
    data = marshal_btf(types)
    path = str(tmp_path / "x.idx")
    monkeypatch.setattr(R, "INDEX_CACHE_DIR", str(tmp_path))
    ref = BTF.from_bytes(data)
    first = BTF(data, index_cache=path)
    assert os.path.exists(path) and list(first._offs) == list(ref._offs)

    def boom(self):
        raise AssertionError("index rebuilt although the cache is valid")

    with monkeypatch.context() as m:
        m.setattr(R.BTF, "_index", boom)
        again = BTF(data, index_cache=path)
    assert list(again._offs) == list(ref._offs)
    assert [again[i].name for i in again] == [ref[i].name for i in ref]
    # a damaged cache (one offset moved) is not trusted
    blob = bytearray(open(path, "rb").read())
    blob[20 + 4 * 3] += 1
    open(path, "wb").write(bytes(blob))
    R._IDX_SAMPLES, saved = 10 ** 6, R._IDX_SAMPLES
    try:
        fixed = BTF(data, index_cache=path)
    finally:
        R._IDX_SAMPLES = saved
    assert list(fixed._offs) == list(ref._offs)
    assert open(path, "rb").read()[20:] == ref._offs.tobytes()  # rewritten
    # the name column joins the cache once lookups gathered it, and comes back with it
    with monkeypatch.context() as m:
        m.setattr(R, "_SMALL_BTF", 0)
        m.setattr(R, "_SCANS_BEFORE_COLUMN", 0)
        b1 = BTF(data, index_cache=path)
        assert b1.find("pair") == ref.find("pair")
        assert "na" in b1._names
        b2 = BTF(data, index_cache=path)
        assert b2._names is not None and b2._names["na"] == b1._names["na"]
        assert [b2.find(t.name) for t in types] == [ref.find(t.name) for t in types]
    # garbage and another blob's index are ignored
    open(path, "wb").write(b"junk")
    assert list(BTF(data, index_cache=path)._offs) == list(ref._offs)
    other = marshal_btf(types[:3])
    BTF(other, index_cache=path)
    assert list(BTF(data, index_cache=path)._offs) == list(ref._offs)


def test_index_cache_not_writable(tmp_path, monkeypatch):
    """Without write access to the cache directory no column is gathered for a file that
    cannot be written: lookups use the low16 text."""
    import corebpf.btf.reader as R
    monkeypatch.setattr(R, "_SMALL_BTF", 0)
    monkeypatch.setattr(R, "INDEX_CACHE_DIR", str(tmp_path / "sub"))
    monkeypatch.setattr(R, "_index_writable", lambda path: False)
    types = _small_types()
    data = marshal_btf(types)
    path = str(tmp_path / "sub" / "x.idx")
    btf = BTF(data, index_cache=path)
    assert btf._low16 is not None and btf._names is None and not os.path.exists(path)
    ref = BTF.from_bytes(data)
    assert [btf.find(t.name) for t in types] == [ref.find(t.name) for t in types]
    monkeypatch.undo()
    assert R._index_writable(str(tmp_path / "x.idx"))
    assert R._index_writable(str(tmp_path / "new" / "x.idx"))  # created on write


def test_kernel_index_cache_env(monkeypatch):
    """COREBPF_NO_BTF_CACHE turns the cache off; otherwise the path names this boot."""
    import corebpf.btf.reader as R
    fd = os.open("/proc/self/stat", os.O_RDONLY)
    try:
        monkeypatch.setenv("COREBPF_NO_BTF_CACHE", "1")
        assert R._index_cache_path(VMLINUX, fd) is None
        monkeypatch.delenv("COREBPF_NO_BTF_CACHE")
        p = R._index_cache_path(VMLINUX, fd)
    finally:
        os.close(fd)
    boot = open("/proc/sys/kernel/random/boot_id").read().strip()
    assert p is not None and boot in p and p.startswith(R.INDEX_CACHE_DIR + "/vmlinux-")
