"""``corebpf load OBJECT --pin-dir DIR [--program NAME]...``

Loads the object's maps once, then each selected program (all by default) on its own, so one
program the verifier refuses does not stop the others. Each loaded program is pinned at
DIR/<program name> (the function's name, as libbpf names programs); DIR is created and a
bpffs mounted at /sys/fs/bpf if needed. One line per program: loaded or why not. Exit status
0 only if every selected program loaded and was pinned.
"""
from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("load", help="load an object's programs and pin them",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("object", help="compiled BPF object (.bpf.o)")
    p.add_argument("--pin-dir", required=True, help="directory on a bpffs for the pins")
    p.add_argument("--program", "-p", action="append", default=[], metavar="NAME",
                   help="program (function) name to load; repeat for several (default: all)")
    p.add_argument("--btf", help="target BTF for CO-RE (default: the running kernel's)")
    p.add_argument("--force", action="store_true", help="replace existing pins")
    p.add_argument("--log-level", type=int, default=0, help="verifier log level")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="print the full verifier log of programs that fail")
    p.set_defaults(func=run)


def _ensure_bpffs(path: str) -> None:
    from .. import _sys
    path = os.path.abspath(path)
    if not os.path.isdir("/sys/fs/bpf") or not _sys.is_bpffs("/sys/fs/bpf"):
        if path.startswith("/sys/fs/bpf"):
            _sys.mount_bpffs("/sys/fs/bpf")


def run(args: argparse.Namespace) -> int:
    from ..object import load, open_object
    from ..errors import Error, VerifierError

    spec = open_object(args.object)
    names = args.program or list(spec.programs)
    unknown = [n for n in names if n not in spec.programs]
    for n in unknown:
        print(f"{n}: failed: no such program in {args.object} "
              f"(programs: {', '.join(spec.programs) or 'none'})")
    names = [n for n in names if n in spec.programs]
    if not names:
        return 1
    _ensure_bpffs(args.pin_dir)
    ok = not unknown
    try:
        obj = load(spec, btf=args.btf, programs=names, continue_on_error=True,
                   log_level=args.log_level)
    except Error as e:
        # nothing could load (a map, the BTF ...): still one line per program
        reason = " ".join(str(e).split())
        for n in names:
            print(f"{n}: failed: {reason}")
        return 1
    with obj:
        # Created only once something loaded: a refused load (e.g. unprivileged on a
        # world-writable bpffs) must not leave an empty directory behind.
        if obj.programs:
            os.makedirs(args.pin_dir, exist_ok=True)
        for n in names:
            prog = obj.programs.get(n)
            if prog is None:
                ok = False
                err = obj.errors.get(n)
                # one line per program: fold the error's "at <C line>" continuation
                reason = " ".join(str(err).split()) if err is not None else "not loaded"
                print(f"{n}: failed: {reason}")
                if args.verbose and isinstance(err, VerifierError):
                    print(err.log, file=sys.stderr)
                continue
            path = os.path.join(args.pin_dir, n)
            try:
                if args.force and os.path.lexists(path):
                    os.unlink(path)
                prog.pin(path)
            except (Error, OSError) as e:
                ok = False
                print(f"{n}: failed: loaded but not pinned: {e}")
                continue
            info = prog.info()
            print(f"{n}: loaded ({prog.type_name}, id {info.id}, "
                  f"{info.xlated_len // 8} insns) pinned at {path}")
    sys.stdout.flush()
    return 0 if ok else 1
