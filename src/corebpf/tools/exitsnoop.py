"""exitsnoop: trace process exits with exit code, signal and age.

    python -m corebpf.tools.exitsnoop [--threads] [-d SECONDS] [--json]
"""
from __future__ import annotations

import signal
import struct

import corebpf

from ._common import ready, Deadline, cstr, emit, object_path, parser, run_main, stream

# struct event in exitsnoop.bpf.c
_EVENT = struct.Struct("<QQIIIiI16s")


def decode(data: bytes) -> dict:
    start, end, pid, tid, ppid, code, sig, comm = _EVENT.unpack_from(data)
    return {"pid": pid, "tid": tid, "ppid": ppid, "exit_code": code, "signal": sig,
            "age_s": round((end - start) / 1e9, 6) if end >= start else 0.0,
            "comm": cstr(comm)}


def main(argv: list[str] | None = None) -> int:
    p = parser("exitsnoop", "Trace process exits.")
    p.add_argument("--threads", action="store_true", help="report every thread's exit")
    args = p.parse_args(argv)
    variables = {"trace_threads": 1} if args.threads else {}
    if not args.json:
        print(f"{'PCOMM':<16} {'PID':>7} {'PPID':>7} {'TID':>7} {'AGE(s)':>9} EXIT", flush=True)

    def handle(data: bytes) -> None:
        ev = decode(data)
        if ev["signal"]:
            try:
                how = f"signal {ev['signal']} ({signal.Signals(ev['signal']).name})"
            except ValueError:
                how = f"signal {ev['signal']}"
        else:
            how = f"code {ev['exit_code']}" if ev["exit_code"] else "0"
        emit(args, ev, f"{ev['comm']:<16} {ev['pid']:>7} {ev['ppid']:>7} {ev['tid']:>7} "
                       f"{ev['age_s']:>9.2f} {how}")

    with corebpf.load(object_path("exitsnoop"), variables=variables) as obj:
        obj.attach_all()
        ready('process exits')
        stream(obj, "events", Deadline(args.duration), handle)
    return 0


if __name__ == "__main__":
    run_main(main)
