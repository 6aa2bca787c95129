"""BTF-based tracing: tp_btf, fentry/fexit/fmod_ret, freplace and LSM programs.

The attach target (a BTF id) is fixed when the program is loaded, so attaching only makes
the link. On kernels that refuse these programs (lockdown: BPF_PROG_LOAD → EPERM for
fentry/fexit/fmod_ret/freplace/LSM; tp_btf still works) the error says so plainly; see
``refusal()`` which the loader can use for the load-time error.
"""
from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import AttachError, KernelError, NotSupported
from . import _kernel as K
from .base import Link, fdnum

# enum bpf_attach_type
BPF_TRACE_RAW_TP = 23
BPF_TRACE_FENTRY = 24
BPF_TRACE_FEXIT = 25
BPF_MODIFY_RETURN = 26
BPF_LSM_MAC = 27
BPF_LSM_CGROUP = 43
# enum bpf_prog_type
PROG_TYPE_TRACING = 26
PROG_TYPE_EXT = 28
PROG_TYPE_LSM = 29

KIND_BY_ATTACH_TYPE = {BPF_TRACE_RAW_TP: "tp_btf", BPF_TRACE_FENTRY: "fentry",
                       BPF_TRACE_FEXIT: "fexit", BPF_MODIFY_RETURN: "fmod_ret",
                       BPF_LSM_MAC: "lsm", BPF_LSM_CGROUP: "lsm_cgroup"}
# Hooks that need the BPF trampoline, which kernel lockdown refuses.
TRAMPOLINE_KINDS = ("fentry", "fexit", "fmod_ret", "freplace", "lsm", "lsm_cgroup")


def refusal(kind: str, err: KernelError | int, target: str | None = None) -> NotSupported:
    """The error to raise when the kernel refuses a trampoline program (``kind``) with EPERM."""
    eno = err if isinstance(err, int) else (err.errno or 1)
    what = "LSM" if kind.startswith("lsm") else kind
    return NotSupported(
        f"load {kind} program" + (f" for {target!r}" if target else ""), eno,
        hint=(f"{what} programs are refused by this kernel (kernel lockdown or no BPF "
              f"trampoline: BPF_PROG_LOAD/attach returns {'EPERM' if eno == 1 else eno}); "
              "use a tracepoint, raw_tp or tp_btf program instead"),
        feature=f"{what} programs")


def tracing_kind(program: Any) -> str:
    """'tp_btf', 'fentry', 'fexit', 'fmod_ret', 'freplace', 'lsm' or 'lsm_cgroup'."""
    ptype = getattr(program, "type", None)
    if ptype == PROG_TYPE_EXT:
        return "freplace"
    eat = getattr(program, "expected_attach_type", None)
    if eat in KIND_BY_ATTACH_TYPE:
        return KIND_BY_ATTACH_TYPE[eat]
    sec = str(getattr(program, "section", "") or "")
    head = sec.split("/", 1)[0].split(".", 1)[0]
    return head if head in (*TRAMPOLINE_KINDS, "tp_btf") else "fentry"


def attach_tracing(program: Any, *, target_program: Any = None, cookie: int = 0) -> Link:
    """Attach a tp_btf/fentry/fexit/fmod_ret/LSM program to the target fixed at load.

    ``target_program`` is the program a freplace replaces a function of (when not given
    at load). Needs Linux 5.5+ (tp_btf 5.5, LSM 5.7, cookies 5.19). Close to detach.
    """
    kind = tracing_kind(program)
    target = getattr(program, "attach_to", None)
    pfd = fdnum(program)
    try:
        if kind == "freplace":
            tfd = fdnum(target_program) if target_program is not None else 0
            fd = K.link_create(pfd, tfd, 0, 0, struct.pack("<I", 0))
        elif kind == "lsm_cgroup":
            raise AttachError("lsm_cgroup programs attach to a cgroup: use attach_cgroup()",
                              hook=kind, target=target)
        elif cookie:
            eat = getattr(program, "expected_attach_type", BPF_TRACE_FENTRY)
            fd = K.link_create(pfd, 0, eat, 0, struct.pack("<IIQ", 0, 0, cookie))
        else:
            fd = K.raw_tracepoint_open(None, pfd)
    except KernelError as e:
        if e.errno == 1 and kind in TRAMPOLINE_KINDS:
            r = refusal(kind, e, target)
            raise AttachError(str(r), hook=kind, target=target, cause=r) from e
        raise AttachError(str(e), hook=kind, target=target, cause=e) from e
    return Link(fd, program, kind, target)


def attach_tp_btf(program: Any, *, cookie: int = 0) -> Link:
    """Attach a ``tp_btf/NAME`` program (typed raw tracepoint). Linux 5.5+."""
    return attach_tracing(program, cookie=cookie)


def attach_fentry(program: Any, **kw: Any) -> Link:
    """Attach an fentry/fexit/fmod_ret program (refused with a clear error under lockdown)."""
    return attach_tracing(program, **kw)


attach_fexit = attach_fentry
attach_fmod_ret = attach_fentry


def attach_lsm(program: Any, **kw: Any) -> Link:
    """Attach an ``lsm/HOOK`` program (BPF LSM must be enabled: lsm=...,bpf)."""
    return attach_tracing(program, **kw)


def attach_freplace(program: Any, target_program: Any = None) -> Link:
    """Attach a freplace (EXT) program over a function of ``target_program``."""
    return attach_tracing(program, target_program=target_program)


__all__ = ["attach_tracing", "attach_tp_btf", "attach_fentry", "attach_fexit",
           "attach_fmod_ret", "attach_lsm", "attach_freplace", "refusal", "tracing_kind"]
