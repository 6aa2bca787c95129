"""profile: a sampling CPU profiler. Samples kernel and user stacks on a CPU-clock perf event
on every CPU and prints the hottest stacks, symbolized (or folded, for flame graphs).

    python -m corebpf.tools.profile [-F HZ] [--pid PID] [--folded] [-n TOP] [-d SECONDS] [--json]
"""
from __future__ import annotations

import json
import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

import corebpf

from . import _symbols
from ._common import ready, Deadline, _int, cstr, object_path, parser, run_main, sleep_until

_KEY = struct.Struct("<Iii16s")
EFAULT = 14


def _key(k: Any) -> tuple[int, int, int, str]:
    if isinstance(k, (bytes, bytearray, memoryview)):
        pid, ustack, kstack, comm = _KEY.unpack_from(bytes(k))
        return pid, ustack, kstack, cstr(comm)
    get = k.get if isinstance(k, dict) else (lambda n: getattr(k, n))
    comm = get("comm")
    comm = cstr(bytes(comm)) if isinstance(comm, (bytes, bytearray, memoryview)) else str(comm)
    return _int(get("pid")), _int(get("user_stack_id")), _int(get("kern_stack_id")), comm


def _stack(stacks: Any, sid: int) -> list[int]:
    if sid < 0:
        return []
    try:
        v = stacks[sid]
    except (KeyError, corebpf.Error):
        return []
    if isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        ips = struct.unpack(f"<{len(b) // 8}Q", b[:len(b) // 8 * 8])
    else:
        ips = [_int(x) for x in v]
    return [ip for ip in ips if ip]


def collect(obj: Any) -> list[dict]:
    """Every sampled stack with its count, symbolized; hottest first."""
    stacks = obj.maps["stacks"]
    procs: dict[int, _symbols.ProcessSymbols] = {}
    out = []
    for k, v in obj.maps["counts"].items():
        pid, ustack, kstack, comm = _key(k)
        ps = procs.get(pid)
        if ps is None:
            ps = procs[pid] = _symbols.ProcessSymbols(pid)
        kern = [_symbols.ksym(ip) for ip in _stack(stacks, kstack)]
        user = [ps.sym(ip) for ip in _stack(stacks, ustack)]
        out.append({"pid": pid, "comm": comm, "count": _int(v), "kernel": kern, "user": user})
    out.sort(key=lambda r: -r["count"])
    return out


def main(argv: list[str] | None = None) -> int:
    p = parser("profile", "Sample kernel and user stacks on every CPU.")
    p.add_argument("-F", "--frequency", type=int, default=49, help="samples per second per CPU")
    p.add_argument("-p", "--pid", type=int, help="only this process id")
    p.add_argument("--folded", action="store_true",
                   help="folded output (comm;user;...;kernel count) for flame graphs")
    p.add_argument("-n", "--top", type=int, default=10, help="stacks to print (default 10)")
    p.add_argument("--include-idle", action="store_true", help="keep samples of the idle task")
    args = p.parse_args(argv)
    variables: dict[str, int] = {}
    if args.pid:
        variables["targ_pid"] = args.pid
    if args.include_idle:
        variables["skip_idle"] = 0
    with corebpf.load(object_path("profile"), variables=variables) as obj:
        prog = obj.programs["on_sample"]
        with prog.attach(sample_freq=args.frequency):
            ready(f"stacks at {args.frequency} Hz per CPU")
            sleep_until(Deadline(args.duration))
        rows = collect(obj)
    if args.json:
        for r in rows:
            print(json.dumps(r))
    elif args.folded:
        for r in rows:
            frames = [r["comm"], *reversed(r["user"]), *reversed(r["kernel"])]
            print(";".join(f.replace(";", ":") for f in frames), r["count"])
    else:
        for r in rows[:args.top]:
            for f in r["kernel"]:
                print(f"    {f}")
            if r["kernel"] and r["user"]:
                print("    --")
            for f in r["user"]:
                print(f"    {f}")
            print(f"    -                {r['comm']} ({r['pid']})")
            print(f"        {r['count']}\n")
    return 0


if __name__ == "__main__":
    run_main(main)
