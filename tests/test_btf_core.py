"""CO-RE relocation engine (corebpf.btf.core) against libbpf 1.1 as the oracle.

Local programs (tests/progs/core_*.bpf.c) are compiled against types that differ from the
target; targets are BTF built from C files (tests/progs/core_targets/*.c) or the running
kernel's. The oracle (tests/oracle_core/core_oracle.c, linked with the system libbpf)
prints each program's instructions after libbpf relocated them; ours must be identical.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from corebpf.btf import BTF
from corebpf.btf import core
from corebpf.errors import CORERelocationError

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "tests" / ".build"
TARGETS = ROOT / "tests" / "progs" / "core_targets"
ORACLE_SRC = ROOT / "tests" / "oracle_core" / "core_oracle.c"


# ----------------------------------------------------------------------------- helpers

class Relo:
    __slots__ = ("insn_off", "type_id", "access_str", "kind")

    def __init__(self, insn_off: int, type_id: int, access_str: str, kind: int) -> None:
        self.insn_off, self.type_id, self.access_str, self.kind = insn_off, type_id, access_str, kind


def elf_sections(data: bytes) -> dict[str, tuple[int, int]]:
    """name -> (file offset, size) of every section of an ELF64 LE file."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)
    hdrs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    stroff = hdrs[shstrndx][4]
    out = {}
    for h in hdrs:
        s = stroff + h[0]
        out[data[s:data.index(b"\0", s)].decode()] = (h[4], h[5])
    return out


