"""Socket hooks: socket filters, sk_msg/sk_skb on sockmap/sockhash, sk_lookup, flow
dissector and sk_reuseport."""
from __future__ import annotations

import os
import socket as _socket
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import AttachError, KernelError
from . import _kernel as K
from .base import Link, fdnum

SO_ATTACH_BPF = 50
SO_DETACH_BPF = 27
SO_ATTACH_REUSEPORT_EBPF = 52
SO_DETACH_REUSEPORT_BPF = 68

BPF_SK_SKB_STREAM_PARSER = 4
BPF_SK_SKB_STREAM_VERDICT = 5
BPF_SK_MSG_VERDICT = 7
BPF_FLOW_DISSECTOR = 17
BPF_SK_LOOKUP = 36
BPF_SK_SKB_VERDICT = 38
SOCKMAP_ATTACH = {"sk_msg": BPF_SK_MSG_VERDICT, "stream_parser": BPF_SK_SKB_STREAM_PARSER,
                  "stream_verdict": BPF_SK_SKB_STREAM_VERDICT, "verdict": BPF_SK_SKB_VERDICT,
                  "sk_skb/stream_parser": BPF_SK_SKB_STREAM_PARSER,
                  "sk_skb/stream_verdict": BPF_SK_SKB_STREAM_VERDICT,
                  "sk_skb/verdict": BPF_SK_SKB_VERDICT}


def _sockfd(sock: Any) -> int:
    return sock if isinstance(sock, int) else sock.fileno()


def _own_socket(sock: Any, hook: str) -> Any:
    """A socket object over a dup of ``sock``'s fd (ours to close), or AttachError."""
    try:
        sfd = _sockfd(sock)
        dfd = os.dup(sfd)
    except (OSError, AttributeError, TypeError) as e:
        raise AttachError(f"not a socket or fd: {sock!r}", hook=hook) from e
    try:
        return _socket.socket(fileno=dfd)
    except OSError as e:
        os.close(dfd)
        raise AttachError(f"not a socket: {e.strerror}", hook=hook, target=str(sfd),
                          cause=e) from None


def _attach_sockopt(program: Any, sock: Any, hook: str, opt: int, opt_name: str,
                    detach_opt: int) -> Link:
    """Attach with setsockopt(SOL_SOCKET, ``opt``, prog fd); the Link's close undoes it with
    ``detach_opt`` while the socket (our own dup) is open, then closes that dup."""
    s = _own_socket(sock, hook)
    sfd = _sockfd(sock)
    try:
        s.setsockopt(_socket.SOL_SOCKET, opt, fdnum(program))
    except OSError as e:
        s.close()
        err = K.kernel_error(f"setsockopt({opt_name})", e.errno or 22)
        raise AttachError(str(err), hook=hook, target=str(sfd), cause=err) from None

    def undo() -> None:
        try:
            s.setsockopt(_socket.SOL_SOCKET, detach_opt, 0)
        except OSError:
            pass  # already detached / replaced
        finally:
            s.close()
    return Link(None, program, hook, sfd, undo=undo)


def attach_socket_filter(program: Any, sock: Any) -> Link:
    """Attach a ``socket`` (SOCKET_FILTER) program to ``sock`` (a socket or fd) with
    SO_ATTACH_BPF. Closing the Link detaches it (SO_DETACH_BPF) if the socket is open."""
    return _attach_sockopt(program, sock, "socket", SO_ATTACH_BPF, "SO_ATTACH_BPF",
                           SO_DETACH_BPF)


def attach_reuseport(program: Any, sock: Any) -> Link:
    """Attach an ``sk_reuseport`` program to the SO_REUSEPORT group of ``sock``."""
    return _attach_sockopt(program, sock, "sk_reuseport", SO_ATTACH_REUSEPORT_EBPF,
                           "SO_ATTACH_REUSEPORT_EBPF", SO_DETACH_REUSEPORT_BPF)


def sockmap_attach_type(program: Any, kind: str | int | None = None) -> int:
    if isinstance(kind, int):
        return kind
    if kind is not None:
        if kind not in SOCKMAP_ATTACH:
            raise AttachError(f"unknown sockmap attach kind {kind!r}; use one of "
                              f"{', '.join(SOCKMAP_ATTACH)}", hook="sockmap")
        return SOCKMAP_ATTACH[kind]
    sec = str(getattr(program, "section", "") or "")
    if sec.startswith("sk_msg"):
        return BPF_SK_MSG_VERDICT
    if sec in SOCKMAP_ATTACH:
        return SOCKMAP_ATTACH[sec]
    eat = getattr(program, "expected_attach_type", None)
    if eat in SOCKMAP_ATTACH.values():
        return eat
    if sec.startswith("sk_skb"):
        return BPF_SK_SKB_VERDICT
    raise AttachError(f"cannot tell how to attach section {sec!r} to a sockmap: give kind=",
                      hook="sockmap")


def attach_sockmap(program: Any, sockmap: Any, kind: str | int | None = None) -> Link:
    """Attach an sk_msg / sk_skb program to a sockmap or sockhash map.

    Uses BPF_PROG_ATTACH on the map (Linux 4.14+); closing the Link detaches it.
    """
    atype = sockmap_attach_type(program, kind)
    mfd = os.dup(fdnum(sockmap))
    pfd = os.dup(fdnum(program))
    try:
        K.prog_attach(mfd, pfd, atype, 0)
    except KernelError as e:
        os.close(mfd)
        os.close(pfd)
        raise AttachError(str(e), hook="sockmap", target=repr(sockmap), cause=e) from e

    def undo() -> None:
        try:
            K.prog_detach(mfd, pfd, atype)
        except KernelError as e:
            if e.errno != 2:
                raise
    return Link(None, program, "sockmap", getattr(sockmap, "name", mfd), owned=[mfd, pfd],
                undo=undo)


def _netns_fd(netns: str | int | None) -> tuple[int, bool]:
    if netns is None:
        netns = "/proc/self/ns/net"
    if isinstance(netns, int):
        return netns, False
    if "/" not in netns:
        netns = f"/var/run/netns/{netns}"
    return os.open(netns, os.O_RDONLY | os.O_CLOEXEC), True


def _attach_netns(program: Any, netns: str | int | None, atype: int, hook: str) -> Link:
    try:
        nfd, own = _netns_fd(netns)
    except OSError as e:
        raise AttachError(f"cannot open network namespace: {e.strerror}", hook=hook,
                          target=str(netns), cause=e) from e
    try:
        fd = K.link_create(fdnum(program), nfd, atype, 0)
    except KernelError as e:
        raise AttachError(str(e), hook=hook, target=str(netns or "current netns"),
                          cause=e) from e
    finally:
        if own:
            os.close(nfd)
    return Link(fd, program, hook, netns or "current netns")


def attach_sk_lookup(program: Any, netns: str | int | None = None) -> Link:
    """Attach an ``sk_lookup`` program to a network namespace (a path, a name under
    /var/run/netns, an fd; default: ours) with a netns link (Linux 5.9+)."""
    return _attach_netns(program, netns, BPF_SK_LOOKUP, "sk_lookup")


def attach_flow_dissector(program: Any, netns: str | int | None = None) -> Link:
    """Attach a ``flow_dissector`` program to a network namespace (netns link, 5.7+)."""
    return _attach_netns(program, netns, BPF_FLOW_DISSECTOR, "flow_dissector")


__all__ = ["attach_socket_filter", "attach_reuseport", "attach_sockmap", "attach_sk_lookup",
           "attach_flow_dissector"]
