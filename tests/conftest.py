"""Shared fixtures: compiling test programs, kernel availability, fd-leak checks."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGS = ROOT / "tests" / "progs"
BUILD = ROOT / "tests" / ".build"
INCLUDE = BUILD / "include"
REQUIRE_KERNEL = os.environ.get("COREBPF_REQUIRE_KERNEL") == "1"

# tests/vm holds hooks the host kernel refuses; they run inside qemu
# (tests/test_kernel_matrix.py, make test-kernels), where COREBPF_VM_KERNEL is set.
collect_ignore = [] if os.environ.get("COREBPF_VM_KERNEL") else ["vm"]

CLANG_FLAGS = ["-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86", "-Wall",
               "-Wno-unused-variable", "-Wno-unused-function", "-Wno-compare-distinct-pointer-types"]


def _bpf_works() -> str | None:
    """None if we can use bpf(); else the reason."""
    if os.geteuid() != 0:
        return "needs root (CAP_BPF/CAP_SYS_ADMIN)"
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    # BPF_PROG_LOAD with an empty attr fails with EINVAL when bpf() exists and we may use it.
    buf = ctypes.create_string_buffer(160)
    r = libc.syscall(321, 5, buf, 160)
    e = ctypes.get_errno()
    if r < 0 and e in (1, 13):
        return f"bpf() refused: {os.strerror(e)}"
    if r < 0 and e == 38:
        return "bpf() syscall not available"
    if r >= 0:
        os.close(r)
    return None


_KERNEL_REASON = _bpf_works()


def pytest_collection_modifyitems(config, items):
    if _KERNEL_REASON is None:
        return
    if REQUIRE_KERNEL and any("kernel" in item.keywords for item in items):
        # CI on a machine where we are root must run kernel tests, never skip them.
        raise pytest.UsageError(f"kernel tests cannot run ({_KERNEL_REASON}) but "
                                "COREBPF_REQUIRE_KERNEL=1")
    for item in items:
        if "kernel" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=f"kernel test: {_KERNEL_REASON}"))


def vmlinux_h() -> Path:
    """The vmlinux.h test programs include, generated once from the running kernel."""
    INCLUDE.mkdir(parents=True, exist_ok=True)
    out = INCLUDE / "vmlinux.h"
    if out.exists() and out.stat().st_size > 0:
        return out
    tmp = out.with_suffix(".tmp")
    try:
        from corebpf.btf.cdump import dump_c  # our own dumper, when present
        from corebpf.btf import BTF
        tmp.write_text(dump_c(BTF.kernel()))
    except ImportError:
        with open(tmp, "w") as f:
            subprocess.run(["bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux",
                            "format", "c"], stdout=f, check=True)
    tmp.replace(out)
    return out


# programs that need more than CLANG_FLAGS (usdt.bpf.h includes <sys/sdt.h>-style system headers)
PROG_EXTRA_FLAGS = {"hook_usdt": ("-idirafter", "/usr/include/x86_64-linux-gnu")}


def build_prog(name: str, extra_flags: tuple[str, ...] | None = None) -> Path:
    """Compile tests/progs/NAME.bpf.c (cached by content hash) and return the .o path."""
    if extra_flags is None:
        extra_flags = PROG_EXTRA_FLAGS.get(name, ())
    src = PROGS / f"{name}.bpf.c"
    if not src.exists():
        raise FileNotFoundError(src)
    vmlinux_h()
    h = hashlib.sha256()
    h.update(src.read_bytes())
    for hdr in sorted(PROGS.glob("*.h")):
        h.update(hdr.read_bytes())
    h.update(" ".join(CLANG_FLAGS + list(extra_flags)).encode())
    out = BUILD / f"{name}-{h.hexdigest()[:12]}.bpf.o"
    if out.exists():
        return out
    BUILD.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    cmd = ["clang", *CLANG_FLAGS, *extra_flags, "-I", str(INCLUDE), "-I", str(PROGS),
           "-c", str(src), "-o", str(tmp)]
    subprocess.run(cmd, check=True)
    tmp.replace(out)
    return out


@pytest.fixture(scope="session")
def bpf_prog():
    """``bpf_prog("name")`` -> path of the compiled tests/progs/name.bpf.c."""
    return build_prog


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_fd_leak():
    """Fails the test if it leaves file descriptors open."""
    import gc
    before = open_fds()
    yield
    gc.collect()
    leaked = open_fds() - before
    leaked_targets = []
    for fd in leaked:
        try:
            leaked_targets.append(f"{fd}->{os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            pass
    assert not leaked_targets, f"leaked fds: {leaked_targets}"


@pytest.fixture(scope="session")
def bpftool():
    path = shutil.which("bpftool")
    if not path:
        pytest.skip("bpftool not installed")
    return path
