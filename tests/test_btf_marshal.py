"""BTF writer and sanitizer: round trips, libbpf-style substitutions, the kernel accepts."""
from __future__ import annotations

import os

import pytest

from corebpf.btf import BTF, types as T
from corebpf.btf.marshal import BTF_FEATURES, Builder, load_btf, marshal_btf, sanitize, \
    sanitize_types
from corebpf.errors import BTFError


def same(a: T.Type, b: T.Type) -> bool:
    return type(a) is type(b) and a.kind == b.kind and a.name == b.name and \
        all(repr(getattr(a, f)) == repr(getattr(b, f)) for f in a._fields())


def elf_datasecs(path) -> dict:
    """{section: (size, {symbol: offset})} from the ELF symbol table, as a loader passes."""
    from corebpf.elf import ELFFile
    elf = ELFFile(open(path, "rb").read(), str(path))
    out: dict = {}
    for s in elf.sections:
        if s.name.startswith((".data", ".bss", ".rodata")) or s.name in (".maps", "license"):
            out[s.name] = (s.size, {})
    for sym in elf.symbols:
        if 0 < sym.shndx < len(elf.sections):
            sec = elf.sections[sym.shndx].name
            if sec in out and sym.name:
                out[sec][1][sym.name] = sym.value
    return out


@pytest.fixture(scope="module")
def kinds_obj():
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from conftest import build_prog
    return build_prog("btf_kinds")


def test_vmlinux_roundtrip():
    k = BTF.kernel()
    ids = list(range(1, len(k), 37)) + [k.find_one("task_struct", T.STRUCT)]
    again = BTF.from_bytes(marshal_btf(k.types()))
    assert len(again) == len(k)
    for i in ids:
        assert same(k[i], again[i]), i


def test_builder_strings_dedup_and_seed():
    b = Builder()
    assert b.add_string("abc") == b.add_string("abc") == 1
    assert b.add_string("") == 0
    b.add(T.Int(0, "abc", 4))
    btf = BTF.from_bytes(b.encode())
    assert btf[1].name == "abc"
    seeded = Builder(strings=b"\0x\0abc\0")
    assert seeded.add_string("abc") == 3 and seeded.add_string("new") == 7
    with pytest.raises(BTFError):
        Builder(strings=b"no-nul")
    with pytest.raises(BTFError, match="cannot encode"):
        Builder().add(T.Int(0, "bad", 4, 0, 300))


def test_object_btf_roundtrip(kinds_obj):
    btf = BTF.from_file(kinds_obj)
    again = BTF.from_bytes(marshal_btf(btf.types()))
    for i in btf:
        assert same(btf[i], again[i])


def test_sanitize_fixes_datasecs(kinds_obj):
    btf = BTF.from_file(kinds_obj)
    secs = elf_datasecs(kinds_obj)
    types = [T.VOID] + sanitize_types(btf, BTF_FEATURES, datasecs=secs)
    by_name = {t.name: t for t in types if t.kind == T.DATASEC}
    data = by_name[".data"]
    assert data.size == secs[".data"][0]
    offs = {types[v.type].name: v.offset for v in data.vars}
    assert offs["btf_counter"] == secs[".data"][1]["btf_counter"]
    ksyms = by_name[".ksyms"]
    assert [v.offset for v in ksyms.vars] == [4 * i for i in range(len(ksyms.vars))]
    assert ksyms.size == 4 * len(ksyms.vars)
    for v in ksyms.vars:
        assert types[v.type].kind == T.VAR and types[v.type].linkage == 1
    kc = by_name[".kconfig"]
    assert kc.size >= 5 and all(types[v.type].linkage == 1 for v in kc.vars)
    # original ids keep their meaning
    assert types[btf.find_one("btf_event")].name == "btf_event"
    with pytest.raises(BTFError, match="size 0"):
        sanitize_types(btf, BTF_FEATURES)


@pytest.mark.kernel
def test_kernel_accepts_sanitized_object_btf(kinds_obj, no_fd_leak):
    btf = BTF.from_file(kinds_obj)
    secs = elf_datasecs(kinds_obj)
    with load_btf(sanitize(btf, BTF_FEATURES, datasecs=secs)):
        pass


