"""opensnoop: trace open() and openat() calls system-wide.

    python -m corebpf.tools.opensnoop [--pid PID] [--uid UID] [--name TEXT] [-d SECONDS] [--json]
"""
from __future__ import annotations

import errno
import struct

import corebpf

from ._common import ready, Deadline, cstr, emit, object_path, parser, run_main, stream

# struct event in opensnoop.bpf.c
_EVENT = struct.Struct("<IIii16s256s")


def decode(data: bytes) -> dict:
    pid, uid, ret, flags, comm, fname = _EVENT.unpack_from(data)
    return {"pid": pid, "uid": uid, "ret": ret, "flags": flags, "comm": cstr(comm),
            "path": cstr(fname)}


def main(argv: list[str] | None = None) -> int:
    p = parser("opensnoop", "Trace open()/openat() calls system-wide.")
    p.add_argument("-p", "--pid", type=int, help="only this process id")
    p.add_argument("-u", "--uid", type=int, help="only this user id")
    p.add_argument("-n", "--name", help="only paths containing this text")
    p.add_argument("-x", "--failed", action="store_true", help="only failed opens")
    args = p.parse_args(argv)
    variables = {}
    if args.pid is not None:
        variables["targ_pid"] = args.pid
    if args.uid is not None:
        variables["targ_uid"] = args.uid
    if not args.json:
        print(f"{'PID':>7} {'COMM':<16} {'FD':>4} {'ERR':>3} PATH", flush=True)

    def handle(data: bytes) -> None:
        ev = decode(data)
        if args.name and args.name not in ev["path"]:
            return
        if args.failed and ev["ret"] >= 0:
            return
        fd, err = (ev["ret"], 0) if ev["ret"] >= 0 else (-1, -ev["ret"])
        ev["errno"] = errno.errorcode.get(err, err) if err else None
        emit(args, ev, f"{ev['pid']:>7} {ev['comm']:<16} {fd:>4} {err:>3} {ev['path']}")

    with corebpf.load(object_path("opensnoop"), variables=variables) as obj:
        obj.attach_all()
        ready('open() calls')
        stream(obj, "events", Deadline(args.duration), handle)
    return 0


if __name__ == "__main__":
    run_main(main)
