"""The only module that talks to the kernel: bpf(), perf_event_open, ioctl, mmap, mount.

Attribute layouts follow ``union bpf_attr`` of the uapi as the running kernel (6.18) has it;
offsets are written as literal numbers (checked against the kernel's own BTF) so that nothing
here needs parsing at import time. Each command passes as ``size`` only the part of the union
it fills, so older kernels accept the call as long as the newer fields stay zero.

Hot paths (map element ops) go through :class:`MapOps`, which preallocates its attr, key and
value buffers once and calls ``syscall`` through prebuilt ``functools.partial`` objects, so a
lookup costs one ctypes call and no Python allocation besides the result.

Errors: every failing call raises a :class:`corebpf.errors.KernelError` subclass naming the
command; raw ``OSError`` never leaves this module.
"""
from __future__ import annotations

import ctypes
import errno as _errno
import os
import struct
from _functools import partial  # the C module: functools.py pulls in collections
TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs ~3 ms of start-up
    from typing import Any, Iterable

from .errors import (Error, KernelError, NotFound, NotSupported, PermissionDenied,
                     VerifierError, _last_log_line)


class ClosedError(Error, ValueError):
    """An operation on a kernel object whose fd was already closed."""


class ArgumentError(Error, TypeError, ValueError):
    """A bad argument to a syscall wrapper (wrong buffer kind or size, bad fd object)."""

__all__ = [
    "FD", "ClosedError", "ArgumentError", "bpf", "error_from_errno", "MapOps", "Info",
    "possible_cpus", "online_cpus", "epoll_create",
    "map_create", "map_lookup_elem", "map_update_elem", "map_delete_elem", "map_get_next_key",
    "map_lookup_and_delete_elem", "map_freeze", "map_lookup_batch", "map_update_batch",
    "map_delete_batch", "map_lookup_and_delete_batch", "prog_load", "prog_load_with_log",
    "btf_load", "obj_pin", "obj_get", "unpin", "prog_get_next_id", "map_get_next_id",
    "link_get_next_id", "btf_get_next_id", "prog_get_fd_by_id", "map_get_fd_by_id",
    "link_get_fd_by_id", "btf_get_fd_by_id", "obj_get_info_by_fd", "prog_info", "map_info",
    "link_info", "btf_info", "prog_attach", "prog_detach", "prog_query", "link_create",
    "link_update", "link_detach", "raw_tracepoint_open", "prog_test_run", "iter_create",
    "enable_stats", "task_fd_query", "prog_bind_map", "perf_event_open", "ioctl",
    "perf_event_enable", "perf_event_disable", "perf_event_set_bpf", "mmap_fd",
    "mount_bpffs", "mount_tracefs", "is_bpffs", "tracefs_path", "buffer_address",
]

# --------------------------------------------------------------------------- constants

NR_BPF = 321            # x86_64
NR_PERF_EVENT_OPEN = 298
ENOTSUPP = 524          # kernel-internal "not supported", leaks out of bpf()

# enum bpf_cmd
BPF_MAP_CREATE = 0
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_MAP_GET_NEXT_KEY = 4
BPF_PROG_LOAD = 5
BPF_OBJ_PIN = 6
BPF_OBJ_GET = 7
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_TEST_RUN = 10
BPF_PROG_GET_NEXT_ID = 11
BPF_MAP_GET_NEXT_ID = 12
BPF_PROG_GET_FD_BY_ID = 13
BPF_MAP_GET_FD_BY_ID = 14
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_PROG_QUERY = 16
BPF_RAW_TRACEPOINT_OPEN = 17
BPF_BTF_LOAD = 18
BPF_BTF_GET_FD_BY_ID = 19
BPF_TASK_FD_QUERY = 20
BPF_MAP_LOOKUP_AND_DELETE_ELEM = 21
BPF_MAP_FREEZE = 22
BPF_BTF_GET_NEXT_ID = 23
BPF_MAP_LOOKUP_BATCH = 24
BPF_MAP_LOOKUP_AND_DELETE_BATCH = 25
BPF_MAP_UPDATE_BATCH = 26
BPF_MAP_DELETE_BATCH = 27
BPF_LINK_CREATE = 28
BPF_LINK_UPDATE = 29
BPF_LINK_GET_FD_BY_ID = 30
BPF_LINK_GET_NEXT_ID = 31
BPF_ENABLE_STATS = 32
BPF_ITER_CREATE = 33
BPF_LINK_DETACH = 34
BPF_PROG_BIND_MAP = 35
BPF_TOKEN_CREATE = 36

CMD_NAMES = {v: k[4:].lower() for k, v in globals().items()
             if k.startswith("BPF_") and isinstance(v, int)}

# element update flags
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
BPF_F_LOCK = 4

# obj_pin / obj_get file_flags
BPF_F_RDONLY = 1 << 3
BPF_F_WRONLY = 1 << 4
BPF_F_PATH_FD = 1 << 14

# prog_load flags
BPF_F_STRICT_ALIGNMENT = 1 << 0
BPF_F_ANY_ALIGNMENT = 1 << 1
BPF_F_TEST_RND_HI32 = 1 << 2
BPF_F_TEST_STATE_FREQ = 1 << 3
BPF_F_SLEEPABLE = 1 << 4
BPF_F_XDP_HAS_FRAGS = 1 << 5

BPF_F_TEST_RUN_ON_CPU = 1 << 0

# perf_event ioctls (_IO('$', n) / _IOW('$', 8, __u32))
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_RESET = 0x2403
PERF_EVENT_IOC_SET_BPF = 0x40042408

BPF_FS_MAGIC = 0xCAFE4A11
TRACEFS_MAGIC = 0x74726163
DEBUGFS_MAGIC = 0x64626720

# --------------------------------------------------------------------------- libc

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
# The same syscall() without dropping the GIL, for map element ops only: they take about a
# microsecond in the kernel and never wait, so releasing and re-taking the GIL around them
# is pure cost (≈10% per op alone, and with several threads every op would hand the GIL
# over). Everything that may run long (prog_load, batch ops, perf events) keeps _syscall.
_syscall_gil = ctypes.PyDLL(None, use_errno=True).syscall
_syscall_gil.restype = ctypes.c_long
_get_errno = ctypes.get_errno
_addressof = ctypes.addressof
_c_char_p = ctypes.c_char_p
_cast = ctypes.cast
_c_void_p = ctypes.c_void_p

_pack_into = struct.pack_into
_unpack_from = struct.unpack_from

_HINTS = {
    _errno.EPERM: "needs root or CAP_BPF (CAP_PERFMON/CAP_NET_ADMIN for some types), "
                  "or kernel lockdown forbids it",
    _errno.EACCES: "needs root or CAP_BPF, or kernel lockdown forbids it",
    _errno.E2BIG: "an attribute is larger than this kernel accepts, or a newer attribute "
                  "this kernel does not know was set",
    _errno.ENOSPC: "out of space (log buffer too small, or map full)",
    _errno.EBADF: "a file descriptor passed is not open or not of the expected kind",
    _errno.ENOMEM: "the kernel could not allocate memory (check max_entries and RLIMIT_MEMLOCK)",
}


def error_from_errno(command: str, err: int, detail: str = "", hint: str = "",
                     feature: str | None = None) -> KernelError:
    """Build the typed exception for ``err`` returned by ``command``."""
    if err in (_errno.EPERM, _errno.EACCES):
        return PermissionDenied(command, err, hint or _HINTS[err], detail)
    if err == _errno.ENOENT:
        return NotFound(command, err, hint, detail)
    if err in (_errno.EOPNOTSUPP, ENOTSUPP):
        return NotSupported(command, err, hint, detail, feature=feature)
    if not hint:
        hint = _HINTS.get(err, "")
    return KernelError(command, err, hint, detail)


def _fail(cmd: int, detail: str = "", hint: str = "", err: int | None = None) -> KernelError:
    return error_from_errno(CMD_NAMES.get(cmd, f"bpf cmd {cmd}"),
                            _get_errno() if err is None else err, detail, hint)


def bpf(cmd: int, attr: Any, size: int) -> int:
    """Raw ``bpf(cmd, attr, size)``; returns the result or raises a KernelError subclass."""
    r = _syscall(NR_BPF, cmd, attr, size)
    if r < 0:
        raise _fail(cmd)
    return r


def _bpf_errno(cmd: int, attr: Any, size: int) -> tuple[int, int]:
    """``bpf()`` returning (result, errno) without raising (errno 0 on success)."""
    r = _syscall(NR_BPF, cmd, attr, size)
    if r < 0:
        return r, _get_errno()
    return r, 0


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def buffer_address(buf: Any, writable: bool = False) -> tuple[int, int, Any]:
    """(address, length in bytes, keep-alive object) of any buffer.

    Writable buffers (bytearray, ctypes arrays, mmaps, numpy arrays) are used in place;
    read-only ones (bytes, read-only memoryviews) are used in place when they are bytes and
    copied otherwise. ``writable=True`` refuses read-only buffers.
    """
    if isinstance(buf, ctypes.Array):
        return _addressof(buf), ctypes.sizeof(buf), buf
    if isinstance(buf, bytes):
        if writable:
            raise ArgumentError("a writable buffer is needed, got bytes")
        return _cast(_c_char_p(buf), _c_void_p).value or 0, len(buf), buf
    try:
        mv = memoryview(buf)
    except TypeError:
        raise ArgumentError(f"expected a buffer (bytes, bytearray, memoryview, array), got "
                            f"{type(buf).__name__}") from None
    if not mv.c_contiguous:
        raise ArgumentError("buffer must be C-contiguous")
    n = mv.nbytes
    if mv.readonly:
        if writable:
            raise ArgumentError("a writable buffer is needed, got a read-only one")
        b = mv.tobytes()
        return _cast(_c_char_p(b), _c_void_p).value or 0, n, b
    if n == 0:
        return 0, 0, None
    arr = (ctypes.c_char * n).from_buffer(mv.cast("B"))
    return _addressof(arr), n, arr


