"""XDP, TC (tcx and clsact), cgroup_skb and socket filters, triggered with real packets:
pings across a veth pair into a network namespace the test creates and removes."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest

import corebpf
from corebpf import link
from corebpf.errors import AttachError

pytestmark = pytest.mark.kernel

XDP, TC_IN, TC_OUT, CG_IN, CG_OUT, SOCK = range(6)


def _sh(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True, capture_output=True)


@pytest.fixture(scope="module", autouse=True)
def _kernel_btf_cached():
    from corebpf.btf import BTF
    BTF.kernel()  # cached and kept open: before the fd-leak checks


@pytest.fixture(scope="module")
def obj(bpf_prog):
    with corebpf.load(bpf_prog("hook_net")) as o:
        yield o


@pytest.fixture
def counts(obj):
    m = obj.maps["pkt_count"]
    for i in range(8):
        m[i] = 0
    return m


@pytest.fixture(scope="module")
def veth():
    """(host interface, peer address): a veth pair, the peer in a fresh netns."""
    if not shutil.which("ip"):
        pytest.skip("iproute2 is not installed")
    n = os.getpid() % 10000
    ns, a, b = f"gtest{n}", f"gva{n}", f"gvb{n}"
    net = f"10.231.{n % 250}"
    try:
        for cmd in (f"ip netns add {ns}", f"ip link add {a} type veth peer name {b}"):
            r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
            if r.returncode:   # e.g. a qemu guest without the veth module
                pytest.skip(f"cannot create the test network ({cmd}): {r.stderr.strip()}")
        _sh(f"ip link set {b} netns {ns}")
        _sh(f"ip addr add {net}.1/24 dev {a} && ip link set {a} up")
        _sh(f"ip -n {ns} addr add {net}.2/24 dev {b} && ip -n {ns} link set {b} up "
            f"&& ip -n {ns} link set lo up")
        yield a, f"{net}.2"
    finally:
        subprocess.run(f"ip link del {a}", shell=True, capture_output=True)
        subprocess.run(f"ip netns del {ns}", shell=True, capture_output=True)


def _ping(addr: str, n: int = 3) -> None:
    _sh(f"ping -c {n} -i 0.2 -W 2 -q {addr}")


def test_xdp_counts_pings(obj, counts, veth, no_fd_leak):
    iface, peer = veth
    with link.attach(obj.programs["xdp_count"], iface=iface) as ln:
        info = ln.info()
        assert info.type_name == "xdp" and info.ifindex == socket.if_nametoindex(iface)
        _ping(peer)
        assert counts[XDP] >= 3   # the echo replies (and ARP) come in on the host end
    before = counts[XDP]
    _ping(peer, 1)
    assert counts[XDP] == before, "XDP still attached after close()"


@pytest.mark.parametrize("mode,use_link", [("generic", None), (None, False)])
def test_xdp_generic_and_netlink(obj, counts, veth, mode, use_link, no_fd_leak):
    iface, peer = veth
    with link.attach_xdp(obj.programs["xdp_count"], iface, mode=mode,
                         use_link=use_link) as ln:
        assert ln.is_bpf_link == (use_link is not False)
        _ping(peer, 2)
        assert counts[XDP] >= 2
        out = subprocess.run(["ip", "link", "show", iface], capture_output=True,
                             text=True).stdout
        assert "xdp" in out
    out = subprocess.run(["ip", "link", "show", iface], capture_output=True, text=True).stdout
    assert "prog/xdp" not in out


def test_xdp_errors(obj):
    with pytest.raises(AttachError, match="needs an interface"):
        link.attach(obj.programs["xdp_count"])
    with pytest.raises(AttachError, match="no such network interface"):
        link.attach_xdp(obj.programs["xdp_count"], "nosuchif0")
    with pytest.raises(AttachError, match="unknown XDP mode"):
        link.attach_xdp(obj.programs["xdp_count"], "lo", mode="turbo")


def test_tc_clsact(obj, counts, veth, no_fd_leak):
    iface, peer = veth
    # plain "tc" sections: classic clsact qdisc + direct-action cls_bpf filters
    with link.attach(obj.programs["tc_count_in"], iface=iface) as tin, \
            link.attach(obj.programs["tc_count_out"], iface=iface, direction="egress") as tout:
        assert tin.hook == tout.hook == "tc" and not tin.is_bpf_link
        shown = subprocess.run(["tc", "filter", "show", "dev", iface, "ingress"],
                               capture_output=True, text=True).stdout
        assert "tc_count_in" in shown and "direct-action" in shown
        _ping(peer)
        assert counts[TC_IN] >= 3 and counts[TC_OUT] >= 3
    shown = subprocess.run(["tc", "filter", "show", "dev", iface, "ingress"],
                           capture_output=True, text=True).stdout
    assert "tc_count_in" not in shown
    link.remove_clsact(iface)
    with pytest.raises(AttachError, match="direction must be"):
        link.attach_tc(obj.programs["tc_count_in"], iface, "sideways")


def _tcx_or_skip(e: Exception) -> None:
    if getattr(e, "errno", None) in (22, 95, 524):
        pytest.skip(f"no tcx links on this kernel (Linux 6.6+): {e}")


def test_tcx_by_section(bpf_prog, veth, no_fd_leak):
    iface, peer = veth
    try:
        o = corebpf.load(bpf_prog("hook_tcx"))
    except corebpf.KernelError as e:
        _tcx_or_skip(e)
        raise
    with o:
        c = o.maps["tcx_count"]
        try:  # before 6.6 the load succeeds (SCHED_CLS ignores the attach type); the link not
            a = link.attach(o.programs["tcx_in"], iface=iface)
        except AttachError as e:
            _tcx_or_skip(e)
            raise
        with a, link.attach(o.programs["tcx_out"], iface=iface) as b:
            assert a.hook == b.hook == "tcx"
            assert a.info().type_name == "tcx"
            assert a.info().attach_type == link.tc.BPF_TCX_INGRESS
            _ping(peer)
            assert c[0] >= 3 and c[1] >= 3


def test_tc_prefers_tcx(obj, counts, veth, no_fd_leak):
    iface, peer = veth
    # a SCHED_CLS program through attach_tc: a tcx link where the kernel has them,
    # else clsact; mode="clsact" forces the classic path
    try:
        a = link.attach_tc(obj.programs["tc_count_in"], iface, "ingress", mode="tcx")
    except AttachError as e:
        _tcx_or_skip(e)
        raise
    with a, link.attach_tc(obj.programs["tc_count_out"], iface, "egress",
                           mode="clsact") as b:
        assert a.hook == "tcx" and b.hook == "tc"
        _ping(peer, 2)
        assert counts[TC_IN] >= 2 and counts[TC_OUT] >= 2
    link.remove_clsact(iface)


def _cgroup2_root() -> str:
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if parts[2] == "cgroup2":
                return parts[1]
    pytest.skip("no cgroup2 mounted")


@pytest.fixture
def child_cgroup():
    path = os.path.join(_cgroup2_root(), f"corebpf_gtest_{os.getpid()}")
    os.makedirs(path, exist_ok=True)
    try:
        yield path
    finally:
        os.rmdir(path)


@pytest.mark.parametrize("use_link", [None, False])
def test_cgroup_skb(obj, counts, child_cgroup, use_link, no_fd_leak):
    peer = "127.0.0.1"   # loopback traffic passes the cgroup hooks too
    ln_in = link.attach_cgroup(obj.programs["cg_in"], child_cgroup, use_link=use_link)
    ln_out = link.attach(obj.programs["cg_out"], cgroup=child_cgroup, use_link=use_link)
    try:
        assert ln_in.hook == "cgroup/inet_ingress" and ln_out.hook == "cgroup/inet_egress"
        if use_link is None:
            assert ln_in.info().type_name == "cgroup"
        ids = link.cgroup.query_cgroup(child_cgroup, "inet_egress")
        assert obj.programs["cg_out"].info().id in ids
        _ping(peer, 1)   # outside the cgroup: not counted
        assert counts[CG_OUT] == 0
        _sh(f"sh -c 'echo $$ > {child_cgroup}/cgroup.procs; exec ping -c 2 -i 0.2 -q {peer}'")
        assert counts[CG_OUT] >= 2 and counts[CG_IN] >= 2
    finally:
        ln_in.close()
        ln_out.close()
    assert link.cgroup.query_cgroup(child_cgroup, "inet_egress") == []


def test_cgroup_errors(obj):
    with pytest.raises(AttachError, match="needs a cgroup"):
        link.attach(obj.programs["cg_in"])
    with pytest.raises(AttachError, match="cannot open cgroup"):
        link.attach(obj.programs["cg_in"], cgroup="/no/such/cgroup")
    with pytest.raises(AttachError, match="unknown cgroup attach type"):
        link.attach_cgroup(obj.programs["cg_in"], "/", attach_type="bogus")


def test_socket_filter(obj, counts, no_fd_leak):
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        r.bind(("127.0.0.1", 0))
        r.settimeout(2)
        with link.attach(obj.programs["sock_count"], sock=r) as ln:
            assert ln.hook == "socket"
            s.sendto(b"hello", r.getsockname())
            assert r.recv(100) == b"hello"
            assert counts[SOCK] == 1
        s.sendto(b"again", r.getsockname())
        assert r.recv(100) == b"again"
        assert counts[SOCK] == 1, "filter still attached after close()"
        with pytest.raises(AttachError, match="needs a socket"):
            link.attach(obj.programs["sock_count"])
    finally:
        r.close()
        s.close()


def test_xdp_native_and_update(obj, bpf_prog, counts, veth, no_fd_leak):
    iface, peer = veth
    with corebpf.load(bpf_prog("hook_net"), programs=["xdp_count"]) as other:
        b = other.programs["xdp_count"]
        with link.attach_xdp(obj.programs["xdp_count"], iface, mode="native") as ln:
            out = subprocess.run(["ip", "link", "show", iface], capture_output=True,
                                 text=True).stdout
            assert "xdp " in out or "xdp/" in out   # driver mode on veth
            _ping(peer, 1)
            assert counts[XDP] >= 1
            ln.update(b)                             # atomically swap the program
            assert ln.info().prog_id == b.info().id
            n = counts[XDP]
            _ping(peer, 2)
            assert counts[XDP] == n                  # now the other object's map counts
            assert other.maps["pkt_count"][XDP] >= 2
            with pytest.raises(AttachError, match="another XDP program|Busy|busy"):
                link.attach_xdp(obj.programs["xdp_count"], iface)


@pytest.mark.parametrize("use_link", [None, False])
def test_cgroup_multi(obj, bpf_prog, counts, child_cgroup, use_link, no_fd_leak):
    peer = "127.0.0.1"
    with corebpf.load(bpf_prog("hook_net"), programs=["cg_out"]) as other:
        om = other.maps["pkt_count"]
        with link.attach(obj.programs["cg_out"], cgroup=child_cgroup, use_link=use_link), \
                link.attach(other.programs["cg_out"], cgroup=child_cgroup,
                            use_link=use_link):
            assert len(link.cgroup.query_cgroup(child_cgroup, "inet_egress")) == 2
            _sh(f"sh -c 'echo $$ > {child_cgroup}/cgroup.procs; "
                f"exec ping -c 2 -i 0.2 -q {peer}'")
            assert counts[CG_OUT] >= 2 and om[CG_OUT] >= 2   # both programs ran
