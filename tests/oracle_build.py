"""A test helper: the libbpf oracles (small C programs on the system libbpf) compiled with
gcc once per source change, for the differential tests."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Callable, Iterable

from conftest import BUILD


def build_oracle(src: Path, name: str, missing: Callable[[str], object],
                 deps: Iterable[Path] = ()) -> Path:
    """``BUILD/name`` compiled from ``src`` (``gcc -lbpf``), rebuilt when ``src`` or one
    of ``deps`` (files it #includes) is newer. Without gcc or libbpf-dev calls
    ``missing(reason)`` (``pytest.skip`` or ``pytest.fail``)."""
    if not shutil.which("gcc") or not Path("/usr/include/bpf/libbpf.h").exists():
        missing("needs gcc and libbpf-dev to build the libbpf oracle "
                "(scripts/setup-system.sh installs them)")
    BUILD.mkdir(parents=True, exist_ok=True)
    out = BUILD / name
    newest = max(p.stat().st_mtime for p in (src, *deps) if p.exists())
    if not out.exists() or out.stat().st_mtime < newest:
        tmp = out.with_suffix(".tmp")
        subprocess.run(["gcc", "-O1", "-Wall", "-o", str(tmp), str(src), "-lbpf"], check=True)
        tmp.replace(out)
    return out
