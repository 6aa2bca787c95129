"""Tracepoint, raw_tp and tp_btf attach for real (exec a process, read the maps); the
refusals of fentry/fexit/LSM (lockdown) and kprobes (absent) checked for their messages."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

import corebpf
from corebpf import link
from corebpf.errors import AttachError, KernelError, NotSupported

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module", autouse=True)
def _kernel_btf_cached():
    """The kernel BTF stays open once read (a cache): open it before fd-leak checks."""
    from corebpf.btf import BTF
    BTF.kernel()


def _exec_true() -> int:
    p = subprocess.Popen(["/bin/true"])
    p.wait()
    return p.pid


def _seen(obj, pid: int) -> int:
    m = obj.maps["seen"]
    for _ in range(50):
        try:
            return int(m[pid])
        except KeyError:
            time.sleep(0.01)
    return 0


def test_tracepoint_raw_tp_tp_btf_see_exec(bpf_prog, no_fd_leak):
    with corebpf.load(bpf_prog("hook_tp")) as obj:
        links = [link.attach(p) for p in obj.programs.values()]
        try:
            kinds = {ln.hook for ln in links}
            assert kinds == {"tracepoint", "raw_tp", "tp_btf"}
            pid = _exec_true()
            # 1 = tp, 2 = raw_tp, 4 = tp_btf
            assert _seen(obj, pid) == 7
            # the ring buffer event of the tracepoint carries the CO-RE read parent pid
            from corebpf.ringbuf import RingBuffer
            import struct
            with RingBuffer(obj.maps["events"]) as rb:
                recs = [struct.unpack_from("<II", r) for r in rb.consume()]
            assert (pid, os.getpid()) in recs
        finally:
            for ln in links:
                ln.close()
        pid = _exec_true()
        time.sleep(0.02)
        assert pid not in obj.maps["seen"], "still attached after close()"


def test_explicit_functions_and_info(bpf_prog, no_fd_leak):
    with corebpf.load(bpf_prog("hook_tp")) as obj:
        p = obj.programs
        with link.attach_tracepoint(p["on_exec_tp"], "sched", "sched_process_exec") as tp:
            info = tp.info()
            assert info.type_name == "perf_event"
            if info.perf_event_type != "unspec":   # details reported since Linux 6.6
                assert info.perf_event_type == "tracepoint"
                assert info.tp_name == "sched_process_exec"
            assert info.prog_id == p["on_exec_tp"].info().id
        with link.attach_raw_tracepoint(p["on_exec_raw"], "sched_process_exec") as raw:
            assert raw.info().tp_name == "sched_process_exec"
            assert raw.info().type_name == "raw_tracepoint"
        with link.attach_tp_btf(p["on_exec_btf"]) as btf:
            assert btf.info().type_name in ("raw_tracepoint", "tracing")
        assert tp.closed and raw.closed and btf.closed


def test_tracepoint_ioctl_fallback(bpf_prog, no_fd_leak):
    with corebpf.load(bpf_prog("hook_tp")) as obj:
        prog = obj.programs["on_exec_tp"]
        with link.attach(prog, use_link=False) as ln:
            assert not ln.is_bpf_link     # PERF_EVENT_IOC_SET_BPF on the perf event
            assert _seen(obj, _exec_true()) & 1
        pid = _exec_true()
        time.sleep(0.02)
        assert pid not in obj.maps["seen"]
        with pytest.raises(AttachError, match="cookies need perf links"):
            link.attach_tracepoint(prog, "sched/sched_process_exec", cookie=1,
                                   use_link=False)


def test_tracepoint_errors(bpf_prog):
    with corebpf.load(bpf_prog("hook_tp")) as obj:
        prog = obj.programs["on_exec_tp"]
        with pytest.raises(AttachError, match="no such tracepoint"):
            link.attach_tracepoint(prog, "sched", "no_such_tracepoint_xyz")
        with pytest.raises(AttachError, match="CATEGORY/NAME"):
            link.attach_tracepoint(prog, "sched/../x", None)
        with pytest.raises(AttachError, match="raw tracepoint is named"):
            link.attach_raw_tracepoint(obj.programs["on_exec_raw"], "sched/sched_switch")
        with pytest.raises(AttachError):
            link.attach_raw_tracepoint(obj.programs["on_exec_raw"], "no_such_tp_xyz")
        with pytest.raises(AttachError, match="unexpected options"):
            link.attach(prog, iface="lo")


def test_fentry_fexit_lsm_refused_with_clear_message(bpf_prog):
    try:
        corebpf.load(bpf_prog("hook_refused")).close()
    except KernelError as err:
        e = err
    else:
        pytest.skip("this kernel allows fentry/fexit/LSM (tested for real below)")
    assert e.errno == 1
    assert "lockdown" in str(e)
    obj = corebpf.load(bpf_prog("hook_refused"), continue_on_error=True)
    with obj:
        assert not obj.programs
        for name in ("on_fentry", "on_fexit", "on_lsm"):
            assert "lockdown" in str(obj.errors[name])


def test_tracing_refusal_message():
    r = link.tracing.refusal("fentry", 1, "do_unlinkat")
    assert isinstance(r, NotSupported) and r.errno == 1
    assert "fentry programs are refused by this kernel" in str(r)
    assert "lockdown" in str(r)
    assert "LSM programs are refused" in str(link.tracing.refusal("lsm", 1))


def test_kprobe_refused_with_clear_message(bpf_prog, no_fd_leak):
    if link.kprobes_available():
        pytest.skip("this kernel has kprobes")
    with corebpf.load(bpf_prog("hook_misc"), programs=["on_unlink"]) as obj:
        prog = obj.programs["on_unlink"]
        for call in (lambda: link.attach(prog),
                     lambda: link.attach_kprobe(prog, "do_unlinkat"),
                     lambda: link.attach_kretprobe(prog, "do_unlinkat"),
                     lambda: link.attach_ksyscall(prog, "unlinkat"),
                     lambda: link.attach_kprobe_multi(prog, ["do_unlinkat"])):
            with pytest.raises(AttachError) as ei:
                call()
            assert "kprobes are not available on this kernel (CONFIG_KPROBES off or no " \
                   "kprobe PMU)" in str(ei.value)
            assert isinstance(ei.value, NotSupported)


def test_object_attach_all_and_close_detaches(bpf_prog, no_fd_leak):
    obj = corebpf.load(bpf_prog("hook_tp"))
    try:
        links = obj.attach_all()
        assert {ln.hook for ln in links} == {"tracepoint", "raw_tp", "tp_btf"}
        assert _seen(obj, _exec_true()) == 7
        ids = [ln.info().id for ln in links]
    finally:
        obj.close()
    assert all(ln.closed for ln in links)
    for i in ids:
        with pytest.raises(KernelError):
            link.Link.from_id(i)   # gone from the kernel


def _unlink_a_file(tmp_path) -> None:
    p = tmp_path / "victim"
    p.write_text("x")
    os.unlink(p)


def test_fentry_fexit_lsm_where_allowed(bpf_prog, tmp_path, no_fd_leak):
    """Runs for real on kernels that allow trampolines (the qemu kernel matrix)."""
    try:
        obj = corebpf.load(bpf_prog("hook_refused"))
    except KernelError as e:
        pytest.skip(f"this kernel refuses fentry/fexit/LSM: {e}")
    with obj:
        calls = obj.maps["calls"]
        with link.attach(obj.programs["on_fentry"]) as a, \
                link.attach(obj.programs["on_fexit"]) as b:
            assert a.hook == "fentry" and b.hook == "fexit"
            _unlink_a_file(tmp_path)
            assert calls[0] >= 1 and calls[1] >= 1
        try:
            lsm = link.attach(obj.programs["on_lsm"])
        except AttachError as e:
            pytest.skip(f"BPF LSM not enabled (lsm=...,bpf): {e}")
        with lsm:
            open(__file__).close()
            assert calls[2] >= 1


def test_kprobes_where_available(bpf_prog, tmp_path, no_fd_leak):
    """Runs for real on kernels with kprobes (the qemu kernel matrix)."""
    if not link.kprobes_available():
        pytest.skip("no kprobes on this kernel (CONFIG_KPROBES off)")
    with corebpf.load(bpf_prog("hook_misc"), programs=["on_unlink"]) as obj:
        hits = obj.maps["hits"]
        prog = obj.programs["on_unlink"]
        with link.attach(prog) as ln:
            assert ln.info().perf_event_type in ("kprobe", "unspec")  # unspec before 6.6
            _unlink_a_file(tmp_path)
            assert hits[3] >= 1
        # os.unlink is the unlink(2) system call; both end in do_unlinkat
        for what, attach in (("kretprobe", lambda: link.attach_kretprobe(prog, "do_unlinkat")),
                             ("ksyscall", lambda: link.attach_ksyscall(prog, "unlink"))):
            n = hits[3]
            with attach():
                _unlink_a_file(tmp_path)
            assert hits[3] > n, f"{what} did not fire"
