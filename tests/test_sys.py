"""The syscall layer: FD ownership, every bpf() command we use, errors typed."""
from __future__ import annotations

import errno
import os
import shutil
import socket
import struct
import subprocess

import pytest

from corebpf import _sys
from corebpf.errors import (KernelError, NotFound, NotSupported, PermissionDenied,
                            VerifierError)


def insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


RET0 = insn(0xB7) + insn(0x95)
RET1 = insn(0xB7, imm=1) + insn(0x95)


def counter_prog(map_fd: int) -> bytes:
    """Socket filter: value = map[0]; value += 1 (atomically); return 0."""
    return b"".join([
        insn(0x18, 1, 1, 0, map_fd), insn(0),      # r1 = map
        insn(0x62, 10, 0, -4, 0),                   # *(u32 *)(r10 - 4) = 0
        insn(0xBF, 2, 10), insn(0x07, 2, imm=-4),   # r2 = r10 - 4
        insn(0x85, imm=1),                          # call map_lookup_elem
        insn(0x15, 0, 0, 2, 0),                     # if r0 == 0 goto +2
        insn(0xB7, 1, imm=1),                       # r1 = 1
        insn(0xDB, 0, 1, 0, 0),                     # lock *(u64 *)(r0 + 0) += r1
        insn(0xB7), insn(0x95),
    ])


