"""pktcount: count packets arriving on an interface with XDP (the seed's pkt_count map).

    python -m corebpf.tools.pktcount IFACE [--mode generic|native] [-i SECONDS] [-d SECONDS] [--json]
"""
from __future__ import annotations

import json
import sys
import time
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

import corebpf

from ._common import ready, Deadline, _int, object_path, parser, run_main, sleep_until


def read_count(obj: Any) -> int:
    return _int(obj.maps["pkt_count"][0])


def main(argv: list[str] | None = None) -> int:
    p = parser("pktcount", "Count packets on an interface with XDP.")
    p.add_argument("iface", help="network interface name")
    p.add_argument("--mode", choices=("native", "generic"), default=None,
                   help="XDP mode (default: native if the driver has it, else generic)")
    p.add_argument("-i", "--interval", type=float, default=1.0, metavar="SECONDS",
                   help="print the count every SECONDS (default 1)")
    p.add_argument("--plot", metavar="FILE", help="save packets/s over time as .png/.svg "
                   "(needs matplotlib: pip install 'corebpf[plot]')")
    args = p.parse_args(argv)
    if args.plot:
        from .. import viz
        viz.check_plot(args.plot)
    series: list[tuple[float, float]] = []
    t0 = time.monotonic()
    with corebpf.load(object_path("pktcount")) as obj:
        prog = obj.programs["count_packets"]
        kw = {"mode": args.mode} if args.mode else {}
        with prog.attach(iface=args.iface, **kw):
            ready(f"packets on {args.iface}")
            deadline = Deadline(args.duration)
            last = [0, time.monotonic()]

            def tick() -> None:
                n, now = read_count(obj), time.monotonic()
                rate = (n - last[0]) / max(now - last[1], 1e-9)
                last[:] = [n, now]
                series.append((now - t0, rate))
                if args.json:
                    print(json.dumps({"iface": args.iface, "packets": n,
                                      "rate": round(rate, 1)}), flush=True)
                else:
                    print(f"{args.iface}: {n} packets ({rate:.1f}/s)", flush=True)

            sleep_until(deadline, args.interval, tick)
            tick()
    if args.plot:
        from .. import viz
        viz.plot_time_series({f"{args.iface} packets/s": series}, args.plot,
                             ylabel="packets/s", title="pktcount")
        print(f"saved {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_main(main)
