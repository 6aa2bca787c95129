"""Ready-made tools: a small BPF C program (prebuilt CO-RE object) plus a Python front end.

Run one as ``python -m corebpf.tools.NAME`` or ``corebpf tool NAME``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

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
    if name not in TOOLS or not p.exists():
        from ..errors import Error
        raise Error(f"no prebuilt tool object {name!r}; known: {', '.join(TOOLS)}")
    return p


__all__ = ["TOOLS", "object_path"]
