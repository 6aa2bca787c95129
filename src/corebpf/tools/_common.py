"""What the tool front ends share: finding the prebuilt objects, options, decoding helpers.

Front ends use only corebpf's public API (``corebpf.load``, ``Object.attach_all``,
``Object.ring_buffer``, ``Object.maps``).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

from . import object_path  # re-exported for the front ends

HERE = Path(__file__).resolve().parent


def parser(tool: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every tool has."""
    p = argparse.ArgumentParser(prog=f"corebpf tool {tool}", description=description)
    p.add_argument("-d", "--duration", type=float, default=None, metavar="SECONDS",
                   help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    return p


class Deadline:
    """Tracks ``--duration`` and SIGTERM/SIGINT, so loops end cleanly and close everything."""

    def __init__(self, duration: float | None) -> None:
        self.end = None if duration is None else time.monotonic() + duration
        self.stopped = False
        for sig in (signal.SIGTERM,):
            try:
                signal.signal(sig, self._stop)
            except ValueError:  # not the main thread
                pass

    def _stop(self, *_: Any) -> None:
        self.stopped = True

    def remaining(self, step: float = 0.25) -> float:
        if self.end is None:
            return step
        return max(0.0, min(step, self.end - time.monotonic()))

    @property
    def done(self) -> bool:
        return self.stopped or (self.end is not None and time.monotonic() >= self.end)


READY = "Hit Ctrl-C to end."


def ready(what: str) -> None:
    """Tell the user (and tests waiting on stderr) that tracing has started."""
    print(f"Tracing {what}... {READY}", file=sys.stderr, flush=True)


def raw(record: Any) -> bytes:
    """The bytes of a ring-buffer record, whatever form the reader hands it in."""
    if isinstance(record, (bytes, bytearray, memoryview)):
        return bytes(record)
    for attr in ("raw", "data"):
        v = getattr(record, attr, None)
        if isinstance(v, (bytes, bytearray, memoryview)):
            return bytes(v)
    return bytes(record)


def stream(obj: Any, name: str, deadline: Deadline, handle: Callable[[bytes], None]) -> None:
    """Feed every record of ring buffer ``name`` to ``handle`` until the deadline."""
    with obj.ring_buffer(name) as rb:
        try:
            while not deadline.done:
                for rec in rb.poll(timeout=deadline.remaining()):
                    handle(raw(rec))
        except KeyboardInterrupt:
            pass
        # what arrived before the deadline but was not yet read
        for rec in rb.poll(timeout=0):
            handle(raw(rec))


def sleep_until(deadline: Deadline, tick: float | None = None,
                on_tick: Callable[[], None] | None = None) -> None:
    """Sleep until the deadline (or Ctrl-C), calling ``on_tick`` every ``tick`` seconds."""
    last = time.monotonic()
    try:
        while not deadline.done:
            time.sleep(deadline.remaining(0.2))
            if tick and on_tick and time.monotonic() - last >= tick:
                last = time.monotonic()
                on_tick()
    except KeyboardInterrupt:
        pass


def cstr(b: bytes) -> str:
    """A NUL-terminated C string as text."""
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


def ip(family: int, addr: bytes) -> str:
    """Format a 4- or 16-byte address for AF_INET (2) / AF_INET6 (10)."""
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, addr[:4])
    return socket.inet_ntop(socket.AF_INET6, addr[:16])


def emit(args: argparse.Namespace, record: dict[str, Any], line: str) -> None:
    """Print one event as JSON (``--json``) or as a human line; flush for pipes."""
    out = json.dumps(record) if args.json else line
    try:
        sys.stdout.write(out + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        os._exit(0)


def hist_buckets(m: Any) -> list[int]:
    """Counts of a log2 histogram array map (u32 slot -> u64 count) as a list."""
    counts: list[int] = []
    for k, v in m.items():
        slot = _int(k)
        if slot >= len(counts):
            counts.extend([0] * (slot + 1 - len(counts)))
        counts[slot] = _int(v)
    return counts


def _int(v: Any) -> int:
    if isinstance(v, int):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return int.from_bytes(bytes(v), "little")
    if isinstance(v, (list, tuple)):  # per-CPU
        return sum(_int(x) for x in v)
    return int(v)


def run_main(fn: Callable[[list[str] | None], int]) -> None:
    """Run a tool's ``main`` as a program: corebpf errors become one line on stderr."""
    from ..errors import Error
    try:
        sys.exit(fn(None))
    except Error as e:
        print(f"{Path(sys.argv[0]).stem}: error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
