"""Ready-made tools: a small BPF C program (prebuilt CO-RE object) plus a Python front end.

Run one as ``python -m corebpf.tools.NAME`` or ``corebpf tool NAME``.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; checkers take this as True

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

# tool name -> one-line description (also the list `corebpf tool` shows)
TOOLS = {
    "execsnoop": "trace exec() calls: pid, parent, return value, arguments",
    "opensnoop": "trace open()/openat() calls: file name, flags, result",
    "exitsnoop": "trace process exits: exit code, signal, age",
    "runqlat": "run-queue latency as a log2 histogram (sched_wakeup/sched_switch)",
    "biolatency": "block I/O latency as a log2 histogram (block_rq_issue/complete)",
    "tcpconnect": "trace active TCP connects (sock:inet_sock_set_state)",
    "tcplife": "TCP sessions with duration and bytes, when they close",
    "syscount": "count system calls, top-N by syscall and by process",
    "pktcount": "count packets on an interface with XDP (the pkt_count map)",
    "profile": "CPU profiler: sampled kernel and user stacks, symbolized",
}


def object_path(name: str) -> "Path":
    """Path of the prebuilt CO-RE object of tool ``name`` (e.g. ``"execsnoop"``)."""
    from pathlib import Path
    p = Path(__file__).resolve().parent / f"{name}.bpf.o"
    from ..errors import Error
    if name not in TOOLS:
        raise Error(f"no tool {name!r}; known: {', '.join(TOOLS)}")
    if not p.exists():
        raise Error(f"tool {name}: prebuilt object {p} is missing; rebuild the tools with "
                    "`python -m corebpf.tools._build`")
    return p


__all__ = ["TOOLS", "object_path"]
