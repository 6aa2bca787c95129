"""Entry point of the ``corebpf`` command.

Each subcommand module exposes ``register(subparsers)`` which adds its parser(s) and sets
``func`` (a callable taking the parsed args and returning an exit code). Modules are
imported only when their command is run, except for building the help text.
"""
from __future__ import annotations

import argparse
import gc
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

    # found once per parser build (_parser resets it): argparse makes a formatter for each
    # add_argument(), and asking the terminal each time costs a syscall or more
    _width: int | None = None

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            width = _Formatter._width
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
            _Formatter._width = width
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: object, **kw: object) -> None:
        kw.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kw)  # type: ignore[arg-type]


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    _Formatter._width = None
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


# True while main(), as the process's entry point, keeps the cyclic collector off
_gc_held = False


def startup_done() -> None:
    """End of start-up for a command registered with ``gc_startup=True``: what start-up
    made (modules, the parser, the loaded object) lives until exit, so it is frozen out of
    later collections and automatic collection resumes. Does nothing when main() did not
    turn the collector off (another caller's process keeps its own collector settings)."""
    global _gc_held
    if _gc_held:
        _gc_held = False
        gc.freeze()
        gc.enable()


def main(argv: list[str] | None = None) -> int:
    from ..errors import Error

    global _gc_held
    # argv None: we are the process (console script, python -m corebpf); callers inside a
    # process pass argv and keep their collector untouched. Start-up (imports, parser, an
    # object's specs and BTF) makes ~10k objects that live until exit and almost no
    # garbage: the automatic collections they trigger cost ≈3 ms of `corebpf run`.
    own = argv is None and gc.isenabled()
    if own:
        gc.disable()
        _gc_held = True
    argv = list(sys.argv[1:] if argv is None else argv)
    # Import only the module of the command being run: start-up is part of the product.
    first = next((a for a in argv if not a.startswith("-")), None)
    only = first if first in COMMANDS else None
    try:
        parser = _parser(only)
        args = parser.parse_args(argv)
    except BaseException:  # --help, usage errors (SystemExit): a caller may carry on
        startup_done()
        raise
    # a command with gc_startup=True calls startup_done() itself once it is set up (or
    # never, if it ends first); the others get the collector back now
    quick = own and getattr(args, "gc_startup", False)
    if not quick:
        startup_done()
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
    finally:
        if quick:
            # the process ends now: the interpreter's final collections would traverse
            # every object start-up made (≈6 ms) to find a few cycles; such a command
            # closes what it opened itself (files, fds, links) before returning
            _gc_held = False
            gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
