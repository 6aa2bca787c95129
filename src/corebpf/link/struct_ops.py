"""struct_ops: register a loaded struct_ops map (e.g. a tcp_congestion_ops) with the kernel.

The loader builds the map's value (the ops table of program fds) and holds it back; it is
written here, as libbpf writes it in bpf_map__attach_struct_ops. A map created with
BPF_F_LINK (``SEC(".struct_ops.link")``, Linux 6.4+) is written (the kernel validates the
table then: a refusal is an AttachError naming the map and the struct) and registered by a
link, replaceable with ``update_map``; an older style map (``SEC(".struct_ops")``) is
registered by writing its value and unregistered by deleting key 0 — once: the kernel never
registers such a map again, so a second registration needs a fresh load.
"""
from __future__ import annotations

import struct
import sys
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import AttachError, KernelError
from . import _kernel as K
from .base import Link, fdnum

BPF_STRUCT_OPS = 44
BPF_F_LINK = 1 << 13
BPF_F_REPLACE = 4
MAP_TYPE_STRUCT_OPS = 26
# enum bpf_struct_ops_state, read back from bpf_struct_ops_common_value.state (offset 4)
_STATE_INIT, _STATE_INUSE, _STATE_TOBEFREE, _STATE_READY = 0, 1, 2, 3
_LINK_HINTS = {
    17: "a struct_ops with the same name is registered already (tcp_congestion_ops: "
        "the same .name)",
    16: "this map is registered already",
    22: "the kernel refused the map (its value was never written: load it with "
        "corebpf.load; or a member the kernel checks is missing, e.g. ssthresh, undo_cwnd "
        "and cong_avoid/cong_control for tcp_congestion_ops)",
}


def _struct_label(m: Any) -> str:
    """`` (struct tcp_congestion_ops)`` for a map an Object loaded, else ""."""
    obj = sys.modules.get("corebpf.object")
    tname = obj.struct_ops_type(m) if obj is not None else None
    return f" (struct {tname})" if tname else ""


def _write_link_value(m: Any, label: str) -> None:
    """Write the value an Object held back for the BPF_F_LINK map ``m`` (nothing to do for
    other maps, or once written). EBUSY means written before: the kernel never changes a
    written value, so that one stands (libbpf skips EBUSY too)."""
    obj = sys.modules.get("corebpf.object")
    if obj is None:  # the object module is not imported here: no Object, no held value
        return
    try:
        obj.register_struct_ops(m)
    except KernelError as e:
        if e.errno == 16:
            return
        hint = {22: "; the kernel's check of the table refused it: a member it requires is "
                    "missing or unusable (tcp_congestion_ops needs ssthresh, undo_cwnd and "
                    "cong_avoid or cong_control)"}.get(e.errno or 0, "")
        raise AttachError(f"the kernel refused the value of the map{_struct_label(m)}: "
                          f"{e}{hint}", hook="struct_ops", target=label, cause=e) from e


def _map_label(m: Any) -> str:
    name = getattr(m, "name", None)
    return str(name) if name else f"fd {fdnum(m)}"


def _map_facts(m: Any) -> tuple[int, int, int]:
    """(type, flags, value_size) of a map object or fd."""
    mtype, flags, vsize = (getattr(m, "type", None), getattr(m, "flags", None),
                           getattr(m, "value_size", None))
    if mtype is None or flags is None or vsize is None:
        from .. import _sys
        try:
            info = _sys.map_info(fdnum(m))
        except KernelError as e:
            raise AttachError(f"not a map: {e}", hook="struct_ops", target=_map_label(m),
                              cause=e) from e
        mtype, flags, vsize = info["type"], info["map_flags"], info["value_size"]
    return int(mtype), int(flags), int(vsize)


def _state(m: Any, value_size: int) -> int:
    from .. import _sys
    buf = bytearray(value_size)
    _sys.map_lookup_elem(fdnum(m), struct.pack("<I", 0), buf)
    return struct.unpack_from("<I", buf, 4)[0]


def _fd_kind(obj: Any) -> str:
    """``bpf-map``/``bpf-prog``/... for an fd-like object ("" when /proc cannot tell)."""
    import os
    try:
        return os.readlink(f"/proc/self/fd/{fdnum(obj)}").removeprefix("anon_inode:")
    except (OSError, TypeError, ValueError):
        return ""


