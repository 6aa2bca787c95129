"""runqlat: how long runnable tasks wait for a CPU, as a log2 histogram (microseconds).

    python -m corebpf.tools.runqlat [-d SECONDS] [-i SECONDS] [--live] [--plot FILE] [--json]
"""
from __future__ import annotations

from ._common import run_main
from ._hist import hist_main


def main(argv: list[str] | None = None) -> int:
    return hist_main("runqlat", "Run-queue latency histogram (sched_wakeup -> sched_switch).",
                     "usecs", argv, what="run-queue latency")


if __name__ == "__main__":
    run_main(main)
