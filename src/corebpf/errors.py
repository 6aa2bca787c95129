"""Typed errors raised by corebpf.

Every error says what went wrong, where (file, section, symbol, map, program, command)
and, where we know, what to do about it.
"""
from __future__ import annotations

import errno as _errno
import os as _os


class Error(Exception):
    """Base class of every corebpf error."""


class ObjectError(Error):
    """A compiled object (ELF) is malformed or uses something corebpf cannot handle."""

    def __init__(self, msg: str, *, file: str | None = None, section: str | None = None,
                 symbol: str | None = None, offset: int | None = None) -> None:
        self.file, self.section, self.symbol, self.offset = file, section, symbol, offset
        where = []
        if file:
            where.append(str(file))
        if section:
            where.append(f"section {section!r}")
        if symbol:
            where.append(f"symbol {symbol!r}")
        if offset is not None:
            where.append(f"offset {offset:#x}")
        super().__init__(f"{': '.join(where)}: {msg}" if where else msg)


class BTFError(Error):
    """BTF data is malformed, or a type cannot be found or used as asked."""


class CORERelocationError(Error):
    """A CO-RE relocation cannot be applied (described in C terms)."""


class MapError(Error):
    """A map operation was misused (wrong key/value size, unknown map, ...)."""


class KernelError(Error, OSError):
    """The kernel refused a request. ``command`` names it, ``errno`` says why."""

    def __init__(self, command: str, err: int, hint: str = "", detail: str = "") -> None:
        self.command = command
        self.hint = hint
        self.detail = detail
        text = f"{command}: {_os.strerror(err)} ({_errno.errorcode.get(err, err)})"
        if detail:
            text += f": {detail}"
        if hint:
            text += f" — {hint}"
        OSError.__init__(self, err, text)
        self.errno = err
        self.args = (text,)

    def __str__(self) -> str:
        return self.args[0]


class PermissionDenied(KernelError):
    """EPERM/EACCES: not root, no CAP_BPF, or kernel lockdown."""


class NotSupported(KernelError):
    """The running kernel lacks a program type, map type, helper or attach type."""

    def __init__(self, command: str, err: int, hint: str = "", detail: str = "",
                 feature: str | None = None, min_kernel: str | None = None) -> None:
        self.feature = feature
        self.min_kernel = min_kernel
        if feature and not hint:
            hint = f"this kernel does not support {feature}"
            if min_kernel:
                hint += f" (needs Linux {min_kernel} or newer)"
        super().__init__(command, err, hint, detail)


class NotFound(KernelError):
    """ENOENT on a lookup: no such key, id, pin or attach target."""


class VerifierError(KernelError):
    """The verifier refused a program. ``log`` holds the verifier log; ``log_truncated``
    says whether it is whole (None), only its end ("tail") or only its start ("head",
    kernels before 6.4)."""

    def __init__(self, program: str, err: int, log: str, summary: str = "",
                 instruction: int | None = None, source: str | None = None, *,
                 log_truncated: str | None = None) -> None:
        self.program = program
        self.log = log
        self.instruction = instruction
        self.source = source
        self.log_truncated = log_truncated
        detail = summary or _last_log_line(log)
        if instruction is not None:
            detail += f" (instruction {instruction})"
        if source:
            detail += f"\n  at {source}"
        super().__init__(f"load program {program!r}", err,
                         hint="the verifier refused it; see .log for the full verifier log",
                         detail=detail)


class AttachError(Error):
    """A program could not be attached to a hook."""

    def __init__(self, msg: str, *, hook: str | None = None, target: str | None = None,
                 cause: BaseException | None = None) -> None:
        self.hook, self.target, self.cause = hook, target, cause
        where = " ".join(x for x in (hook, repr(target) if target else None) if x)
        super().__init__(f"attach {where}: {msg}" if where else msg)
        self.errno = getattr(cause, "errno", None)


class EventBufferError(Error):
    """A ring or perf buffer is misused or its data is malformed."""


_LOG_TRAILER = ("processed ", "verification time", "stack depth", "mark_precise")


def _last_log_line(log: str) -> str:
    """The verdict of a verifier log: its last line that is not part of the statistics
    trailer. Scanned back from the end (a log may hold 16 MiB; the verdict is near its end,
    so splitting the whole log would cost time and memory for nothing)."""
    end = len(log)
    last = None
    while end > 0:
        start = log.rfind("\n", 0, end) + 1
        ln = log[start:end]
        end = start - 1
        if not ln.strip():
            continue
        if not ln.startswith(_LOG_TRAILER):
            return ln.strip()
        if last is None:
            last = ln
    return last.strip() if last is not None else "verifier refused the program"


__all__ = [
    "Error", "ObjectError", "BTFError", "CORERelocationError", "MapError", "KernelError",
    "PermissionDenied", "NotSupported", "NotFound", "VerifierError", "AttachError",
    "EventBufferError",
]
