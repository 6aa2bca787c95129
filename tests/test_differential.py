"""Differential tests against libbpf (the project's key acceptance test).

For every object in tests/progs (all areas' programs) and every prebuilt object of the
ready-made tools (src/corebpf/tools/*.bpf.o), each program that libbpf 1.1 loads
(tests/oracle/oracle.c, one program at a time) must also load with ``corebpf load``, and the
kernel must hold the same program for both: program type, translated instructions, BTF line
info and func info. Both sides are read back through the same C code (the oracle dumps
libbpf's programs directly and ours through their pins), so only the loaders differ.

Map references in translated instructions carry map ids; they are compared through the map
they point to (name, type, key/value size, max_entries, flags). Addresses of per-load kernel
objects the verifier inlines (prog->aux for timer callbacks) are compared as such.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BUILD, PROGS, ROOT, build_prog

ORACLE_SRC = ROOT / "tests" / "oracle" / "oracle.c"
# modern_*.bpf.c need clang ≥ 18 and libbpf ≥ 1.4 headers: tests/test_modern.py has them
ALL_PROGS = sorted(p.name[:-len(".bpf.c")] for p in PROGS.glob("*.bpf.c")
                   if not p.name.startswith("modern_"))
# the prebuilt objects shipped with the ready-made tools: real-world CO-RE programs
# objects that include libbpf headers needing the multiarch include dir (usdt.bpf.h)
EXTRA_FLAGS = {"hook_usdt": ("-idirafter", "/usr/include/x86_64-linux-gnu")}
TOOL_OBJECTS = sorted(p.name for p in (ROOT / "src" / "corebpf" / "tools").glob("*.bpf.o"))


@pytest.fixture(scope="session")
def oracle() -> Path:
    """The libbpf oracle, compiled once per source change (gcc -lbpf)."""
    if not shutil.which("gcc") or not Path("/usr/include/bpf/libbpf.h").exists():
        pytest.skip("needs gcc and libbpf-dev to build the libbpf oracle")
    BUILD.mkdir(parents=True, exist_ok=True)
    out = BUILD / "oracle"
    if not out.exists() or out.stat().st_mtime < ORACLE_SRC.stat().st_mtime:
        tmp = BUILD / "oracle.tmp"
        subprocess.run(["gcc", "-O1", "-Wall", "-o", str(tmp), str(ORACLE_SRC), "-lbpf"],
                       check=True)
        tmp.replace(out)
    return out


def run_oracle(oracle: Path, *args: str) -> dict[str, dict]:
    r = subprocess.run([str(oracle), *args], capture_output=True, text=True, timeout=300)
    out = {}
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            out[d["name"]] = d
    return out


# x86-64 direct map, vmalloc and vmemmap, with 4-level (from 0xffff888000000000) or 5-level
# paging (from 0xff11000000000000, e.g. qemu -cpu max): addresses of objects allocated per
# load; kernel text and modules (from 0xffffffff80000000) are compared as they are
_KHEAP_LO, _KHEAP_HI = 0xFF00000000000000, 0xFFFFFFFF80000000


def _maps_key(m: list) -> tuple:
    name, mtype, ks, vs, me, flags = m
    return (name, mtype, ks, vs, me, flags)


# libbpf ≥ 1.5 loads SEC("usdt") programs as uprobe_multi programs (expected attach type
# BPF_TRACE_UPROBE_MULTI) where the kernel has uprobe_multi links, libbpf 1.1 as plain
# kprobes: the kernel then inlines another implementation of bpf_get_attach_cookie, so the
# translated helper calls differ by address. For those programs only, compare() is told to
# compare helper calls as "a helper call" (tests/test_modern.py keeps the strict comparison
# against libbpf 1.5).
def usdt_programs(obj: Path) -> set[str]:
    from corebpf.object import open_object
    try:
        return {n for n, p in open_object(obj).programs.items()
                if p.section.split("/", 1)[0] in ("usdt", "usdt.s")}
    except Exception:  # noqa: BLE001 - an object corebpf cannot open is reported elsewhere
        return set()


def normalize(prog: dict, helper_calls_may_differ: bool = False) -> list[tuple]:
    """Translated instructions with map ids replaced by the map's identity."""
    raw = bytes.fromhex(prog["insns"])
    maps = {int(k): _maps_key(v) for k, v in prog["maps"].items()}
    out: list[tuple] = []
    i = 0
    n = len(raw) // 8
    while i < n:
        code, regs, off, imm = struct.unpack_from("<BBhi", raw, i * 8)
        src = regs >> 4
        if code == 0x18 and i + 1 < n:
            _, _, _, imm2 = struct.unpack_from("<BBhi", raw, i * 8 + 8)
            value = (imm & 0xFFFFFFFF) | ((imm2 & 0xFFFFFFFF) << 32)
            if src in (1, 2) and imm in maps:  # PSEUDO_MAP_FD / PSEUDO_MAP_VALUE: map id
                out.append((i, code, regs, off, ("map", maps[imm]), imm2))
            elif src == 0 and _KHEAP_LO <= value < _KHEAP_HI:
                # a per-load kernel object the verifier inlines (e.g. prog->aux as the
                # hidden argument of bpf_timer_set_callback): differs between any two loads
                out.append((i, code, regs, off, "kernel heap address"))
            else:
                out.append((i, code, regs, off, imm, imm2))
            i += 2
            continue
        if helper_calls_may_differ and code == 0x85 and src == 0:
            out.append((i, code, regs, off, "helper call"))
        else:
            out.append((i, code, regs, off, imm))
        i += 1
    return out


