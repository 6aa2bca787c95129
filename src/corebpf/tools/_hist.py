"""Shared front end of the log2-histogram tools (runqlat, biolatency)."""
from __future__ import annotations

import json
import sys
import time
from typing import Any

import corebpf

from .. import viz
from ._common import ready, Deadline, hist_buckets, object_path, parser, sleep_until


def hist_main(tool: str, description: str, unit: str, argv: list[str] | None) -> int:
    p = parser(tool, description)
    p.add_argument("-i", "--interval", type=float, default=None, metavar="SECONDS",
                   help="print (and reset) the histogram every SECONDS")
    p.add_argument("--live", action="store_true", help="live terminal view (needs rich)")
    p.add_argument("--plot", metavar="FILE", help="save the final histogram as .png/.svg "
                   "(needs matplotlib: pip install 'corebpf[plot]')")
    args = p.parse_args(argv)
    total: list[int] = []

    def show(hist: Any, reset: bool) -> None:
        buckets = hist_buckets(hist)
        for i, c in enumerate(buckets):
            if i >= len(total):
                total.append(0)
            total[i] += c
        if reset:
            for k in range(len(buckets)):
                if buckets[k]:
                    hist[k] = 0
        if args.json:
            print(json.dumps({"time": time.time(), "unit": unit, "buckets": buckets}),
                  flush=True)
        else:
            print("\n".join(viz.log2_histogram_lines(buckets, unit)), flush=True)
            print(flush=True)

    with corebpf.load(object_path(tool)) as obj:
        obj.attach_all()
        ready(f"{tool} latency ({unit})")
        hist = obj.maps["hist"]
        deadline = Deadline(args.duration)
        if args.live:
            viz.live_histogram(lambda: hist_buckets(hist), unit, duration=args.duration,
                               title=tool)
            total[:] = hist_buckets(hist)
        elif args.interval:
            sleep_until(deadline, args.interval, lambda: show(hist, True))
            show(hist, True)
        else:
            sleep_until(deadline)
            show(hist, False)
    if args.plot:
        viz.plot_histogram(total, args.plot, unit, title=tool)
        print(f"saved {args.plot}", file=sys.stderr)
    return 0
