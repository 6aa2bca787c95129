"""Iterators, perf_event sampling, socket-level/namespace hooks, netfilter, cgroup
sock_addr, and the Link life cycle: pin/unpin/from_pin, update, info, detach, GC, fds."""
from __future__ import annotations

import gc
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

import corebpf
from corebpf import link
from corebpf.errors import AttachError, Error

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module", autouse=True)
def _kernel_btf_cached():
    from corebpf.btf import BTF
    BTF.kernel()  # cached and kept open: before the fd-leak checks


@pytest.fixture(scope="module")
def misc(bpf_prog):
    with corebpf.load(bpf_prog("hook_misc"), programs=["dump_tasks", "on_sample"]) as o:
        yield o


@pytest.fixture(scope="module")
def tp(bpf_prog):
    with corebpf.load(bpf_prog("hook_tp")) as o:
        yield o


SOCK_PROGS = ["lookup", "dissect", "msg", "verdict", "connect4"]


@pytest.fixture(scope="module")
def sock(bpf_prog):
    with corebpf.load(bpf_prog("hook_sock"), programs=SOCK_PROGS) as o:
        yield o


@pytest.fixture
def runs(sock):
    m = sock.maps["runs"]
    for i in range(8):
        m[i] = 0
    return m


@pytest.fixture
def pin_dir():
    from corebpf import _sys
    _sys.mount_bpffs("/sys/fs/bpf")
    d = f"/sys/fs/bpf/corebpf_gtest_{os.getpid()}"
    os.makedirs(d, exist_ok=True)
    try:
        yield d
    finally:
        for n in os.listdir(d):
            os.unlink(os.path.join(d, n))
        os.rmdir(d)


@pytest.fixture(scope="module")
def netns():
    if not shutil.which("ip"):
        pytest.skip("iproute2 is not installed")
    name = f"gtestm{os.getpid() % 10000}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot create a network namespace: {r.stderr.strip()}")
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name])


def _exec_true() -> int:
    p = subprocess.Popen(["/bin/true"])
    p.wait()
    return p.pid


def _seen(obj, pid: int) -> int:
    time.sleep(0.02)
    try:
        return int(obj.maps["seen"][pid])
    except KeyError:
        return 0


# ---------------------------------------------------------------- iterators, perf events

def test_iter_task(misc, no_fd_leak):
    with link.attach(misc.programs["dump_tasks"]) as it:
        assert isinstance(it, link.IterLink)
        info = it.info()
        assert info.type_name == "iter" and info.target_name == "task"
        text = it.read_text()
        lines = dict(ln.split(" ", 1) for ln in text.splitlines())
        assert str(os.getpid()) in lines
        with open("/proc/self/comm") as f:
            assert lines[str(os.getpid())] == f.read().strip()
        assert it.read_text().count("\n") > 5   # each read runs the iterator anew


def test_perf_event_sampling(misc, no_fd_leak):
    hits = misc.maps["hits"]
    hits[0] = 0
    with pytest.raises(AttachError, match="needs sampling options"):
        link.attach(misc.programs["on_sample"])
    with link.attach(misc.programs["on_sample"], sample_freq=1000) as ln:
        assert len(ln.links) == len(link.perf_event._online_cpus())
        assert ln.info().perf_event_type in ("event", "unspec")  # unspec before 6.6
        t = time.monotonic()
        while time.monotonic() - t < 0.2:
            pass
        assert hits[0] > 10
    n = hits[0]
    time.sleep(0.05)
    assert hits[0] == n, "still sampling after close()"
    with link.attach_perf_event(misc.programs["on_sample"], event="task-clock",
                                sample_period=100000, cpus=[0]) as ln:
        assert len(ln.links) == 1
    with pytest.raises(AttachError, match="unknown perf event"):
        link.attach_perf_event(misc.programs["on_sample"], event="bogus")


# ---------------------------------------------------------------- socket-level hooks

