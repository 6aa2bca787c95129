"""The ``Link`` base: one attachment of a program to a hook.

A ``Link`` owns what keeps the program attached: a kernel bpf_link fd for modern hooks, or
for older mechanisms (perf-event ioctl, SO_ATTACH_BPF, BPF_PROG_ATTACH, netlink) whatever
``close()`` must undo. Closing (explicitly, on ``with`` exit, or when garbage collected)
detaches unless the link is pinned in bpffs.
"""
from __future__ import annotations

import ctypes
import os
import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

from ..errors import AttachError, Error, KernelError, NotSupported
from . import _kernel as K

# enum bpf_link_type
LINK_TYPE_NAMES = {
    0: "unspec", 1: "raw_tracepoint", 2: "tracing", 3: "cgroup", 4: "iter", 5: "netns",
    6: "xdp", 7: "perf_event", 8: "kprobe_multi", 9: "struct_ops", 10: "netfilter",
    11: "tcx", 12: "uprobe_multi", 13: "netkit", 14: "sockmap",
}
# enum bpf_perf_event_type
PERF_EVENT_TYPE_NAMES = {0: "unspec", 1: "uprobe", 2: "uretprobe", 3: "kprobe",
                         4: "kretprobe", 5: "tracepoint", 6: "event"}

BPF_F_REPLACE = 4


def fdnum(obj: Any) -> int:
    """The integer fd of an int, an ``FD``, a Program/Map (``.fd``) or anything with fileno()."""
    if isinstance(obj, int):
        return obj
    fd = getattr(obj, "fd", None)
    if fd is not None and fd is not obj:
        return fdnum(fd)
    if hasattr(obj, "fileno"):
        return obj.fileno()
    return int(obj)


def prog_name(program: Any) -> str:
    return str(getattr(program, "name", None) or getattr(program, "section", None) or "program")


class LinkInfo:
    """What the kernel reports about a link (``BPF_OBJ_GET_INFO_BY_FD``).

    Always has ``type`` (int), ``type_name``, ``id``, ``prog_id``; plus the fields of the
    link's kind (e.g. ``tp_name``, ``ifindex``, ``attach_type``, ``cgroup_id``,
    ``target_name``, ``file_name``/``offset`` for uprobes).
    """

    __slots__ = ("type", "type_name", "id", "prog_id", "fields")

    def __init__(self, type: int, id: int, prog_id: int, fields: dict[str, Any]) -> None:
        self.type, self.id, self.prog_id, self.fields = type, id, prog_id, fields
        self.type_name = LINK_TYPE_NAMES.get(type, f"type {type}")

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name] if name != "fields" else None
        except KeyError:
            raise AttributeError(name) from None

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "id": self.id, "prog_id": self.prog_id, **self.fields}

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.fields.items())
        return f"LinkInfo(type={self.type_name!r}, id={self.id}, prog_id={self.prog_id}{extra})"


