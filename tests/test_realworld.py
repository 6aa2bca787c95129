"""Differential test against libbpf on real-world objects compiled by others.

The corpus (tests/corpus.py) comes from Debian packages: BCC's libbpf-tools (CO-RE tools,
objects embedded in the binaries as skeletons, built against older kernel headers),
cilium/ebpf's test objects, xdp-tools/libxdp; plus the repository's own programs compiled
against Debian 6.1's vmlinux.h (``oldheaders-6.1/*``), so that relocations move, and a
curated set of the kernel's own BPF selftests from Debian's linux-source-6.1, compiled
against the same header (``selftests-6.1/*``).

For every object, libbpf 1.1 loads it (tests/oracle_realworld/oracle.c: engineer F's oracle
plus map dumps; all programs at once, else one at a time) and corebpf loads it in-process
(every program, continue_on_error); both are read back from the kernel by the same C code.
Every program libbpf loads must load with corebpf and the kernel must hold the same program
(type, translated instructions with map ids normalized, line and func info, maps used);
every map of the object must have the same definition (type, key/value size, max_entries,
flags, map_extra, BTF key/value type names). Maps that tools size at run time (max_entries
0, stack maps without a value size) get the same fixed size on both sides.

Programs libbpf cannot load on this kernel (fentry refused by lockdown, missing attach
targets ...) are recorded in tests/.build/realworld-summary.json but not compared.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, ROOT
from oracle_build import build_oracle
from test_differential import compare

import corpus

ORACLE_SRC = ROOT / "tests" / "oracle_realworld" / "oracle.c"
SHARED_ORACLE_SRC = ROOT / "tests" / "oracle" / "oracle.c"
SUMMARY = BUILD / "realworld-summary.json"
BPFFS = Path("/sys/fs/bpf")


def _corpus() -> tuple[dict[str, Path | str], str | None]:
    """{test id: object path, or why there is no object}, or the reason there is no corpus."""
    try:
        objs = corpus.objects()
        old = corpus.old_header_objects()
        old.update(corpus.selftest_objects())
    except corpus.CorpusError as e:
        return {}, str(e)
    short: dict[str, Path | str] = {}
    for key, path in objs.items():
        package, rest = key.split("/", 1)
        short[f"{package}/{rest.rsplit('/', 1)[-1]}"] = path
    short.update(old)
    return short, None


OBJECTS, CORPUS_ERROR = _corpus()


@pytest.fixture(scope="session")
def rw_oracle() -> Path:
    """The libbpf oracle with map dumps, compiled once per source change (of its own
    source or of tests/oracle/oracle.c, which it may #include)."""
    return build_oracle(ORACLE_SRC, "oracle-realworld", pytest.fail, [SHARED_ORACLE_SRC])


def run_oracle(oracle: Path, *args: str) -> tuple[dict[str, dict], list[dict]]:
    """Programs by name and the maps of the first successful load."""
    r = subprocess.run([str(oracle), *args], capture_output=True, text=True, timeout=300)
    progs: dict[str, dict] = {}
    groups: list[list[dict]] = []
    last_was_map = False
    for line in r.stdout.splitlines():
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        if "map" in d:
            if not last_was_map:
                groups.append([])
            groups[-1].append(d)
            last_was_map = True
            continue
        last_was_map = False
        # the first record of a program wins (a full load before one-by-one loads)
        if d["name"] not in progs or "error" in progs[d["name"]]:
            progs[d["name"]] = d
    return progs, (groups[0] if groups else [])


def map_key(d: dict) -> tuple:
    return (d["map"], d["type"], d["key_size"], d["value_size"], d["max_entries"], d["flags"],
            d["map_extra"], d["btf"], d["btf_vmlinux_value"], d["btf_key"], d["btf_value"])


class _NewPins:
    """Maps pinned by name (LIBBPF_PIN_BY_NAME) land in /sys/fs/bpf for both loaders:
    remove those created since the snapshot, so corebpf does not reuse libbpf's maps. Only
    names of the object's maps are touched (other tests may pin things meanwhile)."""

    def __init__(self, path: Path) -> None:
        self.before = set(os.listdir(BPFFS))
        try:
            from corebpf.spec import ObjectSpec
            self.names = {m.name for m in ObjectSpec.from_file(str(path)).maps.values()}
        except Exception:  # noqa: BLE001 - an object corebpf cannot read pins nothing
            self.names = set()

    def clean(self) -> None:
        for n in (set(os.listdir(BPFFS)) - self.before) & self.names:
            p = BPFFS / n
            if not p.is_dir():
                p.unlink()


# what tools set before load (see fixup_maps in the oracle): the same on both sides
FIXUP_ENTRIES = 64
FIXUP_STACK_VALUE = 127 * 8
PERF_EVENT_ARRAY, STACK_TRACE, STRUCT_OPS = 4, 7, 26
BPF_F_LINK = 1 << 13
# libbpf sizes perf event arrays itself; local storages must keep max_entries 0
NO_FIXUP = {PERF_EVENT_ARRAY, 24, 28, 29, 32}  # SK/INODE/TASK/CGRP_STORAGE


def fixups(spec) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name, m in spec.maps.items():
        if m.max_entries == 0 and m.type not in NO_FIXUP:
            out.setdefault(name, {})["max_entries"] = FIXUP_ENTRIES
        if m.type == STACK_TRACE and m.value_size == 0:
            out.setdefault(name, {})["value_size"] = FIXUP_STACK_VALUE
    return out


def corebpf_side(oracle: Path, path: Path, names: list[str],
                 pin_dir: Path) -> tuple[dict[str, dict], list[dict], dict[str, str]]:
    """Load with corebpf in-process, pin programs and maps, read them back with the oracle."""
    import corebpf

    errors: dict[str, str] = {}
    progs: dict[str, dict] = {}
    maps: list[dict] = []
    try:
        spec = corebpf.open_object(str(path))
        # every program, SEC("?...") ones too: the oracle loads those one by one
        obj = corebpf.load(spec, maps=fixups(spec), programs=list(spec.programs),
                           continue_on_error=True)
    except Exception as e:  # noqa: BLE001 - reported per program below
        return {}, [], {n: f"{type(e).__name__}: {e}" for n in names}
    with obj:
        for n, err in obj.errors.items():
            errors[n] = f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
        pins = []
        for n, prog in obj.programs.items():
            p = pin_dir / n
            prog.pin(str(p))
            pins.append(str(p))
        mpins = []
        for i, m in enumerate(obj.maps.values()):
            p = pin_dir / f"map_{i}"  # bpffs refuses dots in names
            m.pin(str(p))
            mpins.append(str(p))
        if pins:
            progs, _ = run_oracle(oracle, "pinned", *pins)
        if mpins:
            r = subprocess.run([str(oracle), "pinned-maps", *mpins], capture_output=True,
                               text=True, timeout=60)
            maps = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
    return progs, maps, errors


def _record(key: str, entry: dict) -> None:
    try:
        data = json.loads(SUMMARY.read_text())
    except (OSError, ValueError):
        data = {}
    data[key] = entry
    SUMMARY.write_text(json.dumps(data, indent=1, sort_keys=True))


@pytest.mark.kernel
@pytest.mark.parametrize("key", sorted(OBJECTS) or ["corpus-unavailable"])
def test_realworld_same_as_libbpf(key: str, rw_oracle: Path, tmp_path: Path) -> None:
    if CORPUS_ERROR:
        pytest.fail(f"real-world corpus unavailable: {CORPUS_ERROR}")
    path = OBJECTS[key]
    if isinstance(path, str):
        pytest.skip(f"{key}: {path}")
    from corebpf import _sys
    _sys.mount_bpffs(str(BPFFS))
    pins = _NewPins(path)
    try:
        ref, ref_maps = run_oracle(rw_oracle, "load", str(path))
    finally:
        pins.clean()
    loaded = {n: d for n, d in ref.items() if "error" not in d}
    pin_dir = BPFFS / f"corebpf-rw-{os.getpid()}"
    pin_dir.mkdir(exist_ok=True)
    try:
        got, got_maps, errors = corebpf_side(rw_oracle, path, list(ref), pin_dir)
    finally:
        for p in pin_dir.iterdir():
            p.unlink()
        pin_dir.rmdir()
        pins.clean()

    problems = []
    for name, d in loaded.items():
        if name not in got or "error" in got[name]:
            problems.append(f"{name}: libbpf loads it, corebpf does not: "
                            f"{errors.get(name) or got.get(name, {}).get('error', 'not loaded')}")
            continue
        problems.extend(compare(name, d, got[name]))
    if loaded and ref_maps:
        a = sorted(map_key(m) for m in ref_maps)
        b = sorted(map_key(m) for m in got_maps)
        for m in sorted(set(a) - set(b)):
            problems.append(f"map {m[0]!r}: libbpf {m}, corebpf "
                            f"{[x for x in b if x[0] == m[0]] or 'none'}")
        for m in sorted(set(b) - set(a)):
            # libbpf 1.1 predates SEC(".struct_ops.link") (1.2): it makes no map for those
            if m[1] == STRUCT_OPS and m[5] & BPF_F_LINK:
                continue
            if not any(x[0] == m[0] for x in a):
                problems.append(f"map {m[0]!r}: corebpf creates {m}, libbpf does not")
    _record(key, {
        "programs": sorted(ref),
        "libbpf_loaded": sorted(loaded),
        "libbpf_refused": {n: d["error"] for n, d in ref.items() if "error" in d},
        "corebpf_loaded": sorted(n for n, d in got.items() if "error" not in d),
        "corebpf_errors": errors,
        "problems": problems,
    })
    assert not problems, "\n".join(problems)
    if not loaded:
        pytest.skip(f"libbpf loads no program of {key} on this kernel: "
                    + "; ".join(f"{n}: {d['error']}" for n, d in ref.items())[:500])


def test_embedded_objects_are_cut_whole(tmp_path: Path) -> None:
    """The skeleton extractor finds an EM_BPF object inside a larger file and cuts it at
    the end of its section header table (what libbpf-tools binaries hold)."""
    from corebpf.spec import ObjectSpec
    real = next((p for p in OBJECTS.values() if isinstance(p, Path)), None)
    if real is None:
        pytest.fail(f"real-world corpus unavailable: {CORPUS_ERROR}")
    blob = real.read_bytes()
    host = b"\x7fELF" + b"\0" * 60 + b"junk" * 100 + blob + b"\x7fELF trailing" + b"\0" * 99
    found = corpus.embedded_elves(host)
    assert found == [blob]
    out = tmp_path / "x.bpf.o"
    out.write_bytes(found[0])
    assert ObjectSpec.from_file(str(out)).programs


def test_map_comparison_spots_differences() -> None:
    """A map whose definition differs in any compared field is reported."""
    base = {"map": "m", "type": 1, "key_size": 4, "value_size": 8, "max_entries": 16,
            "flags": 0, "map_extra": 0, "btf": 1, "btf_vmlinux_value": 0,
            "btf_key": "8:u32", "btf_value": "8:u64"}
    assert map_key(base) == map_key(dict(base))
    for field, value in (("max_entries", 32), ("flags", 1), ("btf_value", "8:u32"),
                         ("value_size", 4), ("map_extra", 5)):
        assert map_key(base) != map_key(dict(base, **{field: value})), field
