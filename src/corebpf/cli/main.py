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


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter with the width found without ``import shutil`` (which pulls in
    bz2, lzma and fnmatch: ≈3 ms of every command's start-up)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            import os
            try:
                width = int(os.environ["COLUMNS"])
            except (KeyError, ValueError):
                try:
                    width = os.get_terminal_size(sys.__stdout__.fileno()).columns
                except (AttributeError, ValueError, OSError):
                    width = 80
            width -= 2
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: object, **kw: object) -> None:
        kw.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kw)  # type: ignore[arg-type]


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    p = _Parser(prog="corebpf", description="Pure-Python eBPF toolkit")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, mod in COMMANDS.items():
        if only is not None and name != only:
            continue  # the other commands matter only for the help text
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
