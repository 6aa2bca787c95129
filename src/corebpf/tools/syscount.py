"""syscount: count system calls system-wide, top N by syscall and by process name.

    python -m corebpf.tools.syscount [--pid PID] [-n TOP] [-i SECONDS] [--live] [-d SECONDS] [--json]
"""
from __future__ import annotations

import json
import sys
import time
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

import corebpf

from .. import viz
from . import _syscalls
from ._common import ready, Deadline, _int, cstr, object_path, parser, run_main, sleep_until


def _key_int(k: Any) -> int:
    return _int(k)


def _key_comm(k: Any) -> str:
    if isinstance(k, (bytes, bytearray, memoryview)):
        return cstr(bytes(k))
    if isinstance(k, dict):
        k = k.get("comm", "")
    else:
        k = getattr(k, "comm", k)
    return cstr(bytes(k)) if isinstance(k, (bytes, bytearray, memoryview)) else str(k)


def by_syscall(m: Any) -> list[tuple[str, int]]:
    return [(_syscalls.name(_key_int(k)), _int(v)) for k, v in m.items()]


def by_comm(m: Any) -> list[tuple[str, int]]:
    return [(_key_comm(k), _int(v)) for k, v in m.items()]


def main(argv: list[str] | None = None) -> int:
    p = parser("syscount", "Count system calls: top N by syscall and by process.")
    p.add_argument("-p", "--pid", type=int, help="only this process id")
    p.add_argument("-n", "--top", type=int, default=10, help="rows to show (default 10)")
    p.add_argument("-i", "--interval", type=float, default=None, metavar="SECONDS",
                   help="print (and reset) every SECONDS")
    p.add_argument("--live", action="store_true", help="live terminal view (needs rich)")
    p.add_argument("--plot", metavar="FILE", help="with --interval: save the top syscalls' "
                   "rates over time as .png/.svg (needs matplotlib: pip install "
                   "'corebpf[plot]')")
    args = p.parse_args(argv)
    variables = {"targ_pid": args.pid} if args.pid else {}
    if args.plot:
        if not args.interval:
            raise corebpf.Error("syscount: --plot needs --interval (a time series)")
        viz.check_plot(args.plot)
    t0 = time.monotonic()
    history: list[tuple[float, dict[str, int]]] = []

    def show(obj: Any, reset: bool) -> None:
        sc, pc = by_syscall(obj.maps["counts"]), by_comm(obj.maps["by_comm"])
        history.append((time.monotonic() - t0, dict(sc)))
        if reset:
            for m in (obj.maps["counts"], obj.maps["by_comm"]):
                for k in list(m.keys()):
                    try:
                        del m[k]
                    except corebpf.Error:
                        pass
        if args.json:
            top_s = sorted(sc, key=lambda r: -r[1])[:args.top]
            top_c = sorted(pc, key=lambda r: -r[1])[:args.top]
            print(json.dumps({"time": time.time(), "syscalls": dict(top_s),
                              "processes": dict(top_c)}), flush=True)
            return
        print("\n".join(viz.top_table_lines(sc, ["SYSCALL", "COUNT"], args.top)))
        print()
        print("\n".join(viz.top_table_lines(pc, ["COMM", "COUNT"], args.top)))
        print(flush=True)

    with corebpf.load(object_path("syscount"), variables=variables) as obj:
        obj.attach_all()
        ready('system calls')
        deadline = Deadline(args.duration)
        if args.live:
            viz.live_top(lambda: by_syscall(obj.maps["counts"]), ["SYSCALL", "COUNT"],
                         args.top, duration=args.duration, title="syscalls")
        elif args.interval:
            sleep_until(deadline, args.interval, lambda: show(obj, True))
            show(obj, True)
        else:
            sleep_until(deadline)
            show(obj, False)
    if args.plot and history:
        totals: dict[str, int] = {}
        for _, counts in history:
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
        top = sorted(totals, key=lambda k: -totals[k])[:min(args.top, 8)]
        series = {k: [(t, c.get(k, 0) / args.interval) for t, c in history] for k in top}
        viz.plot_time_series(series, args.plot, ylabel="calls/s", title="syscount")
        print(f"saved {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_main(main)
