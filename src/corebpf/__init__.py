"""corebpf — load, attach and talk to eBPF programs from pure Python.

    import corebpf
    with corebpf.load("prog.bpf.o") as obj:
        obj.attach_all()
        print(obj.maps["counts"][0])

Public names are imported lazily so that ``import corebpf`` stays cheap.
"""
from __future__ import annotations

from . import errors
from .errors import (AttachError, BTFError, CORERelocationError, Error, KernelError,
                     MapError, NotFound, NotSupported, ObjectError, PermissionDenied,
                     VerifierError)

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "ObjectSpec": "spec",
    "ProgramSpec": "spec",
    "MapSpec": "spec",
    "VariableSpec": "spec",
    "Object": "object",
    "load": "object",
    "open_object": "object",
    "Map": "maps",
    "Program": "programs",
    "BTF": "btf",
    "Link": "link",
    "RingBuffer": "ringbuf",
    "PerfBuffer": "perfbuf",
    "UserRingBuffer": "ringbuf",
    "Poller": "ringbuf",
}

TYPE_CHECKING = False  # typing itself costs import time; checkers treat this as True
if TYPE_CHECKING:  # pragma: no cover
    from .btf import BTF
    from .link import Link
    from .maps import Map
    from .object import Object, load, open_object
    from .perfbuf import PerfBuffer
    from .programs import Program
    from .ringbuf import Poller, RingBuffer, UserRingBuffer
    from .spec import MapSpec, ObjectSpec, ProgramSpec, VariableSpec


def __getattr__(name: str) -> object:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'corebpf' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "errors", "Error", "ObjectError", "BTFError", "CORERelocationError", "MapError",
    "KernelError", "PermissionDenied", "NotSupported", "NotFound", "VerifierError",
    "AttachError", *_LAZY,
]