@pytest.fixture
def pin_dir():
    _sys.mount_bpffs()
    d = f"/sys/fs/bpf/corebpf-test-sys-{os.getpid()}"
    os.makedirs(d, exist_ok=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------- no kernel

def test_fd_ownership(no_fd_leak):
    r, w = os.pipe()
    os.close(w)
    fd = _sys.FD(r, "pipe")
    assert fd.fileno() == r and int(fd) == r and not fd.closed
    d = fd.dup()
    assert d.fileno() != r
    with d:
        pass
    assert d.closed
    with pytest.raises(ValueError):
        d.fileno()
    fd.close()
    fd.close()  # idempotent
    assert fd.closed
    r, w = os.pipe()
    os.close(w)
    f2 = _sys.FD(r)
    del f2  # closes on GC
    assert not os.path.exists(f"/proc/self/fd/{r}") or os.readlink(
        f"/proc/self/fd/{r}").find("pipe") < 0


def test_fd_detach():
    r, w = os.pipe()
    fd = _sys.FD(r)
    assert fd.detach() == r
    assert fd.closed
    os.close(r)
    os.close(w)


def test_errno_mapping():
    assert isinstance(_sys.error_from_errno("x", errno.EPERM), PermissionDenied)
    e = _sys.error_from_errno("map_create", errno.EACCES)
    assert isinstance(e, PermissionDenied) and "CAP_BPF" in str(e)
    assert isinstance(_sys.error_from_errno("x", errno.ENOENT), NotFound)
    assert isinstance(_sys.error_from_errno("x", errno.EOPNOTSUPP), NotSupported)
    assert isinstance(_sys.error_from_errno("x", 524), NotSupported)
    e = _sys.error_from_errno("prog_load", errno.E2BIG)
    assert type(e) is KernelError and "prog_load" in str(e) and e.errno == errno.E2BIG
    assert isinstance(e, OSError)


def test_cpus():
    n = _sys.possible_cpus()
    online = _sys.online_cpus()
    assert n >= len(online) >= 1
    assert max(online) < n
    assert _sys._parse_cpulist("0-3,5,7-8\n") == [0, 1, 2, 3, 5, 7, 8]


def test_name16():
    assert _sys._name16("hello-world.map with spaces and more") == b"helloworld.mapw"
    assert _sys._name16("") == b""


def test_buffer_address():
    b = b"abc"
    a, n, keep = _sys.buffer_address(b)
    assert n == 3 and a
    ba = bytearray(8)
    a, n, keep = _sys.buffer_address(ba, writable=True)
    assert n == 8
    with pytest.raises(TypeError):
        _sys.buffer_address(b"x", writable=True)


# --------------------------------------------------------------------------- maps

@pytest.mark.kernel
def test_map_create_and_info(no_fd_leak):
    with _sys.map_create(1, 4, 8, 64, map_name="sys_hash") as m:
        info = _sys.map_info(m)
        assert (info.type, info.key_size, info.value_size, info.max_entries) == (1, 4, 8, 64)
        assert info.name == "sys_hash" and info.id > 0
        with _sys.map_get_fd_by_id(info.id) as m2:
            assert _sys.map_info(m2).id == info.id
        # iterate ids: ours is there
        ids, cur = [], 0
        while (cur := _sys.map_get_next_id(cur)) is not None:
            ids.append(cur)
        assert info.id in ids


@pytest.mark.kernel
def test_map_create_errors(no_fd_leak):
    with pytest.raises(KernelError) as ei:
        _sys.map_create(1, 0, 8, 1, map_name="bad")
    assert ei.value.errno == errno.EINVAL
    assert "map_create" in str(ei.value) and "key_size=0" in str(ei.value)
    with pytest.raises(KernelError):
        _sys.map_create(200, 4, 4, 1)
    with pytest.raises(NotFound):
        _sys.map_get_fd_by_id(0xFFFFFFF0)


@pytest.mark.kernel
def test_elem_ops(no_fd_leak):
    with _sys.map_create(1, 4, 8, 16) as m:
        k = struct.pack("<I", 7)
        _sys.map_update_elem(m, k, struct.pack("<Q", 99))
        out = bytearray(8)
        _sys.map_lookup_elem(m, k, out)
        assert struct.unpack("<Q", out)[0] == 99
        with pytest.raises(KernelError) as ei:
            _sys.map_update_elem(m, k, struct.pack("<Q", 1), _sys.BPF_NOEXIST)
        assert ei.value.errno == errno.EEXIST
        nk = bytearray(4)
        assert _sys.map_get_next_key(m, None, nk) and bytes(nk) == k
        assert not _sys.map_get_next_key(m, k, nk)
        _sys.map_lookup_and_delete_elem(m, k, out)
        with pytest.raises(NotFound) as ei:
            _sys.map_lookup_elem(m, k, out)
        assert "map_lookup_elem" in str(ei.value)
        with pytest.raises(NotFound):
            _sys.map_delete_elem(m, k)
        _sys.map_freeze(m)
        with pytest.raises(PermissionDenied):
            _sys.map_update_elem(m, k, struct.pack("<Q", 1))


@pytest.mark.kernel
def test_mapops_hot_path(no_fd_leak):
    with _sys.map_create(1, 4, 8, 16) as m:
        ops = _sys.MapOps(m.fd, 4, 8, "hot")
        struct.pack_into("<I", ops.key, 0, 3)
        assert not ops.lookup()
        struct.pack_into("<Q", ops.value, 0, 5)
        ops.update()
        ops.value.raw = bytes(8)
        assert ops.lookup()
        assert struct.unpack_from("<Q", ops.value)[0] == 5
        assert ops.next_key(True) and ops.next.raw == struct.pack("<I", 3)
        with pytest.raises(KernelError) as ei:
            ops.update(_sys.BPF_NOEXIST)
        assert "map 'hot'" in str(ei.value)
        assert ops.delete() and not ops.delete()


@pytest.mark.kernel
def test_batch_ops(no_fd_leak):
    n = 100
    with _sys.map_create(1, 4, 8, 128) as m:
        keys = struct.pack(f"<{n}I", *range(n))
        vals = struct.pack(f"<{n}Q", *(i * 10 for i in range(n)))
        assert _sys.map_update_batch(m, keys, vals, n) == n
        kout, vout = bytearray(4 * 128), bytearray(8 * 128)
        got, done = _sys.map_lookup_batch(m, kout, vout, 128, None, bytearray(8))
        assert got == n and done
        pairs = dict(zip(struct.unpack(f"<{n}I", kout[:4 * n]),
                         struct.unpack(f"<{n}Q", vout[:8 * n])))
        assert pairs == {i: i * 10 for i in range(n)}
        assert _sys.map_delete_batch(m, keys[:40], 10) == 10
        got, done = _sys.map_lookup_and_delete_batch(m, kout, vout, 128, None, bytearray(8))
        assert got == 90 and done
        nk = bytearray(4)
        assert not _sys.map_get_next_key(m, None, nk)


@pytest.mark.kernel
def test_mmap(no_fd_leak):
    with _sys.map_create(2, 4, 8, 512, 1 << 10) as m:
        mm = _sys.mmap_fd(m, 4096)
        struct.pack_into("<Q", mm, 8 * 3, 1234)
        out = bytearray(8)
        _sys.map_lookup_elem(m, struct.pack("<I", 3), out)
        assert struct.unpack("<Q", out)[0] == 1234
        mm.close()
    with _sys.map_create(1, 4, 8, 4) as m:
        with pytest.raises(KernelError) as ei:
            _sys.mmap_fd(m, 4096)
        assert "mmap" in str(ei.value)


# --------------------------------------------------------------------------- programs

@pytest.mark.kernel
def test_prog_load_info_test_run(no_fd_leak):
    with _sys.map_create(2, 4, 8, 1, map_name="cnt") as m:
        insns = counter_prog(m.fd)
        fd, log = _sys.prog_load_with_log(1, insns, "GPL", prog_name="counter",
                                          log_level=2)
        with fd:
            assert "processed" in log
            info = _sys.prog_info(fd, xlated=True, map_ids=True, jited=True)
            assert info.type == 1 and info.name == "counter" and info.gpl_compatible
            assert info.map_ids == [_sys.map_info(m).id]
            assert len(info.xlated_prog_insns) == info.xlated_prog_len > 0
            assert len(info.jited_prog_insns) == info.jited_prog_len
            assert len(info.tag) == 16
            r = _sys.prog_test_run(fd, b"\0" * 64, repeat=5)
            assert r.retval == 0 and r.data is not None and len(r.data) == 64
            out = bytearray(8)
            _sys.map_lookup_elem(m, struct.pack("<I", 0), out)
            assert struct.unpack("<Q", out)[0] == 5
            with _sys.prog_get_fd_by_id(info.id) as again:
                assert _sys.prog_info(again).id == info.id
            assert _sys.prog_get_next_id(0) is not None
            with _sys.map_create(2, 4, 8, 1) as m2:
                _sys.prog_bind_map(fd, m2)
                assert _sys.map_info(m2).id in _sys.prog_info(fd, map_ids=True).map_ids


@pytest.mark.kernel
def test_verifier_error(no_fd_leak):
    with pytest.raises(VerifierError) as ei:
        _sys.prog_load(1, insn(0x95), prog_name="noret")   # exit without setting r0
    e = ei.value
    assert "R0 !read_ok" in e.log and "noret" in str(e)
    with pytest.raises(ValueError):
        _sys.prog_load(1, b"\0" * 7)


@pytest.mark.kernel
def test_prog_load_log_grows(no_fd_leak):
    # a log far larger than the starting buffer: the loader grows it on ENOSPC
    body = insn(0xB7) * 3000 + insn(0x95)
    fd, log = _sys.prog_load_with_log(1, body, log_level=2, log_size=4096)
    fd.close()
    assert len(log) > 4096 and "processed 3001 insns" in log


@pytest.mark.kernel
def test_btf_load_and_info(no_fd_leak):
    from corebpf.features import _btf_probe_blob
    blob = _btf_probe_blob("datasec")
    with _sys.btf_load(blob) as b:
        info = _sys.btf_info(b, data=True)
        assert info.btf == blob and info.btf_size == len(blob) and not info.kernel_btf
        with _sys.btf_get_fd_by_id(info.id) as b2:
            assert _sys.btf_info(b2).id == info.id
        assert _sys.btf_get_next_id(0) is not None
    with pytest.raises(KernelError) as ei:
        _sys.btf_load(blob[:30])
    assert "btf_load" in str(ei.value)
    assert ei.value.log  # type: ignore[attr-defined]


@pytest.mark.kernel
def test_pin_and_get(pin_dir, no_fd_leak):
    path = f"{pin_dir}/m"
    with _sys.map_create(2, 4, 4, 1, map_name="pinned") as m:
        _sys.obj_pin(m, path)
        with _sys.obj_get(path, kind="map") as m2:
            assert _sys.map_info(m2).name == "pinned"
        with _sys.obj_get(path, _sys.BPF_F_RDONLY) as m3:
            with pytest.raises(PermissionDenied):
                _sys.map_update_elem(m3, b"\0" * 4, b"\0" * 4)
        with pytest.raises(KernelError) as ei:
            _sys.obj_pin(m, path)
        assert ei.value.errno == errno.EEXIST
    os.unlink(path)
    with pytest.raises(NotFound):
        _sys.obj_get(path)
    with pytest.raises(KernelError) as ei:
        with _sys.map_create(2, 4, 4, 1) as m:
            _sys.obj_pin(m, "/tmp/not-bpffs-pin")
    assert "not on a bpf filesystem" in str(ei.value) or ei.value.errno == errno.EPERM


def _cgroup_root():
    for p in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(p, "cgroup.procs")) and \
                os.path.exists(os.path.join(p, "cgroup.controllers")):
            return p
    return None


