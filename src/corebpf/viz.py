"""Visual output: log2 histograms as text, live terminal views (rich) and plots (matplotlib).

The text renderer needs nothing but the standard library; ``rich`` and ``matplotlib`` are
imported only by the functions that use them, so ``import corebpf.viz`` stays cheap.

Log2 buckets follow the usual BPF-tool convention: slot 0 counts values 0..1, slot ``i``
(i >= 1) counts values in ``[2**i, 2**(i+1) - 1]`` — what ``bpf_log2l(v)`` style code in a
BPF program computes.
"""
from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Iterable, Mapping, Sequence

from .errors import Error

__all__ = [
    "log2_bucket_range", "normalize_buckets", "log2_histogram_lines", "top_table_lines",
    "print_log2_histogram", "live_histogram", "live_top", "rich_histogram",
    "rich_top_table", "check_plot", "plot_histogram", "plot_time_series", "MissingExtra",
]


class MissingExtra(Error):
    """An optional dependency (a pip extra of corebpf) is not installed."""

    def __init__(self, module: str, extra: str, what: str) -> None:
        self.module, self.extra = module, extra
        super().__init__(f"{what} needs the Python package {module!r}, which is not installed: "
                         f"pip install 'corebpf[{extra}]' (or pip install {module})")


def log2_bucket_range(slot: int) -> tuple[int, int]:
    """The inclusive value range ``(low, high)`` counted by log2 slot ``slot``."""
    if slot < 0:
        raise Error(f"log2 histogram: negative slot {slot}")
    high = (1 << (slot + 1)) - 1
    low = 0 if slot == 0 else 1 << slot
    return low, high


def normalize_buckets(buckets: Sequence[int] | Mapping[int, int] | Iterable[Any]) -> list[int]:
    """Turn a list of counts, a ``{slot: count}`` dict or ``(slot, count)`` pairs into a list.

    Trailing empty slots are dropped. Values may be ints or anything ``int()`` accepts
    (a per-CPU list is summed).
    """
    if hasattr(buckets, "items"):  # a mapping {slot: count}
        items = list(buckets.items())
    else:
        seq = list(buckets)
        if seq and all(isinstance(x, tuple) and len(x) == 2 for x in seq):
            items = seq
        else:
            items = list(enumerate(seq))
    out: list[int] = []
    for slot, count in items:
        try:
            slot = int(slot)
        except (TypeError, ValueError):
            raise Error(f"log2 histogram: slot {slot!r} is not an integer") from None
        if slot < 0 or slot > 127:
            raise Error(f"log2 histogram: slot {slot} out of range 0..127")
        if isinstance(count, (list, tuple)):  # per-CPU values
            count = sum(int(c) for c in count)
        else:
            try:
                count = int(count)
            except (TypeError, ValueError):
                raise Error(f"log2 histogram: count {count!r} of slot {slot} is not an "
                            "integer") from None
        if slot >= len(out):
            out.extend([0] * (slot + 1 - len(out)))
        out[slot] += count
    while out and out[-1] == 0:
        out.pop()
    return out


def log2_histogram_lines(buckets: Sequence[int] | Mapping[int, int], unit: str = "value",
                         width: int = 40) -> list[str]:
    """Render a log2 histogram as text lines, without any third-party package.

    ``buckets``: counts per log2 slot (list, or ``{slot: count}``). Returns lines like::

             usecs               : count    distribution
                 0 -> 1          : 0        |                                        |
                 2 -> 3          : 12       |****************************************|

    Leading empty slots are skipped; an empty histogram gives a single "(no data)" line.
    """
    counts = normalize_buckets(buckets)
    first = next((i for i, c in enumerate(counts) if c), None)
    if first is None:
        return [f"{unit:>18} : (no data)"]
    peak = max(counts)
    ranges = [log2_bucket_range(i) for i in range(first, len(counts))]
    lw = max(len(str(hi)) for _, hi in ranges)
    lw = max(lw, 10)
    cw = max(len(str(peak)), 8)
    head_label = f"{unit:>{lw}}"
    lines = [f"{head_label:<{2 * lw + 4}} : {'count':<{cw}} distribution"]
    for slot, (lo, hi) in zip(range(first, len(counts)), ranges):
        c = counts[slot]
        stars = (c * width + peak - 1) // peak if c else 0
        label = f"{lo:>{lw}} -> {hi:<{lw}}"
        lines.append(f"{label} : {c:<{cw}} |{'*' * stars:<{width}}|")
    return lines


def print_log2_histogram(buckets: Sequence[int] | Mapping[int, int], unit: str = "value",
                         file: Any = None) -> None:
    """Print :func:`log2_histogram_lines` to ``file`` (default stdout)."""
    out = file or sys.stdout
    for line in log2_histogram_lines(buckets, unit):
        print(line, file=out)


def top_table_lines(rows: Iterable[tuple[Any, ...]], headers: Sequence[str],
                    n: int = 10, sort_col: int = -1) -> list[str]:
    """A plain-text top-N table: ``rows`` sorted by column ``sort_col``, descending."""
    rows = sorted(rows, key=lambda r: r[sort_col], reverse=True)[:n]
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for k, r in enumerate(cells):
        parts = []
        for i, c in enumerate(r):
            # numbers right-aligned, text left-aligned, as people read tables
            num = bool(rows) and isinstance(rows[0][i], (int, float))
            parts.append(c.rjust(widths[i]) if num else c.ljust(widths[i]))
        lines.append("  ".join(parts).rstrip())
    return lines


# --- rich views -------------------------------------------------------------------------