def _first_diff(a: list, b: list) -> str:
    for x, y in zip(a, b):
        if x != y:
            return f"libbpf {x} vs corebpf {y}"
    return f"lengths {len(a)} vs {len(b)}"


def compare(name: str, ref: dict, got: dict, *, helper_calls_may_differ: bool = False
            ) -> list[str]:
    problems = []
    if ref["type"] != got["type"]:
        problems.append(f"{name}: program type {ref['type']} (libbpf) vs {got['type']}")
    for key in ("attach_btf_id", "gpl"):
        if ref.get(key) != got.get(key):
            problems.append(f"{name}: {key} {ref.get(key)} (libbpf) vs {got.get(key)}")
    if ref["kname"] != got["kname"]:
        problems.append(f"{name}: kernel name {ref['kname']!r} vs {got['kname']!r}")
    a = normalize(ref, helper_calls_may_differ)
    b = normalize(got, helper_calls_may_differ)
    if a != b:
        problems.append(f"{name}: translated instructions differ ({len(a)} vs {len(b)} "
                        f"insns); first difference: {_first_diff(a, b)}")
    ma = sorted(_maps_key(v) for v in ref["maps"].values())
    mb = sorted(_maps_key(v) for v in got["maps"].values())
    if ma != mb:
        problems.append(f"{name}: maps used {ma} vs {mb}")
    if ref["line_info"] != got["line_info"]:
        problems.append(f"{name}: line info differs: {len(ref['line_info'])} vs "
                        f"{len(got['line_info'])} records; first difference: "
                        f"{_first_diff(ref['line_info'], got['line_info'])}")
    if ref["func_info"] != got["func_info"]:
        problems.append(f"{name}: func info {ref['func_info']} vs {got['func_info']}")
    return problems


@pytest.fixture
def pin_dir():
    from corebpf import _sys
    _sys.mount_bpffs("/sys/fs/bpf")
    d = Path(f"/sys/fs/bpf/corebpf-diff-{os.getpid()}")
    d.mkdir(exist_ok=True)
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


def corebpf_load(obj: Path, pin_dir: Path) -> tuple[int, str]:
    r = subprocess.run([sys.executable, "-m", "corebpf", "load", str(obj), "--pin-dir",
                        str(pin_dir)], capture_output=True, text=True, timeout=300,
                       cwd=str(ROOT))
    return r.returncode, r.stdout + r.stderr


