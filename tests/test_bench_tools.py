"""bench/run_all.py: parsing of the benchmarks' result lines and the target checks (no
benchmark is run here: they take minutes and need the whole machine)."""
from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import run_all  # noqa: E402


def one(line: str, bench: str) -> dict:
    rows = run_all.parse(line, bench)
    assert len(rows) == 1, rows
    return rows[0]


def test_parse_reference_ratio_and_rest():
    r = one("run --duration 0 [hook_run, whole process, best of 5, wall]: corebpf 165.0 ms, "
            "reference 84.5 ms (libbpf 1.1 C), ratio 1.95 (target <= 1.5; medians 1 / 2 ms)",
            "startup")
    assert r["name"] == "run --duration 0 [hook_run, whole process, best of 5, wall]"
    assert r["ours"] == "165.0 ms"
    assert r["ref"] == "reference 84.5 ms (libbpf 1.1 C)"
    assert r["ratio"] == "1.95"
    assert r["rest"].startswith("(target <= 1.5")
    assert run_all.target_of(r) == ("ratio <= 1.5", "**NO**")


def test_parse_without_ratio_and_other_lines():
    r = one("mmap_read: corebpf 15,382,785 ops/s, libbpf n/a", "maps")
    assert (r["ours"], r["ref"], r["ratio"]) == ("15,382,785 ops/s", "libbpf n/a", "n/a")
    assert run_all.target_of(r) == (">= 1 M ops/s", "yes")
    assert run_all.parse("# of which: first find() 3 ms\n  corebpf in-process: x\n", "btf") == []


def test_targets():
    def check(line: str, bench: str) -> tuple[str, str]:
        return run_all.target_of(one(line, bench))

    assert check("import corebpf [best of 30, wall]: corebpf 26.5 ms, reference 17.5 ms "
                 "(bare interpreter), ratio 1.52; cost 9.0 ms (target: cost <= 15 ms)",
                 "startup") == ("cost <= 15 ms", "yes")
    assert check("import corebpf (best of 30): corebpf 44.7 ms, reference 61.8 ms (bare "
                 "interpreter), ratio 0.72 (cost -17.1 ms, target <= 15 ms)",
                 "load") == ("cost <= 15 ms", "yes")
    assert check("vmlinux index (in process): corebpf 26.0 ms, reference 21.6 ms, ratio 1.2",
                 "btf") == ("<= 25 ms", "**NO**")
    assert check("core_relocate[tcplife, 14 relos, whole process]: corebpf 193.2 ms, "
                 "reference 111.6 ms, ratio 1.73", "core") == ("ratio <= 2", "yes")
    assert check("btf_dump_c[vmlinux, whole process]: corebpf 2792 ms, reference 1307 ms, "
                 "ratio 2.14", "btf_dump") == ("ratio <= 10", "yes")
    assert check("run --duration 0 [hook_run, peak RSS]: corebpf 17.8 MB, reference 13.2 MB "
                 "(libbpf 1.1 C), ratio 1.35", "startup") == ("corebpf <= 40 MB", "yes")
    assert check("ringbuf callbacks: corebpf 4.6 M records/s, libbpf 66.4 M records/s, "
                 "ratio 0.06", "ringbuf") == (">= 3 M records/s", "yes")
    assert check("ringbuf bulk numpy copy: corebpf 50.6 M records/s, libbpf 66.4 M "
                 "records/s, ratio 0.84", "ringbuf")[1] == "**NO**"
    assert check("update: corebpf 366,410 ops/s, libbpf 845,347 ops/s, ratio 0.43",
                 "maps") == (">= 1 M ops/s", "**NO**")


def test_write_table(tmp_path):
    out = "update: corebpf 1,200,000 ops/s, libbpf 2,000,000 ops/s, ratio 0.60\n"
    rows = run_all.parse(out, "maps")
    path = tmp_path / "RESULTS.md"
    run_all.write(path, "2026-01-01 00:00", "before", "after",
                  [("maps", 0, out, "", 1.0, rows),
                   ("broken", 2, "", "Traceback\nBoom", 1.0, [])])
    text = path.read_text()
    assert ("| maps | update | 1,200,000 ops/s | libbpf 2,000,000 ops/s | 0.60 | "
            ">= 1 M ops/s | yes |") in text
    assert "### broken (exit 2)" in text and "Boom" in text
