"""``corebpf link``: list, show and detach BPF links (attachments held by the kernel).

    corebpf link list [--json]
    corebpf link show ID|PIN
    corebpf link detach ID|PIN
"""
from __future__ import annotations

import argparse
import socket
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import Error
from . import _output as out

_SKIP = {"raw", "kind", "type", "id", "prog_id"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("link", help="inspect and detach BPF links",
                       description=__doc__.split("\n\n")[0].replace("``", ""))
    ps = p.add_subparsers(dest="link_cmd", metavar="SUBCOMMAND")
    for name in ("list", "show"):
        q = ps.add_parser(name, help="list links, or show one")
        q.add_argument("ref", nargs="?", metavar="ID", help="id or pinned path")
        out.add_json_flags(q)
        out.add_bpffs_flag(q)
        q.set_defaults(func=cmd_show)
    q = ps.add_parser("detach", help="detach a link (its program stops running there)")
    q.add_argument("ref", metavar="ID")
    q.set_defaults(func=cmd_detach)
    q = ps.add_parser("pin", help="pin a link to a path in bpffs")
    q.add_argument("ref", metavar="ID")
    q.add_argument("path", metavar="PATH")
    q.set_defaults(func=cmd_pin)
    p.set_defaults(func=lambda a: cmd_show(argparse.Namespace(
        ref=None, json=False, pretty=False, bpffs=False)))


def link_record(fd: Any, with_owners: bool = True) -> dict[str, Any]:
    """What we know about one link, in bpftool's JSON field names."""
    from .. import _sys
    from ..uapi import attach_type_name, prog_type_name
    i = _sys.link_info(fd)
    rec: dict[str, Any] = {"id": i["id"], "type": i["kind"], "prog_id": i["prog_id"]}
    try:
        with _sys.prog_get_fd_by_id(i["prog_id"]) as pfd:
            rec["prog_type"] = prog_type_name(_sys.prog_info(pfd)["type"])
    except Error:
        pass
    for k, v in i.items():
        if k in _SKIP:
            continue
        if k == "attach_type":
            rec[k] = attach_type_name(v)
        else:
            rec[k] = v
    if "ifindex" in rec and rec["ifindex"]:
        try:
            rec["devname"] = socket.if_indextoname(rec["ifindex"])
        except OSError:
            pass
    if with_owners:
        pids = out.owners("link").get(i["id"])
        if pids:
            rec["pids"] = pids
    return rec


def format_link(r: dict[str, Any]) -> list[str]:
    lines = [f"{r['id']}: {r['type']}  prog {r['prog_id']}"]
    rest = [f"{k} {v}" for k, v in r.items()
            if k not in ("id", "type", "prog_id", "pids", "pinned") and v not in ("", None)]
    if rest:
        lines.append("\t" + "  ".join(rest))
    return lines + out.owner_lines(r)


def cmd_show(args: argparse.Namespace) -> int:
    return out.show("link", args, link_record, format_link)


def cmd_detach(args: argparse.Namespace) -> int:
    from .. import _sys
    with out.open_object("link", args.ref) as fd:
        try:
            _sys.link_detach(fd)
        except Error as e:
            if getattr(e, "errno", None) in (95, 524):  # EOPNOTSUPP / ENOTSUPP
                kind = _sys.link_info(fd)["kind"]
                raise Error(f"link {args.ref}: the kernel cannot detach {kind} links; they "
                            "go away when their last fd or pin is closed (see `corebpf link "
                            "show` pids)") from None
            raise
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    from .. import _sys
    with out.open_object("link", args.ref) as fd:
        _sys.obj_pin(fd, args.path)
    return 0
