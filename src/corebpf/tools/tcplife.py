"""tcplife: one line per TCP session when it closes, with its duration and bytes.

    python -m corebpf.tools.tcplife [--port PORT] [-d SECONDS] [--json]
"""
from __future__ import annotations

import struct

import corebpf

from ._common import ready, Deadline, cstr, emit, ip, object_path, parser, run_main, stream

# struct event in tcplife.bpf.c (u64 fields first, then u32/u16, comm; padded to 8)
_EVENT = struct.Struct("<16s16sQQQIHHH16s")


def decode(data: bytes) -> dict:
    saddr, daddr, span, rx, tx, pid, family, sport, dport, comm = _EVENT.unpack_from(data)
    return {"pid": pid, "comm": cstr(comm), "family": family,
            "saddr": ip(family, saddr), "sport": sport, "daddr": ip(family, daddr),
            "dport": dport, "rx_bytes": rx, "tx_bytes": tx, "ms": round(span / 1000, 3)}


def main(argv: list[str] | None = None) -> int:
    p = parser("tcplife", "Trace TCP session lifespans.")
    p.add_argument("-P", "--port", type=int, action="append",
                   help="only sessions with this local or remote port")
    args = p.parse_args(argv)
    if not args.json:
        print(f"{'PID':>7} {'COMM':<16} {'LADDR':<15} {'LPORT':>5} {'RADDR':<15} "
              f"{'RPORT':>5} {'TX_KB':>6} {'RX_KB':>6} {'MS':>9}", flush=True)

    def handle(data: bytes) -> None:
        ev = decode(data)
        if args.port and ev["sport"] not in args.port and ev["dport"] not in args.port:
            return
        emit(args, ev, f"{ev['pid']:>7} {ev['comm']:<16} {ev['saddr']:<15} {ev['sport']:>5} "
                       f"{ev['daddr']:<15} {ev['dport']:>5} {ev['tx_bytes'] // 1024:>6} "
                       f"{ev['rx_bytes'] // 1024:>6} {ev['ms']:>9.2f}")

    with corebpf.load(object_path("tcplife")) as obj:
        obj.attach_all()
        ready('TCP sessions')
        stream(obj, "events", Deadline(args.duration), handle)
    return 0


if __name__ == "__main__":
    run_main(main)
