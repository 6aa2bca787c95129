"""The C dumper (corebpf.btf.cdump) and the ``corebpf btf`` command.

bpftool 7.1 is the oracle: same header text for vmlinux and for test objects, same raw
listing. Beyond text, the dumped header must compile with clang -target bpf and reproduce
every struct's size and member offsets (checked with _Static_assert), and every program in
tests/progs must compile against it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from corebpf.btf import BTF
from corebpf.btf import types as T
from corebpf.btf.cdump import dump_c
from corebpf.errors import BTFError

ROOT = Path(__file__).resolve().parent.parent
PROGS = ROOT / "tests" / "progs"
BUILD = ROOT / "tests" / ".build"
TARGETS = PROGS / "core_targets"
VMLINUX = "/sys/kernel/btf/vmlinux"
CLANG = ["clang", "-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86", "-Wall",
         "-Wno-unused-variable", "-Wno-unused-function", "-Wno-compare-distinct-pointer-types"]

needs_vmlinux = pytest.mark.skipif(not os.path.exists(VMLINUX), reason="no kernel BTF")


def _bpftool_71() -> bool:
    exe = shutil.which("bpftool")
    if not exe:
        return False
    r = subprocess.run([exe, "version"], capture_output=True, text=True)
    return "v7.1" in r.stdout


def shapes_obj() -> Path:
    src = TARGETS / "dump_shapes.c"
    out = BUILD / "core_target_dump_shapes.o"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        BUILD.mkdir(parents=True, exist_ok=True)
        subprocess.run(["clang", "-g", "-O2", "-target", "bpf", "-c", str(src), "-o", str(out)],
                       check=True)
    return out


@pytest.fixture(scope="module")
def kernel_header() -> str:
    if not os.path.exists(VMLINUX):
        pytest.skip("no kernel BTF")
    return dump_c(BTF.kernel())


def defined_names(text: str) -> set[tuple[str, str]]:
    """(kind, name) of every top-level struct/union/enum definition and typedef."""
    names = set()
    for m in re.finditer(r"^(struct|union|enum) (\w+) \{", text, re.M):
        names.add((m.group(1), m.group(2)))
    for m in re.finditer(r"^typedef .*?(\w+)(\[\d+\])*(\)\(.*\))?;$", text, re.M):
        names.add(("typedef", m.group(1)))
    return names


def _has_va_list(btf: BTF, tid: int, depth: int = 0) -> bool:
    """va_list is a pointer for clang -target bpf but 24 bytes in an x86 kernel: no
    header can give structs holding one their kernel layout."""
    t = btf[tid]
    if depth > 8 or t.kind not in (T.STRUCT, T.UNION):
        return False
    for m in t.members:
        mt = m.type
        while btf[mt].kind in (T.TYPEDEF, T.CONST, T.VOLATILE, T.ARRAY):
            if "va_list" in btf[mt].name:
                return True
            mt = btf[mt].type
        if _has_va_list(btf, mt, depth + 1):
            return True
    return False


def bpftool_equivalent(ours: str) -> str:
    """Our header without what bpftool 7.1 leaves out: enum size attributes, and the
    packed attribute of unions (bpftool only checks structs; compare both texts without
    packed attributes: the layout tests check packing)."""
    return ours.replace(" __attribute__((mode(byte)))", "").replace(
        " __attribute__((mode(word)))", "").replace(" __attribute__((packed))", "")


def bpftool_c(path: str) -> str:
    return subprocess.run(["bpftool", "btf", "dump", "file", path, "format", "c"],
                          capture_output=True, text=True, check=True).stdout.replace(
        " __attribute__((packed))", "")


def layout_asserts(btf: BTF, members: bool, only: str = "") -> str:
    """_Static_assert lines checking sizeof and (optionally) offsetof against BTF."""
    lines = []
    # struct, union and enum names share one namespace; the dumper renames clashes in
    # emission order (name___2), so only names used once are checked
    count: dict[str, int] = {}
    for tid in range(1, len(btf)):
        t = btf[tid]
        if t.kind in (T.STRUCT, T.UNION, T.ENUM, T.ENUM64) and t.name:
            count[t.name] = count.get(t.name, 0) + 1
    for tid in range(1, len(btf)):
        t = btf[tid]
        if t.kind not in (T.STRUCT, T.UNION) or not t.name or not t.name.startswith(only):
            continue
        if count[t.name] > 1 or _has_va_list(btf, tid):
            continue
        name = t.name
        kw = "struct" if t.kind == T.STRUCT else "union"
        lines.append(f"_Static_assert(sizeof({kw} {name}) == {t.size}, \"{name}\");")
        if members:
            for m in t.members:
                if m.name and not m.bitfield_size:
                    lines.append(f"_Static_assert(__builtin_offsetof({kw} {name}, {m.name}) == "
                                 f"{m.bit_offset // 8}, \"{name}.{m.name}\");")
    return "\n".join(lines) + "\n"


def compile_c(tmp_path: Path, header: str, body: str, name: str = "t.c") -> None:
    inc = tmp_path / "inc"
    inc.mkdir(exist_ok=True)
    (inc / "vmlinux.h").write_text(header)
    src = tmp_path / name
    src.write_text('#include "vmlinux.h"\n' + body)
    r = subprocess.run([*CLANG, "-I", str(inc), "-I", str(PROGS), "-c", str(src),
                        "-o", str(tmp_path / (name + ".o"))], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]


# ----------------------------------------------------------------------------- vs bpftool

@needs_vmlinux
def test_vmlinux_same_definitions_as_bpftool(kernel_header):
    if not shutil.which("bpftool"):
        pytest.skip("bpftool not installed")
    ref = bpftool_c(VMLINUX)
    assert defined_names(kernel_header) == defined_names(ref)
    if _bpftool_71():
        # the same libbpf 1.1 rules: byte-identical, but for the enum size attributes
        # bpftool 7.1 lacks (without them 1-byte enums break the layout of their structs)
        assert bpftool_equivalent(kernel_header) == ref


@pytest.mark.parametrize("what", ["shapes", "core_fields", "core_kernel"])
def test_objects_same_as_bpftool(what, bpf_prog):
    if not _bpftool_71():
        pytest.skip("needs bpftool 7.1 for byte comparison")
    path = shapes_obj() if what == "shapes" else bpf_prog(what)
    assert bpftool_equivalent(dump_c(BTF.from_file(path))) == bpftool_c(str(path))


# ----------------------------------------------------------------------------- compiles

@needs_vmlinux
def test_vmlinux_header_compiles_with_layouts(kernel_header, tmp_path):
    body = ("#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>\n"
            "#include <bpf/bpf_core_read.h>\n" + layout_asserts(BTF.kernel(), members=False))
    compile_c(tmp_path, kernel_header, body)


@needs_vmlinux
def test_task_struct_offsets(kernel_header, tmp_path):
    k = BTF.kernel()
    tid = k.find("task_struct", T.STRUCT)[0]
    lines = [f"_Static_assert(__builtin_offsetof(struct task_struct, {m.name}) == "
             f"{m.bit_offset // 8}, \"{m.name}\");"
             for m in k[tid].members if m.name and not m.bitfield_size]
    compile_c(tmp_path, kernel_header, "\n".join(lines) + "\n")


def test_shapes_layout_round_trip(tmp_path):
    btf = BTF.from_file(shapes_obj())
    header = dump_c(btf)
    assert "} __attribute__((packed));" in header
    assert "void (*handlers[4])(int, const char *);" in header
    assert "int (* (*fp_ret_arr)(void))[3];" in header
    assert "unsigned int b: 29;" in header
    assert "} __attribute__((mode(word)));" in header or "SHP_BIG = 8589934591ULL" in header
    compile_c(tmp_path, header, layout_asserts(btf, members=True, only="shp_"))


@needs_vmlinux
def test_every_test_program_compiles(kernel_header, tmp_path):
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "vmlinux.h").write_text(kernel_header)
    failed = []
    # some programs include libc-side uapi headers (usdt.bpf.h -> errno.h): their tests
    # add the multiarch directory, so do we
    multiarch = ["-idirafter", "/usr/include/x86_64-linux-gnu"]
    # parse the 135k-line header once: a precompiled header, force-included (the
    # programs' own #include "vmlinux.h" then stops at its include guard)
    subprocess.run([*CLANG, "-x", "c-header", str(inc / "vmlinux.h"), "-o",
                    str(inc / "vmlinux.h.pch")], check=True)
    pch = ["-include", str(inc / "vmlinux.h")]
    # modern_*.bpf.c need clang >= 18 and libbpf >= 1.4 headers: tests/test_modern.py
    # compiles them with clang-22 against this same dumper's vmlinux.h
    for src in sorted(p for p in PROGS.glob("*.bpf.c") if not p.name.startswith("modern_")):
        r = subprocess.run([*CLANG, *multiarch, *pch, "-I", str(inc), "-I", str(PROGS),
                            "-c", str(src),
                            "-o", str(tmp_path / (src.stem + ".o"))],
                           capture_output=True, text=True)
        if r.returncode:
            failed.append(f"{src.name}: {r.stderr[-600:]}")
    assert not failed, "\n".join(failed)


@needs_vmlinux
def test_selected_types(tmp_path):
    k = BTF.kernel()
    text = dump_c(k, ["task_struct"])
    assert re.search(r"^struct task_struct \{", text, re.M)
    assert len(text) < len(dump_c(k)) // 2
    compile_c(tmp_path, text, "int f(struct task_struct *t) { return t->pid; }\n")
    with pytest.raises(BTFError):
        dump_c(k, ["no_such_type_anywhere"])


def test_bad_btf_raises():
    with pytest.raises(BTFError):
        dump_c(b"\x9f\xeb\x01\x00" + bytes(4))
    good = BTF.from_file(shapes_obj()).raw
    # a type section cut in the middle of a type
    import struct as st
    hl, to, tl, so, sl = st.unpack_from("<IIIII", good, 4)
    bad = bytearray(good)
    st.pack_into("<I", bad, 12, tl - 4)
    with pytest.raises(BTFError):
        dump_c(bytes(bad))


# ----------------------------------------------------------------------------- CLI

def corebpf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "corebpf", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_cli_raw_matches_bpftool(bpf_prog):
    if not _bpftool_71():
        pytest.skip("needs bpftool 7.1")
    for path in (shapes_obj(), bpf_prog("core_fields")):
        r = corebpf("btf", "dump", str(path), "--format", "raw")
        assert r.returncode == 0, r.stderr
        ref = subprocess.run(["bpftool", "btf", "dump", "file", str(path)],
                             capture_output=True, text=True, check=True).stdout
        assert r.stdout == ref


def test_cli_c_and_type_and_json(tmp_path):
    path = str(shapes_obj())
    r = corebpf("btf", "dump", path, "--format", "c", "--type", "shp_list")
    assert r.returncode == 0, r.stderr
    assert "struct shp_list {" in r.stdout and "struct shp_all {" not in r.stdout
    r = corebpf("btf", "dump", path, "--json", "--type", "shp_bits")
    assert r.returncode == 0, r.stderr
    types = json.loads(r.stdout)["types"]
    assert types[0]["kind"] == "STRUCT" and types[0]["name"] == "shp_bits"
    assert any("bitfield_size" in m for m in types[0]["members"])
    out = tmp_path / "x.h"
    r = corebpf("btf", "dump", path, "--format", "c", "-o", str(out))
    assert r.returncode == 0 and out.read_text() == dump_c(BTF.from_file(path))


def test_cli_errors(tmp_path):
    r = corebpf("btf", "dump", str(tmp_path / "missing.o"))
    assert r.returncode == 1 and "missing.o" in r.stderr and "Traceback" not in r.stderr
    junk = tmp_path / "junk.btf"
    junk.write_bytes(b"not btf at all")
    r = corebpf("btf", "dump", str(junk), "--format", "c")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    r = corebpf("btf", "dump", str(shapes_obj()), "--type", "nope")
    assert r.returncode == 1 and "nope" in r.stderr


@pytest.mark.kernel
def test_cli_list_matches_bpftool():
    if not shutil.which("bpftool"):
        pytest.skip("bpftool not installed")
    r = corebpf("btf", "list", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    ours = {x["id"] for x in rows}
    ref = subprocess.run(["bpftool", "btf", "list", "-j"], capture_output=True, text=True,
                         check=True).stdout
    theirs = {x["id"] for x in json.loads(ref)}
    # objects come and go while other tests run: the long-lived ones must agree
    assert 1 in ours and len(ours & theirs) >= min(len(ours), len(theirs)) - 5
    vml = next(x for x in rows if x["id"] == 1)
    assert vml["kernel_btf"] and vml["name"] == "vmlinux"
    r = corebpf("btf", "list")
    assert r.returncode == 0 and r.stdout.startswith("1: name [vmlinux]")


@pytest.mark.parametrize("series", ["6.1", "6.12"])
def test_other_kernels_dump(series, tmp_path):
    """Debian's 6.1 and 6.12 kernel BTF: same header as bpftool, and it compiles with
    every struct at its BTF size."""
    from test_btf_core import kernel_btf

    path = kernel_btf(series)
    btf = BTF.from_file(path)
    text = dump_c(btf)
    if _bpftool_71():
        assert bpftool_equivalent(text) == bpftool_c(str(path))
    compile_c(tmp_path, text, "#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_core_read.h>\n"
              + layout_asserts(btf, members=False))


def test_mutated_btf_raises_only_btf_errors():
    """Random corruption of the type section: a header or a BTFError, never a Python
    error or a hang."""
    hyp = pytest.importorskip("hypothesis")
    st = hyp.strategies
    import struct as stc

    from corebpf.btf.cdump import dump_raw

    good = BTF.from_file(shapes_obj()).raw
    hl, to, tl, so, sl = stc.unpack_from("<IIIII", good, 4)
    nwords = tl // 4

    @hyp.settings(max_examples=300, deadline=None)
    @hyp.given(edits=st.lists(st.tuples(st.integers(0, nwords - 1),
                                        st.sampled_from([0, 1, 2, 3, 7, 0xffff, 1 << 31,
                                                         0x04000003, 0x08000000, 0x0c000001,
                                                         0xffffffff])),
                              min_size=1, max_size=4))
    def run(edits):
        data = bytearray(good)
        for i, v in edits:
            stc.pack_into("<I", data, hl + to + 4 * i, v)
        for fn in (dump_c, dump_raw):
            try:
                fn(bytes(data))
            except BTFError:
                pass

    run()
