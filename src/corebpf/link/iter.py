"""BPF iterators (``iter/task``, ``iter/bpf_map_elem`` ...): make the link, read output."""
from __future__ import annotations

import ctypes
import os
import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Iterator

from ..errors import AttachError, KernelError
from . import _kernel as K
from .base import Link, fdnum

BPF_TRACE_ITER = 28


class IterLink(Link):
    """An iterator link: ``read()`` runs the iterator once and returns all its output;
    ``open()`` gives a file to read it incrementally."""

    __slots__ = ()

    def open(self) -> Any:
        """A binary file object over a fresh run of the iterator (close it)."""
        try:
            fd = K.iter_create(self.fd)
        except KernelError as e:
            raise AttachError(str(e), hook="iter", target=self.target, cause=e) from e
        return os.fdopen(fd, "rb", buffering=0)

    def read(self) -> bytes:
        """Run the iterator to the end and return everything it wrote."""
        with self.open() as f:
            chunks = []
            while True:
                b = f.read(65536)
                if not b:
                    break
                chunks.append(b)
        return b"".join(chunks)

    def read_text(self) -> str:
        return self.read().decode(errors="replace")

    def lines(self) -> Iterator[str]:
        yield from self.read_text().splitlines()


def attach_iter(program: Any, *, map: Any = None, cgroup: Any = None,
                cgroup_order: int = 0, tid: int = 0, pid: int = 0,
                pidfd: int = 0) -> IterLink:
    """Attach an iterator program; ``map=`` for map element iterators, ``cgroup=``
    (fd or path) for cgroup iterators, ``tid``/``pid``/``pidfd`` to limit task iterators.

    ``attach_iter(prog).read()`` returns its output. Needs Linux 5.8+.
    """
    info = ctypes.create_string_buffer(24)
    cfd = None
    if map is not None:
        struct.pack_into("<I", info, 0, fdnum(map))
    elif cgroup is not None:
        if isinstance(cgroup, str):
            cfd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        struct.pack_into("<II", info, 0, cgroup_order, cfd if cfd is not None else fdnum(cgroup))
    elif tid or pid or pidfd:
        struct.pack_into("<III", info, 0, tid, pid, pidfd)
    use_info = map is not None or cgroup is not None or tid or pid or pidfd
    tail = struct.pack("<QI", ctypes.addressof(info), 24) if use_info else b""
    target = str(getattr(program, "attach_to", None) or
                 str(getattr(program, "section", "iter")).partition("/")[2] or "iter")
    try:
        fd = K.link_create(fdnum(program), 0, BPF_TRACE_ITER, 0, tail)
    except KernelError as e:
        raise AttachError(str(e), hook="iter", target=target, cause=e) from e
    finally:
        if cfd is not None:
            os.close(cfd)
    return IterLink(fd, program, "iter", target)


__all__ = ["attach_iter", "IterLink"]