# --------------------------------------------------------------------------- FD

class FD:
    """Owns one file descriptor: closes it on ``close()``, on ``with`` exit and on GC."""

    __slots__ = ("_fd", "kind", "__weakref__")

    def __init__(self, fd: int, kind: str = "fd") -> None:
        if fd < 0:
            raise ArgumentError(f"invalid fd {fd}")
        self._fd = fd
        self.kind = kind

    @property
    def fd(self) -> int:
        if self._fd < 0:
            raise ClosedError(f"{self.kind} fd is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def fileno(self) -> int:
        return self.fd

    def __int__(self) -> int:
        return self.fd

    __index__ = __int__

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            _close(fd)

    def detach(self) -> int:
        """Give up ownership: return the fd without closing it."""
        fd, self._fd = self._fd, -1
        return fd

    def dup(self) -> "FD":
        try:
            return FD(os.dup(self.fd), self.kind)
        except OSError as e:
            raise error_from_errno(f"dup {self.kind} fd", e.errno or _errno.EBADF) from None

    def __enter__(self) -> "FD":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            self._fd = -1
            try:
                os.close(fd)
            except Exception:  # also at interpreter shutdown, when os may be gone
                pass

    def __repr__(self) -> str:
        return f"<FD {self.kind} {self._fd if self._fd >= 0 else 'closed'}>"


def _fdnum(x: Any) -> int:
    """An fd number from an int, an FD, or anything with ``fd``/``fileno()``."""
    if x is None:
        return 0
    if isinstance(x, int):
        return x
    if isinstance(x, FD):
        return x.fd
    f = getattr(x, "fileno", None)
    if f is not None:
        return f()
    f = getattr(x, "fd", None)
    if f is not None:
        return _fdnum(f)
    raise ArgumentError(f"expected a file descriptor, got {type(x).__name__}")


def _name16(name: str | bytes | None) -> bytes:
    """Object names as the kernel accepts them: ≤15 chars of [A-Za-z0-9_.]."""
    if not name:
        return b""
    if isinstance(name, str):
        name = name.encode("ascii", "replace")
    out = bytes(c for c in name if (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)
                or c in (95, 46))
    return out[:15]


def _cpath(path: str | bytes | os.PathLike, what: str) -> bytes:
    """``path`` as the bytes the kernel gets. An embedded NUL would end the C string early
    and name another file (pin or open the wrong object): refused."""
    try:
        b = os.fsencode(path)
    except TypeError:
        raise ArgumentError(f"{what}: expected a path, got {type(path).__name__}") from None
    if b"\0" in b:
        raise ArgumentError(f"{what}: path {os.fsdecode(b)!r} contains a NUL byte")
    return b


def _attr(size: int) -> ctypes.Array:
    return ctypes.create_string_buffer(size)


# --------------------------------------------------------------------------- cpus

def _parse_cpulist(text: str) -> list[int]:
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            cpus.extend(range(int(a), int(b) + 1))
        else:
            cpus.append(int(part))
    return cpus


_POSSIBLE: int | None = None


def possible_cpus() -> int:
    """Number of possible CPUs (the size of per-CPU map values): highest possible id + 1."""
    global _POSSIBLE
    if _POSSIBLE is None:
        try:
            with open("/sys/devices/system/cpu/possible") as f:
                _POSSIBLE = max(_parse_cpulist(f.read())) + 1
        except (OSError, ValueError):
            _POSSIBLE = os.cpu_count() or 1
    return _POSSIBLE


def online_cpus() -> list[int]:
    """Ids of the online CPUs."""
    try:
        with open("/sys/devices/system/cpu/online") as f:
            return _parse_cpulist(f.read())
    except (OSError, ValueError):
        return list(range(os.cpu_count() or 1))


# --------------------------------------------------------------------------- maps

def map_create(map_type: int, key_size: int, value_size: int, max_entries: int,
               map_flags: int = 0, *, inner_map_fd: Any = None, numa_node: int = 0,
               map_name: str | bytes | None = None, map_ifindex: int = 0, btf_fd: Any = None,
               btf_key_type_id: int = 0, btf_value_type_id: int = 0,
               btf_vmlinux_value_type_id: int = 0, map_extra: int = 0,
               value_type_btf_obj_fd: Any = None, map_token_fd: Any = None) -> FD:
    """BPF_MAP_CREATE; returns the new map's fd."""
    a = _attr(80)
    _pack_into("<IIIIIII16sIIIIIQ", a, 0, map_type, key_size, value_size, max_entries,
               map_flags, _fdnum(inner_map_fd), numa_node, _name16(map_name), map_ifindex,
               _fdnum(btf_fd), btf_key_type_id, btf_value_type_id,
               btf_vmlinux_value_type_id, map_extra)
    size = 72
    if value_type_btf_obj_fd is not None or map_token_fd is not None:
        _pack_into("<ii", a, 72, _fdnum(value_type_btf_obj_fd), _fdnum(map_token_fd))
        size = 80
    r, err = _bpf_errno(BPF_MAP_CREATE, a, size)
    if r < 0:
        detail = (f"map {map_name or ''!r}: type={map_type} key_size={key_size} "
                  f"value_size={value_size} max_entries={max_entries} flags={map_flags:#x}")
        if btf_fd is not None:
            detail += f" btf key/value type ids={btf_key_type_id}/{btf_value_type_id}"
        if btf_vmlinux_value_type_id:
            detail += f" vmlinux value type id={btf_vmlinux_value_type_id}"
        if map_extra:
            detail += f" map_extra={map_extra:#x}"
        hint = ""
        if err == _errno.EINVAL:
            hint = ("the kernel rejected one of these attributes (unknown map type, a size "
                    "this type does not allow, or flags it does not take)")
        raise error_from_errno("map_create", err, detail, hint)
    return FD(r, "map")


class MapOps:
    """Preallocated element operations on one map (the hot path).

    ``key`` and ``value`` are ctypes buffers the caller fills/reads. The partials return
    the raw syscall result (``-1`` on error, then ``_get_errno()`` tells why):
    ``_lookup``/``_update``/``_lookup_and_delete`` always pass flags 0 (plain ``m[k]``),
    ``_lookup_f``/``_update_f``/``_lookup_and_delete_f`` pass the flags set with
    ``set_flags``; ``_delete``, ``_next_key`` (after ``key``) and ``_next_first`` fill
    ``next``. The methods without underscore raise typed errors and return False on ENOENT.
    The partials call ``syscall`` without releasing the GIL (``_syscall_gil``): an element
    op is about a microsecond in the kernel and never sleeps for long.
    """

    __slots__ = ("fd", "key_size", "value_size", "key", "value", "next", "attr", "_attrs",
                 "_lookup", "_update", "_delete", "_next_key", "_next_first",
                 "_lookup_and_delete", "_lookup_f", "_update_f", "_lookup_and_delete_f",
                 "_flags", "name")

    def __init__(self, fd: int, key_size: int, value_size: int, name: str = "") -> None:
        self.fd = fd
        self.name = name
        self.key_size = key_size
        self.value_size = value_size
        self.key = ctypes.create_string_buffer(max(key_size, 1))
        self.value = ctypes.create_string_buffer(max(value_size, 1))
        self.next = ctypes.create_string_buffer(max(key_size, 1))
        kaddr = _addressof(self.key) if key_size else 0
        vaddr = _addressof(self.value)
        naddr = _addressof(self.next)

        def mk(k: int, v: int) -> ctypes.Array:
            b = ctypes.create_string_buffer(32)
            _pack_into("<IxxxxQQQ", b, 0, fd, k, v, 0)
            return b
        # z: flags always 0; a: flags set by set_flags(); d: delete (key only, no flags);
        # n: get_next_key after key; f: get_next_key with key NULL (the first key)
        z, a, d, n, f = mk(kaddr, vaddr), mk(kaddr, vaddr), mk(kaddr, 0), \
            mk(kaddr, naddr), mk(0, naddr)
        self.attr = a
        self._attrs = (z, d, n, f)
        self._flags = 0
        sc = _syscall_gil
        self._lookup = partial(sc, NR_BPF, BPF_MAP_LOOKUP_ELEM, z, 32)
        self._update = partial(sc, NR_BPF, BPF_MAP_UPDATE_ELEM, z, 32)
        self._lookup_and_delete = partial(sc, NR_BPF, BPF_MAP_LOOKUP_AND_DELETE_ELEM, z, 32)
        self._lookup_f = partial(sc, NR_BPF, BPF_MAP_LOOKUP_ELEM, a, 32)
        self._update_f = partial(sc, NR_BPF, BPF_MAP_UPDATE_ELEM, a, 32)
        self._lookup_and_delete_f = partial(sc, NR_BPF, BPF_MAP_LOOKUP_AND_DELETE_ELEM, a, 32)
        self._delete = partial(sc, NR_BPF, BPF_MAP_DELETE_ELEM, d, 32)
        self._next_key = partial(sc, NR_BPF, BPF_MAP_GET_NEXT_KEY, n, 32)
        self._next_first = partial(sc, NR_BPF, BPF_MAP_GET_NEXT_KEY, f, 32)

    def invalidate(self) -> None:
        """Point every attr at fd -1 so that use after close fails with EBADF instead of
        reaching whatever object later reuses the fd number."""
        for a in (self.attr, *self._attrs):
            _pack_into("<i", a, 0, -1)
        self.fd = -1

    def set_flags(self, flags: int) -> None:
        """Set the flags word used by the following lookup/update calls."""
        if flags != self._flags:
            _pack_into("<Q", self.attr, 24, flags)
            self._flags = flags

    def error(self, cmd: int, detail: str = "") -> KernelError:
        """The typed error for the errno the last failed call left."""
        err = _get_errno()
        if not detail and self.name:
            detail = f"map {self.name!r}"
        return _fail(cmd, detail, err=err)

    def lookup(self, flags: int = 0) -> bool:
        self.set_flags(flags)
        if self._lookup_f() < 0:
            if _get_errno() == _errno.ENOENT:
                return False
            raise self.error(BPF_MAP_LOOKUP_ELEM)
        return True

    def update(self, flags: int = 0) -> None:
        self.set_flags(flags)
        if self._update_f() < 0:
            raise self.error(BPF_MAP_UPDATE_ELEM)

    def delete(self) -> bool:
        if self._delete() < 0:
            if _get_errno() == _errno.ENOENT:
                return False
            raise self.error(BPF_MAP_DELETE_ELEM)
        return True

    def lookup_and_delete(self, flags: int = 0) -> bool:
        self.set_flags(flags)
        if self._lookup_and_delete_f() < 0:
            if _get_errno() == _errno.ENOENT:
                return False
            raise self.error(BPF_MAP_LOOKUP_AND_DELETE_ELEM)
        return True

    def next_key(self, first: bool) -> bool:
        """Fill ``next`` with the key after ``key`` (or the first key); False at the end."""
        r = self._next_first() if first else self._next_key()
        if r < 0:
            if _get_errno() == _errno.ENOENT:
                return False
            raise self.error(BPF_MAP_GET_NEXT_KEY)
        return True


def _elem_attr(fd: Any, key: Any, value: Any, flags: int) -> tuple[ctypes.Array, list]:
    keep: list = []
    a = _attr(32)
    ka = va = 0
    if key is not None:
        ka, _, k = buffer_address(key)
        keep.append(k)
    if value is not None:
        va, _, v = buffer_address(value)
        keep.append(v)
    _pack_into("<IxxxxQQQ", a, 0, _fdnum(fd), ka, va, flags)
    return a, keep


def map_lookup_elem(fd: Any, key: Any, value: Any, flags: int = 0) -> None:
    """BPF_MAP_LOOKUP_ELEM into the writable buffer ``value``; NotFound if absent."""
    a, keep = _elem_attr(fd, key, value, flags)
    bpf(BPF_MAP_LOOKUP_ELEM, a, 32)


def map_update_elem(fd: Any, key: Any, value: Any, flags: int = 0) -> None:
    a, keep = _elem_attr(fd, key, value, flags)
    bpf(BPF_MAP_UPDATE_ELEM, a, 32)


def map_delete_elem(fd: Any, key: Any, flags: int = 0) -> None:
    a, keep = _elem_attr(fd, key, None, flags)
    bpf(BPF_MAP_DELETE_ELEM, a, 32)


def map_lookup_and_delete_elem(fd: Any, key: Any, value: Any, flags: int = 0) -> None:
    a, keep = _elem_attr(fd, key, value, flags)
    bpf(BPF_MAP_LOOKUP_AND_DELETE_ELEM, a, 32)


def map_get_next_key(fd: Any, key: Any, next_key: Any) -> bool:
    """Fill ``next_key``; ``key=None`` asks for the first key. False when there is none."""
    a, keep = _elem_attr(fd, key, next_key, 0)
    r, err = _bpf_errno(BPF_MAP_GET_NEXT_KEY, a, 32)
    if r < 0:
        if err == _errno.ENOENT:
            return False
        raise _fail(BPF_MAP_GET_NEXT_KEY, err=err)
    return True


def map_freeze(fd: Any) -> None:
    a = _attr(4)
    _pack_into("<I", a, 0, _fdnum(fd))
    bpf(BPF_MAP_FREEZE, a, 4)


def _batch(cmd: int, fd: Any, keys: Any, values: Any, count: int, in_batch: Any,
           out_batch: Any, elem_flags: int, flags: int) -> tuple[int, bool]:
    keep = []
    addrs = []
    for b in (in_batch, out_batch, keys, values):
        if b is None:
            addrs.append(0)
        else:
            ad, _, k = buffer_address(b)
            keep.append(k)
            addrs.append(ad)
    a = _attr(56)
    _pack_into("<QQQQIIQQ", a, 0, *addrs, count, _fdnum(fd), elem_flags, flags)
    r, err = _bpf_errno(cmd, a, 56)
    n = _unpack_from("<I", a, 32)[0]
    if r < 0:
        if err == _errno.ENOENT:
            return n, True
        raise _fail(cmd, f"batch of {count} elements ({n} done)", err=err)
    return n, False


def map_lookup_batch(fd: Any, keys: Any, values: Any, count: int, in_batch: Any,
                     out_batch: Any, elem_flags: int = 0, flags: int = 0) -> tuple[int, bool]:
    """BPF_MAP_LOOKUP_BATCH: (elements copied, reached the end)."""
    return _batch(BPF_MAP_LOOKUP_BATCH, fd, keys, values, count, in_batch, out_batch,
                  elem_flags, flags)


def map_lookup_and_delete_batch(fd: Any, keys: Any, values: Any, count: int, in_batch: Any,
                                out_batch: Any, elem_flags: int = 0,
                                flags: int = 0) -> tuple[int, bool]:
    return _batch(BPF_MAP_LOOKUP_AND_DELETE_BATCH, fd, keys, values, count, in_batch,
                  out_batch, elem_flags, flags)


def map_update_batch(fd: Any, keys: Any, values: Any, count: int, elem_flags: int = 0,
                     flags: int = 0) -> int:
    """BPF_MAP_UPDATE_BATCH: number of elements updated."""
    return _batch(BPF_MAP_UPDATE_BATCH, fd, keys, values, count, None, None,
                  elem_flags, flags)[0]


def map_delete_batch(fd: Any, keys: Any, count: int, elem_flags: int = 0,
                     flags: int = 0) -> int:
    return _batch(BPF_MAP_DELETE_BATCH, fd, keys, None, count, None, None,
                  elem_flags, flags)[0]


# --------------------------------------------------------------------------- programs

def _ptr(buf: Any, keep: list) -> int:
    if buf is None:
        return 0
    ad, _, k = buffer_address(buf)
    keep.append(k)
    return ad


def _fd_array(fds: Iterable[Any] | None, keep: list) -> tuple[int, int]:
    if not fds:
        return 0, 0
    nums = [_fdnum(f) for f in fds]
    arr = (ctypes.c_int32 * len(nums))(*nums)
    keep.append(arr)
    return _addressof(arr), len(nums)


# the retry log that explains a refusal: libbpf's first retry size (BPF_LOG_BUF_SIZE); unlike
# libbpf we do not double it past this, which for a program refused after the verifier's
# 1M-instruction budget would mean verifying again at 32, 64, ... 512 MiB
RETRY_LOG_MAX = 1 << 24


def _log_end(text: str, size: int = 1 << 16) -> str:
    """The end of a verifier log, where its verdict is: a log may hold 16 MiB."""
    return text[-size:] if len(text) > size else text


def prog_load_with_log(prog_type: int, insns: Any, license: str | bytes = "GPL", *,
                       log_level: int = 0, log_size: int = 0, kern_version: int = 0,
                       prog_flags: int = 0, prog_name: str | bytes | None = None,
                       prog_ifindex: int = 0, expected_attach_type: int = 0,
                       prog_btf_fd: Any = None, func_info: Any = None,
                       func_info_rec_size: int = 8, func_info_cnt: int | None = None,
                       line_info: Any = None, line_info_rec_size: int = 16,
                       line_info_cnt: int | None = None, attach_btf_id: int = 0,
                       attach_prog_fd: Any = None, attach_btf_obj_fd: Any = None,
                       fd_array: Iterable[Any] | None = None, fd_array_cnt: bool = False,
                       prog_token_fd: Any = None, retry_log: bool = True,
                       max_log_size: int = 1 << 30,
                       retry_log_size: int = RETRY_LOG_MAX) -> tuple[FD, str]:
    """BPF_PROG_LOAD; returns (fd, verifier log).

    ``insns`` is any buffer of 8-byte instructions. With ``log_level`` > 0 the log buffer
    starts at ``log_size`` (default 64 KiB) and grows (to the kernel's ``log_true_size``
    when it reports one) whenever the kernel says ENOSPC, up to ``max_log_size`` (a log
    that does not fit fails even a load the verifier accepts). On failure with
    ``log_level`` 0 and ``retry_log``, the load is repeated with ``log_level=1`` to get the
    verifier's explanation, with a log of at most ``retry_log_size`` (16 MiB): a program
    the verifier gives up on after its 1M-instruction budget logs hundreds of MB, and the
    kernel (6.4+) keeps the tail, which holds the failing instruction. Verifier refusals
    raise :class:`VerifierError` with the log (``.log_truncated``: None, ``"tail"`` = only
    the end was kept, ``"head"`` = only the start, kernels before 6.4); EPERM raises
    PermissionDenied.
    """
    keep: list = []
    ia, ilen, k = buffer_address(insns)
    keep.append(k)
    if ilen % 8:
        raise ArgumentError(f"instruction buffer length {ilen} is not a multiple of 8")
    lic = license.encode() if isinstance(license, str) else license
    lic_buf = ctypes.create_string_buffer(lic)
    keep.append(lic_buf)
    name = _name16(prog_name)
    fi_cnt = func_info_cnt
    if func_info is not None and fi_cnt is None:
        fi_cnt = memoryview(func_info).nbytes // func_info_rec_size
    li_cnt = line_info_cnt
    if line_info is not None and li_cnt is None:
        li_cnt = memoryview(line_info).nbytes // line_info_rec_size
    fa, fa_n = _fd_array(fd_array, keep)
    if attach_prog_fd is not None and attach_btf_obj_fd is not None:
        raise ArgumentError("attach_prog_fd and attach_btf_obj_fd share one slot; pass one")
    attach_fd = _fdnum(attach_prog_fd if attach_prog_fd is not None else attach_btf_obj_fd)

    def attempt(level: int, lsize: int) -> tuple[int, int, str, int]:
        a = _attr(168)
        log = ctypes.create_string_buffer(lsize) if level else None
        _pack_into("<IIQQIIQII16sIIIIQIIQIII", a, 0,
                   prog_type, ilen // 8, ia, _addressof(lic_buf), level,
                   lsize if level else 0, _addressof(log) if log is not None else 0,
                   kern_version, prog_flags, name, prog_ifindex, expected_attach_type,
                   _fdnum(prog_btf_fd), func_info_rec_size if func_info is not None else 0,
                   _ptr(func_info, keep), fi_cnt or 0,
                   line_info_rec_size if line_info is not None else 0,
                   _ptr(line_info, keep), li_cnt or 0, attach_btf_id, attach_fd)
        size = 128 if fa else 120
        _pack_into("<Q", a, 120, fa)
        if level:
            size = 144  # log_true_size
        if prog_token_fd is not None:
            _pack_into("<i", a, 144, _fdnum(prog_token_fd))
            size = 148
        if fd_array_cnt and fa:
            _pack_into("<I", a, 148, fa_n)
            size = 152
        r, err = _bpf_errno(BPF_PROG_LOAD, a, size)
        text = log.value.decode("utf-8", "replace") if log is not None else ""
        true_size = _unpack_from("<I", a, 140)[0] if level else 0
        return r, err, text, true_size

    level = log_level
    lsize = max(log_size, 4096) if level else 0
    if level and not log_size:
        lsize = 1 << 16
    while True:
        r, err, text, true_size = attempt(level, lsize)
        if r >= 0:
            return FD(r, "prog"), text
        if err == _errno.ENOSPC and level and lsize < max_log_size:
            lsize = min(max(lsize * 4, true_size + 1), max_log_size)
            continue
        truncated = None
        if level == 0 and retry_log and err not in (_errno.EPERM,):
            cap = max(retry_log_size, 4096)
            # E2BIG: the verifier ran out of its instruction budget, so the log is huge;
            # go to the cap at once rather than verify again at every size on the way
            level, lsize = 1, (cap if err == _errno.E2BIG else min(1 << 16, cap))
            r2, err2, text2, true2 = attempt(level, lsize)
            while r2 < 0 and err2 == _errno.ENOSPC and lsize < cap:
                lsize = min(max(lsize * 4, true2 + 1), cap)
                r2, err2, text2, true2 = attempt(level, lsize)
            if r2 >= 0:   # loads with a log but not without: keep it, nothing to report
                return FD(r2, "prog"), ""
            if err2 == _errno.ENOSPC:
                # the log did not fit (the kernel says so even when it has its own reason
                # to refuse): report the reason the unlogged load gave
                truncated = "tail" if true2 else "head"
            else:
                err = err2
            text = text2
        elif err == _errno.ENOSPC and level:
            truncated = "tail" if true_size else "head"
        pname = (name.decode() or "<unnamed>")
        if err == _errno.EPERM or (err == _errno.EACCES and not text.strip()):
            raise error_from_errno("prog_load", err, f"program {pname!r} type {prog_type}"
                                   + (f": {_log_end(text).strip().splitlines()[-1]}"
                                      if text.strip()
                                      else ""))
        if text.strip():
            raise VerifierError(pname, err, text, summary=_last_log_line(_log_end(text)),
                                log_truncated=truncated)
        hint = ""
        if err == _errno.EINVAL:
            hint = ("the kernel rejected an attribute: program type, expected_attach_type, "
                    "attach_btf_id, flags, or func/line info")
        raise error_from_errno("prog_load", err,
                               f"program {pname!r} type {prog_type} "
                               f"expected_attach_type {expected_attach_type}", hint)


def prog_load(prog_type: int, insns: Any, license: str | bytes = "GPL", **kw: Any) -> FD:
    """BPF_PROG_LOAD; returns the program fd (see :func:`prog_load_with_log`)."""
    return prog_load_with_log(prog_type, insns, license, **kw)[0]


def btf_load(data: Any, *, log_level: int = 0, log_size: int = 0, btf_flags: int = 0,
             btf_token_fd: Any = None, retry_log: bool = True) -> FD:
    """BPF_BTF_LOAD; a refusal raises a KernelError whose detail holds the kernel's log."""
    keep: list = []
    da, dlen, k = buffer_address(data)
    keep.append(k)

    def attempt(level: int, lsize: int) -> tuple[int, int, str, int]:
        a = _attr(40)
        log = ctypes.create_string_buffer(lsize) if level else None
        _pack_into("<QQIIIII", a, 0, da, _addressof(log) if log is not None else 0, dlen,
                   lsize if level else 0, level, 0, btf_flags)
        size = 32 if level else 28
        if btf_flags:
            size = 36
        if btf_token_fd is not None:
            _pack_into("<i", a, 36, _fdnum(btf_token_fd))
            size = 40
        r, err = _bpf_errno(BPF_BTF_LOAD, a, size)
        text = log.value.decode("utf-8", "replace") if log is not None else ""
        return r, err, text, (_unpack_from("<I", a, 28)[0] if level else 0)

    level, lsize = log_level, (max(log_size, 4096) if log_level else 0)
    while True:
        r, err, text, true_size = attempt(level, lsize)
        if r >= 0:
            return FD(r, "btf")
        if err == _errno.ENOSPC and level and lsize < (1 << 28):
            lsize = max(lsize * 4, true_size + 1)
            continue
        if level == 0 and retry_log and err != _errno.EPERM:
            level, lsize = 1, 1 << 16
            continue
        last = [ln for ln in text.strip().splitlines() if ln.strip()]
        detail = f"{dlen} bytes of BTF"
        if last:
            detail += ": " + last[-1].strip()
        e = error_from_errno("btf_load", err, detail)
        e.log = text  # type: ignore[attr-defined]
        raise e


# --------------------------------------------------------------------------- pins and ids

def obj_pin(fd: Any, path: str | bytes, file_flags: int = 0, path_fd: Any = None) -> None:
    """BPF_OBJ_PIN ``fd`` at ``path`` (on a bpffs)."""
    p = ctypes.create_string_buffer(_cpath(path, "obj_pin"))
    a = _attr(20)
    _pack_into("<QIIi", a, 0, _addressof(p), _fdnum(fd), file_flags, _fdnum(path_fd))
    r, err = _bpf_errno(BPF_OBJ_PIN, a, 20 if path_fd is not None else 16)
    if r < 0:
        hint = ""
        if err == _errno.EPERM and not is_bpffs(os.path.dirname(os.fsdecode(path)) or "."):
            hint = "the directory is not on a bpf filesystem (mount -t bpf bpf /sys/fs/bpf)"
        elif err == _errno.EEXIST:
            hint = "something is already pinned there"
        raise error_from_errno("obj_pin", err, f"path {os.fsdecode(path)!r}", hint)


def unpin(path: str | bytes) -> bool:
    """Remove a pin (unlink on bpffs); False if nothing was pinned there. Other failures
    raise a typed error naming the path."""
    path = _cpath(path, "unpin")
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as e:
        raise error_from_errno("unpin", e.errno or _errno.EIO,
                               f"path {os.fsdecode(path)!r}") from None
    return True


def obj_get(path: str | bytes, file_flags: int = 0, path_fd: Any = None,
            kind: str = "obj") -> FD:
    """BPF_OBJ_GET: open the object pinned at ``path``."""
    p = ctypes.create_string_buffer(_cpath(path, "obj_get"))
    a = _attr(20)
    _pack_into("<QIIi", a, 0, _addressof(p), 0, file_flags, _fdnum(path_fd))
    r, err = _bpf_errno(BPF_OBJ_GET, a, 20 if path_fd is not None else 16)
    if r < 0:
        raise error_from_errno("obj_get", err, f"path {os.fsdecode(path)!r}")
    return FD(r, kind)


def _next_id(cmd: int, start_id: int) -> int | None:
    a = _attr(12)
    _pack_into("<II", a, 0, start_id, 0)
    r, err = _bpf_errno(cmd, a, 12)
    if r < 0:
        if err == _errno.ENOENT:
            return None
        raise _fail(cmd, err=err)
    return _unpack_from("<I", a, 4)[0]


def prog_get_next_id(start_id: int = 0) -> int | None:
    """Next program id after ``start_id``, or None at the end."""
    return _next_id(BPF_PROG_GET_NEXT_ID, start_id)


def map_get_next_id(start_id: int = 0) -> int | None:
    return _next_id(BPF_MAP_GET_NEXT_ID, start_id)


def link_get_next_id(start_id: int = 0) -> int | None:
    return _next_id(BPF_LINK_GET_NEXT_ID, start_id)


def btf_get_next_id(start_id: int = 0) -> int | None:
    return _next_id(BPF_BTF_GET_NEXT_ID, start_id)


def _fd_by_id(cmd: int, obj_id: int, open_flags: int, kind: str) -> FD:
    a = _attr(12)
    _pack_into("<III", a, 0, obj_id, 0, open_flags)
    r, err = _bpf_errno(cmd, a, 12)
    if r < 0:
        raise error_from_errno(CMD_NAMES[cmd], err, f"{kind} id {obj_id}")
    return FD(r, kind)


def prog_get_fd_by_id(prog_id: int, open_flags: int = 0) -> FD:
    return _fd_by_id(BPF_PROG_GET_FD_BY_ID, prog_id, open_flags, "prog")


def map_get_fd_by_id(map_id: int, open_flags: int = 0) -> FD:
    return _fd_by_id(BPF_MAP_GET_FD_BY_ID, map_id, open_flags, "map")


def link_get_fd_by_id(link_id: int, open_flags: int = 0) -> FD:
    return _fd_by_id(BPF_LINK_GET_FD_BY_ID, link_id, open_flags, "link")


def btf_get_fd_by_id(btf_id: int, open_flags: int = 0) -> FD:
    return _fd_by_id(BPF_BTF_GET_FD_BY_ID, btf_id, open_flags, "btf")


# --------------------------------------------------------------------------- info

class Info(dict):
    """A decoded ``bpf_*_info``: a dict whose keys also read as attributes."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def obj_get_info_by_fd(fd: Any, info: Any = 256) -> bytes:
    """BPF_OBJ_GET_INFO_BY_FD: the raw info struct (``info`` is a size or a prefilled
    writable buffer whose pointer fields ask for arrays). Returns what the kernel wrote."""
    if isinstance(info, int):
        buf = ctypes.create_string_buffer(info)
    else:
        buf = info
    ad, n, _k = buffer_address(buf, writable=True)
    a = _attr(16)
    _pack_into("<IIQ", a, 0, _fdnum(fd), n, ad)
    bpf(BPF_OBJ_GET_INFO_BY_FD, a, 16)
    got = _unpack_from("<I", a, 4)[0]
    return bytes(memoryview(buf).cast("B")[:got])


_PROG_INFO_SIZE = 232
_MAP_INFO_SIZE = 104
_BTF_INFO_SIZE = 32
_LINK_INFO_SIZE = 64


def _u32(b: bytes, off: int) -> int:
    return _unpack_from("<I", b, off)[0] if off + 4 <= len(b) else 0


def _u64(b: bytes, off: int) -> int:
    return _unpack_from("<Q", b, off)[0] if off + 8 <= len(b) else 0


def _cstr(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


def prog_info(fd: Any, *, xlated: bool = False, jited: bool = False, map_ids: bool = False,
              func_info: bool = False, line_info: bool = False, jited_ksyms: bool = False,
              jited_func_lens: bool = False, prog_tags: bool = False) -> Info:
    """Decode ``struct bpf_prog_info``; the keyword switches fetch the arrays with a second
    call (``xlated_prog_insns``, ``jited_prog_insns``, ``map_ids`` (list), ``func_info``,
    ``line_info``, ``jited_ksyms`` (list), ``jited_func_lens`` (list), ``prog_tags``)."""
    b = obj_get_info_by_fd(fd, _PROG_INFO_SIZE)
    d = _decode_prog_info(b)
    want = []
    if xlated:
        want.append(("xlated_prog_insns", 32, d["xlated_prog_len"], 1, 20))
    if jited:
        want.append(("jited_prog_insns", 24, d["jited_prog_len"], 1, 16))
    if map_ids:
        want.append(("map_ids", 56, d["nr_map_ids"], 4, 52))
    if jited_ksyms:
        want.append(("jited_ksyms", 112, d["nr_jited_ksyms"], 8, 104))
    if jited_func_lens:
        want.append(("jited_func_lens", 120, d["nr_jited_func_lens"], 4, 108))
    if func_info:
        want.append(("func_info", 136, d["nr_func_info"] * (d["func_info_rec_size"] or 8),
                     1, None))
    if line_info:
        want.append(("line_info", 152, d["nr_line_info"] * (d["line_info_rec_size"] or 16),
                     1, None))
    if prog_tags:
        want.append(("prog_tags", 184, d["nr_prog_tags"] * 8, 1, None))
    if not want:
        return d
    req = ctypes.create_string_buffer(_PROG_INFO_SIZE)
    bufs = {}
    # Ask only for the arrays wanted: counts of the others stay 0 so the kernel skips them.
    if func_info:
        _pack_into("<I", req, 132, d["func_info_rec_size"] or 8)
        _pack_into("<I", req, 144, d["nr_func_info"])
    if line_info:
        _pack_into("<I", req, 148, d["nr_line_info"])
        _pack_into("<I", req, 172, d["line_info_rec_size"] or 16)
    if prog_tags:
        _pack_into("<I", req, 180, d["nr_prog_tags"])
    for name, ptr_off, count, elem, cnt_off in want:
        nbytes = count * elem
        buf = ctypes.create_string_buffer(max(nbytes, 1))
        bufs[name] = (buf, nbytes, elem)
        _pack_into("<Q", req, ptr_off, _addressof(buf) if nbytes else 0)
        if cnt_off is not None:
            _pack_into("<I", req, cnt_off, count)
    obj_get_info_by_fd(fd, req)
    for name, (buf, nbytes, elem) in bufs.items():
        raw = buf.raw[:nbytes]
        if name in ("map_ids", "jited_func_lens"):
            d[name] = list(struct.unpack(f"<{nbytes // 4}I", raw))
        elif name == "jited_ksyms":
            d[name] = list(struct.unpack(f"<{nbytes // 8}Q", raw))
        else:
            d[name] = raw
    return d


def _decode_prog_info(b: bytes) -> Info:
    d = Info()
    d["type"], d["id"] = _u32(b, 0), _u32(b, 4)
    d["tag"] = b[8:16].hex()
    d["jited_prog_len"], d["xlated_prog_len"] = _u32(b, 16), _u32(b, 20)
    d["load_time"] = _u64(b, 40)
    d["created_by_uid"], d["nr_map_ids"] = _u32(b, 48), _u32(b, 52)
    d["name"] = _cstr(b[64:80])
    d["ifindex"] = _u32(b, 80)
    d["gpl_compatible"] = bool(_u32(b, 84) & 1)
    d["netns_dev"], d["netns_ino"] = _u64(b, 88), _u64(b, 96)
    d["nr_jited_ksyms"], d["nr_jited_func_lens"] = _u32(b, 104), _u32(b, 108)
    d["btf_id"], d["func_info_rec_size"] = _u32(b, 128), _u32(b, 132)
    d["nr_func_info"], d["nr_line_info"] = _u32(b, 144), _u32(b, 148)
    d["nr_jited_line_info"], d["line_info_rec_size"] = _u32(b, 168), _u32(b, 172)
    d["jited_line_info_rec_size"], d["nr_prog_tags"] = _u32(b, 176), _u32(b, 180)
    d["run_time_ns"], d["run_cnt"] = _u64(b, 192), _u64(b, 200)
    d["recursion_misses"] = _u64(b, 208)
    d["verified_insns"] = _u32(b, 216)
    d["attach_btf_obj_id"], d["attach_btf_id"] = _u32(b, 220), _u32(b, 224)
    return d


def map_info(fd: Any) -> Info:
    """Decode ``struct bpf_map_info``."""
    b = obj_get_info_by_fd(fd, _MAP_INFO_SIZE)
    d = Info()
    (d["type"], d["id"], d["key_size"], d["value_size"], d["max_entries"],
     d["map_flags"]) = _unpack_from("<6I", b.ljust(24, b"\0"), 0)
    d["name"] = _cstr(b[24:40])
    d["ifindex"], d["btf_vmlinux_value_type_id"] = _u32(b, 40), _u32(b, 44)
    d["netns_dev"], d["netns_ino"] = _u64(b, 48), _u64(b, 56)
    d["btf_id"], d["btf_key_type_id"] = _u32(b, 64), _u32(b, 68)
    d["btf_value_type_id"], d["btf_vmlinux_id"] = _u32(b, 72), _u32(b, 76)
    d["map_extra"] = _u64(b, 80)
    return d


def btf_info(fd: Any, *, data: bool = False) -> Info:
    """Decode ``struct bpf_btf_info`` (name, id, size, kernel_btf; ``data`` adds the blob)."""
    req = ctypes.create_string_buffer(_BTF_INFO_SIZE)
    name = ctypes.create_string_buffer(256)
    _pack_into("<Q", req, 16, _addressof(name))
    _pack_into("<I", req, 24, 256)
    b = obj_get_info_by_fd(fd, req)
    d = Info()
    d["btf_size"], d["id"] = _u32(b, 8), _u32(b, 12)
    d["name"] = name.value.decode("utf-8", "replace")
    d["kernel_btf"] = bool(_u32(b, 28))
    if data:
        size = d["btf_size"]
        blob = ctypes.create_string_buffer(max(size, 1))
        req2 = ctypes.create_string_buffer(_BTF_INFO_SIZE)
        _pack_into("<QI", req2, 0, _addressof(blob), size)
        obj_get_info_by_fd(fd, req2)
        d["btf"] = blob.raw[:size]
    return d


LINK_TYPE_NAMES = {
    0: "unspec", 1: "raw_tracepoint", 2: "tracing", 3: "cgroup", 4: "iter", 5: "netns",
    6: "xdp", 7: "perf_event", 8: "kprobe_multi", 9: "struct_ops", 10: "netfilter",
    11: "tcx", 12: "uprobe_multi", 13: "netkit", 14: "sockmap",
}


def link_info(fd: Any) -> Info:
    """Decode ``struct bpf_link_info``: type, id, prog_id, the kind-specific fields we
    can read in one call (names of tracepoints/targets fetched with a second call), and
    ``raw`` (the union bytes) for anything else."""
    b = obj_get_info_by_fd(fd, _LINK_INFO_SIZE)
    d = Info()
    d["type"], d["id"], d["prog_id"] = _u32(b, 0), _u32(b, 4), _u32(b, 8)
    t = d["type"]
    d["kind"] = LINK_TYPE_NAMES.get(t, str(t))
    u = 16  # the union is 8-aligned
    d["raw"] = b[u:]
    if t == 1:  # raw_tracepoint: ask again with a buffer for the name
        n = _u32(b, u + 8)
        name = ctypes.create_string_buffer(max(n, 1))
        req = ctypes.create_string_buffer(_LINK_INFO_SIZE)
        _pack_into("<QI", req, u, _addressof(name), n)
        b2 = obj_get_info_by_fd(fd, req)
        d["tp_name"] = name.value.decode("utf-8", "replace")
        d["cookie"] = _u64(b2, u + 16)
    elif t == 2:
        d["attach_type"], d["target_obj_id"], d["target_btf_id"] = \
            _u32(b, u), _u32(b, u + 4), _u32(b, u + 8)
        d["cookie"] = _u64(b, u + 16)
    elif t == 3:
        d["cgroup_id"], d["attach_type"] = _u64(b, u), _u32(b, u + 8)
    elif t == 4:
        n = _u32(b, u + 8)
        name = ctypes.create_string_buffer(max(n, 1))
        req = ctypes.create_string_buffer(_LINK_INFO_SIZE)
        _pack_into("<QI", req, u, _addressof(name), n)
        b2 = obj_get_info_by_fd(fd, req)
        d["target_name"] = name.value.decode("utf-8", "replace")
        d["map_id"] = _u32(b2, u + 12)
    elif t == 5:
        d["netns_ino"], d["attach_type"] = _u32(b, u), _u32(b, u + 4)
    elif t == 6:
        d["ifindex"] = _u32(b, u)
    elif t == 7:
        d["perf_event_type"] = _u32(b, u)
    elif t == 9:
        d["map_id"] = _u32(b, u)
    elif t == 10:
        d["pf"], d["hooknum"] = _u32(b, u), _u32(b, u + 4)
        d["priority"] = _unpack_from("<i", b, u + 8)[0] if len(b) >= u + 12 else 0
        d["flags"] = _u32(b, u + 12)
    elif t in (11, 13):
        d["ifindex"], d["attach_type"] = _u32(b, u), _u32(b, u + 4)
    elif t == 14:
        d["map_id"], d["attach_type"] = _u32(b, u), _u32(b, u + 4)
    elif t == 8:
        d["count"], d["flags"] = _u32(b, u + 8), _u32(b, u + 12)
        d["missed"] = _u64(b, u + 16)
    elif t == 12:
        d["path_size"], d["count"] = _u32(b, u + 32), _u32(b, u + 36)
        d["flags"], d["pid"] = _u32(b, u + 40), _u32(b, u + 44)
    return d


# --------------------------------------------------------------------------- attach

def prog_attach(prog_fd: Any, target_fd: Any, attach_type: int, attach_flags: int = 0, *,
                replace_bpf_fd: Any = None, relative_fd: Any = None,
                relative_id: int = 0, expected_revision: int = 0) -> None:
    """BPF_PROG_ATTACH (cgroup, sockmap, flow dissector, lirc, tcx/netkit via mprog)."""
    a = _attr(32)
    rel = _fdnum(relative_fd) if relative_fd is not None else relative_id
    _pack_into("<IIIIIIQ", a, 0, _fdnum(target_fd), _fdnum(prog_fd), attach_type,
               attach_flags, _fdnum(replace_bpf_fd), rel, expected_revision)
    r, err = _bpf_errno(BPF_PROG_ATTACH, a, 32 if expected_revision else
                        (24 if rel else 20))
    if r < 0:
        raise error_from_errno("prog_attach", err,
                               f"attach type {attach_type} flags {attach_flags:#x}")


def prog_detach(target_fd: Any, attach_type: int, prog_fd: Any = None, *,
                attach_flags: int = 0, relative_fd: Any = None, relative_id: int = 0,
                expected_revision: int = 0) -> None:
    a = _attr(32)
    rel = _fdnum(relative_fd) if relative_fd is not None else relative_id
    _pack_into("<IIIIIIQ", a, 0, _fdnum(target_fd), _fdnum(prog_fd), attach_type,
               attach_flags, 0, rel, expected_revision)
    r, err = _bpf_errno(BPF_PROG_DETACH, a, 32 if expected_revision else
                        (24 if rel else 20))
    if r < 0:
        raise error_from_errno("prog_detach", err, f"attach type {attach_type}")


def prog_query(target_fd: Any, attach_type: int, query_flags: int = 0,
               max_progs: int = 64, *, links: bool = False) -> Info:
    """BPF_PROG_QUERY: attach_flags, prog_ids (list), prog_attach_flags, link_ids,
    link_attach_flags (with ``links``) and revision."""
    ids = (ctypes.c_uint32 * max_progs)()
    pflags = (ctypes.c_uint32 * max_progs)()
    lids = (ctypes.c_uint32 * max_progs)()
    lflags = (ctypes.c_uint32 * max_progs)()
    a = _attr(64)
    _pack_into("<IIIIQI", a, 0, _fdnum(target_fd), attach_type, query_flags, 0,
               _addressof(ids), max_progs)
    size = 28
    if links:
        _pack_into("<QQQ", a, 32, _addressof(pflags), _addressof(lids), _addressof(lflags))
        size = 64
    r, err = _bpf_errno(BPF_PROG_QUERY, a, size)
    have_links = links
    if r < 0 and err in (_errno.E2BIG, _errno.EINVAL) and links:
        # kernels before 6.6 know no link_ids (EINVAL or E2BIG): keep prog_attach_flags
        # (6.0+), then fall back to the program ids alone
        have_links = False
        _pack_into("<QQ", a, 40, 0, 0)
        r, err = _bpf_errno(BPF_PROG_QUERY, a, 40)
        if r < 0 and err in (_errno.E2BIG, _errno.EINVAL):
            _pack_into("<Q", a, 32, 0)
            r, err = _bpf_errno(BPF_PROG_QUERY, a, 28)
    if r < 0:
        raise error_from_errno("prog_query", err, f"attach type {attach_type}")
    n = _unpack_from("<I", a, 24)[0]
    m = min(n, max_progs)
    d = Info(attach_flags=_unpack_from("<I", a, 12)[0], prog_ids=list(ids[:m]), count=n,
             prog_attach_flags=[], link_ids=[], link_attach_flags=[], revision=0)
    if links:
        d["prog_attach_flags"] = list(pflags[:m])
    if have_links:
        d["link_ids"] = list(lids[:m])
        d["link_attach_flags"] = list(lflags[:m])
        d["revision"] = _unpack_from("<Q", a, 56)[0]
    return d


def link_create(prog_fd: Any, target: Any, attach_type: int, flags: int = 0,
                tail: bytes | bytearray | None = None, *, keep: Any = None) -> FD:
    """BPF_LINK_CREATE. ``target`` is an fd (or object with one) or an ifindex int.
    ``tail`` is the raw kind-specific union (from offset 16, up to 48 bytes) that the link
    modules fill (target_btf_id, iter_info, perf_event cookie, uprobe_multi, tcx, ...);
    ``keep`` holds alive any buffers its pointers refer to."""
    a = _attr(64)
    _pack_into("<IIII", a, 0, _fdnum(prog_fd), _fdnum(target), attach_type, flags)
    size = 16
    if tail:
        if len(tail) > 48:
            raise ArgumentError(f"link_create tail is {len(tail)} bytes, at most 48 fit")
        a[16:16 + len(tail)] = bytes(tail)
        size = 16 + len(tail)
        size = (size + 7) & ~7
    r, err = _bpf_errno(BPF_LINK_CREATE, a, size)
    if r < 0:
        hint = ""
        if err == _errno.EINVAL:
            hint = "the program type does not fit this attach type/target, or bad flags"
        raise error_from_errno("link_create", err,
                               f"attach type {attach_type} flags {flags:#x}", hint)
    return FD(r, "link")


def link_update(link_fd: Any, new_prog_fd: Any, flags: int = 0,
                old_prog_fd: Any = None) -> None:
    a = _attr(16)
    _pack_into("<IIII", a, 0, _fdnum(link_fd), _fdnum(new_prog_fd), flags,
               _fdnum(old_prog_fd))
    r, err = _bpf_errno(BPF_LINK_UPDATE, a, 16)
    if r < 0:
        raise error_from_errno("link_update", err)


def link_detach(link_fd: Any) -> None:
    a = _attr(4)
    _pack_into("<I", a, 0, _fdnum(link_fd))
    r, err = _bpf_errno(BPF_LINK_DETACH, a, 4)
    if r < 0:
        raise error_from_errno("link_detach", err)


def raw_tracepoint_open(prog_fd: Any, name: str | bytes | None = None,
                        cookie: int = 0) -> FD:
    """BPF_RAW_TRACEPOINT_OPEN (raw_tp by name; tp_btf/fentry/lsm with name None)."""
    keep = None
    a = _attr(24)
    na = 0
    if name:
        keep = ctypes.create_string_buffer(_cpath(name, "raw_tracepoint_open"))
        na = _addressof(keep)
    _pack_into("<QIxxxxQ", a, 0, na, _fdnum(prog_fd), cookie)
    r, err = _bpf_errno(BPF_RAW_TRACEPOINT_OPEN, a, 24 if cookie else 12)
    if r < 0:
        raise error_from_errno("raw_tracepoint_open", err, f"tracepoint {name!r}")
    return FD(r, "link")


class TestRunResult:
    """What BPF_PROG_TEST_RUN reported."""

    __slots__ = ("retval", "duration", "data", "ctx")

    def __init__(self, retval: int, duration: int, data: bytes | None,
                 ctx: bytes | None) -> None:
        self.retval, self.duration, self.data, self.ctx = retval, duration, data, ctx

    def __repr__(self) -> str:
        return (f"TestRunResult(retval={self.retval}, duration={self.duration}, "
                f"data={len(self.data) if self.data is not None else None} bytes)")


def prog_test_run(prog_fd: Any, data: Any = None, *, data_out_size: int | None = None,
                  ctx: Any = None, ctx_out_size: int | None = None, repeat: int = 0,
                  flags: int = 0, cpu: int = 0, batch_size: int = 0) -> TestRunResult:
    """BPF_PROG_TEST_RUN. Output buffers default to the input sizes (+256 bytes of head
    room for data so that programs may grow packets)."""
    keep: list = []
    da = _ptr(data, keep)
    dlen = memoryview(data).nbytes if data is not None else 0
    if data_out_size is None:
        data_out_size = dlen + 256 if data is not None else 0
    dout = ctypes.create_string_buffer(max(data_out_size, 1))
    ca = _ptr(ctx, keep)
    clen = memoryview(ctx).nbytes if ctx is not None else 0
    ctx_out_default = ctx_out_size is None
    if ctx_out_size is None:
        ctx_out_size = clen
    while True:
        cout = ctypes.create_string_buffer(max(ctx_out_size, 1))
        a = _attr(80)
        _pack_into("<IIIIQQIIIIQQIII", a, 0, _fdnum(prog_fd), 0, dlen, data_out_size, da,
                   _addressof(dout) if data_out_size else 0, repeat, 0, clen, ctx_out_size,
                   ca, _addressof(cout) if ctx_out_size else 0, flags, cpu, batch_size)
        r, err = _bpf_errno(BPF_PROG_TEST_RUN, a, 76 if batch_size else 72)
        if r < 0 and err == _errno.EINVAL and ctx_out_default and ctx_out_size:
            # tracing-like programs (raw_tp, ...) take a ctx but give none back
            ctx_out_size = 0
            continue
        break
    if r < 0:
        hint = ""
        if err == _errno.EINVAL:
            hint = ("this program type may not take data/ctx/repeat as given "
                    "(raw_tp takes a ctx and no repeat, XDP needs >= 14 bytes of data)")
        elif err == ENOTSUPP or err == _errno.EOPNOTSUPP:
            hint = "this program type cannot be test-run"
        raise error_from_errno("prog_test_run", err,
                               f"data {dlen} bytes, ctx {clen} bytes, repeat {repeat}", hint)
    _, retval, _, dout_n, _, _, _, duration, _, cout_n = _unpack_from("<IIIIQQIIII", a, 0)
    return TestRunResult(retval, duration,
                         dout.raw[:dout_n] if data_out_size else None,
                         cout.raw[:cout_n] if ctx_out_size else None)


def iter_create(link_fd: Any, flags: int = 0) -> FD:
    """BPF_ITER_CREATE: an fd to read() the iterator's output from."""
    a = _attr(8)
    _pack_into("<II", a, 0, _fdnum(link_fd), flags)
    r, err = _bpf_errno(BPF_ITER_CREATE, a, 8)
    if r < 0:
        raise error_from_errno("iter_create", err)
    return FD(r, "iter")


BPF_STATS_RUN_TIME = 0


def enable_stats(stats_type: int = BPF_STATS_RUN_TIME) -> FD:
    """BPF_ENABLE_STATS: run-time statistics stay on while the returned fd is open."""
    a = _attr(4)
    _pack_into("<I", a, 0, stats_type)
    r, err = _bpf_errno(BPF_ENABLE_STATS, a, 4)
    if r < 0:
        raise error_from_errno("enable_stats", err)
    return FD(r, "stats")


BPF_FD_TYPE_NAMES = {0: "raw_tracepoint", 1: "tracepoint", 2: "kprobe", 3: "kretprobe",
                     4: "uprobe", 5: "uretprobe"}


def task_fd_query(pid: int, fd: int, flags: int = 0, buf_len: int = 256) -> Info:
    """BPF_TASK_FD_QUERY: what the perf event / raw tp fd ``fd`` of task ``pid`` runs."""
    buf = ctypes.create_string_buffer(buf_len)
    a = _attr(48)
    _pack_into("<IIIIQ", a, 0, pid, fd, flags, buf_len, _addressof(buf))
    r, err = _bpf_errno(BPF_TASK_FD_QUERY, a, 48)
    if r < 0:
        raise error_from_errno("task_fd_query", err, f"pid {pid} fd {fd}")
    prog_id, fd_type, off, addr = _unpack_from("<IIQQ", a, 24)
    return Info(prog_id=prog_id, fd_type=fd_type,
                fd_type_name=BPF_FD_TYPE_NAMES.get(fd_type, str(fd_type)),
                name=buf.value.decode("utf-8", "replace"), probe_offset=off, probe_addr=addr)


def prog_bind_map(prog_fd: Any, map_fd: Any, flags: int = 0) -> None:
    a = _attr(12)
    _pack_into("<III", a, 0, _fdnum(prog_fd), _fdnum(map_fd), flags)
    r, err = _bpf_errno(BPF_PROG_BIND_MAP, a, 12)
    if r < 0:
        raise error_from_errno("prog_bind_map", err)


# --------------------------------------------------------------------------- perf events

PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1
PERF_TYPE_TRACEPOINT = 2
PERF_TYPE_HW_CACHE = 3
PERF_TYPE_RAW = 4
PERF_TYPE_BREAKPOINT = 5

PERF_COUNT_SW_CPU_CLOCK = 0
PERF_COUNT_SW_TASK_CLOCK = 1
PERF_COUNT_SW_BPF_OUTPUT = 10

PERF_SAMPLE_RAW = 1 << 10
PERF_FLAG_FD_CLOEXEC = 1 << 3

# bit positions in the flags word of perf_event_attr
_PERF_BITS = {
    "disabled": 0, "inherit": 1, "pinned": 2, "exclusive": 3, "exclude_user": 4,
    "exclude_kernel": 5, "exclude_hv": 6, "exclude_idle": 7, "mmap": 8, "comm": 9,
    "freq": 10, "inherit_stat": 11, "enable_on_exec": 12, "task": 13, "watermark": 14,
    "mmap_data": 17, "sample_id_all": 18, "exclude_host": 19, "exclude_guest": 20,
    "exclude_callchain_kernel": 21, "exclude_callchain_user": 22, "mmap2": 23,
    "comm_exec": 24, "use_clockid": 25, "context_switch": 26, "write_backward": 27,
    "namespaces": 28, "ksymbol": 29, "bpf_event": 30, "aux_output": 31, "cgroup": 32,
    "text_poke": 33, "build_id": 34, "inherit_thread": 35, "remove_on_exec": 36,
    "sigtrap": 37,
}
PERF_ATTR_SIZE = 128  # PERF_ATTR_SIZE_VER7; every field we fill is below it


def perf_event_open(type: int, config: int = 0, *, pid: int = -1, cpu: int = 0,
                    group_fd: int = -1, flags: int = PERF_FLAG_FD_CLOEXEC,
                    sample_period: int = 0, sample_freq: int = 0, sample_type: int = 0,
                    read_format: int = 0, wakeup_events: int = 0,
                    wakeup_watermark: int = 0, bp_type: int = 0, config1: int = 0,
                    config2: int = 0, precise_ip: int = 0, clockid: int = 0,
                    sample_max_stack: int = 0, **bits: bool) -> FD:
    """perf_event_open(2). Boolean flag bits go as keywords (``disabled=True``,
    ``watermark=True``, ...). ``config1``/``config2`` carry kprobe/uprobe name pointers
    and offsets for the PMU-based probe types."""
    a = _attr(PERF_ATTR_SIZE)
    word = 0
    for k, v in bits.items():
        bit = _PERF_BITS.get(k)
        if bit is None:
            raise ArgumentError(f"perf_event_open: unknown attribute {k!r}")
        if v:
            word |= 1 << bit
    if sample_freq:
        word |= 1 << _PERF_BITS["freq"]
    if wakeup_watermark:
        word |= 1 << _PERF_BITS["watermark"]
    word |= (precise_ip & 3) << 15
    _pack_into("<IIQQQQQIIQQ", a, 0, type, PERF_ATTR_SIZE, config,
               sample_freq or sample_period, sample_type, read_format, word,
               wakeup_watermark or wakeup_events, bp_type, config1, config2)
    _pack_into("<i", a, 92, clockid)
    _pack_into("<H", a, 108, sample_max_stack)
    r = _syscall(NR_PERF_EVENT_OPEN, a, pid, cpu, group_fd, ctypes.c_ulong(flags))
    if r < 0:
        err = _get_errno()
        hint = ""
        if err == _errno.ENOENT:
            hint = "no such event (PMU type or config unknown to this kernel)"
        elif err in (_errno.EACCES, _errno.EPERM):
            hint = "needs root or CAP_PERFMON (see /proc/sys/kernel/perf_event_paranoid)"
        raise error_from_errno("perf_event_open", err,
                               f"type {type} config {config:#x} pid {pid} cpu {cpu}", hint)
    return FD(r, "perf_event")


def ioctl(fd: Any, request: int, arg: int = 0, what: str = "ioctl") -> int:
    """ioctl(2) with an int argument, errors typed."""
    import fcntl
    try:
        return fcntl.ioctl(_fdnum(fd), request, arg)
    except OSError as e:
        raise error_from_errno(what, e.errno or _errno.EINVAL, f"request {request:#x}") \
            from None


def perf_event_enable(fd: Any) -> None:
    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0, "PERF_EVENT_IOC_ENABLE")


