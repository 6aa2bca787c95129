"""corebpf.viz: text histograms (for `corebpf run` and the tools), rich views, plots."""
from __future__ import annotations

import importlib.util
import io

import pytest

from corebpf import viz
from corebpf.errors import Error


def test_log2_lines_layout():
    lines = viz.log2_histogram_lines([0, 3, 10, 40, 2, 0, 1], "usecs")
    assert lines[0].split() == ["usecs", ":", "count", "distribution"]
    # leading empty slots skipped; slot i covers [2**i, 2**(i+1)-1]
    assert lines[1].split()[:5] == ["2", "->", "3", ":", "3"]
    assert lines[3].split()[:5] == ["8", "->", "15", ":", "40"]
    assert lines[3].endswith("|" + "*" * 40 + "|")
    assert lines[5].split()[4] == "0" and lines[5].endswith("|" + " " * 40 + "|")
    assert lines[-1].split()[:3] == ["64", "->", "127"]
    # every bar has the same width
    assert len({len(ln) for ln in lines[1:]}) == 1


def test_log2_slot_zero_and_ranges():
    assert viz.log2_bucket_range(0) == (0, 1)
    assert viz.log2_bucket_range(1) == (2, 3)
    assert viz.log2_bucket_range(10) == (1024, 2047)
    lines = viz.log2_histogram_lines([5], "ns")
    assert lines[1].split()[:5] == ["0", "->", "1", ":", "5"]


def test_log2_inputs():
    assert viz.normalize_buckets({3: 2, 1: 1}) == [0, 1, 0, 2]
    assert viz.normalize_buckets([(2, 4)]) == [0, 0, 4]
    assert viz.normalize_buckets([[1, 2], [3, 4]]) == [3, 7]      # per-CPU values summed
    assert viz.normalize_buckets([1, 0, 0]) == [1]
    assert viz.log2_histogram_lines([], "x") == ["                 x : (no data)"]
    with pytest.raises(Error, match="slot"):
        viz.normalize_buckets({-1: 3})
    with pytest.raises(Error, match="not an integer"):
        viz.normalize_buckets({1: "many"})


def test_small_counts_get_a_star():
    lines = viz.log2_histogram_lines([1, 1000000], "x", width=20)
    assert "|*" in lines[1]


def test_top_table():
    lines = viz.top_table_lines([("a", 1), ("bb", 30), ("c", 7)], ["NAME", "N"], n=2)
    assert lines == ["NAME   N", "bb    30", "c      7"]


def test_rich_views():
    pytest.importorskip("rich")
    from rich.console import Console
    con = Console(file=io.StringIO(), width=100, color_system=None)
    con.print(viz.rich_histogram([0, 2, 8], "usecs", title="lat"))
    out = con.file.getvalue()
    assert "2 -> 3" in out and "4 -> 7" in out and "█" * 40 in out
    con = Console(file=io.StringIO(), width=100, color_system=None)
    con.print(viz.rich_top_table([("read", 5), ("write", 9)], ["SYSCALL", "COUNT"]))
    out = con.file.getvalue()
    assert out.index("write") < out.index("read")


def test_live_histogram_stops():
    pytest.importorskip("rich")
    from rich.console import Console
    calls = []

    def read():
        calls.append(1)
        return [0, len(calls)]
    con = Console(file=io.StringIO(), width=100, color_system=None)
    last = viz.live_histogram(read, "usecs", interval=0.05, duration=0.3, console=con)
    assert len(calls) >= 3 and last == [0, len(calls)]
    rows = viz.live_top(lambda: [("a", 1)], ["K", "V"], interval=0.05, duration=0.1,
                        console=con)
    assert rows == [("a", 1)]


def test_plot(tmp_path):
    path = tmp_path / "h.png"
    if importlib.util.find_spec("matplotlib") is None:
        with pytest.raises(viz.MissingExtra, match=r"corebpf\[plot\]"):
            viz.plot_histogram([1, 2, 3], str(path))
        return
    viz.plot_histogram([1, 2, 3], str(path), "usecs", title="t")
    assert path.read_bytes()[:4] == b"\x89PNG"
    svg = tmp_path / "s.svg"
    viz.plot_time_series({"a": [(0, 1), (1, 2)]}, str(svg))
    assert b"<svg" in svg.read_bytes()


def test_plot_bad_name(tmp_path):
    with pytest.raises(Error, match=r"\.png, \.svg"):
        viz.plot_histogram([1], str(tmp_path / "h.txt"))


def test_import_is_light():
    import subprocess
    import sys
    code = ("import sys, corebpf.viz; bad = {'rich', 'matplotlib', 'numpy'} & set(sys.modules);"
            "print(sorted(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip() == "[]"
