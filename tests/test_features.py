"""Kernel feature probes, checked against bpftool's own probes as an oracle."""
from __future__ import annotations

import json
import shutil
import struct
import subprocess

import pytest

from corebpf import _sys, features

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def bpftool_probe():
    path = shutil.which("bpftool")
    if not path:
        pytest.skip("bpftool not installed (oracle)")
    out = subprocess.run([path, "-j", "feature", "probe", "kernel"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def test_btf_blob_layout():
    blob = features._btf_probe_blob("func")
    magic, ver, flags, hdr, toff, tlen, soff, slen = struct.unpack_from("<HBBIIIII", blob)
    assert (magic, ver, hdr, toff) == (0xEB9F, 1, 24, 0)
    assert soff == tlen and len(blob) == 24 + tlen + slen
    assert blob.endswith(b"\0")


KVER = tuple(int("".join(c for c in x if c.isdigit()) or 0)
             for x in __import__("os").uname().release.split("-")[0].split(".")[:2])

# when each BTF kind reached the kernel
BTF_MIN = {"btf": (4, 18), "func": (5, 0), "func_global": (5, 6), "var": (5, 2),
           "datasec": (5, 2), "float": (5, 13), "decl_tag": (5, 16), "type_tag": (5, 17),
           "enum64": (6, 0), "qmark_datasec": (6, 10)}


@pytest.mark.parametrize("name", features.BTF_FEATURES)
def test_btf_features(name):
    got = features.has_btf_feature(name)
    assert isinstance(got, bool)
    if KVER >= BTF_MIN[name]:
        assert got is True


def test_btf_features_cached(monkeypatch):
    features.has_btf_feature("float")

    def boom(*a, **k):
        raise AssertionError("probe ran again")
    monkeypatch.setattr(_sys, "btf_load", boom)
    assert features.has_btf_feature("float")
    assert features.btf_kinds()["enum64"]
    with pytest.raises(ValueError):
        features.has_btf_feature("no_such_kind")


def test_btf_feature_negative():
    # a blob with an unknown kind (31) must be refused: the probe machinery says False
    bad = features.btf_blob([features.btf_type(0, 31, 0, 4)], [b""])
    with pytest.raises(Exception):
        _sys.btf_load(bad, retry_log=False)


def test_prog_types_match_bpftool(bpftool_probe):
    theirs = bpftool_probe["program_types"]
    for key, have in theirs.items():
        name = key[len("have_"):-len("_prog_type")]
        assert features.has_prog_type(name) == have, name
    assert features.prog_type_status("tracing") in ("yes", "refused")
    assert features.has_prog_type(features.PROG_TYPES["socket_filter"])


def test_map_types_match_bpftool(bpftool_probe):
    theirs = bpftool_probe["map_types"]
    for key, have in theirs.items():
        name = key[len("have_"):-len("_map_type")]
        assert features.has_map_type(name) == have, name
    # newer than this bpftool knows
    assert features.has_map_type("cgrp_storage") == (KVER >= (6, 2))
    # arena exists from 6.9, but some kernels refuse it even to root (EPERM)
    assert features.map_type_status("arena") in (
        ("yes", "refused") if KVER >= (6, 9) else ("no",))


@pytest.mark.parametrize("ptype", ["socket_filter", "xdp", "tracepoint", "sched_cls",
                                   "cgroup_skb"])
def test_helpers_match_bpftool(bpftool_probe, ptype):
    theirs = set(bpftool_probe["helpers"][f"{ptype}_available_helpers"])
    ours = {f"bpf_{h}" for h in features.HELPER_NAMES[1:] if features.has_helper(ptype, h)}
    known_to_bpftool = set()
    for lst in bpftool_probe["helpers"].values():
        known_to_bpftool.update(lst)
    # Every helper we find usable, bpftool finds usable too. (bpftool 7.1 says yes to
    # more: its libbpf 1.1 does not know 6.x's "program of this type cannot use helper"
    # refusal and counts it as available, so the converse does not hold.)
    assert (ours & known_to_bpftool) <= theirs
    assert "bpf_map_lookup_elem" in ours and "bpf_ktime_get_ns" in ours


def test_helper_probe_edges():
    assert features.has_helper("socket_filter", "map_lookup_elem")
    assert features.has_helper("socket_filter", "bpf_map_lookup_elem")
    assert not features.has_helper("socket_filter", "probe_write_user")
    assert not features.has_helper(1, 9999)
    assert features.has_helper("tracepoint", "ringbuf_output")


def test_attach_types():
    assert features.has_attach_type("cgroup_sock_addr", 10)   # INET4_CONNECT
    assert not features.has_attach_type("cgroup_sock_addr", 0)  # INET_INGRESS


def test_misc_and_probe_all():
    for name in ("prog_name", "global_data", "array_mmap", "exp_attach_type",
                 "probe_read_kernel", "prog_bind_map", "bpf_cookie", "ringbuf", "btf",
                 "kernel_btf"):
        assert features.has_feature(name), name
    with pytest.raises(ValueError):
        features.has_feature("nope")
    d = features.probe_all(helpers=["socket_filter"])
    json.dumps(d)
    assert set(d) == {"system", "prog_types", "map_types", "btf", "misc", "helpers"}
    assert d["map_types"]["arena"] in (("yes", "refused") if KVER >= (6, 9) else ("no",))
    assert d["system"]["possible_cpus"] == _sys.possible_cpus()
    assert "map_lookup_elem" in d["helpers"]["socket_filter"]


def test_clear_cache(no_fd_leak):
    features.clear_cache()
    assert features.has_map_type("hash")
    assert features.has_prog_type("xdp")


def test_bad_names_raise_corebpf_errors():
    from corebpf.errors import Error
    for call in (lambda: features.has_prog_type("nope"),
                 lambda: features.has_helper("xdp", "nope"),
                 lambda: features.has_map_type("nope"),
                 lambda: features.has_attach_type("nope", 1)):
        with pytest.raises(Error):
            call()


@pytest.mark.qemu
@pytest.mark.slow
def test_probes_under_debian_61():
    """Under 6.1 the probes must say no to what came later (and yes to fentry/LSM, which
    6.1 without lockdown allows): proof that they tell kernels apart."""
    import os
    import sys
    if os.environ.get("COREBPF_VM_KERNEL"):
        pytest.skip("already inside a VM")
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86 is not installed")
    from corebpf.testing.vmrun import run_in_vm
    code = ("import json; from corebpf import features; d = features.probe_all(); "
            "print('RESULT', json.dumps(d))")
    rc, out = run_in_vm("6.1", [sys.executable, "-c", code], timeout=600, echo=False)
    assert rc == 0, out[-3000:]
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    d = json.loads(line[len("RESULT "):])
    assert d["system"]["kernel_release"].startswith("6.1.")
    assert d["map_types"]["cgrp_storage"] == "no"      # Linux 6.2
    assert d["map_types"]["arena"] == "no"             # Linux 6.9
    assert d["prog_types"]["netfilter"] == "no"        # Linux 6.4
    assert d["map_types"]["user_ringbuf"] == "yes"     # Linux 6.1
    assert d["prog_types"]["tracing"] == "yes" and d["prog_types"]["lsm"] == "yes"
    assert d["btf"]["enum64"] and not d["btf"]["qmark_datasec"]


def test_attach_types_with_return_range():
    # recvmsg/getpeername hooks demand R0 == 1: still known attach types
    for at in (19, 29, 31):   # UDP4_RECVMSG, INET4_GETPEERNAME, INET4_GETSOCKNAME
        assert features.has_attach_type("cgroup_sock_addr", at), at
    if KVER >= (6, 7):
        assert features.has_attach_type("cgroup_sock_addr", 51)   # UNIX_RECVMSG


def test_syscall_wrapper_as_libbpf_decides():
    """libbpf says LINUX_HAS_SYSCALL_WRAPPER only if it can create a kprobe on
    __<arch>_sys_bpf; kallsyms alone is not enough (this kernel has no kprobes)."""
    import os
    kprobes = os.path.exists("/sys/bus/event_source/devices/kprobe/type") or any(
        os.path.exists(f"{p}/kprobe_events")
        for p in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"))
    got = features.has_feature("syscall_wrapper")
    if not kprobes:
        assert got is False
    from corebpf import linker   # the loader's own probe must agree
    assert got == bool(linker._has_syscall_wrapper())
