""".BTF.ext parsing on real objects; func/line info accepted by the kernel."""
from __future__ import annotations

import pathlib
import sys

import pytest

from corebpf.btf import BTF
from corebpf.btf.ext import (CORE_RELO_KIND_NAMES, encode_btf_ext, encode_func_info,
                             encode_line_info, parse_btf_ext)
from corebpf.btf.marshal import BTF_FEATURES, Builder, load_btf, sanitize
from corebpf.btf.reader import _elf_section
from corebpf.errors import BTFError

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from conftest import PROGS, build_prog  # noqa: E402


def load_obj(name):
    path = build_prog(name)
    data = path.read_bytes()
    btf = BTF.from_file(path)
    return path, data, btf, parse_btf_ext(_elf_section(data, ".BTF.ext"), btf)


def test_kinds_ext_records():
    path, _, btf, ext = load_obj("btf_kinds")
    src = (PROGS / "btf_kinds.bpf.c").read_text().splitlines()
    sec = "tp/syscalls/sys_enter_getpid"
    assert [btf[t].name for _, t in ext.func_info[sec]] == ["btf_prog"]
    assert [btf[t].name for _, t in ext.func_info[".text"]] == ["btf_helper"]
    for lst in ext.line_info.values():
        offs = [li.insn_off for li in lst]
        assert offs == sorted(offs)
        for li in lst:
            assert li.file.endswith("btf_kinds.bpf.c")
            assert li.text == "" or li.text.strip() == src[li.line - 1].strip()
            assert 0 <= li.col < 1024
    relos = ext.core_relos[sec]
    assert {CORE_RELO_KIND_NAMES[r.kind] for r in relos} >= {"byte_off", "field_exists"}
    for r in relos:
        t = btf.resolve(r.type_id)
        assert t.name == "task_struct"
        idx = [int(x) for x in r.access_str.split(":")]
        assert idx[0] == 0 and t.members[idx[1]].name in ("tgid", "real_parent", "pid")


def test_ext_reencode_roundtrip():
    _, _, btf, ext = load_obj("btf_kinds")
    b = Builder(strings=bytes(btf._data[btf._str_start:btf._str_end]))
    blob = encode_btf_ext(ext, b.add_string)
    again = parse_btf_ext(blob, btf)
    assert again.func_info == ext.func_info
    assert again.core_relos == ext.core_relos
    assert again.line_info == ext.line_info


def test_larger_record_sizes_are_honoured():
    _, _, btf, ext = load_obj("btf_kinds")
    import struct
    so = btf._data[btf._str_start:btf._str_end].index(b"\0.text\0") + 1
    rec = 12  # a future compiler with one more u32 per func_info record
    fi = struct.pack("<III", rec, so, 2) + struct.pack("<III", 0, 36, 0xdead) + \
        struct.pack("<III", 16, 36, 0xbeef)
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(fi), len(fi), 0)
    e = parse_btf_ext(hdr + fi, btf)
    assert e.func_info[".text"] == [(0, 36), (2, 36)] and e.func_info_rec_size == 12
    bad = struct.pack("<III", rec, so, 1) + struct.pack("<III", 4, 36, 0)
    with pytest.raises(BTFError, match="multiple of 8"):
        parse_btf_ext(struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(bad), len(bad), 0)
                      + bad, btf)


def test_encoders():
    from corebpf.btf.ext import LineInfo
    assert encode_func_info([(0, 5), (3, 9)]) == bytes.fromhex("00000000050000000300000009000000")
    li = LineInfo(2, "f.c", 7, 3, "x", 11, 22)
    import struct
    assert encode_line_info([li]) == struct.pack("<IIII", 2, 11, 22, (7 << 10) | 3)
    with pytest.raises(BTFError):
        encode_func_info([(-1, 0)])


@pytest.mark.kernel
def test_kernel_loads_program_with_func_and_line_info(no_fd_leak):
    """The arrays we build are what BPF_PROG_LOAD wants (the kernel checks them)."""
    from corebpf import _sys
    from corebpf.elf import ELFFile
    path, data, btf, ext = load_obj("btf_lines")
    elf = ELFFile(data, str(path))
    main = bytes(elf.section_by_name("socket").data())
    text = bytes(elf.section_by_name(".text").data())
    insns = bytearray(main + text)
    # the call to the static subprogram: a pc-relative call to .text (R_BPF_64_32 reloc)
    n_main = len(main) // 8
    for i in range(n_main):
        if insns[8 * i] == 0x85 and insns[8 * i + 1] >> 4 == 1:  # call, src_reg=PSEUDO_CALL
            imm = int.from_bytes(insns[8 * i + 4:8 * i + 8], "little", signed=True)
            target = n_main + (imm + 1 if imm != -1 else 0)
            insns[8 * i + 4:8 * i + 8] = (target - i - 1).to_bytes(4, "little", signed=True)
    fi = ext.func_info["socket"] + [(off + n_main, t) for off, t in ext.func_info[".text"]]
    li = ext.line_info["socket"] + [
        type(x)(x.insn_off + n_main, x.file, x.line, x.col, x.text, x.file_name_off,
                x.line_off) for x in ext.line_info[".text"]]
    blob = sanitize(btf, BTF_FEATURES, datasecs={"license": (4, {"LICENSE": 0})})
    with load_btf(blob) as btf_fd:
        fd, log = _sys.prog_load_with_log(
            1, bytes(insns), "GPL", prog_btf_fd=btf_fd,
            func_info=encode_func_info(fi), func_info_cnt=len(fi),
            line_info=encode_line_info(li), line_info_cnt=len(li), log_level=0)[:2]
        with fd:
            info = _sys.prog_info(fd)
            assert info["nr_func_info"] == 2 if "nr_func_info" in info else True
