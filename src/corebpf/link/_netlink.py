"""A minimal rtnetlink client (raw AF_NETLINK socket) for classic TC and XDP attach.

Only what link/tc.py and link/xdp.py need: send one request, wait for its ACK, turn a
negative errno into a corebpf error.
"""
from __future__ import annotations

import socket
import struct

from ..errors import KernelError
from . import _kernel as K

NETLINK_ROUTE = 0
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLMSG_ERROR = 2
NLA_F_NESTED = 0x8000

RTM_SETLINK = 19
RTM_NEWQDISC = 36
RTM_DELQDISC = 37
RTM_NEWTFILTER = 44
RTM_DELTFILTER = 45

_seq = 0


def attr(atype: int, data: bytes) -> bytes:
    """One rtattr, padded to 4 bytes."""
    n = 4 + len(data)
    return struct.pack("<HH", n, atype) + data + b"\0" * ((4 - n % 4) % 4)


def attr_str(atype: int, s: str) -> bytes:
    return attr(atype, s.encode() + b"\0")


def attr_u32(atype: int, v: int) -> bytes:
    return attr(atype, struct.pack("<I", v & 0xFFFFFFFF))


def request(msg_type: int, flags: int, body: bytes, what: str) -> None:
    """Send one rtnetlink request and wait for its ACK; raise KernelError on error."""
    global _seq
    _seq += 1
    seq = _seq
    hdr = struct.pack("<IHHII", 16 + len(body), msg_type, flags | NLM_F_REQUEST | NLM_F_ACK,
                      seq, 0)
    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                          NETLINK_ROUTE)
    except OSError as e:
        raise K.kernel_error(f"netlink socket for {what}", e.errno or 97) from None
    with s:
        s.settimeout(10.0)  # the kernel always answers an ACK request; never hang on it
        s.bind((0, 0))
        s.sendto(hdr + body, (0, 0))
        while True:
            try:
                data = s.recv(65536)
            except TimeoutError:
                raise K.kernel_error(what, 110, "no netlink answer") from None
            pos = 0
            while pos + 16 <= len(data):
                ln, typ, _fl, rseq, _pid = struct.unpack_from("<IHHII", data, pos)
                if ln < 16:
                    break
                if rseq == seq and typ == NLMSG_ERROR:
                    err = -struct.unpack_from("<i", data, pos + 16)[0]
                    if err:
                        raise K.kernel_error(what, err)
                    return
                pos += (ln + 3) & ~3


def ifindex(iface: str | int) -> int:
    """The index of interface ``iface`` (a name or an index)."""
    if isinstance(iface, int):
        return iface
    if iface.isdigit():
        return int(iface)
    try:
        return socket.if_nametoindex(iface)
    except OSError:
        raise KernelError(f"interface {iface!r}", 19,
                          hint="no such network interface in this network namespace") \
            from None


def ifname(index: int) -> str:
    try:
        return socket.if_indextoname(index)
    except OSError:
        return str(index)


__all__ = ["request", "attr", "attr_str", "attr_u32", "ifindex", "ifname"]