class StructOpsLink(Link):
    """A registered struct_ops map; ``close()``/``detach()`` unregisters it. ``program``
    holds the map (struct_ops links have no single program)."""

    __slots__ = ()

    def update_map(self, new_map: Any, old_map: Any = None) -> None:
        """Swap in another struct_ops map atomically (BPF_F_LINK maps, Linux 6.4+).

        The new map must be a loaded BPF_F_LINK map of the same struct that nothing else
        registers; for tcp_congestion_ops it must also carry the same ``.name``.
        ``old_map``: only if that map is the one registered now (BPF_F_REPLACE)."""
        label = _map_label(new_map)
        if self._fd is None:
            if self.closed:
                raise AttachError(f"{self!r} is closed", hook="struct_ops", target=label)
            raise AttachError(f"struct_ops map {self.target!r} was registered by its value "
                              "update (SEC(\".struct_ops\")); only maps registered through "
                              "a link (SEC(\".struct_ops.link\"), Linux 6.4+) can be "
                              "replaced", hook="struct_ops", target=label)
        mtype, flags, _ = _map_facts(new_map)
        if mtype != MAP_TYPE_STRUCT_OPS or not flags & BPF_F_LINK:
            raise AttachError("the new map must be a struct_ops map from "
                              "SEC(\".struct_ops.link\") (BPF_F_LINK)", hook="struct_ops",
                              target=label)
        _write_link_value(new_map, label)
        try:
            K.link_update(self.fd, fdnum(new_map), BPF_F_REPLACE if old_map is not None else 0,
                          fdnum(old_map) if old_map is not None else 0)
        except KernelError as e:
            hint = {22: " (for tcp_congestion_ops the new map needs the same .name; the old "
                        "map given must be the one registered)",
                    1: " (old_map is not the map this link holds)",
                    95: " (this kernel cannot replace struct_ops maps: Linux 6.4+)",
                    16: " (the new map is registered elsewhere)"}.get(e.errno or 0, "")
            raise AttachError(f"cannot replace struct_ops map {self.target!r} by {label!r}: "
                              f"{e}{hint}", hook="struct_ops", target=label, cause=e) from e
        self.program, self.target = new_map, getattr(new_map, "name", None)

    def update(self, program: Any, old_program: Any = None) -> None:
        """For a struct_ops link the replacement is a map: same as :meth:`update_map`."""
        if _fd_kind(program) == "bpf-prog":
            raise AttachError("a struct_ops link is updated with another struct_ops map "
                              "(update_map), not a program", hook="struct_ops",
                              target=str(self.target))
        self.update_map(program, old_program)


def attach_struct_ops(map: Any) -> StructOpsLink:
    """Register the struct_ops ``map`` (loaded by ``corebpf.load``); close the Link to
    unregister. A ``.struct_ops.link`` map gets a bpf_link; an older style map is written
    with its value (or found registered already) and has no link fd."""
    name = _map_label(map)
    mtype, flags, vsize = _map_facts(map)
    if mtype != MAP_TYPE_STRUCT_OPS:
        raise AttachError(f"map {name!r} is not a struct_ops map (type {mtype})",
                          hook="struct_ops", target=name)
    if flags & BPF_F_LINK:
        _write_link_value(map, name)
        try:
            fd = K.link_create(fdnum(map), 0, BPF_STRUCT_OPS, 0)
        except KernelError as e:
            hint = _LINK_HINTS.get(e.errno or 0, "")
            raise AttachError(f"cannot register the map{_struct_label(map)}: {e}" +
                              (f"; {hint}" if hint else ""),
                              hook="struct_ops", target=name, cause=e) from e
        return StructOpsLink(fd, map, "struct_ops", getattr(map, "name", None))

    # the value an Object holds back until attach (loading registers nothing, as libbpf);
    # the object module is not imported from here: a map it made means it is loaded
    obj = sys.modules.get("corebpf.object")
    try:
        if obj is None or not obj.register_struct_ops(map):
            state = _state(map, vsize)
            if state != _STATE_INUSE:
                why = ("it was unregistered, and the kernel registers such a map only once: "
                       "load the object again" if state == _STATE_TOBEFREE else
                       "its value was never written (load it with corebpf.load)")
                raise AttachError(f"cannot register the map: {why}",
                                  hook="struct_ops", target=name)
    except KernelError as e:
        hint = _LINK_HINTS.get(e.errno or 0, "")
        raise AttachError(f"cannot register the map{_struct_label(map)}: {e}" +
                          (f"; {hint}" if hint else ""),
                          hook="struct_ops", target=name, cause=e) from e

    def undo() -> None:
        from .. import _sys
        try:
            _sys.map_delete_elem(fdnum(map), struct.pack("<I", 0))
        except KernelError as e:
            if e.errno != 2:
                raise
    return StructOpsLink(None, map, "struct_ops", getattr(map, "name", None), undo=undo)


__all__ = ["attach_struct_ops", "StructOpsLink"]
