"""Rebuild the prebuilt tool objects: ``python -m corebpf.tools._build [--vmlinux-h FILE]``.

Each ``<tool>.bpf.c`` here is compiled by ``corebpf build`` into ``<tool>.bpf.o``; the
objects are CO-RE, so one build runs on every kernel with BTF.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import TOOLS
from ._common import HERE


def sources() -> list[Path]:
    """The BPF C source of every tool."""
    return [HERE / f"{name}.bpf.c" for name in TOOLS]


def rebuild(out_dir: Path = HERE, vmlinux: str | None = None) -> list[Path]:
    from ..cli.build import build
    outs = []
    for src in sources():
        out = Path(out_dir) / (src.name[:-2] + ".o")
        outs.append(build(src, out, vmlinux=vmlinux, includes=(str(HERE),), strip=True))
    return outs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m corebpf.tools._build")
    p.add_argument("-o", "--out-dir", default=str(HERE))
    p.add_argument("--vmlinux-h", default=None)
    a = p.parse_args(argv)
    for o in rebuild(Path(a.out_dir), a.vmlinux_h):
        print(o)
    return 0


if __name__ == "__main__":
    sys.exit(main())
