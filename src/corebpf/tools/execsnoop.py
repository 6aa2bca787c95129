"""execsnoop: trace exec() calls system-wide.

    python -m corebpf.tools.execsnoop [--uid UID] [--fails-only|--no-fails] [-d SECONDS] [--json]
"""
from __future__ import annotations

import struct
import time

import corebpf

from ._common import ready, Deadline, cstr, emit, object_path, parser, run_main, stream

# struct event in execsnoop.bpf.c
_EVENT = struct.Struct("<IIIiI16s256s")


def decode(data: bytes) -> dict:
    """One event record as a dict."""
    pid, ppid, uid, ret, size, comm, args = _EVENT.unpack_from(data)
    argv = [a.decode("utf-8", "replace") for a in args[:size].split(b"\0") if a]
    return {"pid": pid, "ppid": ppid, "uid": uid, "ret": ret, "comm": cstr(comm),
            "args": argv}


def main(argv: list[str] | None = None) -> int:
    p = parser("execsnoop", "Trace exec() calls system-wide.")
    p.add_argument("-u", "--uid", type=int, help="only this user id")
    p.add_argument("-x", "--no-fails", action="store_true", help="skip failed exec()s")
    p.add_argument("-t", "--timestamp", action="store_true", help="print a time column")
    args = p.parse_args(argv)
    variables = {}
    if args.uid is not None:
        variables["targ_uid"] = args.uid
    if args.no_fails:
        variables["ignore_failed"] = 1
    t0 = time.monotonic()
    if not args.json:
        print(("TIME(s) " if args.timestamp else "") +
              f"{'PCOMM':<16} {'PID':>7} {'PPID':>7} {'RET':>4} ARGS", flush=True)

    def handle(data: bytes) -> None:
        ev = decode(data)
        line = (f"{time.monotonic() - t0:<7.3f} " if args.timestamp else "") + \
               f"{ev['comm']:<16} {ev['pid']:>7} {ev['ppid']:>7} {ev['ret']:>4} " + \
               " ".join(ev["args"])
        emit(args, ev, line)

    with corebpf.load(object_path("execsnoop"), variables=variables) as obj:
        obj.attach_all()
        ready('exec() calls')
        stream(obj, "events", Deadline(args.duration), handle)
    return 0


if __name__ == "__main__":
    run_main(main)
