"""Runs tests/vm (hooks this kernel refuses) under Debian's 6.1 and 6.12 kernels in qemu.

`make test-kernels` runs the whole kernel-touching suite under 6.1 and 6.12."""
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.kernel
@pytest.mark.qemu
@pytest.mark.parametrize("series", ["6.1", "6.12"])
def test_hooks_under_debian_kernel(bpf_prog, series):
    if not shutil.which("qemu-system-x86_64"):
        pytest.fail("qemu-system-x86 is not installed (make test installs it)")
    bpf_prog("vm_hooks")  # compile on the host: the guest's root is read-only
    from corebpf.testing.vmrun import run_in_vm
    rc, out = run_in_vm(series, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 "-o", "addopts=", "-rs", "tests/vm"],
                        cwd=str(ROOT), timeout=900, echo=False)
    assert rc == 0, out[-6000:]
    assert " passed" in out and "skipped" not in out, out[-3000:]
