"""biolatency: block I/O latency (issue to completion) as a log2 histogram (microseconds).

    python -m corebpf.tools.biolatency [-d SECONDS] [-i SECONDS] [--live] [--plot FILE] [--json]
"""
from __future__ import annotations

from ._common import run_main
from ._hist import hist_main


def main(argv: list[str] | None = None) -> int:
    return hist_main("biolatency", "Block I/O latency histogram (block_rq_issue -> "
                     "block_rq_complete).", "usecs", argv, what="block I/O latency")


if __name__ == "__main__":
    run_main(main)