@pytest.mark.kernel
def test_cgroup_attach_query_link(no_fd_leak):
    root = _cgroup_root()
    if root is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    cg = os.path.join(root, f"corebpf-test-sys-{os.getpid()}")
    os.makedirs(cg, exist_ok=True)
    try:
        cgfd = _sys.FD(os.open(cg, os.O_RDONLY | os.O_DIRECTORY), "cgroup")
        with cgfd, _sys.prog_load(8, RET1, prog_name="cgskb") as p:
            _sys.prog_attach(p, cgfd, 0, 0)   # BPF_CGROUP_INET_INGRESS
            q = _sys.prog_query(cgfd, 0)
            assert q.prog_ids == [_sys.prog_info(p).id] and q.count == 1
            _sys.prog_detach(cgfd, 0, p)
            assert _sys.prog_query(cgfd, 0).prog_ids == []
            with _sys.link_create(p, cgfd, 1) as link:   # BPF_CGROUP_INET_EGRESS
                li = _sys.link_info(link)
                assert li.kind == "cgroup" and li.attach_type == 1
                assert li.prog_id == _sys.prog_info(p).id and li.cgroup_id > 0
                q = _sys.prog_query(cgfd, 1, links=True)
                assert q.prog_ids == [li.prog_id] and len(q.link_ids) <= 1
                with _sys.prog_load(8, RET1, prog_name="cgskb2") as p2:
                    _sys.link_update(link, p2)
                    assert _sys.link_info(link).prog_id == _sys.prog_info(p2).id
                with _sys.link_get_fd_by_id(li.id) as again:
                    assert _sys.link_info(again).id == li.id
                assert _sys.link_get_next_id(0) is not None
                _sys.link_detach(link)
                assert _sys.prog_query(cgfd, 1).prog_ids == []
            with pytest.raises(KernelError) as ei:
                _sys.link_create(p, cgfd, 37)   # BPF_XDP on a cgroup: refused
            assert "link_create" in str(ei.value)
    finally:
        os.rmdir(cg)