def test_sk_lookup_in_netns(sock, runs, netns, no_fd_leak):
    with link.attach(sock.programs["lookup"], netns=netns) as ln:
        info = ln.info()
        assert info.type_name == "netns"
        assert info.netns_ino == os.stat(f"/var/run/netns/{netns}").st_ino
        subprocess.run(["nsenter", f"--net=/var/run/netns/{netns}", sys.executable, "-c",
                        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
                        "s.sendto(b'x', ('127.0.0.1', 9))"], check=True)
        assert runs[0] >= 1


def test_flow_dissector_in_netns(sock, netns, no_fd_leak):
    with link.attach(sock.programs["dissect"], netns=f"/var/run/netns/{netns}") as ln:
        assert ln.info().type_name == "netns"
        assert ln.info().attach_type == link.socket.BPF_FLOW_DISSECTOR


def test_sk_msg_and_sk_skb_on_sockmap(sock, runs, no_fd_leak):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    cli = socket.create_connection(srv.getsockname())
    acc, _ = srv.accept()
    try:
        socks = sock.maps["socks"]
        with link.attach(sock.programs["msg"], map=socks) as a, \
                link.attach(sock.programs["verdict"], map=socks) as b:
            assert a.hook == b.hook == "sockmap"
            socks[0] = cli.fileno()
            socks[1] = acc.fileno()
            cli.sendall(b"ping")
            acc.settimeout(2)
            assert acc.recv(10) == b"ping"
            assert runs[2] >= 1 and runs[3] >= 1
            del socks[0]
            del socks[1]
        with pytest.raises(AttachError, match="needs a sockmap"):
            link.attach(sock.programs["msg"])
    finally:
        cli.close()
        acc.close()
        srv.close()


def test_netfilter(bpf_prog, no_fd_leak):
    try:
        o = corebpf.load(bpf_prog("hook_sock"), programs=["nf"])
    except corebpf.KernelError as e:
        pytest.skip(f"no netfilter programs on this kernel (Linux 6.4+): {e}")
    with o:
        runs = o.maps["runs"]
        with pytest.raises(AttachError, match="needs pf="):
            link.attach(o.programs["nf"])
        with link.attach(o.programs["nf"], pf="ipv4", hook="input", priority=-128) as ln:
            info = ln.info()
            assert info.type_name == "netfilter" and info.pf == 2 and info.hooknum == 1
            assert info.priority == -128
            subprocess.run(["ping", "-c", "1", "-q", "127.0.0.1"], check=True,
                           capture_output=True)
            assert runs[4] >= 1


def test_cgroup_connect4(sock, runs, no_fd_leak):
    with open("/proc/mounts") as f:
        root = next((ln.split()[1] for ln in f if ln.split()[2] == "cgroup2"), None)
    if root is None:
        pytest.skip("no cgroup2")
    cg = os.path.join(root, f"corebpf_gtest_c4_{os.getpid()}")
    os.makedirs(cg, exist_ok=True)
    try:
        with link.attach(sock.programs["connect4"], cgroup=cg) as ln:
            assert ln.hook == "cgroup/inet4_connect"
            subprocess.run(["sh", "-c", f"echo $$ > {cg}/cgroup.procs; exec {sys.executable} -c "
                            "\"import socket; s = socket.socket(socket.AF_INET, "
                            "socket.SOCK_DGRAM); s.connect(('127.0.0.1', 9))\""], check=True)
            assert runs[5] == 1
    finally:
        os.rmdir(cg)


# ---------------------------------------------------------------- Link life cycle

def test_pin_from_pin_unpin(tp, pin_dir, no_fd_leak):
    prog = tp.programs["on_exec_raw"]
    path = f"{pin_dir}/raw"
    ln = link.attach(prog)
    link_id = ln.info().id
    ln.pin(path)
    assert ln.pinned_path == path
    ln.close()
    assert _seen(tp, _exec_true()) & 2, "a pinned link stays attached after close()"
    with link.Link.from_pin(path) as again:
        assert again.info().id == link_id
        assert again.info().tp_name == "sched_process_exec"
        again.unpin()
        assert not os.path.exists(path)
    assert not _seen(tp, _exec_true()) & 2, "detached once unpinned and closed"
    with link.attach(prog) as ln, pytest.raises(AttachError, match="cannot pin"):
        ln.pin("/tmp/not-on-bpffs")
    tp.maps["seen"].pin(f"{pin_dir}/amap")
    with pytest.raises(Error, match="is not a BPF link"):
        link.Link.from_pin(f"{pin_dir}/amap")


