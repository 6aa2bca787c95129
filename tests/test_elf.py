"""The ELF reader: real objects parse, malformed ones raise ObjectError naming the place."""
from __future__ import annotations

import struct

import pytest

from corebpf import elf as E
from corebpf.errors import ObjectError
from corebpf.spec import ObjectSpec

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
SHDR = struct.Struct("<IIQQQQIIQQ")


@pytest.fixture(scope="module")
def raw(bpf_prog) -> bytes:
    return bpf_prog("spec_funcs").read_bytes()


def shoff(data: bytes) -> tuple[int, int, int]:
    h = EHDR.unpack_from(data, 0)
    return h[6], h[12], h[13]  # e_shoff, e_shnum, e_shstrndx


def section_index(data: bytes, name: str) -> int:
    e = E.ELFFile(data, "x")
    return e.section_by_name(name).index


def patch_shdr(data: bytes, idx: int, field: int, value: int) -> bytes:
    off, _, _ = shoff(data)
    b = bytearray(data)
    fields = list(SHDR.unpack_from(b, off + idx * SHDR.size))
    fields[field] = value
    SHDR.pack_into(b, off + idx * SHDR.size, *fields)
    return bytes(b)


def test_reads_real_object(raw, bpf_prog):
    with E.ELFFile.open(bpf_prog("spec_funcs")) as e:
        names = [s.name for s in e.sections]
        assert ".text" in names and "xdp" in names and ".BTF" in names
        text = e.section_by_name(".text")
        assert text.is_exec and len(text.data()) == text.size
        funcs = {s.name for s in e.symbols if s.type == E.STT_FUNC}
        assert {"twice", "thrice", "global_bump", "xdp_pass"} <= funcs
        rels = e.relocations(e.section_by_name("xdp"))
        assert rels and all(r.type == E.R_BPF_64_32 for r in rels)
        assert rels[0].symbol.name == "global_bump"
        sec_syms = [s for s in e.symbols if s.type == E.STT_SECTION and s.shndx == text.index]
        assert sec_syms and sec_syms[0].name == ".text"


def test_from_bytes_equals_from_file(raw, bpf_prog):
    a = ObjectSpec.from_file(bpf_prog("spec_funcs"))
    b = ObjectSpec.from_bytes(raw, "spec_funcs")
    assert list(a.functions) == list(b.functions)
    for n in a.functions:
        assert a.functions[n].insns == b.functions[n].insns
        assert a.functions[n].relocations == b.functions[n].relocations


def expect(data: bytes, match: str, **where):
    with pytest.raises(ObjectError, match=match) as ei:
        ObjectSpec.from_bytes(data, "bad.o")
    err = ei.value
    assert err.file == "bad.o"
    for k, v in where.items():
        assert getattr(err, k) == v, (k, getattr(err, k))
    return err


def test_empty_and_not_elf(tmp_path):
    expect(b"", "bad magic")
    expect(b"\x7fEL", "bad magic")
    expect(b"\x7fELF" + b"\0" * 20, "truncated ELF header")
    expect(b"MZ" + b"\0" * 100, "bad magic")
    p = tmp_path / "empty.o"
    p.write_bytes(b"")
    with pytest.raises(ObjectError, match="empty file"):
        ObjectSpec.from_file(p)
    with pytest.raises(ObjectError, match="cannot read"):
        ObjectSpec.from_file(tmp_path / "missing.o")


def test_wrong_class_endianness_machine(raw):
    b = bytearray(raw)
    b[4] = 1
    expect(bytes(b), "64-bit", offset=4)
    b = bytearray(raw)
    b[5] = 2
    expect(bytes(b), "big-endian", offset=5)
    b = bytearray(raw)
    struct.pack_into("<H", b, 18, 62)
    expect(bytes(b), "not a BPF object")


@pytest.mark.parametrize("cut", [64, 100, 1000, -1, -64, -65])
def test_truncated(raw, cut):
    data = raw[:cut]
    with pytest.raises(ObjectError):
        ObjectSpec.from_bytes(data, "bad.o")


def test_section_table_past_end(raw):
    b = bytearray(raw)
    off, num, _ = shoff(raw)
    struct.pack_into("<Q", b, 0x28, len(raw) - 10)
    expect(bytes(b), "past the end")
    b = bytearray(raw)
    struct.pack_into("<H", b, 0x3C, 0xFFFF)
    expect(bytes(b), "past the end")


