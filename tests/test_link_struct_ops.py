"""struct_ops attached for real: TCP congestion controls written in BPF, registered through
a link (SEC(".struct_ops.link"), Linux 6.4+) or by the map update (SEC(".struct_ops")),
chosen by a loopback TCP socket (TCP_CONGESTION) and seen running (call counters), replaced
with BPF_LINK_UPDATE, then unregistered. tests/vm/ runs these under Debian 6.1 and 6.12."""
from __future__ import annotations

import os
import socket
import threading

import pytest

import corebpf
from corebpf import link
from corebpf.errors import AttachError, KernelError, NotSupported

pytestmark = pytest.mark.kernel

TCP_CONGESTION = 13


@pytest.fixture(scope="module", autouse=True)
def _kernel_btf_cached():
    from corebpf.btf import BTF
    BTF.kernel()  # cached and kept open: before the fd-leak checks


def _kernel_at_least(major: int, minor: int) -> bool:
    rel = os.uname().release.split("-")[0].split(".")
    return (int(rel[0]), int(rel[1])) >= (major, minor)


def available() -> list[str]:
    with open("/proc/sys/net/ipv4/tcp_available_congestion_control") as f:
        return f.read().split()


def transfer(cc: str, nbytes: int = 1 << 20) -> str:
    """Send ``nbytes`` over loopback TCP from a socket set to congestion control ``cc``;
    returns the name the socket reports using."""
    s = socket.socket()
    try:
        s.settimeout(30)
        s.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, cc.encode())  # ENOENT if unknown
    except BaseException:
        s.close()
        raise
    srv = socket.socket()
    srv.settimeout(30)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got: list[int] = []

    def receive() -> None:
        try:
            c, _ = srv.accept()
        except OSError:
            return
        with c:
            c.settimeout(30)
            n = 0
            while True:
                b = c.recv(1 << 16)
                if not b:
                    break
                n += len(b)
            got.append(n)

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    try:
        with s:
            s.connect(srv.getsockname())
            used = s.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, 16)
            s.sendall(b"x" * nbytes)
    finally:
        t.join(30)
        srv.close()
    assert got == [nbytes]
    return used.rstrip(b"\0").decode()


def test_legacy_map_registered_runs_and_unregisters(bpf_prog, no_fd_leak):
    """SEC(".struct_ops"): attach_struct_ops() on the map itself writes the value (the
    registration), a socket runs the programs, closing the Link unregisters; the kernel
    never registers such a map twice, which attach says by name."""
    assert "corebpf_so" not in available()
    with corebpf.load(bpf_prog("struct_ops_legacy")) as obj:
        assert "corebpf_so" not in available()       # loading registers nothing
        m = obj.maps["corebpf_so"]
        ln = link.attach_struct_ops(m)
        assert not ln.is_bpf_link and ln.target == "corebpf_so"
        assert "corebpf_so" in available()
        assert transfer("corebpf_so") == "corebpf_so"
        calls = list(obj.variables["calls"])
        assert calls[0] >= 1 and calls[1] >= 1, calls     # init, cong_avoid ran
        ln.close()
        assert "corebpf_so" not in available()
        with pytest.raises(OSError):
            transfer("corebpf_so")                   # ENOENT: no such algorithm
        with pytest.raises(AttachError, match="'corebpf_so'.*registers such a map only once"):
            link.attach_struct_ops(m)


def test_object_attach_all_registers_legacy_map(bpf_prog, no_fd_leak):
    with corebpf.load(bpf_prog("struct_ops_legacy")) as obj:
        links = obj.attach_all()
        assert [ln.target for ln in links] == ["corebpf_so"]
        assert "corebpf_so" in available()
    assert "corebpf_so" not in available()


def test_link_map_registered_updated_detached(bpf_prog, no_fd_leak):
    """SEC(".struct_ops.link"): a bpf_link registers the map; BPF_LINK_UPDATE swaps in a
    second map of the same algorithm name (its programs then run); detach unregisters."""
    if not _kernel_at_least(6, 4):
        with pytest.raises(NotSupported, match="corebpf_sl.*need Linux 6.4"):
            corebpf.load(bpf_prog("struct_ops_link"))
        return
    with corebpf.load(bpf_prog("struct_ops_link")) as obj:
        assert "corebpf_sl" not in available()
        with link.attach_struct_ops(obj.maps["corebpf_sl"]) as ln:
            assert ln.is_bpf_link
            info = ln.info()
            assert info.type_name == "struct_ops"
            assert info.map_id == obj.maps["corebpf_sl"].info()["id"]
            assert "corebpf_sl" in available()
            assert transfer("corebpf_sl") == "corebpf_sl"
            c = list(obj.variables["calls"])
            assert c[0] >= 1 and c[1] >= 1 and c[4:] == [0, 0, 0, 0], c

            with pytest.raises(AttachError, match="'corebpf_sl2'.*registered already"):
                link.attach_struct_ops(obj.maps["corebpf_sl2"])   # same name: EEXIST
            with pytest.raises(AttachError, match="update_map"):
                ln.update(obj.programs["sl2_init"])
            with pytest.raises(AttachError, match="corebpf_sl2"):
                ln.update_map(obj.maps["corebpf_sl2"], old_map=obj.maps["corebpf_sl2"])
            ln.update_map(obj.maps["corebpf_sl2"], old_map=obj.maps["corebpf_sl"])
            assert ln.info().map_id == obj.maps["corebpf_sl2"].info()["id"]
            assert ln.target == "corebpf_sl2"
            before = list(obj.variables["calls"])
            assert transfer("corebpf_sl") == "corebpf_sl"
            c = list(obj.variables["calls"])
            assert c[:4] == before[:4], (before, c)              # the old programs are out
            assert c[4] >= 1 and c[5] >= 1, c
            ln.detach()
        assert ln.closed and "corebpf_sl" not in available()


