"""Entry point of the ``corebpf`` command.

Each subcommand module exposes ``register(subparsers)`` which adds its parser(s) and sets
``func`` (a callable taking the parsed args and returning an exit code). Modules are
imported only when their command is run, except for building the help text.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# command name -> module under corebpf.cli
COMMANDS = {
    "inspect": "inspect",
    "load": "load",
    "run": "run",
    "build": "build",
    "prog": "prog",
    "map": "map",
    "link": "link",
    "btf": "btf",
    "feature": "feature",
    "export": "export",
    "tool": "tool",
}


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="corebpf", description="Pure-Python eBPF toolkit")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name)
            continue
        try:
            m = importlib.import_module(f"corebpf.cli.{mod}")
        except ImportError:
            continue
        m.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from ..errors import Error

    argv = list(sys.argv[1:] if argv is None else argv)
    # Import only the module of the command being run: start-up is part of the product.
    first = next((a for a in argv if not a.startswith("-")), None)
    only = first if first in COMMANDS else None
    parser = _parser(only)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except Error as e:
        if args.debug:
            raise
        print(f"corebpf: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