def test_bad_shstrndx(raw):
    b = bytearray(raw)
    struct.pack_into("<H", b, 0x3E, 999)
    expect(bytes(b), "section name table index")


def test_section_data_out_of_range(raw):
    idx = section_index(raw, ".text")
    err = expect(patch_shdr(raw, idx, 5, 1 << 40), "runs past the end of the file")
    assert err.offset is not None
    expect(patch_shdr(raw, idx, 4, len(raw) - 4), "runs past the end of the file")


def test_overlapping_sections(raw):
    t, x = section_index(raw, ".text"), section_index(raw, "xdp")
    off, _, _ = shoff(raw)
    text_off = SHDR.unpack_from(raw, off + t * SHDR.size)[4]
    expect(patch_shdr(raw, x, 4, text_off), "overlap")


def test_bad_section_name_offset(raw):
    expect(patch_shdr(raw, 2, 0, 1 << 30), "string offset")


def test_bad_symbol_section_index(raw):
    e = E.ELFFile(raw, "x")
    st = e.symtab
    sym = next(s for s in e.symbols if s.name == "twice")
    b = bytearray(raw)
    struct.pack_into("<H", b, st.offset + sym.index * 24 + 6, 4000)
    expect(bytes(b), "section index 4000 out of range", symbol="twice")


def test_bad_symbol_name(raw):
    e = E.ELFFile(raw, "x")
    st = e.symtab
    b = bytearray(raw)
    struct.pack_into("<I", b, st.offset + 3 * 24, 1 << 28)
    expect(bytes(b), "string offset")


def test_bad_relocation_symbol(raw):
    e = E.ELFFile(raw, "x")
    rs = next(s for s in e.sections if s.type == E.SHT_REL and s.name == ".relxdp")
    b = bytearray(raw)
    off, info = struct.unpack_from("<QQ", b, rs.offset)
    struct.pack_into("<QQ", b, rs.offset, off, (5000 << 32) | (info & 0xFFFFFFFF))
    expect(bytes(b), "symbol index 5000 out of range", section=".relxdp")
    struct.pack_into("<QQ", b, rs.offset, 1 << 20, info)
    expect(bytes(b), "outside its section")
    struct.pack_into("<QQ", b, rs.offset, off + 3, info)
    expect(bytes(b), "instruction boundary")


def test_bad_relocation_target_section(raw):
    e = E.ELFFile(raw, "x")
    rs = next(s for s in e.sections if s.name == ".relxdp")
    expect(patch_shdr(raw, rs.index, 7, 9999), "out of range", section=".relxdp")


def test_function_past_section_end(raw):
    e = E.ELFFile(raw, "x")
    sym = next(s for s in e.symbols if s.name == "xdp_pass")
    b = bytearray(raw)
    struct.pack_into("<Q", b, e.symtab.offset + sym.index * 24 + 16, 1 << 20)
    expect(bytes(b), "runs past the end of its section", symbol="xdp_pass", section="xdp")


def test_symtab_size_not_multiple(raw):
    e = E.ELFFile(raw, "x")
    expect(patch_shdr(raw, e.symtab.index, 5, e.symtab.size - 5), "not a multiple")


def test_garbage_btf(raw):
    e = E.ELFFile(raw, "x")
    btf = e.section_by_name(".BTF")
    b = bytearray(raw)
    b[btf.offset:btf.offset + 4] = b"\xde\xad\xbe\xef"
    expect(bytes(b), "invalid BTF", section=".BTF")


def test_unknown_sections_are_ignored(raw):
    # renaming a data section to something unknown keeps the object readable
    s = ObjectSpec.from_bytes(raw, "ok.o")
    assert "xdp_pass" in s.programs


def test_close_releases_mapping(bpf_prog):
    e = E.ELFFile.open(bpf_prog("spec_funcs"))
    e.close()
    e.close()


def test_no_fd_leak_on_success_and_error(bpf_prog, tmp_path, no_fd_leak):
    good = bpf_prog("spec_maps")
    bad = tmp_path / "bad.o"
    data = good.read_bytes()
    bad.write_bytes(data[:len(data) // 2])
    for _ in range(50):
        ObjectSpec.from_file(good)
        with pytest.raises(ObjectError):
            ObjectSpec.from_file(bad)


def test_absurd_bss_size(bpf_prog):
    raw = bpf_prog("spec_data").read_bytes()
    idx = section_index(raw, ".bss")
    expect(patch_shdr(raw, idx, 5, 1 << 40), "too large for a map value", section=".bss")
