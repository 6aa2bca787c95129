"""CO-RE relocation engine (corebpf.btf.core) against libbpf 1.1 as the oracle.

Local programs (tests/progs/core_*.bpf.c) are compiled against types that differ from the
target; targets are BTF built from C files (tests/progs/core_targets/*.c) or the running
kernel's. The oracle (tests/oracle_core/core_oracle.c, linked with the system libbpf)
prints each program's instructions after libbpf relocated them; ours must be identical.
"""
from __future__ import annotations

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
    assert ty["struct corex_task:type_size"].new == 112
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
    assert any(len(v) == 1 for v in cache._cands.values())