@pytest.fixture
def by_name_pins():
    """Maps pinned by name (LIBBPF_PIN_BY_NAME) land in /sys/fs/bpf for both loaders:
    remove those the test created. Only the pins of the objects' own pinned maps: other
    engineers' tests pin in /sys/fs/bpf at the same time, and removing every new entry
    pulled their pins away under them."""
    from corebpf.object import open_object
    root = Path("/sys/fs/bpf")
    before = set(os.listdir(root))
    objects: list[Path] = []
    yield objects
    names = set()
    for obj in objects:
        try:
            spec = open_object(obj)
        except Exception:
            continue
        names.update(n for n, m in spec.maps.items() if m.pinning == 1)
    for n in names - before:
        p = root / n
        if p.exists() and not p.is_dir():
            p.unlink()


@pytest.mark.kernel
@pytest.mark.parametrize("prog", ALL_PROGS + [f"tools/{t}" for t in TOOL_OBJECTS])
def test_same_as_libbpf(prog: str, oracle: Path, pin_dir: Path, by_name_pins) -> None:
    if prog.startswith("tools/"):
        obj = ROOT / "src" / "corebpf" / prog
    else:
        try:
            obj = build_prog(prog, EXTRA_FLAGS.get(prog, ()))
        except subprocess.CalledProcessError as e:
            pytest.skip(f"tests/progs/{prog}.bpf.c does not compile: {e}")
    by_name_pins.append(obj)
    ref = run_oracle(oracle, "load", str(obj))
    loaded_by_libbpf = {n: d for n, d in ref.items() if "error" not in d}
    if not ref:
        pytest.skip(f"libbpf cannot open {prog}: no programs")
    _rc, output = corebpf_load(obj, pin_dir)
    pins = sorted(str(p) for p in pin_dir.iterdir())
    got = run_oracle(oracle, "pinned", *pins) if pins else {}
    problems = []
    usdt = usdt_programs(obj)
    for name, d in loaded_by_libbpf.items():
        if name not in got or "error" in got[name]:
            line = next((ln for ln in output.splitlines() if ln.startswith(name + ":")),
                        output.strip()[-400:])
            problems.append(f"{name}: libbpf loads it, corebpf does not: {line}")
            continue
        problems.extend(compare(name, d, got[name], helper_calls_may_differ=name in usdt))
    assert not problems, "\n".join(problems)
    if not loaded_by_libbpf:
        pytest.skip(f"libbpf loads no program of {prog} on this kernel: "
                    + "; ".join(f"{n}: {d['error']}" for n, d in ref.items()))


@pytest.mark.kernel
@pytest.mark.parametrize("prog", ["load_basic", "load_callbacks", "load_core"])
def test_oracle_agrees_with_itself(prog: str, oracle: Path, by_name_pins) -> None:
    """Two libbpf loads of one object compare equal: the normalization hides only what
    differs between any two loads (map ids, per-load kernel addresses)."""
    obj = build_prog(prog)
    by_name_pins.append(obj)
    a = run_oracle(oracle, "load", str(obj))
    b = run_oracle(oracle, "load", str(obj))
    assert a and set(a) == set(b)
    problems = [p for n in a if "error" not in a[n] for p in compare(n, a[n], b[n])]
    assert not problems, "\n".join(problems)


def test_normalize_spots_differences() -> None:
    """The comparison is not blind: one changed instruction or line record is reported."""
    base = {"name": "p", "kname": "p", "type": 6, "attach_btf_id": 0, "gpl": 1,
            "insns": "b7000000020000009500000000000000", "maps": {},
            "line_info": [[0, "f.c", 3, 2, "return 2;"]], "func_info": [[0, "p"]]}
    assert compare("p", base, dict(base)) == []
    other = dict(base, insns="b7000000010000009500000000000000")
    assert "translated instructions differ" in compare("p", base, other)[0]
    other = dict(base, line_info=[[0, "f.c", 4, 2, "return 2;"]])
    assert "line info differs" in compare("p", base, other)[0]
    other = dict(base, type=5)
    assert "program type" in compare("p", base, other)[0]
