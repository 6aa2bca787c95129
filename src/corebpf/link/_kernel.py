"""Kernel calls used by link/: a thin layer over ``corebpf._sys``.

TO MOVE: the private fallbacks below exist only while ``corebpf._sys`` (engineer A) lacks a
call or has a different signature. Every function first tries ``_sys``; the ctypes code here
is the temporary stand-in, clearly not the place for syscalls in the long run (see
/tmp/corebpf-requests/A.md).
"""
from __future__ import annotations

import ctypes
import os
import struct

from ..errors import KernelError, NotFound, NotSupported, PermissionDenied

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_ioctl = _libc.ioctl
_ioctl.restype = ctypes.c_int

NR_BPF = 321            # x86_64
NR_PERF_EVENT_OPEN = 298

# bpf() commands used here
BPF_OBJ_PIN = 6
BPF_OBJ_GET = 7
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_RAW_TRACEPOINT_OPEN = 17
BPF_PROG_QUERY = 16
BPF_LINK_CREATE = 28
BPF_LINK_UPDATE = 29
BPF_LINK_GET_FD_BY_ID = 30
BPF_ITER_CREATE = 33
BPF_LINK_DETACH = 34

_CMD_NAMES = {
    BPF_OBJ_PIN: "BPF_OBJ_PIN", BPF_OBJ_GET: "BPF_OBJ_GET", BPF_PROG_ATTACH: "BPF_PROG_ATTACH",
    BPF_PROG_DETACH: "BPF_PROG_DETACH", BPF_OBJ_GET_INFO_BY_FD: "BPF_OBJ_GET_INFO_BY_FD",
    BPF_RAW_TRACEPOINT_OPEN: "BPF_RAW_TRACEPOINT_OPEN", BPF_PROG_QUERY: "BPF_PROG_QUERY",
    BPF_LINK_CREATE: "BPF_LINK_CREATE", BPF_LINK_UPDATE: "BPF_LINK_UPDATE",
    BPF_LINK_GET_FD_BY_ID: "BPF_LINK_GET_FD_BY_ID", BPF_ITER_CREATE: "BPF_ITER_CREATE",
    BPF_LINK_DETACH: "BPF_LINK_DETACH",
}

ENOTSUPP = 524  # kernel-internal "not supported", leaks to user space from bpf()


def kernel_error(command: str, err: int, hint: str = "", detail: str = "") -> KernelError:
    """The corebpf error for ``err`` returned by ``command``."""
    if err in (1, 13):
        return PermissionDenied(command, err, hint, detail)
    if err == 2:
        return NotFound(command, err, hint, detail)
    if err in (95, ENOTSUPP):
        return NotSupported(command, err, hint, detail)
    return KernelError(command, err, hint, detail)


def _bpf(cmd: int, attr: ctypes.Array) -> int:
    r = _syscall(NR_BPF, cmd, attr, ctypes.sizeof(attr))
    if r < 0:
        raise kernel_error(_CMD_NAMES.get(cmd, f"bpf({cmd})"), ctypes.get_errno())
    return r


def _attr(size: int = 128) -> ctypes.Array:
    return ctypes.create_string_buffer(size)


def link_create(prog_fd: int, target_fd: int, attach_type: int, flags: int = 0,
                tail: bytes = b"") -> int:
    """BPF_LINK_CREATE; ``tail`` holds the kind-specific fields (from offset 16)."""
    a = _attr()
    struct.pack_into("<IIII", a, 0, prog_fd, target_fd, attach_type, flags)
    a[16:16 + len(tail)] = tail
    return _bpf(BPF_LINK_CREATE, a)


def link_update(link_fd: int, new_prog_fd: int, flags: int = 0, old_prog_fd: int = 0) -> None:
    a = _attr()
    struct.pack_into("<IIII", a, 0, link_fd, new_prog_fd, flags, old_prog_fd)
    _bpf(BPF_LINK_UPDATE, a)


def link_detach(link_fd: int) -> None:
    a = _attr()
    struct.pack_into("<I", a, 0, link_fd)
    _bpf(BPF_LINK_DETACH, a)


def link_get_fd_by_id(link_id: int) -> int:
    a = _attr()
    struct.pack_into("<I", a, 0, link_id)
    return _bpf(BPF_LINK_GET_FD_BY_ID, a)


