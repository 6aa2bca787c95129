"""Runs tests/vm (hooks this kernel refuses) under Debian's 6.1 and 6.12 kernels in qemu.

Both VMs boot at once, one vCPU each (half the wall time of one after the other with two).
`make test-kernels` runs the whole kernel-touching suite under 6.1 and 6.12."""
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERIES = ("6.1", "6.12")


@pytest.fixture(scope="module")
def vm_runs(bpf_prog):
    """{series: future of (exit code, output)} of tests/vm under each kernel."""
    if not shutil.which("qemu-system-x86_64"):
        pytest.fail("qemu-system-x86 is not installed (make test installs it)")
    for name in ("vm_hooks", "vm_multi", "struct_ops_link", "struct_ops_legacy"):
        bpf_prog(name)  # what tests/vm loads, compiled on the host: clang under emulation is slow
    from corebpf.testing.vmrun import fetch_kernel, run_in_vm
    for series in SERIES:
        fetch_kernel(series)  # one download at a time
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           "-rs", "tests/vm"]
    smp = max(1, (os.cpu_count() or 1) // len(SERIES))
    with ThreadPoolExecutor(len(SERIES)) as ex:
        runs = {s: ex.submit(run_in_vm, s, cmd, cwd=str(ROOT), timeout=900, echo=False, smp=smp)
                for s in SERIES}
    return runs


@pytest.mark.kernel
@pytest.mark.qemu
@pytest.mark.parametrize("series", SERIES)
def test_hooks_under_debian_kernel(vm_runs, series):
    rc, out = vm_runs[series].result()
    assert rc == 0, out[-6000:]
    assert " passed" in out and "skipped" not in out, out[-3000:]