def test_detach_pinned_link(sock, netns, pin_dir, no_fd_leak):
    path = f"{pin_dir}/lookup"
    ln = link.attach(sock.programs["lookup"], netns=netns)
    ln.pin(path)
    assert ln.info().netns_ino != 0
    with link.Link.from_pin(path) as other:
        other.detach()         # BPF_LINK_DETACH: detached for every holder, even pinned
        assert other.closed
    assert ln.info().netns_ino == 0    # the kernel reports a detached netns link so
    ln.close()
    os.unlink(path)


def test_detach_unsupported_kind_closes(tp, no_fd_leak):
    ln = link.attach(tp.programs["on_exec_tp"])   # perf links have no BPF_LINK_DETACH
    ln.detach()
    assert ln.closed
    assert not _seen(tp, _exec_true()) & 1


def test_update_program(bpf_prog, sock, runs, netns, no_fd_leak):
    with corebpf.load(bpf_prog("hook_sock"), programs=["lookup"]) as other:
        a, b = sock.programs["lookup"], other.programs["lookup"]
        with link.attach(a, netns=netns) as ln:
            assert ln.info().prog_id == a.info().id
            ln.update(b)
            assert ln.info().prog_id == b.info().id and ln.program is b
            with pytest.raises(AttachError, match="cannot update"):
                ln.update(a, old_program=a)   # b is attached, not a
            ln.update(a, old_program=b)
            assert ln.info().prog_id == a.info().id


def test_from_id(tp, no_fd_leak):
    with link.attach(tp.programs["on_exec_raw"]) as ln:
        with link.Link.from_id(ln.info().id) as same:
            assert same.info().prog_id == ln.info().prog_id
            assert same.hook == "raw_tracepoint"


def test_gc_closes_link(tp, no_fd_leak):
    ln = link.attach(tp.programs["on_exec_raw"])
    assert _seen(tp, _exec_true()) & 2
    del ln
    gc.collect()
    assert not _seen(tp, _exec_true()) & 2


def test_closed_link_errors(tp):
    ln = link.attach(tp.programs["on_exec_raw"])
    ln.close()
    ln.close()  # idempotent
    assert "closed" in repr(ln)
    with pytest.raises(Error, match="closed"):
        ln.info()


def test_failed_attach_leaks_nothing(tp, sock, no_fd_leak):
    for call in (lambda: link.attach_tracepoint(tp.programs["on_exec_tp"], "no", "such"),
                 lambda: link.attach_raw_tracepoint(tp.programs["on_exec_raw"], "nope_x"),
                 lambda: link.attach_xdp(tp.programs["on_exec_tp"], "lo"),
                 lambda: link.attach_cgroup(sock.programs["connect4"], "/proc"),
                 lambda: link.attach_sockmap(sock.programs["msg"], sock.maps["runs"]),
                 lambda: link.attach_perf_event(tp.programs["on_exec_tp"], cpus=[0])):
        with pytest.raises(AttachError):
            call()


def test_bad_options(tp, misc, sock, no_fd_leak):
    with pytest.raises(AttachError, match="unexpected option 'bogus'"):
        link.attach(misc.programs["dump_tasks"], bogus=1)
    fd = os.open("/", os.O_RDONLY)
    try:
        with pytest.raises(AttachError, match="not a socket"):
            link.attach_socket_filter(sock.programs["msg"], fd)
    finally:
        os.close(fd)


def test_no_hook_for_section():
    class Fake:
        section = "syscall"
        type = 31
        fd = 0
        name = "x"
    with pytest.raises(AttachError, match="not attached"):
        link.attach(Fake())
    Fake.section = "weird/thing"
    with pytest.raises(AttachError, match="no known hook"):
        link.attach(Fake())
