"""fentry/fexit/fmod_ret/LSM and kprobe/kretprobe/ksyscall attached for real.

These run inside qemu under Debian's kernels (tests/test_kernel_matrix.py starts them);
the host kernel refuses these hooks, which tests/test_link_* check for their messages."""
import os

import pytest

import corebpf

pytestmark = pytest.mark.kernel

HOOKS = {  # program -> index in hits[]
    "fentry_open": 0, "fexit_open": 1, "lsm_file_open": 2, "kprobe_open": 3,
    "kretprobe_open": 4, "ksyscall_getppid": 5, "fmod_file_open": 6,
}


def _trigger():
    for _ in range(3):
        with open("/etc/hostname", "rb"):
            pass
        os.getppid()


@pytest.mark.parametrize("prog", sorted(HOOKS))
def test_hook_fires(bpf_prog, prog):
    path = bpf_prog("vm_hooks")
    with corebpf.load(path, programs=[prog], variables={"target_pid": os.getpid()}) as obj:
        obj.attach_all()
        _trigger()
        hits = obj.variables["hits"]
    assert hits[HOOKS[prog]] >= 3, (prog, hits)


def test_all_at_once(bpf_prog):
    path = bpf_prog("vm_hooks")
    with corebpf.load(path, variables={"target_pid": os.getpid()}) as obj:
        links = obj.attach_all()
        assert len(links) == len(HOOKS)
        _trigger()
        hits = list(obj.variables["hits"])
    assert all(h >= 3 for h in hits[:7]), hits
