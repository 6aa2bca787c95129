"""A test helper shared by tests/test_ringbuf.py and tests/test_perfbuf.py: an object loaded
and pinned by bpftool (the oracle loader, independent of corebpf.load), its maps and
programs reopened by path through corebpf._sys."""
from __future__ import annotations

import shutil
import subprocess
import tempfile

import pytest

from corebpf import _sys


class Loaded:
    """``Loaded(obj_path, progs, maps)``: ``.progs`` / ``.maps`` are FDs by name; the pins
    are removed at once (the FDs keep the objects alive), ``close()`` closes the FDs."""

    def __init__(self, obj, progs, maps):
        if not _sys.is_bpffs("/sys/fs/bpf"):
            _sys.mount_bpffs("/sys/fs/bpf")
        bpftool = shutil.which("bpftool")
        if not bpftool:
            pytest.skip("bpftool not installed")
        self.dir = tempfile.mkdtemp(prefix="corebpf-test-buf-", dir="/sys/fs/bpf")
        try:
            subprocess.run([bpftool, "prog", "loadall", str(obj), self.dir + "/p",
                            "pinmaps", self.dir + "/m"], check=True, capture_output=True)
            self.progs = {p: _sys.obj_get(f"{self.dir}/p/{p}") for p in progs}
            self.maps = {m: _sys.obj_get(f"{self.dir}/m/{m}") for m in maps}
        finally:
            subprocess.run(["rm", "-rf", self.dir], check=False)

    def close(self):
        for fd in (*self.progs.values(), *self.maps.values()):
            fd.close()
