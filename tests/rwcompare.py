"""Shared by the real-world and modern differential tests (tests/test_realworld.py,
tests/test_modern.py): run an oracle built from tests/oracle_realworld/oracle.c (on any
libbpf), load the same object with corebpf in-process, and read both back as the kernel
holds them (programs and maps)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

BPFFS = Path("/sys/fs/bpf")


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


def differential(oracle: Path, path: Path, compare, *, libbpf_makes_link_struct_ops: bool = True,
                 usdt_helpers_may_differ: bool = False, usdt_lenient: list | None = None
                 ) -> tuple[dict, dict, dict, dict, list[str]]:
    """Load ``path`` with the oracle's libbpf, then with corebpf; compare every program
    libbpf loads (``compare`` from test_differential) and every map. Returns (libbpf's
    records, those it loaded, corebpf's records, corebpf's errors, problems).

    ``usdt_helpers_may_differ``: helper calls of SEC("usdt") programs are compared as such,
    not by address (see test_differential.usdt_programs). ``usdt_lenient``, a list, receives
    the problems that remain when they are (to tell that difference apart)."""
    from test_differential import usdt_programs
    usdt = usdt_programs(path)
    from corebpf import _sys
    _sys.mount_bpffs(str(BPFFS))
    pins = _NewPins(path)
    try:
        ref, ref_maps = run_oracle(oracle, "load", str(path))
    finally:
        pins.clean()
    loaded = {n: d for n, d in ref.items() if "error" not in d}
    pin_dir = BPFFS / f"corebpf-rw-{os.getpid()}"
    pin_dir.mkdir(exist_ok=True)
    try:
        got, got_maps, errors = corebpf_side(oracle, path, list(ref), pin_dir)
    finally:
        for p in pin_dir.iterdir():
            p.unlink()
        pin_dir.rmdir()
        pins.clean()

    problems: list[str] = []
    lenient: list[str] = []  # what remains with lenient helper calls in usdt programs
    for name, d in loaded.items():
        if name not in got or "error" in got[name]:
            problems.append(f"{name}: libbpf loads it, corebpf does not: "
                            f"{errors.get(name) or got.get(name, {}).get('error', 'not loaded')}")
            lenient.append(problems[-1])
            continue
        found = compare(name, d, got[name],
                        helper_calls_may_differ=usdt_helpers_may_differ and name in usdt)
        problems.extend(found)
        if found and name in usdt and not usdt_helpers_may_differ:
            found = compare(name, d, got[name], helper_calls_may_differ=True)
        lenient.extend(found)
    if loaded and ref_maps:
        a = sorted(map_key(m) for m in ref_maps)
        b = sorted(map_key(m) for m in got_maps)
        for m in sorted(set(a) - set(b)):
            problems.append(f"map {m[0]!r}: libbpf {m}, corebpf "
                            f"{[x for x in b if x[0] == m[0]] or 'none'}")
            lenient.append(problems[-1])
        for m in sorted(set(b) - set(a)):
            # libbpf 1.1 predates SEC(".struct_ops.link") (1.2): it makes no map for those
            if (not libbpf_makes_link_struct_ops and m[1] == STRUCT_OPS
                    and m[5] & BPF_F_LINK):
                continue
            if not any(x[0] == m[0] for x in a):
                problems.append(f"map {m[0]!r}: corebpf creates {m}, libbpf does not")
                lenient.append(problems[-1])
    if usdt_lenient is not None:
        usdt_lenient.extend(lenient)
    return ref, loaded, got, errors, problems


def record(summary: Path, key: str, ref: dict, loaded, got: dict, errors, problems) -> None:
    """Add one object's outcome of ``differential`` to the JSON summary file ``summary``
    (what libbpf loaded and refused, what corebpf loaded, the differences)."""
    try:
        data = json.loads(summary.read_text())
    except (OSError, ValueError):
        data = {}
    data[key] = {
        "programs": sorted(ref),
        "libbpf_loaded": sorted(loaded),
        "libbpf_refused": {n: d["error"] for n, d in ref.items() if "error" in d},
        "corebpf_loaded": sorted(n for n, d in got.items() if "error" not in d),
        "corebpf_errors": errors,
        "problems": problems,
    }
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps(data, indent=1, sort_keys=True))
