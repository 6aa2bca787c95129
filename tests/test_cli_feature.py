"""`corebpf feature probe` compared with `bpftool feature probe kernel`."""
from __future__ import annotations

import json
import subprocess

import pytest

from corebpf.cli.main import main


@pytest.fixture(scope="module")
def ref():
    r = subprocess.run(["bpftool", "-j", "feature", "probe", "kernel"], capture_output=True,
                       text=True)
    if r.returncode:
        pytest.skip(f"bpftool feature probe failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def mine():
    import io
    from contextlib import redirect_stdout
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["feature", "probe", "--json"]) == 0
    return json.loads(buf.getvalue())


@pytest.mark.kernel
def test_prog_types(mine, ref, bpftool):
    theirs = {k[len("have_"):-len("_prog_type")]: v for k, v in ref["program_types"].items()}
    ours = {k: v == "yes" for k, v in mine["prog_types"].items()}
    for name, ok in theirs.items():
        assert ours[name] == ok, name


@pytest.mark.kernel
def test_map_types(mine, ref, bpftool):
    theirs = {k[len("have_"):-len("_map_type")]: v for k, v in ref["map_types"].items()}
    ours = {k: v == "yes" for k, v in mine["map_types"].items()}
    for name, ok in theirs.items():
        assert ours[name] == ok, name


@pytest.mark.kernel
@pytest.mark.parametrize("ptype", ["socket_filter", "xdp", "tracepoint", "sched_cls",
                                   "perf_event", "raw_tracepoint"])
def test_helpers(mine, ref, ptype, bpftool):
    theirs = set(ref["helpers"][f"{ptype}_available_helpers"])
    ours = {f"bpf_{h}" for h in mine["helpers"][ptype]}
    # bpftool 7.1 knows helpers up to Linux 6.1 (we know newer ones), and it counts a helper
    # as available unless the verifier says "invalid func"/"unknown func": newer kernels say
    # "program of this type cannot use helper", so bpftool over-reports. Every helper we
    # report must be one bpftool reports too (or one it does not know).
    known = set()
    for k, v in ref["helpers"].items():
        known |= set(v)
    wrong = {h for h in ours - theirs if h in known}
    assert not wrong, f"we say yes, bpftool says no: {sorted(wrong)}"
    assert {"bpf_map_lookup_elem", "bpf_ktime_get_ns"} <= ours


@pytest.mark.kernel
def test_attach_types_and_human(capsys):
    assert main(["feature", "probe", "--no-helpers"]) == 0
    out = capsys.readouterr().out
    assert "eBPF program_type xdp is available" in out
    assert "eBPF map_type ringbuf is available" in out
    assert "Attach types accepted at load" in out
    assert "cgroup_skb: cgroup_inet_ingress, cgroup_inet_egress" in out