def core_relos(data: bytes, btf: BTF, kinds_at: list | None = None) -> dict[str, list[Relo]]:
    """CO-RE records of .BTF.ext per section (insn_off in instructions). If ``kinds_at``
    is a list, the file offset of each record's kind field is appended to it."""
    secs = elf_sections(data)
    off, _size = secs[".BTF.ext"]
    hdr_len, = struct.unpack_from("<I", data, off + 4)
    core_off, core_len = struct.unpack_from("<II", data, off + 24)
    p = off + hdr_len + core_off
    end = p + core_len
    rec_size, = struct.unpack_from("<I", data, p)
    p += 4
    out: dict[str, list[Relo]] = {}
    while p < end:
        sec_off, n = struct.unpack_from("<II", data, p)
        p += 8
        lst = out.setdefault(btf.string(sec_off), [])
        for _ in range(n):
            io, tid, ao, kind = struct.unpack_from("<IIII", data, p)
            if kinds_at is not None:
                kinds_at.append((p + 12, kind))
            lst.append(Relo(io // 8, tid, btf.string(ao), kind))
            p += rec_size
    return out


def section_insns(data: bytes, name: str) -> bytearray:
    off, size = elf_sections(data)[name]
    return bytearray(data[off:off + size])


def build_target(name: str) -> Path:
    src = TARGETS / f"{name}.c"
    out = BUILD / f"core_target_{name}.o"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        BUILD.mkdir(parents=True, exist_ok=True)
        subprocess.run(["clang", "-g", "-O2", "-target", "bpf", "-c", str(src), "-o", str(out)],
                       check=True)
    return out


@pytest.fixture(scope="session")
def oracle() -> Path:
    if not shutil.which("gcc") or not Path("/usr/include/bpf/libbpf.h").exists():
        pytest.skip("needs gcc and libbpf-dev for the oracle")
    out = BUILD / "core_oracle"
    if not out.exists() or out.stat().st_mtime < ORACLE_SRC.stat().st_mtime:
        BUILD.mkdir(parents=True, exist_ok=True)
        subprocess.run(["gcc", "-O1", "-o", str(out), str(ORACLE_SRC), "-lbpf"], check=True)
    return out


def run_oracle(oracle: Path, obj: Path, target: Path | None) -> tuple[dict[str, list[bytes]], int, str]:
    """libbpf's relocated instructions per section, its load result and its CO-RE log."""
    r = subprocess.run([str(oracle), str(obj), str(target) if target else "-"],
                       capture_output=True, text=True, timeout=60)
    progs: dict[str, list[bytes]] = {}
    cur: list[bytes] = []
    err = None
    log = []
    for ln in r.stdout.splitlines():
        if ln.startswith("PROG "):
            cur = progs.setdefault(ln.split()[2], [])
        elif ln.startswith("INSN "):
            cur.append(bytes.fromhex(ln[5:]))
        elif ln.startswith("LOAD "):
            err = int(ln.split()[1])
        elif ln.startswith("LOG "):
            log.append(ln[4:])
    assert err is not None, r.stdout + r.stderr
    return progs, err, "\n".join(log)


def relocate_object(data: bytes, target) -> dict[str, tuple[bytearray, list]]:
    local = BTF.from_bytes(data[slice(*_span(data, ".BTF"))])
    cache = core.CoreCache()
    out = {}
    for sec, relos in core_relos(data, local).items():
        insns = section_insns(data, sec)
        out[sec] = (insns, core.relocate(insns, relos, local, target, sec, cache))
    return out


def _span(data: bytes, name: str) -> tuple[int, int]:
    off, size = elf_sections(data)[name]
    return off, off + size


def assert_same_insns(mine: bytearray, libbpf: list[bytes], sec: str) -> None:
    n = len(mine) // 8
    assert len(libbpf) >= n, f"{sec}: libbpf has {len(libbpf)} insns, we have {n}"
    skip = False
    diffs = []
    for i in range(n):
        if skip:
            skip = False
            continue
        a, b = bytes(mine[i * 8:i * 8 + 8]), libbpf[i]
        if b[0] == 0x18 and b[1] >> 4:
            skip = True  # ld_imm64 of a map/global: the linker's business, not CO-RE's
            continue
        if b[0] == 0x85 and b[1] >> 4:
            continue     # subprogram / kfunc call: resolved by the linker
        if a != b:
            diffs.append(f"insn {i}: ours {a.hex()} libbpf {b.hex()}")
    assert not diffs, f"{sec}: " + "; ".join(diffs)


# ----------------------------------------------------------------------------- vs libbpf

@pytest.mark.kernel
def test_custom_target_matches_libbpf(bpf_prog, oracle):
    """Moved/resized/missing fields, bitfields, flavors, enums, type relos, vs libbpf."""
    obj = bpf_prog("core_fields")
    target = build_target("target_a")
    lib, _err, _log = run_oracle(oracle, obj, target)
    mine = relocate_object(obj.read_bytes(), BTF.from_file(target))
    assert set(mine) == {"raw_tp/sys_enter", "raw_tp/sys_exit", "raw_tp/sched_switch",
                         "raw_tp/sched_wakeup", "raw_tp/sched_process_exit"}
    for sec, (insns, _res) in mine.items():
        assert_same_insns(insns, lib[sec], sec)


def test_custom_target_results():
    """The values we compute, independent of the oracle (no kernel needed)."""
    obj = build_local("core_fields")
    target = BTF.from_file(build_target("target_a"))
    res = {sec: {r.spec + ":" + r.kind_name: r for r in rs}
           for sec, (_i, rs) in relocate_object(obj.read_bytes(), target).items()}
    reads = res["raw_tp/sys_enter"]
    assert (reads["corex_task.pid:byte_off"].orig, reads["corex_task.pid:byte_off"].new) == (0, 12)
    assert reads["corex_task.flags:byte_off"].new == 16         # moved into an anonymous struct
    assert reads["corex_task.inner.y:byte_off"].new == 40
    assert reads["corex_task.arr[2]:byte_off"].new == 56
    assert reads["corex_task.arr:byte_sz"].new == 32
    assert reads["corex_task.bf2:lshift_u64"].new == 54
    assert reads["corex_task.bf2:rshift_u64"].new == 55
    assert reads["corex_task.sbf:signed"].new == 1
    direct = res["raw_tp/sys_exit"]
    un = direct["corex_task.unarrow:byte_off"]
    assert (un.orig_size, un.new_size, un.poisoned) == (2, 4, False)
    narrow = direct["corex_task.narrow:byte_off"]
    assert narrow.poisoned and "resized" in narrow.reason
    ex = res["raw_tp/sched_switch"]
    gone = ex["corex_task.gone:byte_off"]
    assert gone.poisoned
    assert gone.message() == "`corex_task.gone`: no match in kernel BTF"
    assert ex["corex_task.gone:field_exists"].new == 0
    assert ex["corex_renamed.second:byte_off"].new == 4         # target flavor ___v2
    assert ex["corex_same.b:byte_off"].new == 4                 # two flavors that agree
    ty = res["raw_tp/sched_wakeup"]
    assert ty["struct corex_task:type_size"].new == target[target.find("corex_task")[0]].size
    assert reads["corex_task.small[5]:byte_off"].poisoned      # target array too short
    assert reads["corex_task.un.u_long:byte_off"].new == 112
    assert reads["corex_task.td[1][2].tv:byte_off"].new == 176  # 2-D array of typedefs
    assert reads["corex_task.td[1]:byte_sz"].new == 32
    assert ty["struct corex_missing:type_exists"].new == 0
    assert ty["struct corex_inner:target_type_id"].new == target.find("corex_inner")[0]
    en = res["raw_tp/sched_process_exit"]
    assert en["corex_state::COREX_B:enumval_value"].new == 20
    assert en["corex_state::COREX_GONE:enumval_exists"].new == 0
    assert en["corex_neg::COREX_NEG_M:enumval_value"].new == (-5) & (2**64 - 1)


def build_local(name: str) -> Path:
    from conftest import build_prog
    return build_prog(name)


@pytest.mark.kernel
def test_type_matches_matches_libbpf(bpf_prog, oracle, tmp_path):
    """TYPE_MATCHES (kind 12): clang 14 cannot emit it, so turn the object's TYPE_EXISTS
    records into TYPE_MATCHES ones and compare with libbpf."""
    data = bytearray(bpf_prog("core_fields").read_bytes())
    local = BTF.from_bytes(bytes(data[slice(*_span(bytes(data), ".BTF"))]))
    at: list = []
    core_relos(bytes(data), local, at)
    n = 0
    for off, kind in at:
        if kind == core.TYPE_EXISTS:
            struct.pack_into("<I", data, off, core.TYPE_MATCHES)
            n += 1
    assert n >= 5
    obj = tmp_path / "core_matches.bpf.o"
    obj.write_bytes(data)
    target = build_target("target_a")
    lib, _err, log = run_oracle(oracle, obj, target)
    mine = relocate_object(bytes(data), BTF.from_file(target))
    insns, res = mine["raw_tp/sched_wakeup"]
    assert_same_insns(insns, lib["raw_tp/sched_wakeup"], "raw_tp/sched_wakeup")
    got = {r.spec: r.new for r in res if r.kind == core.TYPE_MATCHES}
    assert got["struct corex_match"] == 1
    assert got["struct corex_match___bad"] == 0   # `a` is long locally, int in the target
    assert got["struct corex_missing"] == 0


@pytest.mark.kernel
def test_ambiguous_candidates_fail_like_libbpf(bpf_prog, oracle):
    obj = bpf_prog("core_ambig")
    target = build_target("target_ambig")
    _lib, err, log = run_oracle(oracle, obj, target)
    assert err != 0 and "ambiguity" in log
    with pytest.raises(CORERelocationError, match=r"corex_amb\.y.*ambiguity"):
        relocate_object(obj.read_bytes(), BTF.from_file(target))


@pytest.mark.kernel
def test_running_kernel_matches_libbpf(bpf_prog, oracle):
    """Against /sys/kernel/btf/vmlinux: task_struct flavors, kernel bitfields and enums."""
    obj = bpf_prog("core_kernel")
    lib, err, _log = run_oracle(oracle, obj, None)
    assert err == 0
    mine = relocate_object(obj.read_bytes(), BTF.kernel())
    insns, res = mine["raw_tp/sys_enter"]
    assert_same_insns(insns, lib["raw_tp/sys_enter"], "raw_tp/sys_enter")
    by = {r.spec + ":" + r.kind_name: r for r in res}
    assert by["task_struct___old.state:field_exists"].new == 0
    assert by["task_struct___new.__state:byte_off"].new > 0
    assert by["task_struct___new.no_such_field_here:byte_off"].poisoned
    kernel = BTF.kernel()
    assert by["struct task_struct:target_type_id"].new == kernel.find("task_struct", 4)[0]


# ----------------------------------------------------------------------------- unit level

def test_essential_name():
    en = core.essential_name
    assert en("task_struct___old") == "task_struct"
    assert en("task_struct___2___x") == "task_struct___2"
    assert en("task_struct") == "task_struct"
    assert en("___GFP_IO") == "___GFP_IO"         # no X before the separator
    assert en("a____b") == "a____b"                # four underscores: no X___Y
    assert en("foo___") == "foo___"


def _one_insn_relo(target, kind, access, type_id, insn: bytes):
    local = BTF.from_file(build_target("target_a"))
    buf = bytearray(insn)
    res = core.relocate(buf, [Relo(0, type_id, access, kind)], local, target, "sec")
    return buf, res


def test_bad_records_raise_in_c_terms():
    local = BTF.from_file(build_target("target_a"))
    tid = local.find("corex_task")[0]
    mov = bytes([0xb7, 0x01, 0, 0]) + struct.pack("<i", 12)   # r1 = 12
    with pytest.raises(CORERelocationError, match="access string"):
        core.relocate(bytearray(mov), [Relo(0, tid, "0:x", 0)], local, local, "s")
    with pytest.raises(CORERelocationError, match="out of range"):
        core.relocate(bytearray(mov), [Relo(0, tid, "0:99", 0)], local, local, "s")
    # the instruction does not hold what the local type says (pid is at 12, not 13)
    bad = bytes([0xb7, 0x01, 0, 0]) + struct.pack("<i", 13)
    with pytest.raises(CORERelocationError, match=r"corex_task\.pid.*unexpected"):
        core.relocate(bytearray(bad), [Relo(0, tid, "0:2", 0)], local, local, "s")
    # a register-source ALU instruction cannot carry a relocated value
    alux = bytes([0x0f, 0x21, 0, 0, 0, 0, 0, 0])
    with pytest.raises(CORERelocationError):
        core.relocate(bytearray(alux), [Relo(0, tid, "0:2", 0)], local, local, "s")


def test_ldimm64_and_poison_ldimm64():
    local = BTF.from_file(build_target("target_a"))
    eid = local.find("corex_state")[0]
    ld = bytes([0x18, 0x01, 0, 0]) + struct.pack("<i", 20) + bytes(8)   # r1 = 20 ll
    buf = bytearray(ld)
    res = core.relocate(buf, [Relo(0, eid, "0", core.ENUMVAL_VALUE)], local, local, "s")
    assert res[0].new == 20 and buf == ld
    other = BTF.from_file(build_target("target_ambig"))      # has no corex_state
    buf = bytearray(ld)
    res = core.relocate(buf, [Relo(0, eid, "0", core.ENUMVAL_VALUE)], local, other, "s")
    assert res[0].poisoned
    call = bytes([0x85, 0, 0, 0]) + struct.pack("<i", core.POISON_HELPER)
    assert bytes(buf) == call + call
    log = f"0: R1=ctx()\n0: (85) call unknown#{core.POISON_HELPER}\ninvalid func unknown#195896080\n"
    assert core.explain(res, log) == "`corex_state::COREX_B`: no match in kernel BTF"


def test_module_candidates_only_when_vmlinux_has_none():
    a = BTF.from_file(build_target("target_a"))
    b = BTF.from_file(build_target("target_ambig"))
    local = a
    amb = BTF.from_file(build_target("target_ambig"))
    tid = local.find("corex_task")[0]
    mov = bytes([0xb7, 0x01, 0, 0]) + struct.pack("<i", 12)
    # found in the first ("vmlinux"): the second is not consulted
    res = core.relocate(bytearray(mov), [Relo(0, tid, "0:2", 0)], local, [a, b], "s")
    assert res[0].new == 12 and res[0].target_type_id == tid
    # not in the first: candidates come from the "module"
    res = core.relocate(bytearray(mov), [Relo(0, tid, "0:2", 0)], local, [amb, a], "s")
    assert res[0].new == 12 and not res[0].poisoned


def test_cache_is_shared_and_pruned():
    target = BTF.from_file(build_target("target_a"))
    obj = build_local("core_fields").read_bytes()
    local = BTF.from_bytes(obj[slice(*_span(obj, ".BTF"))])
    cache = core.CoreCache()
    for sec, relos in core_relos(obj, local).items():
        core.relocate(section_insns(obj, sec), relos, local, target, sec, cache)
    assert any(len(v[1]) == 1 for v in cache._cands.values())


# ----------------------------------------------------------------------------- end to end

def test_records_from_btf_ext_module_agree():
    """corebpf.btf.ext (the loader's parser) yields the records our helper reads."""
    ext_mod = pytest.importorskip("corebpf.btf.ext")
    data = build_local("core_fields").read_bytes()
    local = BTF.from_bytes(data[slice(*_span(data, ".BTF"))])
    ext = ext_mod.parse_btf_ext(data[slice(*_span(data, ".BTF.ext"))], local)
    mine = core_relos(data, local)
    for sec, relos in mine.items():
        theirs = ext.core_relos[sec]
        assert [(r.insn_off, r.type_id, r.access_str, r.kind) for r in theirs] == \
            [(r.insn_off, r.type_id, r.access_str, r.kind) for r in relos]


@pytest.mark.kernel
def test_poisoned_load_names_the_relocation(bpf_prog, no_fd_leak):
    import corebpf
    from corebpf.errors import VerifierError

    with pytest.raises(VerifierError) as ei:
        corebpf.load(str(bpf_prog("core_poison")))
    assert "`task_struct___nope.no_such_member`: no match in kernel BTF" in str(ei.value)


@pytest.mark.kernel
def test_core_kernel_program_reads_right_values(bpf_prog, no_fd_leak):
    """The relocated program runs: values the kernel computes match the kernel's BTF."""
    import os
    import time

    import corebpf

    k = BTF.kernel()
    ts = k[k.find("task_struct", 4)[0]]
    with corebpf.load(str(bpf_prog("core_kernel"))) as obj:
        obj.attach_all()
        for _ in range(5):
            os.getppid()
            time.sleep(0.01)
        out = struct.unpack("<16Q", obj.maps[".bss"][0][:128])
    assert out[0] > 0 and out[1] >= 0                       # some task's tgid, its parent's
    assert out[5] == 27                                     # BPF_MAP_TYPE_RINGBUF
    assert out[6] == 0 and out[7] == 0                      # missing enumerator / type
    assert out[8] == ts.size
    assert out[9] == k.find("task_struct", 4)[0]
    assert out[10] == ts.member("pid").bit_offset // 8
    assert out[11] == 16
    assert bytes(struct.pack("<Q", out[12])).rstrip(b"\0")  # a comm was read


TOOL_OBJECTS = sorted((ROOT / "src" / "corebpf" / "tools").glob("*.bpf.o"))


@pytest.mark.kernel
@pytest.mark.parametrize("obj", TOOL_OBJECTS, ids=[p.name for p in TOOL_OBJECTS])
def test_tool_objects_match_libbpf(obj, oracle):
    """The shipped tools, relocated against this kernel: same instructions as libbpf."""
    data = obj.read_bytes()
    if ".BTF.ext" not in elf_sections(data):
        pytest.skip("no CO-RE records")
    lib, _err, _log = run_oracle(oracle, obj, None)
    for sec, (insns, _res) in relocate_object(data, BTF.kernel()).items():
        if sec in lib:
            assert_same_insns(insns, lib[sec], sec)


def test_random_records_raise_only_corebpf_errors():
    """Arbitrary access strings/kinds/instructions: a result or a corebpf error, never a
    Python one."""
    hyp = pytest.importorskip("hypothesis")
    st = hyp.strategies
    from corebpf.errors import Error

    local = BTF.from_file(build_target("target_a"))
    target = BTF.from_file(build_target("target_ambig"))
    ids = list(range(0, len(local) + 2))

    @hyp.settings(max_examples=300, deadline=None)
    @hyp.given(tid=st.sampled_from(ids), kind=st.integers(0, 14),
               access=st.one_of(st.lists(st.integers(0, 20), min_size=0, max_size=6).map(
                   lambda xs: ":".join(map(str, xs))), st.text(max_size=6)),
               insn=st.binary(min_size=8, max_size=16), off=st.integers(-1, 2))
    def run(tid, kind, access, insn, off):
        for tgt in (local, target):
            try:
                core.relocate(bytearray(insn), [Relo(off, tid, access, kind)], local, tgt, "s")
            except Error:
                pass

    run()


# ----------------------------------------------------------------------------- other kernels

KERNEL_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "corebpf" / "kernels"


def _elf_section_bytes(data: bytes, name: str) -> bytes | None:
    secs = elf_sections(data)
    if name not in secs:
        return None
    off, size = secs[name]
    return data[off:off + size]


def kernel_btf(series: str) -> Path:
    """The .BTF of a Debian kernel unpacked by corebpf.testing.vmrun (skip if absent):
    decompress the vmlinuz payload (xz or zstd) and cut the section out of the ELF."""
    out = BUILD / f"kernel-btf-{series}.raw"
    if out.exists():
        return out
    dirs = sorted(d for d in KERNEL_CACHE.glob(f"{series}-*") if (d / "vmlinuz").exists())
    if not dirs:
        pytest.skip(f"no Debian {series} kernel unpacked in {KERNEL_CACHE} "
                    "(python -m corebpf.testing.vmrun fetches them)")
    img = (dirs[-1] / "vmlinuz").read_bytes()
    elf = None
    i = img.find(b"\xfd7zXZ\x00")
    if i >= 0:
        import lzma
        try:
            elf = lzma.LZMADecompressor().decompress(img[i:])
        except lzma.LZMAError:
            elf = None
    if elf is None:
        i = img.find(b"\x28\xb5\x2f\xfd")
        if i >= 0 and shutil.which("zstd"):
            elf = subprocess.run(["zstd", "-dc"], input=img[i:], capture_output=True).stdout
    if not elf or elf[:4] != b"\x7fELF":
        pytest.skip(f"cannot decompress the {series} kernel image")
    btf = _elf_section_bytes(elf, ".BTF")
    if btf is None:
        pytest.skip(f"the {series} kernel has no .BTF")
    BUILD.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(btf)
    tmp.replace(out)
    return out


@pytest.mark.kernel
@pytest.mark.parametrize("series", ["6.1", "6.12"])
def test_other_kernels_match_libbpf(series, bpf_prog, oracle):
    """Objects built against this kernel's vmlinux.h, relocated for Debian's 6.1 and 6.12
    kernels (their task_struct and friends differ): same instructions as libbpf with
    btf_custom_path."""
    target_path = kernel_btf(series)
    target = BTF.from_file(target_path)
    objs = [bpf_prog("core_kernel"), *TOOL_OBJECTS]
    moved = 0
    for obj in objs:
        data = obj.read_bytes()
        if ".BTF.ext" not in elf_sections(data):
            continue
        lib, _err, _log = run_oracle(oracle, obj, target_path)
        for sec, (insns, res) in relocate_object(data, target).items():
            moved += sum(r.orig != r.new for r in res)
            if sec in lib:
                assert_same_insns(insns, lib[sec], f"{obj.name}:{sec}")
    assert moved > 0   # the layouts differ: some relocation must have changed a value


def test_flavor_table_agrees_with_per_name_search(monkeypatch):
    """After a few names, flavors come from a one-scan table; it must list what the per-name
    string search lists, in the same order."""
    strs = (b"\0___GFP_X\0foo___a\0foo___b___c\0xfoo___d\0foo\0foo___\0bar___1\0foo___e\0"
            b"a___b___c\0_x___y\0")
    names = ["foo", "foo___b", "xfoo", "bar", "a", "a___b", "_x", "nope", "___GFP_X", "GFP"]

    class Fake:
        def _strsection(self):
            return b"pad" + strs + b"\0tail___x\0", 3, 3 + len(strs)

    monkeypatch.setattr(core, "_FLAVOR_SCANS", 10 ** 6)
    per_name = {n: core._Target(Fake(), "t", 1).flavors(n) for n in names}
    monkeypatch.setattr(core, "_FLAVOR_SCANS", 0)
    t = core._Target(Fake(), "t", 1)
    assert {n: t.flavors(n) for n in names} == per_name
    assert per_name["foo"] == ["foo___a", "foo___e"] and per_name["foo___b"] == ["foo___b___c"]
    # the reader lists its own "___" strings (kept in the vmlinux index cache)
    from corebpf.btf.marshal import marshal_btf
    from corebpf.btf import types as T
    btf = BTF.from_bytes(marshal_btf([T.Int(1, "int", 4)], strings=strs))
    assert {n: core._Target(btf, "t", 1).flavors(n) for n in names} == per_name
    if os.path.exists("/sys/kernel/btf/vmlinux"):
        k = BTF.kernel()
        table = core._flavor_table(*k._strsection())

        class Scan:  # the kernel's string section without the reader's list
            def _strsection(self):
                return k._strsection()

        monkeypatch.setattr(core, "_FLAVOR_SCANS", 10 ** 6)
        slow, listed = core._Target(Scan(), "vmlinux", 1), core._Target(k, "vmlinux", 1)
        for ess in list(table)[:20] + ["task_struct", "sk_buff"]:
            assert table.get(ess, []) == slow.flavors(ess) == listed.flavors(ess), ess
