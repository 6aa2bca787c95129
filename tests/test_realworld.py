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

from pathlib import Path

import pytest

from conftest import BUILD, ROOT
from oracle_build import build_oracle
from test_differential import compare
from rwcompare import differential, map_key, record

import corpus

ORACLE_SRC = ROOT / "tests" / "oracle_realworld" / "oracle.c"
SHARED_ORACLE_SRC = ROOT / "tests" / "oracle" / "oracle.c"
SUMMARY = BUILD / "realworld-summary.json"


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


@pytest.mark.kernel
@pytest.mark.parametrize("key", sorted(OBJECTS) or ["corpus-unavailable"])
def test_realworld_same_as_libbpf(key: str, rw_oracle: Path, tmp_path: Path) -> None:
    if CORPUS_ERROR:
        pytest.fail(f"real-world corpus unavailable: {CORPUS_ERROR}")
    path = OBJECTS[key]
    if isinstance(path, str):
        pytest.skip(f"{key}: {path}")
    ref, loaded, got, errors, problems = differential(rw_oracle, path, compare,
                                                      libbpf_makes_link_struct_ops=False,
                                                      usdt_helpers_may_differ=True)
    record(SUMMARY, key, ref, loaded, got, errors, problems)
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
