"""``corebpf feature probe``: what this kernel lets us do with BPF.

Program types, map types, helpers per program type, attach types, BTF kinds and other
features, each found by loading a tiny program or creating a tiny map (corebpf.features).
"""
from __future__ import annotations

import argparse
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from . import _output as out

# Attach types the kernel checks when a program of the type loads (expected_attach_type):
# for these, a load probe really tells whether the kernel knows the attach type.
_LOAD_CHECKED = {
    "cgroup_skb": ["cgroup_inet_ingress", "cgroup_inet_egress"],
    "cgroup_sock": ["cgroup_inet_sock_create", "cgroup_inet4_post_bind",
                    "cgroup_inet6_post_bind", "cgroup_inet_sock_release"],
    "cgroup_sock_addr": ["cgroup_inet4_bind", "cgroup_inet6_bind", "cgroup_inet4_connect",
                         "cgroup_inet6_connect", "cgroup_udp4_sendmsg", "cgroup_udp6_sendmsg",
                         "cgroup_udp4_recvmsg", "cgroup_udp6_recvmsg",
                         "cgroup_inet4_getpeername", "cgroup_inet6_getpeername",
                         "cgroup_inet4_getsockname", "cgroup_inet6_getsockname",
                         "cgroup_unix_connect", "cgroup_unix_sendmsg", "cgroup_unix_recvmsg",
                         "cgroup_unix_getpeername", "cgroup_unix_getsockname"],
    "cgroup_sockopt": ["cgroup_getsockopt", "cgroup_setsockopt"],
    "sk_lookup": ["sk_lookup"],
    "xdp": ["xdp", "xdp_devmap", "xdp_cpumap"],
    "kprobe": ["trace_kprobe_multi", "trace_uprobe_multi", "trace_kprobe_session",
               "trace_uprobe_session"],
    "netfilter": ["netfilter"],
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("feature", help="probe what this kernel supports",
                       description=__doc__.split("\n\n")[0].replace("``", ""))
    ps = p.add_subparsers(dest="feature_cmd", metavar="SUBCOMMAND")
    q = ps.add_parser("probe", help="probe program/map types, helpers, attach types")
    q.add_argument("target", nargs="?", choices=("kernel",), default="kernel")
    q.add_argument("--no-helpers", action="store_true", help="skip the helper probes")
    q.add_argument("--prog-type", action="append", metavar="TYPE",
                   help="probe helpers only for these program types")
    out.add_json_flags(q)
    q.set_defaults(func=cmd_probe)
    p.set_defaults(func=lambda a: cmd_probe(argparse.Namespace(
        target="kernel", no_helpers=False, prog_type=None, json=False, pretty=False)))


def attach_types(prog_types: dict[str, str]) -> dict[str, dict[str, bool]]:
    """{prog type: {attach type: accepted}} for the load-checked attach types."""
    from .. import features
    from ..uapi import ATTACH_TYPE_NAMES
    by_name = {v: k for k, v in ATTACH_TYPE_NAMES.items()}
    res: dict[str, dict[str, bool]] = {}
    for pt, names in _LOAD_CHECKED.items():
        if prog_types.get(pt) != "yes":
            continue
        res[pt] = {n: features.has_attach_type(pt, by_name[n]) for n in names if n in by_name}
    return res


def probe(helpers: bool | list[str] = True) -> dict[str, Any]:
    from .. import features
    r = features.probe_all(helpers=helpers)
    r["attach_types"] = attach_types(r["prog_types"])
    return r


def cmd_probe(args: argparse.Namespace) -> int:
    helpers: bool | list[str] = not args.no_helpers
    if args.prog_type and helpers:
        helpers = list(args.prog_type)
    r = probe(helpers)
    if out.wants_json(args):
        out.print_json(r, args)
        return 0
    p = print
    p("System")
    for k, v in r["system"].items():
        p(f"  {k}: {v}")
    p("\nProgram types")
    for k, v in r["prog_types"].items():
        p(f"  eBPF program_type {k} is {_says(v)}")
    p("\nMap types")
    for k, v in r["map_types"].items():
        p(f"  eBPF map_type {k} is {_says(v)}")
    p("\nBTF")
    for k, v in r["btf"].items():
        p(f"  {k}: {'yes' if v else 'no'}")
    p("\nOther features")
    for k, v in r["misc"].items():
        p(f"  {k}: {'yes' if v else 'no'}")
    if r.get("attach_types"):
        p("\nAttach types accepted at load")
        for pt, d in r["attach_types"].items():
            ok = [n for n, v in d.items() if v]
            no = [n for n, v in d.items() if not v]
            p(f"  {pt}: {', '.join(ok) or '-'}" + (f"  (not: {', '.join(no)})" if no else ""))
    if r.get("helpers"):
        p("\nHelpers per program type")
        for pt, hs in r["helpers"].items():
            p(f"  eBPF helpers supported for program type {pt} ({len(hs)}):")
            for h in hs:
                p(f"\t- bpf_{h}")
    return 0


def _says(status: str) -> str:
    return {"yes": "available", "no": "NOT available",
            "refused": "known but refused (lockdown or missing capability)"}.get(status, status)