@pytest.mark.kernel
def test_raw_tracepoint_and_task_fd_query(no_fd_leak):
    with _sys.prog_load(17, RET0, prog_name="rawtp") as p:
        with _sys.raw_tracepoint_open(p, "sys_enter") as link:
            li = _sys.link_info(link)
            assert li.kind == "raw_tracepoint" and li.tp_name == "sys_enter"
            q = _sys.task_fd_query(os.getpid(), link.fd)
            assert q.name == "sys_enter" and q.fd_type_name == "raw_tracepoint"
            assert q.prog_id == _sys.prog_info(p).id
        with pytest.raises(KernelError):
            _sys.raw_tracepoint_open(p, "no_such_tracepoint_xyz")


@pytest.mark.kernel
def test_enable_stats(no_fd_leak):
    with _sys.prog_load(1, RET0) as p, _sys.enable_stats() as st:
        assert st.kind == "stats"
        _sys.prog_test_run(p, b"\0" * 64, repeat=100)
        assert _sys.prog_info(p).run_cnt >= 100


def _vmlinux_btf_id(name: str) -> int | None:
    bpftool = shutil.which("bpftool")
    if not bpftool:
        return None
    out = subprocess.run([bpftool, "btf", "dump", "file", "/sys/kernel/btf/vmlinux"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if f"FUNC '{name}'" in line:
            return int(line[1:line.index("]")])
    return None


@pytest.mark.kernel
def test_iter_create(no_fd_leak):
    btf_id = _vmlinux_btf_id("bpf_iter_bpf_map")
    if btf_id is None:
        pytest.skip("bpftool (oracle for the vmlinux BTF id) not available")
    try:
        p = _sys.prog_load(26, RET0, prog_name="it", expected_attach_type=28,
                           attach_btf_id=btf_id)
    except PermissionDenied as e:
        pytest.skip(f"iterator programs refused here: {e}")
    with p, _sys.link_create(p, 0, 28) as link:
        assert _sys.link_info(link).kind == "iter"
        with _sys.iter_create(link) as it:
            assert os.read(it.fd, 4096) == b""


@pytest.mark.kernel
def test_perf_event(no_fd_leak):
    ev = _sys.perf_event_open(_sys.PERF_TYPE_SOFTWARE, _sys.PERF_COUNT_SW_CPU_CLOCK,
                              pid=0, cpu=-1, sample_period=1000000, disabled=True)
    with ev, _sys.prog_load(7, RET0, prog_name="pe") as p:
        _sys.perf_event_set_bpf(ev, p)
        _sys.perf_event_enable(ev)
        _sys.perf_event_disable(ev)
        with pytest.raises(NotSupported):   # only tracepoint/k/uprobe events answer
            _sys.task_fd_query(os.getpid(), ev.fd)
    with pytest.raises(KernelError) as ei:
        _sys.perf_event_open(_sys.PERF_TYPE_SOFTWARE, 12345, pid=0, cpu=-1)
    assert "perf_event_open" in str(ei.value)
    with pytest.raises(TypeError):
        _sys.perf_event_open(1, 0, no_such_bit=True)


@pytest.mark.kernel
def test_ioctl_errors_typed():
    s = socket.socket()
    try:
        with pytest.raises(KernelError) as ei:
            _sys.perf_event_enable(s.fileno())
        assert "PERF_EVENT_IOC_ENABLE" in str(ei.value)
    finally:
        s.close()


@pytest.mark.kernel
def test_mounts():
    assert _sys.mount_bpffs() == "/sys/fs/bpf"
    assert _sys.is_bpffs("/sys/fs/bpf")
    assert not _sys.is_bpffs("/proc")
    p = _sys.mount_tracefs()
    assert os.path.isdir(os.path.join(p, "events"))


@pytest.mark.kernel
def test_test_run_ctx_and_cpu(no_fd_leak):
    # raw_tp: r0 = ctx->args[0] (u64 at ctx+0); ctx in, run on a chosen CPU
    prog = insn(0x79, 0, 1, 0, 0) + insn(0x95)      # r0 = *(u64 *)(r1 + 0); exit
    with _sys.prog_load(17, prog, prog_name="ctxrun") as p:
        ctx = struct.pack("<12Q", 42, *range(11))
        r = _sys.prog_test_run(p, ctx=ctx, flags=_sys.BPF_F_TEST_RUN_ON_CPU,
                               cpu=_sys.online_cpus()[-1])
        assert r.retval == 42 and r.data is None
        with pytest.raises(KernelError) as ei:
            _sys.prog_test_run(p, ctx=ctx, repeat=5)   # raw_tp takes no repeat
        assert ei.value.errno == errno.EINVAL and "prog_test_run" in str(ei.value)
    with _sys.prog_load(6, insn(0xB7, imm=2) + insn(0x95), prog_name="xdppass") as x:
        r = _sys.prog_test_run(x, b"\xaa" * 64, repeat=10)
        assert r.retval == 2 and r.data == b"\xaa" * 64 and r.duration >= 0


@pytest.mark.kernel
def test_pin_unpin(no_fd_leak, tmp_path):
    _sys.mount_bpffs()
    path = f"/sys/fs/bpf/corebpf_test_unpin_{os.getpid()}"
    with _sys.map_create(1, 4, 8, 4) as m:
        _sys.obj_pin(m, path)
        try:
            assert os.path.exists(path)
        finally:
            assert _sys.unpin(path) is True
        assert not os.path.exists(path) and _sys.unpin(path) is False
    with pytest.raises(KernelError) as ei:   # a directory: unlink refuses, typed
        _sys.unpin(str(tmp_path))
    assert "unpin" in str(ei.value) and str(tmp_path) in str(ei.value)


def test_paths_with_nul_are_refused(no_fd_leak):
    """A NUL inside a path would end the C string early and name another file."""
    bad = "/sys/fs/bpf/corebpf_a\0b"
    for call in (lambda: _sys.obj_get(bad), lambda: _sys.obj_pin(0, bad),
                 lambda: _sys.unpin(bad), lambda: _sys.is_bpffs(bad),
                 lambda: _sys.mount_bpffs(bad), lambda: _sys.obj_get(bad.encode()),
                 lambda: _sys.raw_tracepoint_open(0, "sched_switch\0x")):
        with pytest.raises(_sys.ArgumentError) as ei:
            call()
        assert "NUL" in str(ei.value)
    with pytest.raises(_sys.ArgumentError):
        _sys.obj_get(None)
