"""``corebpf tool [NAME [ARGS...]]``: run a ready-made tool (see ``corebpf.tools``)."""
from __future__ import annotations

import argparse
import importlib

from ..errors import Error


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tool", help="run a ready-made tool (execsnoop, opensnoop, ...)",
                       description="Run a ready-made tool; without NAME, list them.")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="the tool's own options (see corebpf tool NAME --help)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tools import TOOLS
    if not args.name:
        width = max(map(len, TOOLS))
        for name, what in TOOLS.items():
            print(f"{name:<{width}}  {what}")
        return 0
    if args.name not in TOOLS:
        raise Error(f"tool {args.name!r}: unknown; known tools: {', '.join(TOOLS)}")
    mod = importlib.import_module(f"corebpf.tools.{args.name}")
    return int(mod.main(list(args.args)) or 0)