def _rich() -> Any:
    try:
        import rich  # noqa: F401
        import rich.console
        import rich.live
        import rich.table
    except ImportError:
        raise MissingExtra("rich", "ui", "a live terminal view") from None
    return rich


def rich_histogram(buckets: Sequence[int] | Mapping[int, int], unit: str = "value",
                   title: str | None = None, width: int = 40) -> Any:
    """A ``rich.table.Table`` showing a log2 histogram as coloured bars."""
    _rich()
    from rich.table import Table
    from rich.text import Text

    counts = normalize_buckets(buckets)
    t = Table(title=title, show_edge=False, pad_edge=False)
    t.add_column(unit, justify="right")
    t.add_column("count", justify="right")
    t.add_column("distribution", justify="left", no_wrap=True)
    first = next((i for i, c in enumerate(counts) if c), None)
    if first is None:
        t.add_row("-", "0", Text("(no data)", style="dim"))
        return t
    peak = max(counts)
    for slot in range(first, len(counts)):
        lo, hi = log2_bucket_range(slot)
        c = counts[slot]
        n = (c * width + peak - 1) // peak if c else 0
        t.add_row(f"{lo} -> {hi}", str(c), Text("█" * n, style="green"))
    return t


def rich_top_table(rows: Iterable[tuple[Any, ...]], headers: Sequence[str], n: int = 10,
                   sort_col: int = -1, title: str | None = None) -> Any:
    """A ``rich.table.Table`` with the top ``n`` rows by column ``sort_col``."""
    _rich()
    from rich.table import Table

    rows = sorted(rows, key=lambda r: r[sort_col], reverse=True)[:n]
    t = Table(title=title)
    for i, h in enumerate(headers):
        num = bool(rows) and isinstance(rows[0][i], (int, float))
        t.add_column(str(h), justify="right" if num else "left")
    for r in rows:
        t.add_row(*[str(c) for c in r])
    return t


def live_histogram(read: Any, unit: str = "value", interval: float = 1.0,
                   duration: float | None = None, title: str | None = None,
                   console: Any = None) -> list[int]:
    """Redraw a log2 histogram every ``interval`` seconds; ``read()`` returns the buckets.

    Stops after ``duration`` seconds (or on Ctrl-C) and returns the last buckets.
    """
    import time

    _rich()
    from rich.live import Live

    end = None if duration is None else time.monotonic() + duration
    last = normalize_buckets(read())
    with Live(rich_histogram(last, unit, title), console=console, auto_refresh=False) as live:
        try:
            while end is None or time.monotonic() < end:
                wait = interval if end is None else max(0.0, min(interval, end - time.monotonic()))
                time.sleep(wait)
                last = normalize_buckets(read())
                live.update(rich_histogram(last, unit, title), refresh=True)
        except KeyboardInterrupt:
            pass
    return last


def live_top(read: Any, headers: Sequence[str], n: int = 10, interval: float = 1.0,
             duration: float | None = None, title: str | None = None,
             console: Any = None) -> list[tuple[Any, ...]]:
    """Redraw a top-N table every ``interval`` seconds; ``read()`` returns the rows."""
    import time

    _rich()
    from rich.live import Live

    end = None if duration is None else time.monotonic() + duration
    rows = list(read())
    with Live(rich_top_table(rows, headers, n, title=title), console=console,
              auto_refresh=False) as live:
        try:
            while end is None or time.monotonic() < end:
                wait = interval if end is None else max(0.0, min(interval, end - time.monotonic()))
                time.sleep(wait)
                rows = list(read())
                live.update(rich_top_table(rows, headers, n, title=title), refresh=True)
        except KeyboardInterrupt:
            pass
    return rows


# --- plots ------------------------------------------------------------------------------

def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra("matplotlib", "plot", "plotting (--plot)") from None
    matplotlib.use("Agg")  # files only: no display on servers
    import matplotlib.pyplot as plt
    return plt


def _check_plot_path(path: str) -> None:
    if not str(path).lower().endswith((".png", ".svg", ".pdf")):
        raise Error(f"--plot {path}: use a file name ending in .png, .svg or .pdf")


def check_plot(path: str) -> None:
    """Raise now (before a long trace) if ``path`` cannot be plotted: a bad extension or
    matplotlib missing."""
    _check_plot_path(path)
    import importlib.util
    if importlib.util.find_spec("matplotlib") is None:
        raise MissingExtra("matplotlib", "plot", "plotting (--plot)")


def plot_histogram(buckets: Sequence[int] | Mapping[int, int], path: str,
                   unit: str = "value", title: str | None = None) -> str:
    """Save a log2 histogram as a bar chart to ``path`` (.png/.svg/.pdf); returns path."""
    _check_plot_path(path)
    plt = _pyplot()
    counts = normalize_buckets(buckets)
    first = next((i for i, c in enumerate(counts) if c), 0)
    labels = ["{}-{}".format(*log2_bucket_range(i)) for i in range(first, len(counts))]
    fig, ax = plt.subplots(figsize=(8, 4))
    try:
        ax.bar(range(len(labels)), counts[first:], color="#3a7")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
        ax.set_xlabel(unit)
        ax.set_ylabel("count")
        if title:
            ax.set_title(title)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def plot_time_series(series: Mapping[str, Sequence[tuple[float, float]]], path: str,
                     ylabel: str = "value", title: str | None = None) -> str:
    """Save time series ``{name: [(t, value), ...]}`` as line plots to ``path``."""
    _check_plot_path(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    try:
        for name, pts in series.items():
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, label=str(name))
        ax.set_xlabel("seconds")
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
        if series:
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
