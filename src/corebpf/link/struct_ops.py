"""struct_ops: register a loaded struct_ops map (e.g. a tcp_congestion_ops) with the kernel.

The loader fills the map's value (the ops table of program fds). A map created with
BPF_F_LINK is registered by a link (Linux 6.4+, replaceable with ``update_map``); an older
style map is registered by its update at load and unregistered by deleting key 0.
"""
from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import AttachError, KernelError
from . import _kernel as K
from .base import Link, fdnum

BPF_STRUCT_OPS = 44
BPF_F_LINK = 1 << 13


class StructOpsLink(Link):
    __slots__ = ()

    def update_map(self, new_map: Any, old_map: Any = None) -> None:
        """Swap in another struct_ops map (BPF_F_LINK maps, Linux 6.4+)."""
        try:
            K.link_update(self.fd, fdnum(new_map), 4 if old_map is not None else 0,
                          fdnum(old_map) if old_map is not None else 0)
        except KernelError as e:
            raise AttachError(str(e), hook="struct_ops", cause=e) from e
        self.target = getattr(new_map, "name", None)


def attach_struct_ops(map: Any) -> Link:
    """Register the struct_ops ``map``; close the Link to unregister."""
    name = getattr(map, "name", None)
    flags = getattr(map, "flags", None)
    if flags is None:
        try:
            from .. import _sys
            flags = _sys.map_info(fdnum(map)).get("map_flags", 0)
        except Exception:  # noqa: BLE001 - info is advisory
            flags = 0
    if flags & BPF_F_LINK:
        try:
            fd = K.link_create(fdnum(map), 0, BPF_STRUCT_OPS, 0)
        except KernelError as e:
            raise AttachError(str(e), hook="struct_ops", target=name, cause=e) from e
        return StructOpsLink(fd, map, "struct_ops", name)

    def undo() -> None:
        from .. import _sys
        try:
            _sys.map_delete_elem(fdnum(map), struct.pack("<I", 0))
        except KernelError as e:
            if e.errno != 2:
                raise
    return StructOpsLink(None, map, "struct_ops", name, undo=undo)


__all__ = ["attach_struct_ops", "StructOpsLink"]