def perf_event_disable(fd: Any) -> None:
    ioctl(fd, PERF_EVENT_IOC_DISABLE, 0, "PERF_EVENT_IOC_DISABLE")


def perf_event_set_bpf(fd: Any, prog_fd: Any) -> None:
    ioctl(fd, PERF_EVENT_IOC_SET_BPF, _fdnum(prog_fd), "PERF_EVENT_IOC_SET_BPF")


# --------------------------------------------------------------------------- mmap

def mmap_fd(fd: Any, length: int, *, writable: bool = True, offset: int = 0,
            what: str = "mmap") -> Any:
    """mmap(MAP_SHARED) of a kernel object (mmapable map, ring buffer, perf buffer).
    Returns a ``mmap.mmap`` (close() it to unmap)."""
    import mmap
    prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
    try:
        return mmap.mmap(_fdnum(fd), length, flags=mmap.MAP_SHARED, prot=prot,
                         offset=offset)
    except OSError as e:
        raise error_from_errno(what, e.errno or _errno.EINVAL,
                               f"length {length} offset {offset} "
                               f"{'read-write' if writable else 'read-only'}") from None
    except (ValueError, OverflowError) as e:
        raise error_from_errno(what, _errno.EINVAL, str(e)) from None


def mmap_arena(fd: Any, length: int, addr: int = 0, *, what: str = "mmap arena") -> Any:
    """Map a BPF_MAP_TYPE_ARENA as libbpf does: ``mmap(addr or NULL, length, RW,
    MAP_SHARED | (MAP_FIXED if addr), fd, 0)``, except that a fixed address is mapped with
    MAP_FIXED_NOREPLACE: where this process already has memory there, EEXIST rather than
    the silent replacement of that memory. The first mapping sets the arena's user address
    (a non-zero ``map_extra`` fixes it in advance: then ``addr`` must be it), which the
    verifier needs before any program using the arena loads.

    Returns a writable byte memoryview of the mapping (Python's mmap cannot map at an
    address). It is unmapped once the last view of it, including views sliced from it, is
    gone, so that no view ever points at unmapped memory; release it to unmap."""
    import weakref
    f = _mmap_fn()
    flags = 0x01 | (0x100000 if addr else 0)   # MAP_SHARED | MAP_FIXED_NOREPLACE
    r = f(addr or None, length, 0x1 | 0x2, flags, _fdnum(fd), 0)   # PROT_READ | PROT_WRITE
    if r is None or r == ctypes.c_void_p(-1).value:
        err = _get_errno() or _errno.EINVAL
        hint = ""
        if err == _errno.EBUSY:
            hint = "the arena is mapped elsewhere already (another process set its address)"
        elif err == _errno.EEXIST:
            hint = "this process has memory at that address already: choose another map_extra"
        elif err == _errno.EINVAL and not addr:
            hint = "the arena's address was set by an earlier mapping: map it at that address"
        raise error_from_errno(what, err, f"length {length}"
                               + (f" at address {addr:#x}" if addr else ""), hint)
    mem = type("_ArenaPages", (ctypes.c_ubyte * length,), {}).from_address(r)
    weakref.finalize(mem, _munmap_fn(), r, length)
    return memoryview(mem).cast("B")