def link_info(fd: int) -> LinkInfo:
    """Read and decode ``struct bpf_link_info`` of the link ``fd``."""
    info = ctypes.create_string_buffer(256)
    K.obj_get_info(fd, info)
    ltype, lid, pid = struct.unpack_from("<III", info, 0)
    # Second pass with name buffers for the kinds that report a string.
    name = ctypes.create_string_buffer(4096)
    nptr = ctypes.addressof(name)
    again = True
    if ltype == 1:  # raw_tracepoint: tp_name ptr @16, len @24
        struct.pack_into("<QI", info, 16, nptr, 4096)
    elif ltype == 4:  # iter: target_name @16, len @24
        struct.pack_into("<QI", info, 16, nptr, 4096)
    elif ltype == 7 and struct.unpack_from("<I", info, 16)[0] in (1, 2, 3, 4, 5):
        struct.pack_into("<QI", info, 24, nptr, 4096)  # probe/tracepoint name ptr @24
    elif ltype == 12:  # uprobe_multi: path @16, path_size @48
        struct.pack_into("<Q", info, 16, nptr)
        struct.pack_into("<I", info, 48, 4096)
    else:
        again = False
    if again:
        K.obj_get_info(fd, info)
    f: dict[str, Any] = {}

    def cstr() -> str:
        return name.value.decode(errors="replace")

    if ltype == 1:
        f["tp_name"] = cstr()
    elif ltype == 2:
        f["attach_type"], f["target_obj_id"], f["target_btf_id"] = struct.unpack_from(
            "<III", info, 16)
    elif ltype == 3:
        f["cgroup_id"], f["attach_type"] = struct.unpack_from("<QI", info, 16)
    elif ltype == 4:
        f["target_name"] = cstr()
        f["map_id"] = struct.unpack_from("<I", info, 28)[0]
    elif ltype == 5:
        f["netns_ino"], f["attach_type"] = struct.unpack_from("<II", info, 16)
    elif ltype == 6:
        f["ifindex"] = struct.unpack_from("<I", info, 16)[0]
    elif ltype == 7:
        ptype = struct.unpack_from("<I", info, 16)[0]
        f["perf_event_type"] = PERF_EVENT_TYPE_NAMES.get(ptype, ptype)
        if ptype in (1, 2):
            f["file_name"] = cstr()
            f["offset"] = struct.unpack_from("<I", info, 36)[0]
            f["cookie"] = struct.unpack_from("<Q", info, 40)[0]
        elif ptype in (3, 4):
            f["func_name"] = cstr()
            f["offset"] = struct.unpack_from("<I", info, 36)[0]
            f["addr"] = struct.unpack_from("<Q", info, 40)[0]
        elif ptype == 5:
            f["tp_name"] = cstr()
            f["cookie"] = struct.unpack_from("<Q", info, 40)[0]
        elif ptype == 6:
            f["config"] = struct.unpack_from("<Q", info, 24)[0]
    elif ltype == 9:
        f["map_id"] = struct.unpack_from("<I", info, 16)[0]
    elif ltype == 10:
        f["pf"], f["hooknum"], f["priority"], f["flags"] = struct.unpack_from("<IIiI", info, 16)
    elif ltype in (11, 13, 14):
        key = "map_id" if ltype == 14 else "ifindex"
        f[key], f["attach_type"] = struct.unpack_from("<II", info, 16)
    elif ltype == 12:
        f["path"] = cstr()
        f["count"], f["flags"], f["pid"] = struct.unpack_from("<III", info, 52)
    return LinkInfo(ltype, lid, pid, f)


def _check_link_fd(fd: int, what: str) -> None:
    try:
        kind = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return  # no /proc: let the kernel's answers speak
    if kind != "anon_inode:bpf-link":
        raise Error(f"{what} is not a BPF link ({kind.removeprefix('anon_inode:')})")


