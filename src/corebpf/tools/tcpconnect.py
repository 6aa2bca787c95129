"""tcpconnect: trace active TCP connections (connect()) system-wide.

    python -m corebpf.tools.tcpconnect [--port PORT] [-d SECONDS] [--json]
"""
from __future__ import annotations

import struct

import corebpf

from ._common import ready, Deadline, cstr, emit, ip, object_path, parser, run_main, stream

# struct event in tcpconnect.bpf.c
_EVENT = struct.Struct("<16s16sIIHH16s")


def decode(data: bytes) -> dict:
    saddr, daddr, pid, uid, family, dport, comm = _EVENT.unpack_from(data)
    return {"pid": pid, "uid": uid, "comm": cstr(comm), "family": family,
            "saddr": ip(family, saddr), "daddr": ip(family, daddr), "dport": dport}


def main(argv: list[str] | None = None) -> int:
    p = parser("tcpconnect", "Trace active TCP connections.")
    p.add_argument("-P", "--port", type=int, action="append", help="only these dest ports")
    args = p.parse_args(argv)
    if not args.json:
        print(f"{'PID':>7} {'COMM':<16} {'IP':>2} {'DADDR':<39} {'DPORT':>5}", flush=True)

    def handle(data: bytes) -> None:
        ev = decode(data)
        if args.port and ev["dport"] not in args.port:
            return
        v = 4 if ev["family"] == 2 else 6
        emit(args, ev, f"{ev['pid']:>7} {ev['comm']:<16} {v:>2} {ev['daddr']:<39} "
                       f"{ev['dport']:>5}")

    with corebpf.load(object_path("tcpconnect")) as obj:
        obj.attach_all()
        ready('TCP connects')
        stream(obj, "events", Deadline(args.duration), handle)
    return 0


if __name__ == "__main__":
    run_main(main)