def _mmap_fn() -> Any:
    # prototypes of their own: setting argtypes on _libc.mmap would change them for anyone
    global _MMAP
    if _MMAP is None:
        _MMAP = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                 ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long,
                                 use_errno=True)(("mmap", _libc))
    return _MMAP


def _munmap_fn() -> Any:
    global _MUNMAP
    if _MUNMAP is None:
        _MUNMAP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)(
            ("munmap", _libc))
    return _MUNMAP


_MMAP: Any = None
_MUNMAP: Any = None

def epoll_create() -> Any:
    """A ``select.epoll`` (close() it)."""
    import select
    try:
        return select.epoll()
    except OSError as e:
        raise error_from_errno("epoll_create", e.errno or _errno.EMFILE) from None


# --------------------------------------------------------------------------- mounts

_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p)


def _fs_magic(path: str) -> int | None:
    buf = ctypes.create_string_buffer(128)  # struct statfs: f_type is the first long
    if _libc.statfs(_cpath(path, "statfs"), buf) != 0:
        return None
    return _unpack_from("<q", buf, 0)[0] & 0xFFFFFFFF


def is_bpffs(path: str) -> bool:
    """True if ``path`` lies on a bpf filesystem."""
    return _fs_magic(path) == BPF_FS_MAGIC


def _mount(source: str, target: str, fstype: str, data: str = "") -> None:
    for x in (source, target, fstype, data):
        _cpath(x, f"mount -t {fstype}")
    try:
        os.makedirs(target, exist_ok=True)
    except OSError as e:
        raise error_from_errno(f"mkdir {target}", e.errno or _errno.EIO) from None
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), 0,
                   data.encode() if data else None) != 0:
        err = _get_errno()
        raise error_from_errno(f"mount -t {fstype} {target}", err,
                               hint="mounting needs root (CAP_SYS_ADMIN)")


def mount_bpffs(path: str = "/sys/fs/bpf") -> str:
    """Make sure a bpffs is mounted at ``path`` (mounting it if not); returns ``path``."""
    if not is_bpffs(path):
        try:
            _mount("bpf", path, "bpf", "mode=0700")
        except OSError as e:
            if isinstance(e, KernelError):
                raise
            raise error_from_errno(f"mount -t bpf {path}", e.errno or _errno.EIO) from None
    return path


def tracefs_path() -> str | None:
    """Where tracefs is mounted, if anywhere we know."""
    for p in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if _fs_magic(p) == TRACEFS_MAGIC:
            return p
    return None


def mount_tracefs(path: str = "/sys/kernel/tracing") -> str:
    """Return a mounted tracefs, mounting one at ``path`` if none is."""
    p = tracefs_path()
    if p:
        return p
    _mount("tracefs", path, "tracefs")
    return path