def raw_tracepoint_open(name: str | None, prog_fd: int, cookie: int = 0) -> int:
    a = _attr()
    keep = ctypes.create_string_buffer(name.encode()) if name is not None else None
    ptr = ctypes.addressof(keep) if keep is not None else 0
    struct.pack_into("<QIIQ", a, 0, ptr, prog_fd, 0, cookie)
    return _bpf(BPF_RAW_TRACEPOINT_OPEN, a)


def prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0,
                replace_fd: int = 0) -> None:
    a = _attr()
    struct.pack_into("<IIIII", a, 0, target_fd, prog_fd, attach_type, flags, replace_fd)
    _bpf(BPF_PROG_ATTACH, a)


def prog_detach(target_fd: int, prog_fd: int, attach_type: int) -> None:
    a = _attr()
    struct.pack_into("<III", a, 0, target_fd, prog_fd, attach_type)
    _bpf(BPF_PROG_DETACH, a)


def prog_query(target_fd: int, attach_type: int, max_ids: int = 64) -> list[int]:
    """Program ids attached to ``target_fd`` for ``attach_type``."""
    a = _attr()
    ids = (ctypes.c_uint32 * max_ids)()
    struct.pack_into("<IIIIQI", a, 0, target_fd, attach_type, 0, 0, ctypes.addressof(ids),
                     max_ids)
    _bpf(BPF_PROG_QUERY, a)
    cnt = struct.unpack_from("<I", a, 24)[0]
    return list(ids[:min(cnt, max_ids)])


def obj_pin(fd: int, path: str) -> None:
    a = _attr()
    p = ctypes.create_string_buffer(os.fsencode(path))
    struct.pack_into("<QI", a, 0, ctypes.addressof(p), fd)
    _bpf(BPF_OBJ_PIN, a)


def obj_get(path: str, flags: int = 0) -> int:
    a = _attr()
    p = ctypes.create_string_buffer(os.fsencode(path))
    struct.pack_into("<QII", a, 0, ctypes.addressof(p), 0, flags)
    return _bpf(BPF_OBJ_GET, a)


def obj_get_info(fd: int, info: ctypes.Array) -> int:
    """Fill ``info`` (a buffer) with the object's bpf_*_info; returns the length used."""
    a = _attr()
    struct.pack_into("<IIQ", a, 0, fd, ctypes.sizeof(info), ctypes.addressof(info))
    _bpf(BPF_OBJ_GET_INFO_BY_FD, a)
    return struct.unpack_from("<I", a, 4)[0]


def iter_create(link_fd: int) -> int:
    a = _attr()
    struct.pack_into("<II", a, 0, link_fd, 0)
    return _bpf(BPF_ITER_CREATE, a)


def perf_event_open(attr: bytes, pid: int, cpu: int, group_fd: int = -1,
                    flags: int = 8) -> int:
    """perf_event_open(2); ``flags`` defaults to PERF_FLAG_FD_CLOEXEC."""
    buf = ctypes.create_string_buffer(bytes(attr), len(attr))
    r = _syscall(NR_PERF_EVENT_OPEN, buf, ctypes.c_int(pid), ctypes.c_int(cpu),
                 ctypes.c_int(group_fd), ctypes.c_ulong(flags))
    if r < 0:
        raise kernel_error("perf_event_open", ctypes.get_errno())
    return r


def ioctl(fd: int, request: int, arg: int = 0, command: str = "ioctl") -> int:
    r = _ioctl(ctypes.c_int(fd), ctypes.c_ulong(request), ctypes.c_ulong(arg))
    if r < 0:
        raise kernel_error(command, ctypes.get_errno())
    return r


PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_SET_BPF = 0x40042408


# ---- mounts (tracefs / bpffs) ----------------------------------------------------------

_TRACEFS: str | None = None


def tracefs() -> str:
    """The tracefs mount point, mounting it at /sys/kernel/tracing if nothing is mounted."""
    global _TRACEFS
    if _TRACEFS is not None:
        return _TRACEFS
    for cand in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if os.path.exists(cand + "/events"):
            _TRACEFS = cand
            return cand
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "tracefs":
                    _TRACEFS = parts[1]
                    return parts[1]
    except OSError:
        pass
    _mount("tracefs", "/sys/kernel/tracing", "tracefs")
    _TRACEFS = "/sys/kernel/tracing"
    return _TRACEFS


def _mount(source: str, target: str, fstype: str) -> None:
    mount = _libc.mount
    mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                      ctypes.c_void_p]
    os.makedirs(target, exist_ok=True)
    if mount(source.encode(), target.encode(), fstype.encode(), 0, None) != 0:
        raise kernel_error(f"mount {fstype} on {target}", ctypes.get_errno())


def fd_close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
