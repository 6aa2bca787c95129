"""Shared front end of the log2-histogram tools (runqlat, biolatency)."""
from __future__ import annotations

import json
import sys
import time
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

import corebpf

from .. import viz
from ._common import ready, Deadline, hist_buckets, object_path, parser, sleep_until


def load_flavour(path: Any, hook: str = "auto") -> Any:
    """Load and attach the tp_btf programs of ``path`` or their raw_tp twins.

    tp_btf gives typed arguments but needs BTF-enabled tracing (Linux 5.5+, and some
    lockdown configurations refuse it); raw tracepoints work everywhere. With ``auto`` the
    choice is made at load time: tp_btf first, raw_tp if that fails.
    """
    import contextlib

    spec = corebpf.ObjectSpec.from_file(str(path))
    sets = {f: [n for n, p in spec.programs.items() if p.section.startswith(f + "/")]
            for f in ("tp_btf", "raw_tp")}
    order = ["tp_btf", "raw_tp"] if hook == "auto" else [hook]

    @contextlib.contextmanager
    def cm() -> Any:
        err: Exception | None = None
        for flavour in order:
            try:
                obj = corebpf.load(spec, programs=sets[flavour])
            except corebpf.Error as e:
                err = e
                continue
            try:
                obj.attach_all()
            except corebpf.Error as e:
                obj.close()
                err = e
                continue
            with obj:
                yield obj, flavour
            return
        assert err is not None
        raise err
    return cm()


def hist_main(tool: str, description: str, unit: str, argv: list[str] | None,
              what: str = "latency") -> int:
    p = parser(tool, description)
    p.add_argument("-i", "--interval", type=float, default=None, metavar="SECONDS",
                   help="print (and reset) the histogram every SECONDS")
    p.add_argument("--live", action="store_true", help="live terminal view (needs rich)")
    p.add_argument("--plot", metavar="FILE", help="save the final histogram as .png/.svg "
                   "(needs matplotlib: pip install 'corebpf[plot]')")
    p.add_argument("--hook", choices=("auto", "tp_btf", "raw_tp"), default="auto",
                   help="tracepoint flavour: tp_btf (typed), raw_tp, or auto (tp_btf, and "
                   "raw_tp where this kernel lacks or refuses tp_btf)")
    args = p.parse_args(argv)
    if args.plot:
        viz.check_plot(args.plot)  # fail before tracing, not after
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

    with load_flavour(object_path(tool), args.hook) as (obj, flavour):
        ready(f"{what} ({unit}, {flavour})")
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