class Link:
    """One attachment of a program to a hook; detached by ``close()`` unless pinned.

    ``fd`` is the bpf_link fd when the kernel made one (``None`` for attachments without a
    link object, e.g. socket filters or netlink TC filters). ``program`` is the attached
    program (as given), ``hook`` names the hook family and ``target`` what was attached to.
    """

    __slots__ = ("_fd", "program", "hook", "target", "_owned", "_undo", "_after",
                 "pinned_path", "__weakref__")

    def __init__(self, fd: int | None, program: Any = None, hook: str = "link",
                 target: Any = None, owned: list[int] | None = None,
                 undo: Callable[[], None] | None = None) -> None:
        self._fd = fd
        self.program = program
        self.hook = hook
        self.target = target
        self._owned = owned or []   # other fds to close with the link (perf events, ...)
        self._undo = undo           # detaches what has no link fd (netlink, setsockopt ...)
        self._after: Callable[[], None] | None = None  # runs once the fds are closed
        self.pinned_path: str | None = None

    # -- fd ---------------------------------------------------------------------------
    @property
    def fd(self) -> int:
        """The bpf_link fd; raises if closed or if this attachment has no link object."""
        if self._fd is None:
            if self.closed:
                raise Error(f"{self!r} is closed")
            raise Error(f"{self.hook} attachment has no bpf_link fd (attached without a link)")
        return self._fd

    def fileno(self) -> int:
        return self.fd

    @property
    def closed(self) -> bool:
        return self._fd is None and not self._owned and self._undo is None \
            and self._after is None

    @property
    def is_bpf_link(self) -> bool:
        return self._fd is not None

    # -- life -------------------------------------------------------------------------
    def close(self) -> None:
        """Release the attachment; the kernel detaches unless the link is pinned."""
        undo, self._undo = self._undo, None
        after, self._after = getattr(self, "_after", None), None
        fd, self._fd = self._fd, None
        owned, self._owned = self._owned, []
        err: BaseException | None = None
        if undo is not None:
            try:
                undo()
            except Exception as e:  # noqa: BLE001 - close everything else first
                err = e
        if fd is not None:
            K.fd_close(fd)
        for o in owned:
            K.fd_close(o)
        if after is not None:
            try:
                after()
            except Exception as e:  # noqa: BLE001
                err = err or e
        if err is not None:
            raise err

    def detach(self) -> None:
        """Detach from the hook now, even if pinned or shared, then close.

        Uses BPF_LINK_DETACH where the link kind supports it; otherwise closing is the
        detach (and a pinned link of such a kind stays attached until unpinned).
        """
        if self._fd is not None:
            try:
                K.link_detach(self._fd)
            except KernelError as e:
                if e.errno not in (22, 95, 524):  # kinds without detach: closing is the detach
                    raise
        self.close()

    def __enter__(self) -> "Link":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from GC
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else (f"fd={self._fd}" if self._fd is not None
                                              else "attached")
        tgt = f" {self.target!r}" if self.target is not None else ""
        return f"<{type(self).__name__} {self.hook}{tgt} {prog_name(self.program)} {state}>"

    # -- pinning ----------------------------------------------------------------------
    def pin(self, path: str) -> None:
        """Pin the link in bpffs at ``path``: it then outlives this process."""
        try:
            K.obj_pin(self.fd, path)
        except KernelError as e:
            raise AttachError(f"cannot pin link at {path}: {e}", hook=self.hook,
                              target=str(self.target), cause=e) from e
        self.pinned_path = path

    def unpin(self) -> None:
        """Remove the pin made by ``pin()`` (or the one ``from_pin()`` opened)."""
        if self.pinned_path is None:
            raise Error(f"{self!r} is not pinned")
        try:
            os.unlink(self.pinned_path)
        except OSError as e:
            raise Error(f"cannot unpin {self.pinned_path}: {e.strerror}") from None
        self.pinned_path = None

    @classmethod
    def from_pin(cls, path: str) -> "Link":
        """Open a link pinned at ``path``; closing it leaves the pinned link attached."""
        fd = K.obj_get(path)
        try:
            _check_link_fd(fd, path)
            info = link_info(fd)
        except BaseException:
            K.fd_close(fd)
            raise
        link = cls(fd, None, info.type_name, None)
        link.pinned_path = path
        return link

    @classmethod
    def from_id(cls, link_id: int) -> "Link":
        """Open the kernel link with id ``link_id`` (closing it does not detach others)."""
        fd = K.link_get_fd_by_id(link_id)
        try:
            info = link_info(fd)
        except BaseException:
            K.fd_close(fd)
            raise
        return cls(fd, None, info.type_name, None)

    # -- kernel state -----------------------------------------------------------------
    def update(self, program: Any, old_program: Any = None) -> None:
        """Atomically replace the attached program (``old_program``: only if it is that one)."""
        flags, old = (BPF_F_REPLACE, fdnum(old_program)) if old_program is not None else (0, 0)
        try:
            K.link_update(self.fd, fdnum(program), flags, old)
        except KernelError as e:
            raise AttachError(f"cannot update link to {prog_name(program)}: {e}",
                              hook=self.hook, cause=e) from e
        self.program = program

    def info(self) -> LinkInfo:
        """What the kernel reports about this link."""
        return link_info(self.fd)


class HookUnavailable(AttachError, NotSupported):
    """The hook does not exist on this kernel (both an AttachError and a NotSupported)."""

    def __init__(self, msg: str, *, hook: str, target: str | None = None,
                 command: str = "attach", err: int = 95) -> None:
        NotSupported.__init__(self, command, err, hint=msg, feature=hook)
        self.hook, self.target, self.cause = hook, target, None
        where = f"{hook} {target!r}" if target else hook
        self.args = (f"attach {where}: {msg}",)

    def __str__(self) -> str:
        return self.args[0]