def test_link_map_closed_with_object(bpf_prog, no_fd_leak):
    if not _kernel_at_least(6, 4):
        # before 6.4: continue_on_error leaves the link maps out, naming each
        with corebpf.load(bpf_prog("struct_ops_link"), continue_on_error=True) as obj:
            for name in ("corebpf_sl", "corebpf_sl2"):
                assert isinstance(obj.errors[name], NotSupported)
                assert "need Linux 6.4" in str(obj.errors[name]) and name not in obj.maps
            assert obj.attach_all() == [] and "corebpf_sl" not in available()
        return
    with corebpf.load(bpf_prog("struct_ops_link"), programs=[
            "sl_init", "sl_cong_avoid", "sl_ssthresh", "sl_undo"]) as obj:
        links = obj.attach_all()
        assert [ln.target for ln in links] == ["corebpf_sl"]   # corebpf_sl2 is not filled
        assert "corebpf_sl" in available()
    assert "corebpf_sl" not in available()


def test_attach_errors_name_the_map(bpf_prog, no_fd_leak):
    with corebpf.load(bpf_prog("struct_ops_legacy")) as obj:
        with pytest.raises(AttachError, match=r"map '\.bss' is not a struct_ops map"):
            link.attach_struct_ops(obj.maps[".bss"])
        with pytest.raises(AttachError, match="struct_ops map"):
            link.attach(obj.programs["so_init"])
        ln = link.attach_struct_ops(obj.maps["corebpf_so"])
        with ln, pytest.raises(AttachError, match=r"SEC\(\"\.struct_ops\.link\"\)"):
            ln.update_map(obj.maps["corebpf_so"])
    with corebpf.load(bpf_prog("struct_ops_legacy")) as a, \
            corebpf.load(bpf_prog("struct_ops_legacy")) as b:
        with link.attach_struct_ops(a.maps["corebpf_so"]):
            # a second algorithm of the same name: EEXIST, named, and nothing registered
            with pytest.raises(AttachError, match=r"'corebpf_so'.*same name is registered"):
                link.attach_struct_ops(b.maps["corebpf_so"])
            assert available().count("corebpf_so") == 1
        assert "corebpf_so" not in available()


def test_link_map_value_written_and_refused_at_attach(bpf_prog, no_fd_leak):
    """As libbpf, a link map's value is written at attach, not at load: the kernel checks
    the table there (tcp_congestion_ops without cong_avoid/cong_control), so the object
    loads and its attach is refused by an AttachError naming the map and the struct."""
    if not _kernel_at_least(6, 4):
        with pytest.raises(NotSupported, match="corebpf_inv.*need Linux 6.4"):
            corebpf.load(bpf_prog("struct_ops_link_invalid"))
        return
    from corebpf import object as O
    with corebpf.load(bpf_prog("struct_ops_link_invalid")) as obj:
        assert set(obj.programs) == {"inv_init", "inv_ssthresh", "inv_undo"}
        m = obj.maps["corebpf_inv"]
        # nothing written at load (as libbpf 1.5 leaves it): the kernel shows zeros
        # (state BPF_STRUCT_OPS_STATE_INIT)
        assert not any(_raw_value(m))
        assert O.struct_ops_value(m) is not None
        assert O.struct_ops_type(m) == "tcp_congestion_ops"
        for attach in (lambda: link.attach_struct_ops(m), obj.attach_all):
            with pytest.raises(AttachError) as ei:
                attach()
            e = ei.value
            assert "'corebpf_inv'" in str(e) and "struct tcp_congestion_ops" in str(e), e
            assert "cong_avoid" in str(e) and e.errno == 22
            assert isinstance(e.cause, KernelError)
        assert not obj.links and O.struct_ops_value(m) is not None   # still held back
        assert "corebpf_inv" not in available()


def test_link_map_value_written_once(bpf_prog, no_fd_leak):
    """The value is written on the first attach; a later attach (after detach) and
    update_map to a map written already link it as it is (the kernel keeps a written
    struct_ops value; EBUSY on a second write is skipped, as libbpf does)."""
    if not _kernel_at_least(6, 4):
        pytest.skip("struct_ops links need Linux 6.4 (checked by the tests above)")
    from corebpf import object as O
    with corebpf.load(bpf_prog("struct_ops_link")) as obj:
        m, m2 = obj.maps["corebpf_sl"], obj.maps["corebpf_sl2"]
        assert not any(_raw_value(m)) and not any(_raw_value(m2))
        with link.attach_struct_ops(m) as ln:
            assert O.struct_ops_value(m) is None and any(_raw_value(m))
            ln.update_map(m2)
            assert O.struct_ops_value(m2) is None
            assert ln.info().map_id == m2.info()["id"]
        with link.attach_struct_ops(m) as ln:                 # written already: linked
            assert "corebpf_sl" in available()
            assert transfer("corebpf_sl") == "corebpf_sl"
        assert "corebpf_sl" not in available()


def _raw_value(m) -> bytes:
    from corebpf import _sys
    buf = bytearray(m.value_size)
    _sys.map_lookup_elem(m.fd, (0).to_bytes(4, "little"), buf)
    return bytes(buf)