@pytest.mark.kernel
@pytest.mark.parametrize("missing", [(f,) for f in BTF_FEATURES] + [BTF_FEATURES])
def test_kernel_accepts_each_substitution(kinds_obj, missing, no_fd_leak):
    """With features turned off, the stand-ins are still BTF the kernel accepts."""
    btf = BTF.from_file(kinds_obj)
    feats = set(BTF_FEATURES) - set(missing)
    data = sanitize(btf, feats, datasecs=elf_datasecs(kinds_obj))
    out = BTF.from_bytes(data)
    kinds = {out[i].kind for i in out}
    if "float" in missing:
        assert T.FLOAT not in kinds
    if "type_tag" in missing:
        assert T.TYPE_TAG not in kinds
    if "decl_tag" in missing:
        assert T.DECL_TAG not in kinds
    if "datasec" in missing:
        assert T.DATASEC not in kinds and T.VAR not in kinds
    if "func" in missing:
        assert T.FUNC not in kinds and T.FUNC_PROTO not in kinds
    if "func_global" in missing and "func" not in missing:
        assert all(out[i].linkage == 0 for i in out if out[i].kind == T.FUNC)
    for i in btf:  # sizes survive every substitution
        t = btf[i]
        if t.kind in (T.STRUCT, T.UNION, T.INT, T.FLOAT, T.ENUM, T.ENUM64):
            assert out.size_of(i) == t.size
    with load_btf(data):
        pass


def test_enum64_substitution():
    types = [T.Int(1, "int", 4, T.INT_SIGNED),
             T.Enum(2, T.ENUM64, "big", 8, False, [T.EnumValue("A", 1 << 40),
                                                   T.EnumValue("B", 2)]),
             T.Enum(3, T.ENUM, "small", 4, True, [T.EnumValue("M", -1)])]
    btf = BTF.from_bytes(marshal_btf(types))
    feats = set(BTF_FEATURES) - {"enum64"}
    out = [T.VOID] + sanitize_types(btf, feats)
    assert out[2].kind == T.UNION and out[2].size == 8
    assert [m.name for m in out[2].members] == ["A", "B"]
    ph = out[out[2].members[0].type]
    assert ph.kind == T.INT and ph.name == "enum64_placeholder" and ph.id == 4
    assert out[3].signed is False  # no kflag before enum64 support


@pytest.mark.kernel
def test_load_btf_error_has_kernel_log(no_fd_leak):
    bad = [T.Composite(1, T.STRUCT, "s", 4, [T.Member("x", 99, 0)])]
    with pytest.raises(BTFError, match="refused") as ei:
        load_btf(marshal_btf(bad))
    assert ei.value.log


@pytest.mark.kernel
def test_kernel_accepts_vmlinux_remarshal(no_fd_leak):
    k = BTF.kernel()
    with load_btf(marshal_btf(k.types())):
        pass


def test_unknown_feature_name():
    btf = BTF.from_bytes(marshal_btf([T.Int(1, "int", 4)]))
    with pytest.raises(BTFError, match="unknown BTF feature"):
        sanitize_types(btf, {"bogus"})


@pytest.mark.kernel
def test_sanitized_btf_matches_libbpf(kinds_obj, bpftool, tmp_path):
    """libbpf (through bpftool) loads the same object; the BTF it gave the kernel and ours
    are the same types, id for id (DATASEC sizes, VAR offsets, .ksyms/.kconfig fix-ups)."""
    import json
    import shutil
    import subprocess
    if not os.path.ismount("/sys/fs/bpf"):
        pytest.skip("no bpffs at /sys/fs/bpf")
    pin = f"/sys/fs/bpf/corebpf_test_btf_{os.getpid()}"
    try:
        subprocess.run([bpftool, "prog", "loadall", str(kinds_obj), pin], check=True,
                       capture_output=True)
        info = json.loads(subprocess.run([bpftool, "prog", "show", "pinned",
                                          f"{pin}/btf_prog", "-j"], check=True,
                                         capture_output=True, text=True).stdout)
        theirs = BTF.from_kernel_id(info["btf_id"])
        from corebpf import _sys
        with _sys.prog_get_fd_by_id(info["id"]) as fd:
            pinfo = _sys.prog_info(fd)
    finally:
        shutil.rmtree(pin, ignore_errors=True)
    btf = BTF.from_file(kinds_obj)
    ours = BTF.from_bytes(sanitize(btf, BTF_FEATURES, datasecs=elf_datasecs(kinds_obj)))
    assert len(ours) == len(theirs)
    for i in ours:
        assert same(ours[i], theirs[i]), (i, ours[i], theirs[i])
    # libbpf gave the kernel as many func/line info records as our .BTF.ext parse finds
    from corebpf.btf.ext import parse_btf_ext
    from corebpf.btf.reader import _elf_section
    ext = parse_btf_ext(_elf_section(kinds_obj.read_bytes(), ".BTF.ext"), btf)
    sec = "tp/syscalls/sys_enter_getpid"
    assert pinfo["nr_func_info"] == len(ext.func_info[sec]) + len(ext.func_info[".text"])
    # (the verifier drops the line info of dead code it removes, so the kernel may keep less)
    n_lines = len(ext.line_info[sec]) + len(ext.line_info[".text"])
    assert n_lines - 4 <= pinfo["nr_line_info"] <= n_lines
