"""Live maps against the real kernel: dict API, per-CPU, batch, queue/stack, bloom,
map-in-map, prog arrays, pins, ids, info, freeze, mmap, every map type, errors, fd leaks."""
from __future__ import annotations

import errno
import os
import shutil
import struct
import subprocess

import pytest

from corebpf import _sys
from corebpf import maps as M
from corebpf.errors import KernelError, MapError, NotFound, PermissionDenied
from corebpf.maps import Map

pytestmark = pytest.mark.kernel


def insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


RET0 = insn(0xB7) + insn(0x95)


def u32(x):
    return struct.pack("<I", x)


def u64(x):
    return struct.pack("<Q", x)


@pytest.fixture
def pin_dir():
    _sys.mount_bpffs()
    d = f"/sys/fs/bpf/corebpf-test-maps-{os.getpid()}"
    os.makedirs(d, exist_ok=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------- dict API

def test_dict_api(no_fd_leak):
    with Map.create(M.HASH, 4, 8, 64, name="dict-api") as m:
        assert m.name == "dictapi" and m.type == M.HASH and m.id > 0
        m[1] = 10
        m[u32(2)] = u64(20)
        m[bytearray(u32(3))] = 30
        assert m[1] == u64(10) and m[2] == u64(20) and m[memoryview(u32(3))] == u64(30)
        assert 1 in m and 4 not in m
        assert m.get(4) is None and m.get(4, "x") == "x" and m.get(1) == u64(10)
        assert len(m) == 3
        assert sorted(m.keys()) == [u32(1), u32(2), u32(3)]
        assert sorted(m) == [u32(1), u32(2), u32(3)]
        assert dict(m.items()) == {u32(1): u64(10), u32(2): u64(20), u32(3): u64(30)}
        assert sorted(m.values()) == [u64(10), u64(20), u64(30)]
        del m[2]
        assert 2 not in m
        with pytest.raises(KeyError):
            del m[2]
        with pytest.raises(KeyError):
            m[2]
        with pytest.raises(NotFound) as ei:
            m.lookup(2)
        assert "dictapi" in str(ei.value)
        with pytest.raises(NotFound):
            m.delete(2)
        assert m.lookup(1) == u64(10)
        assert m.pop(1) == u64(10) and 1 not in m
        assert m.pop(1, None) is None
        m[-1] = -2   # negative ints: two's complement to the size
        assert m[u32(0xFFFFFFFF)] == struct.pack("<q", -2)
        m.clear()
        assert len(m) == 0


def test_update_flags(no_fd_leak):
    with Map.create(M.HASH, 4, 8, 8) as m:
        m.update(1, 1, M.BPF_NOEXIST)
        with pytest.raises(KernelError) as ei:
            m.update(1, 2, M.BPF_NOEXIST)
        assert ei.value.errno == errno.EEXIST
        m.update(1, 3, M.BPF_EXIST)
        with pytest.raises(NotFound):
            m.update(2, 3, M.BPF_EXIST)
        m[1] = 4   # plain assignment after flagged updates uses BPF_ANY again
        assert m[1] == u64(4)
        with pytest.raises(KernelError) as ei:
            m.update(1, 1, M.BPF_F_LOCK)  # no spin lock in the value
        assert ei.value.errno == errno.EINVAL


def test_errors_name_the_map(no_fd_leak):
    with Map.create(M.HASH, 4, 8, 2, name="small") as m:
        with pytest.raises(MapError) as ei:
            m[b"\0\0"] = 1
        assert "small" in str(ei.value) and "key_size is 4" in str(ei.value)
        with pytest.raises(MapError):
            m[1] = b"\0" * 3
        with pytest.raises(MapError):
            m[1 << 40] = 1
        with pytest.raises(MapError):
            m[1] = 1 << 70
        with pytest.raises(MapError):
            m[1.5] = 1
        with pytest.raises(MapError):
            m.push(1)
        m[1] = 1
        m[2] = 2
        with pytest.raises(KernelError) as ei:   # full
            m[3] = 3
        assert ei.value.errno == errno.E2BIG and "small" in str(ei.value)
    with pytest.raises(MapError):
        Map.create("no_such_type")


def test_array(no_fd_leak):
    with Map.create("array", 4, 4, 8) as m:
        assert len(m) == 8
        assert m[7] == u32(0)
        m[3] = 33
        assert m[3] == u32(33)
        with pytest.raises(KeyError):
            m[8]
        with pytest.raises(KernelError) as ei:
            del m[3]
        assert ei.value.errno == errno.EINVAL
        assert len(list(m.items())) == 8


# --------------------------------------------------------------------------- per-CPU

def test_percpu(no_fd_leak):
    n = _sys.possible_cpus()
    with Map.create(M.PERCPU_HASH, 4, 4, 8) as m:
        m[1] = list(range(n))
        v = m[1]
        assert isinstance(v, list) and len(v) == n
        assert v == [u32(i) for i in range(n)]
        m[2] = 7  # one value for every CPU
        assert m[2] == [u32(7)] * n
        with pytest.raises(MapError):
            m[3] = [1] * (n + 1)
        assert dict(m.items())[u32(1)] == [u32(i) for i in range(n)]
        kb, vb = u32(5) + u32(6), u64(0) * n * 2
        assert m.update_batch(kb, vb) == 2
        assert m[5] == [u32(0)] * n
        cnt, keys, vals = m.lookup_batch()
        assert cnt == 4 and len(vals) == 4 * 8 * n
    with Map.create(M.PERCPU_ARRAY, 4, 8, 2) as m:
        m[0] = [u64(i + 1) for i in range(n)]
        assert m[0] == [u64(i + 1) for i in range(n)]


def test_percpu_written_by_program(no_fd_leak):
    """A program increments a per-CPU counter; the sum over CPUs is the run count."""
    with Map.create(M.PERCPU_ARRAY, 4, 8, 1, name="pcnt") as m:
        prog = b"".join([
            insn(0x18, 1, 1, 0, m.fd), insn(0),
            insn(0x62, 10, 0, -4, 0), insn(0xBF, 2, 10), insn(0x07, 2, imm=-4),
            insn(0x85, imm=1), insn(0x15, 0, 0, 2, 0),
            insn(0xB7, 1, imm=1), insn(0xDB, 0, 1, 0, 0),
            insn(0xB7), insn(0x95)])
        with _sys.prog_load(1, prog, prog_name="pcnt") as p:
            _sys.prog_test_run(p, b"\0" * 64, repeat=25)
        assert sum(struct.unpack("<Q", v)[0] for v in m[0]) == 25


# --------------------------------------------------------------------------- batch

def test_batch(no_fd_leak):
    n = 500
    with Map.create(M.HASH, 4, 8, 1024, name="batch") as m:
        keys = struct.pack(f"<{n}I", *range(n))
        vals = struct.pack(f"<{n}Q", *(i * 3 for i in range(n)))
        assert m.update_batch(keys, vals) == n
        assert m[499] == u64(1497)
        cnt, kb, vb = m.lookup_batch(chunk=64)
        assert cnt == n
        got = dict(zip(struct.unpack(f"<{n}I", kb), struct.unpack(f"<{n}Q", vb)))
        assert got == {i: i * 3 for i in range(n)}
        # caller's buffers (memoryview over bytearray) filled in place
        kbuf, vbuf = bytearray(4 * 1024), bytearray(8 * 1024)
        cnt, k2, v2 = m.lookup_batch(memoryview(kbuf), vbuf)
        assert cnt == n and k2.obj is kbuf if isinstance(k2, memoryview) else True
        assert m.delete_batch(keys[:400]) == 100
        assert m.update_batch([1000, 1001], [5, 6]) == 2    # lists of Python values
        items = dict(m.items_batch())
        assert len(items) == 402 and items[u32(1001)] == u64(6)
        cnt, kb, vb = m.lookup_and_delete_batch()
        assert cnt == 402 and len(m) == 0
        with pytest.raises(MapError):
            m.update_batch(b"\0" * 6, b"\0" * 8)
        with pytest.raises(MapError):
            m.update_batch(u32(1) * 2, u64(1))


def test_batch_numpy(no_fd_leak):
    np = pytest.importorskip("numpy")
    with Map.create(M.HASH, 4, 8, 4096) as m:
        keys = np.arange(3000, dtype=np.uint32)
        vals = keys.astype(np.uint64) * 2
        assert m.update_batch(keys, vals) == 3000
        kout = np.zeros(4096, dtype=np.uint32)
        vout = np.zeros(4096, dtype=np.uint64)
        cnt, _, _ = m.lookup_batch(kout, vout)
        assert cnt == 3000
        # compared as Python data: numpy's SIMD sorts misbehave under qemu's emulated
        # AVX-512 (make test-kernels), and the order of a hash map is the kernel's anyway
        got = dict(zip(kout[:cnt].tolist(), vout[:cnt].tolist()))
        assert got == dict(zip(keys.tolist(), vals.tolist()))


# --------------------------------------------------------------------------- queue/stack/bloom

def test_queue_stack(no_fd_leak):
    with Map.create(M.QUEUE, value_size=4, max_entries=3) as q:
        for i in (1, 2, 3):
            q.push(i)
        with pytest.raises(KernelError) as ei:
            q.push(4)
        assert ei.value.errno == errno.E2BIG
        q.push(4, M.BPF_EXIST)   # overwrite the oldest
        assert q.peek() == u32(2)
        assert [q.pop() for _ in range(3)] == [u32(2), u32(3), u32(4)]
        assert q.pop(None) is None
        with pytest.raises(NotFound):
            q.pop()
        with pytest.raises(NotFound):
            q.peek()
        with pytest.raises(MapError):
            len(q)
    with Map.create(M.STACK, value_size=8, max_entries=4) as s:
        s.push(1)
        s.push(2)
        assert s.lookup_and_delete() == u64(2)
        assert s.pop() == u64(1)


def test_bloom_filter(no_fd_leak):
    with Map.create(M.BLOOM_FILTER, value_size=4, max_entries=100, map_extra=3) as b:
        assert b.map_extra == 3
        for i in range(20):
            b.push(i)
        assert all(i in b for i in range(20))
        assert sum(i in b for i in range(1000, 1100)) < 50   # false positives are rare
        with pytest.raises(MapError):
            b.peek()


# --------------------------------------------------------------------------- fd-valued maps

def test_map_in_map(no_fd_leak):
    with Map.create(M.ARRAY, 4, 8, 1, name="inner_tmpl") as tmpl, \
            Map.create(M.ARRAY_OF_MAPS, 4, 4, 4, inner_map=tmpl, name="outer") as outer, \
            Map.create(M.ARRAY, 4, 8, 1, name="inner1") as inner:
        outer[0] = inner
        assert outer[0] == inner.id   # lookups give the inner map's id
        outer[1] = inner.fd
        del outer[1]
        with Map.from_id(outer[0]) as again:
            again[0] = 5
            assert inner[0] == u64(5)
        with pytest.raises(MapError):
            outer[2] = "not a map"
    with Map.create(M.HASH_OF_MAPS, name="hom") as hom, Map.create(M.ARRAY, 4, 8, 1) as x:
        hom[7] = x
        assert hom[7] == x.id and list(hom.keys()) == [u32(7)]


def test_prog_array(no_fd_leak):
    with Map.create(M.PROG_ARRAY, 4, 4, 4, name="jmp") as pa, \
            _sys.prog_load(1, RET0, prog_name="tail") as prog:
        pa[0] = prog
        assert pa[0] == _sys.prog_info(prog).id

        class HasFileno:
            def fileno(self):
                return prog.fd
        pa[1] = HasFileno()
        del pa[1]
        assert 1 not in pa


# --------------------------------------------------------------------------- pins, ids, info

def test_pin_from_pin_from_id(pin_dir, no_fd_leak):
    path = f"{pin_dir}/counts"
    with Map.create(M.HASH, 4, 8, 8, name="pinme") as m:
        m[1] = 1
        m.pin(path)
        assert m.pinned == path and os.path.exists(path)
        with Map.from_pin(path) as p:
            assert p.name == "pinme" and p[1] == u64(1) and p.id == m.id
            p[2] = 2
        assert m[2] == u64(2)
        with Map.from_pin(path, readonly=True) as ro:
            with pytest.raises(PermissionDenied):
                ro[3] = 3
        with Map.from_id(m.id) as byid:
            assert byid[1] == u64(1)
        with Map.from_fd(m.fd) as dup:   # a dup: ours stays open
            assert dup.fd != m.fd and dup[2] == u64(2)
        assert m[2] == u64(2)
        m.unpin()
        assert not os.path.exists(path) and m.pinned is None
        with pytest.raises(MapError):
            m.unpin()
    with pytest.raises(NotFound):
        Map.from_pin(path)


def test_info_freeze(no_fd_leak):
    with Map.create(M.ARRAY, 4, 8, 4, name="frz") as m:
        info = m.info()
        assert info.name == "frz" and info.max_entries == 4 and info.id == m.id
        m[0] = 1
        m.freeze()
        with pytest.raises(PermissionDenied) as ei:
            m[0] = 2
        assert "frz" in str(ei.value)
        assert m[0] == u64(1)


def test_mmap(no_fd_leak):
    with Map.create(M.ARRAY, 4, 8, 16, M.BPF_F_MMAPABLE, name="mm") as m:
        view = m.mmap()
        assert len(view) >= 16 * 8
        struct.pack_into("<Q", view, 8 * 5, 777)
        assert m[5] == u64(777)
        m[6] = 888
        assert struct.unpack_from("<Q", view, 8 * 6)[0] == 888
    with pytest.raises(ValueError):
        view[0]   # released with the map
    with Map.create(M.ARRAY, 4, 8, 4) as m:
        with pytest.raises(MapError):
            m.mmap()


def test_raw_view(no_fd_leak):
    with Map.create(M.HASH, 4, 4, 4) as m:
        r = m.raw
        r[1] = u32(9)
        assert m[1] == u32(9)
        r.close()   # does not close the shared fd
        assert m[1] == u32(9)


# --------------------------------------------------------------------------- every map type

def _struct_ops_value_type() -> tuple[int, int] | None:
    bpftool = shutil.which("bpftool")
    if not bpftool:
        return None
    out = subprocess.run([bpftool, "btf", "dump", "file", "/sys/kernel/btf/vmlinux"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "STRUCT 'bpf_struct_ops_tcp_congestion_ops'" in line:
            tid = int(line[1:line.index("]")])
            size = int(line.split("size=")[1].split()[0])
            return tid, size
    return None


@pytest.mark.parametrize("mtype", sorted(set(M.MAP_TYPES.values()) - {M.UNSPEC}),
                         ids=lambda t: M.MAP_TYPE_NAMES[t])
def test_every_map_type(mtype, no_fd_leak):
    from corebpf import features
    if not features.has_map_type(mtype):
        pytest.skip(f"{M.MAP_TYPE_NAMES[mtype]} not supported by this kernel")
    kw = {}
    if mtype == M.STRUCT_OPS:
        # needs the kernel's value type for one struct_ops (bpftool is the oracle here)
        found = _struct_ops_value_type()
        if found is None:
            pytest.skip("struct_ops needs a vmlinux value type id (bpftool not found)")
        kw = dict(key_size=4, value_size=found[1], max_entries=1,
                  vmlinux_value_type_id=found[0])
    with Map.create(mtype, name=f"t_{M.MAP_TYPE_NAMES[mtype]}", **kw) as m:
        info = m.info()
        assert info.type == mtype
        assert info.name == _sys._name16(f"t_{M.MAP_TYPE_NAMES[mtype]}").decode()


def test_local_storage_with_pidfd(no_fd_leak):
    if not hasattr(os, "pidfd_open"):
        pytest.skip("os.pidfd_open missing")
    with Map.create(M.TASK_STORAGE, value_size=8, name="ts") as m:
        pidfd = os.pidfd_open(os.getpid())
        try:
            m[pidfd] = 42
            assert m[pidfd] == u64(42)
            del m[pidfd]
            assert pidfd not in m
        finally:
            os.close(pidfd)


def test_lpm_trie(no_fd_leak):
    with Map.create(M.LPM_TRIE, 8, 4, 16) as t:
        t[struct.pack("<I4B", 24, 10, 0, 0, 0)] = 1
        t[struct.pack("<I4B", 32, 10, 0, 0, 7)] = 2
        assert t[struct.pack("<I4B", 32, 10, 0, 0, 9)] == u32(1)
        assert t[struct.pack("<I4B", 32, 10, 0, 0, 7)] == u32(2)
        assert len(t) == 2


def test_typed_codec_slot(no_fd_leak):
    class IntCodec:
        def __init__(self, size):
            self.size = size

        def encode(self, v):
            return int(v).to_bytes(self.size, "little")

        def decode(self, b):
            return int.from_bytes(b, "little")

    with Map.create(M.HASH, 4, 8, 8, key_codec=IntCodec(4),
                    value_codec=IntCodec(8)) as m:
        m[3] = 30
        assert m[3] == 30 and dict(m.items()) == {3: 30} and list(m) == [3]
        assert m.raw[3] == u64(30)
        assert m.items_batch() == [(3, 30)]


# --------------------------------------------------------------------------- leaks

def test_no_fd_leak_create_close(no_fd_leak):
    for i in range(1000):
        m = Map.create(M.HASH, 4, 8, 4)
        m[i] = i
        m.close()
    for i in range(50):   # and through GC
        m = Map.create(M.ARRAY, 4, 8, 4)
        del m
    for i in range(50):   # error paths close what they opened
        with pytest.raises(KernelError):
            Map.create(M.HASH_OF_MAPS, 4, 4, 0)


def test_closed_map(no_fd_leak):
    m = Map.create(M.HASH, 4, 8, 4)
    m.close()
    m.close()
    assert m.closed
    with pytest.raises(ValueError):
        m.fd
    with pytest.raises(MapError):
        m[1]
    with pytest.raises(MapError):
        m[1] = 1
    with pytest.raises(MapError):
        list(m)
    with pytest.raises(_sys.ClosedError):
        m.update_batch(u32(1), u64(1))


def test_closed_map_does_not_touch_a_reused_fd(no_fd_leak):
    m = Map.create(M.HASH, 4, 8, 4)
    old = m.fd
    m.close()
    with Map.create(M.HASH, 4, 8, 4) as other:
        assert other.fd == old   # the number is reused...
        with pytest.raises(MapError):
            m[1] = 1             # ...but the closed map does not write into it
        assert 1 not in other


# --------------------------------------------------------------------------- typed (BTF)

@pytest.fixture
def typed_pins(bpf_prog, pin_dir, bpftool):
    """maps_typed.bpf.o loaded and pinned by bpftool (the oracle loader)."""
    obj = bpf_prog("maps_typed")
    progs, maps = f"{pin_dir}/progs", f"{pin_dir}/maps"
    r = subprocess.run([bpftool, "prog", "loadall", str(obj), progs, "pinmaps", maps],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"bpftool could not load maps_typed: {r.stderr}")
    return progs, maps


def test_typed_maps_from_pin(typed_pins, no_fd_leak):
    pytest.importorskip("corebpf.btf.codec")
    progs, maps = typed_pins
    with Map.from_pin(f"{maps}/flows") as flows, Map.from_pin(f"{maps}/hits") as hits, \
            Map.from_pin(f"{maps}/pcpu") as pcpu, \
            _sys.obj_get(f"{progs}/count", kind="prog") as prog:
        assert flows.key_codec is not None and flows.value_codec is not None
        key = {"addr": 0x0100007F, "port": 80, "proto": 6}
        flows[key] = {"packets": 1, "proto": "PROTO_TCP", "comm": "curl",
                      "hist": [1, 2, 3, 4]}
        # the same key written as raw bytes, padding zeroed, is the same entry
        assert flows.raw[struct.pack("<IHBx", 0x0100007F, 80, 6)][:8] == u64(1)
        _sys.prog_test_run(prog, b"\0" * 64, repeat=3)
        v = flows[key]
        assert v.packets == 4 and v.comm == "curl" and list(v.hist) == [1, 2, 3, 4]
        assert str(v.proto) == "PROTO_TCP" and v.proto == 6
        (k2, v2), = flows.items()
        assert (k2.addr, k2.port, k2.proto) == (0x0100007F, 80, 6)
        assert hits[0] == 3
        # bpftool loaded the program with BTF func/line info: fetch it back (2nd call)
        pi = _sys.prog_info(prog, func_info=True, line_info=True, map_ids=True)
        assert pi.nr_line_info > 0 and len(pi.line_info) == pi.nr_line_info * 16
        assert pi.nr_func_info == 1 and len(pi.func_info) == 8 and pi.btf_id > 0
        assert sorted(pi.map_ids) == sorted([flows.id, hits.id, pcpu.id])
        assert sum(pcpu[0]) == 3 and len(pcpu[0]) == _sys.possible_cpus()
        pcpu[1] = 9
        assert pcpu[1] == [9] * _sys.possible_cpus()
        with pytest.raises(MapError) as ei:
            flows[{"addr": "not an int"}] = {}
        assert "flows" in str(ei.value)
        with Map.from_pin(f"{maps}/locked") as lk:   # a value with a bpf_spin_lock
            lk.update(1, {"n": 5}, M.BPF_F_LOCK)
            assert lk.lookup(1, M.BPF_F_LOCK).n == 5
            lk.update(1, {"n": 6}, M.BPF_EXIST | M.BPF_F_LOCK)
            assert lk[1].n == 6
        with Map.from_pin(f"{maps}/flows", typed=False) as raw:
            assert raw.key_codec is None and isinstance(next(iter(raw)), bytes)


def test_arena_mmap(no_fd_leak):
    from corebpf import features
    status = features.map_type_status("arena")
    if status != "yes":
        pytest.skip("this kernel refuses arena maps even to root (EPERM)" if status == "refused"
                    else "no arena maps in this kernel (Linux 6.9+)")
    with Map.create(M.ARENA, max_entries=4, name="arena") as a:
        view = a.mmap()
        assert len(view) == 4 * os.sysconf("SC_PAGE_SIZE")
        view[0:4] = b"abcd"
        assert bytes(view[0:4]) == b"abcd"


def test_create_with_parsed_btf(no_fd_leak):
    """A parsed BTF object as ``btf=``: loaded for the kernel and used to type values."""
    pytest.importorskip("corebpf.btf.codec")
    from corebpf.btf import BTF
    blob, key_id, value_id = M.storage_btf(8)
    btf = BTF.from_bytes(blob)
    with Map.create(M.HASH, 4, 8, 4, btf=btf, key_type_id=key_id,
                    value_type_id=value_id) as m:
        assert m.info().btf_value_type_id == value_id
        assert m.key_codec is not None
        m[5] = {"data": list(range(8))}
        assert m[5].data == list(range(8)) and list(m) == [5]


def test_threads_do_not_mix_keys_and_values(no_fd_leak):
    """Four threads hammer one map through m[k] = v / m[k]; every value read back must be
    the one written for that key (per-thread buffers)."""
    import threading
    errors = []
    with Map.create(M.HASH, 4, 8, 4096, name="threads") as m:
        def work(t):
            try:
                base = t * 1000
                for i in range(1500):
                    k = base + (i % 1000)
                    m[k] = k * 7
                    got = m[k]
                    if got != u64(k * 7):
                        errors.append((t, k, got))
                        return
                    assert k in m
            except Exception as e:  # reported below
                errors.append((t, repr(e)))
        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors, errors[:5]
        assert len(m) == 4000
        assert all(m[k] == u64(k * 7) for k in (0, 1999, 3999))
    # a closed map fails in other threads too, without touching a reused fd
    m2 = Map.create(M.HASH, 4, 8, 4)
    m2.close()
    out = []
    th = threading.Thread(target=lambda: out.append(pytest.raises(MapError, m2.__setitem__,
                                                                  1, 1)))
    th.start()
    th.join()
    assert out


def test_wrap_fd_with_partial_info(no_fd_leak):
    fd = _sys.map_create(M.HASH, 4, 8, 4, map_name="partial")
    with Map(fd, {"name": "given"}) as m:   # the rest is asked from the kernel
        assert m.name == "given" and m.key_size == 4 and m.max_entries == 4
        m[1] = 1


def test_hash_map_behaves_like_a_dict():
    """Random sequences of set/delete/pop/get against a Python dict model (hypothesis)."""
    hyp = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")
    ops = st.lists(st.tuples(st.sampled_from(["set", "del", "pop", "get", "update_noexist"]),
                             st.integers(0, 15), st.integers(0, 2**64 - 1)), max_size=40)

    with Map.create(M.HASH, 4, 8, 16, name="model") as m:
        @hyp.settings(max_examples=60, deadline=None)
        @hyp.given(ops)
        def check(seq):
            m.clear()
            model: dict[int, int] = {}
            for op, k, v in seq:
                if op == "set":
                    m[k] = v
                    model[k] = v
                elif op == "del":
                    if k in model:
                        del m[k]
                        del model[k]
                    else:
                        with pytest.raises(KeyError):
                            del m[k]
                elif op == "pop":
                    got = m.pop(k, None)
                    want = model.pop(k, None)
                    assert (got if got is None else int.from_bytes(got, "little")) == want
                elif op == "update_noexist":
                    if k in model:
                        with pytest.raises(KernelError):
                            m.update(k, v, M.BPF_NOEXIST)
                    else:
                        m.update(k, v, M.BPF_NOEXIST)
                        model[k] = v
                else:
                    got = m.get(k)
                    assert (got if got is None else int.from_bytes(got, "little")) == \
                        model.get(k)
            assert {int.from_bytes(a, "little"): int.from_bytes(b, "little")
                    for a, b in m.items()} == model
            assert len(m) == len(model)
        check()


# --------------------------------------------------------------------------- hot path

def test_fast_paths_take_every_key_kind(no_fd_leak):
    """The per-map closures behind m[k] write ints and bytes inline and send everything
    else (bytearray, memoryview, negative/too big ints, bools, odd sizes) to the full
    writer: the same entries and errors either way."""
    with Map.create(M.HASH, 4, 8, 64, name="kinds") as m:
        m[7] = 70
        for k in (7, u32(7), bytearray(u32(7)), memoryview(u32(7)), True + 6):
            assert m[k] == u64(70) and k in m and m.get(k) == u64(70)
        m[u32(8)] = bytearray(u64(80))
        m[memoryview(u32(9))] = memoryview(u64(90))
        assert m[8] == u64(80) and m[9] == u64(90)
        m[True] = True                       # bools are 1
        assert m[1] == u64(1)
        m[-2] = -3                           # two's complement to the size
        assert m[u32(0xFFFFFFFE)] == struct.pack("<q", -3)
        for bad_key in (1 << 32, 1.0, b"\0" * 5, "x", None):
            with pytest.raises(MapError):
                m[bad_key]
            with pytest.raises(MapError):
                m[bad_key] = 1
            with pytest.raises(MapError):
                del m[bad_key]
            with pytest.raises(MapError):
                bad_key in m
        with pytest.raises(MapError):
            m[1] = 1 << 64
        with pytest.raises(MapError):
            m[1] = b"\0" * 7
        del m[u32(8)]
        del m[9]
        with pytest.raises(KeyError):
            del m[9]
        assert m.get(9, "none") == "none" and 9 not in m and 8 not in m
    # key sizes without an int format: ints go through the full writer
    with Map.create(M.HASH, 3, 16, 8) as odd:
        odd[5] = 6
        assert odd[b"\5\0\0"] == (6).to_bytes(16, "little") and 5 in odd
        del odd[5]
        assert 5 not in odd


def test_map_is_freed_without_gc(no_fd_leak):
    """The element-op closures hold the map weakly: dropping the last reference closes
    the fd at once (no reference cycle waiting for the cyclic GC)."""
    import gc
    import weakref
    gc.disable()
    try:
        for t in (M.HASH, M.PERCPU_HASH, M.QUEUE, M.BLOOM_FILTER):
            m = Map.create(t, name="nogc")
            r = weakref.ref(m)
            getitem = m.__getitem__
            del m
            assert r() is None, M.map_type_name(t)
            with pytest.raises(MapError):    # a kept bound op fails cleanly
                getitem(1)
    finally:
        gc.enable()


def test_fast_ops_after_close_and_from_threads(no_fd_leak):
    import threading
    m = Map.create(M.HASH, 4, 8, 8, name="fastclose")
    ops = (m.__getitem__, m.__setitem__, m.__delitem__, m.__contains__, m.get)
    m[1] = 1
    out = []

    def other():   # another thread: its own buffers, same map
        ops[1](2, 2)
        out.append((ops[0](2), ops[3](2), ops[4](3, "d")))
        ops[2](2)
    th = threading.Thread(target=other)
    th.start()
    th.join()
    assert out == [(u64(2), True, "d")] and 2 not in m
    m.close()
    for call in (lambda: ops[0](1), lambda: ops[1](1, 1), lambda: ops[2](1),
                 lambda: ops[3](1), lambda: ops[4](1)):
        with pytest.raises(MapError):
            call()


def test_iteration_survives_ops_in_the_loop(no_fd_leak):
    """items()/keys() continue from their own key even when the loop body uses the same
    map (and so the same key/value buffers)."""
    with Map.create(M.HASH, 4, 8, 64) as m:
        for i in range(40):
            m[i] = i
        seen = []
        for k, v in m.items():
            n = struct.unpack("<I", k)[0]
            assert v == u64(n)
            seen.append(n)
            assert m[(n + 7) % 40] == u64((n + 7) % 40)   # rewrites both buffers
            assert 63 not in m
        assert sorted(seen) == list(range(40))
        keys = []
        for k in m.keys():
            keys.append(k)
            m.get(999)
        assert sorted(keys) == sorted(u32(i) for i in range(40))
    with Map.create(M.ARRAY, 4, 8, 16) as a:   # updates keep an array's order
        for k, v in a.items():
            n = struct.unpack("<I", k)[0]
            assert v == u64(0)
            a[k] = n + 100
            a[(n + 1) % 16] = 0 if n < 15 else a[(n + 1) % 16]
        assert [a[i] for i in range(16)] == [u64(i + 100) for i in range(16)]
