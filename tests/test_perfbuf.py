"""Perf buffers on the real kernel: a raw_tp program (tests/progs/buf_perf.bpf.c) run with
BPF_PROG_TEST_RUN on a chosen CPU emits samples with bpf_perf_event_output in bpf_loop."""
from __future__ import annotations

import asyncio
import gc
import struct
import threading
import time

import pytest

from bpftool_loaded import Loaded
from corebpf import _sys
from corebpf.errors import Error, EventBufferError, NotFound
from corebpf.perfbuf import PerfBuffer
from corebpf.ringbuf import Poller, RingBuffer

pytestmark = pytest.mark.kernel

F_TEST_RUN_ON_CPU = 1


@pytest.fixture(scope="module")
def obj(bpf_prog):
    o = Loaded(bpf_prog("buf_perf"), ["emit"], ["events"])
    yield o
    o.close()


@pytest.fixture(scope="module")
def robj(bpf_prog):
    o = Loaded(bpf_prog("buf_ringbuf"), ["emit"], ["rb"])
    yield o
    o.close()


CPUS = _sys.online_cpus()


def emit(o, n, seq=0, size=64, vary=0, cpu=0):
    _sys.prog_test_run(o.progs["emit"], ctx=struct.pack("<4Q", n, seq, size, vary),
                       ctx_out_size=0, flags=F_TEST_RUN_ON_CPU, cpu=cpu)


def seq_of(v) -> int:
    return struct.unpack_from("<Q", v)[0]


def raw_size(n: int) -> int:
    """The kernel pads a RAW sample so that u32 size + data stays 8-byte aligned."""
    return ((n + 4 + 7) & ~7) - 4


def test_samples_per_cpu(obj, no_fd_leak):
    got = []
    with PerfBuffer(obj.maps["events"], lambda v: got.append((len(v), seq_of(v)))) as pb:
        assert pb.cpus == CPUS
        assert pb.poll(0) == 0
        for cpu in CPUS:
            emit(obj, 100, seq=cpu * 1000, cpu=cpu)
        assert pb.poll(1.0) == 100 * len(CPUS)
    for cpu in CPUS:
        mine = [s for ln, s in got if cpu * 1000 <= s < cpu * 1000 + 1000]
        assert mine == [cpu * 1000 + i for i in range(100)]   # in order within a CPU
    assert all(ln == raw_size(64) for ln, _ in got)


def test_sizes_wrap_and_batches(obj):
    """Variable sizes over many laps of a small ring: wrapped records are reassembled."""
    got = []
    with PerfBuffer(obj.maps["events"], lambda vs: got.extend(bytes(v) for v in vs),
                    batch=64, pages=2) as pb:
        seq = 0
        for _ in range(10):
            emit(obj, 60, seq=seq, size=130, vary=1)
            assert pb.poll(1.0) == 60
            seq += 60
    assert len(got) == seq
    for i, rec in enumerate(got):
        assert len(rec) == raw_size(8 + i % 123)
        assert seq_of(rec) == i


def test_lost_samples(obj):
    lost = []
    got = []
    with PerfBuffer(obj.maps["events"], lambda v: got.append(seq_of(v)), pages=1,
                    lost_callback=lambda cpu, n: lost.append((cpu, n))) as pb:
        emit(obj, 200, cpu=CPUS[0])   # 200 * 80 bytes > one 4 KiB page
        pb.poll(1.0)
        emit(obj, 5, seq=1000, cpu=CPUS[0])
        pb.poll(1.0)
        assert pb.lost > 0
        assert sum(n for _, n in lost) == pb.lost
        assert {c for c, _ in lost} == {CPUS[0]}
        assert len(got) + pb.lost == 205
        assert got[:10] == list(range(10))
        assert got[-5:] == list(range(1000, 1005))


def test_poll_records_without_callback_and_timeout(obj):
    with PerfBuffer(obj.maps["events"]) as pb:
        emit(obj, 3, seq=5)
        recs = pb.poll(1.0)
        assert [seq_of(r) for r in recs] == [5, 6, 7]
        t0 = time.monotonic()
        assert pb.poll(0.2) == []
        assert 0.15 <= time.monotonic() - t0 < 2


def test_watermark_wakeup_from_thread(obj):
    """Enough data to cross the watermark wakes a sleeping poll; a single small sample
    below it is still delivered within flush_interval."""
    got = []
    with PerfBuffer(obj.maps["events"], lambda v: got.append(seq_of(v)), pages=8,
                    flush_interval=0.2) as pb:
        t = threading.Timer(0.1, emit, (obj, 100))
        t.start()
        assert pb.poll(5.0) >= 1
        t.join()
        pb.poll(0)
        assert got == list(range(100))
        got.clear()
        t = threading.Timer(0.05, emit, (obj, 1, 42))
        t.start()
        t0 = time.monotonic()
        assert pb.poll(5.0) == 1 and got == [42]
        t.join()
        assert time.monotonic() - t0 < 2


def test_async_for(obj):
    async def main():
        out = []
        with PerfBuffer(obj.maps["events"], flush_interval=0.05) as pb:
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, emit, obj, 3)
            loop.call_later(0.1, emit, obj, 2, 3)
            async for rec in pb:
                out.append(seq_of(rec))
                if len(out) == 5:
                    break
        return out
    assert asyncio.run(asyncio.wait_for(main(), 10)) == [0, 1, 2, 3, 4]


def test_poller_with_ring_and_perf(obj, robj, no_fd_leak):
    a, b = [], []
    with RingBuffer(robj.maps["rb"]) as r:
        r.consume()
    with PerfBuffer(obj.maps["events"], lambda v: a.append(seq_of(v))) as pb, \
            RingBuffer(robj.maps["rb"], lambda v: b.append(seq_of(v))) as rb, \
            Poller(pb, rb) as p:
        emit(obj, 3)
        _sys.prog_test_run(robj.progs["emit"], ctx=struct.pack("<5Q", 2, 0, 10, 64, 0),
                           ctx_out_size=0)
        deadline = time.monotonic() + 3
        while (len(a) < 3 or len(b) < 2) and time.monotonic() < deadline:
            p.poll(0.5)
    assert a == [0, 1, 2] and b == [10, 11]


def test_event_type_and_read_array(obj, bpf_prog):
    np = pytest.importorskip("numpy")
    from corebpf.btf import BTF
    from corebpf.btf.codec import Codec
    btf = BTF.from_file(str(bpf_prog("buf_perf")))
    codec = Codec(btf, btf.find_one("event"))
    with PerfBuffer(obj.maps["events"], event_type=codec) as pb:
        emit(obj, 2, seq=8)
        evs = pb.poll(1.0)
        assert [(e.seq, e.kind, e.len) for e in evs] == [(8, 2, 64), (9, 2, 64)]
    dt = np.dtype([("seq", "<u8"), ("kind", "<u4"), ("len", "<u4"), ("data", "V48")])
    with PerfBuffer(obj.maps["events"], pages=4) as pb:
        total = []
        for rnd in range(6):   # 6 * 150 * 80 bytes: several laps of a 16 KiB ring
            emit(obj, 150, seq=rnd * 150)
            arr = pb.read_array(dt)
            total.extend(arr["seq"].tolist())
            assert (arr["len"] == 64).all()
        assert total == list(range(900))
        with pytest.raises(EventBufferError):
            pb.read_array()


def test_fd_hygiene_and_slots(obj, no_fd_leak):
    for _ in range(20):
        with PerfBuffer(obj.maps["events"], lambda v: None, pages=1) as pb:
            pb.poll(0)
    # closing cleared our map slots (user space cannot look them up; deleting an empty
    # slot says ENOENT)
    for cpu in CPUS:
        with pytest.raises(NotFound):
            _sys.map_delete_elem(obj.maps["events"], struct.pack("<I", cpu))
    PerfBuffer(obj.maps["events"], pages=1)   # dropped without close: GC releases it
    gc.collect()


def test_bad_arguments(obj, robj, no_fd_leak):
    with pytest.raises(EventBufferError, match="PERF_EVENT_ARRAY"):
        PerfBuffer(robj.maps["rb"])
    with pytest.raises(EventBufferError, match="power of 2"):
        PerfBuffer(obj.maps["events"], pages=3)
    with pytest.raises(Error):
        PerfBuffer(None)


def test_through_corebpf_load(bpf_prog, no_fd_leak):
    """corebpf.load sizes the PERF_EVENT_ARRAY to the CPUs; Object.perf_buffer reads it."""
    import corebpf
    with corebpf.load(str(bpf_prog("buf_perf"))) as o:
        with o.perf_buffer("events", event_type="event") as pb:
            for cpu in CPUS:
                _sys.prog_test_run(o.programs["emit"], ctx=struct.pack("<4Q", 2, cpu * 10, 64, 0),
                                   ctx_out_size=0, flags=F_TEST_RUN_ON_CPU, cpu=cpu)
            evs = pb.poll(1.0)
            assert sorted(e.seq for e in evs) == sorted(c * 10 + i for c in CPUS for i in (0, 1))


def test_poller_sees_samples_below_watermark(obj, no_fd_leak):
    """One small sample never crosses the watermark; the poller still delivers it within
    the buffer's flush_interval instead of waiting out the whole timeout."""
    got = []
    with PerfBuffer(obj.maps["events"], lambda v: got.append(seq_of(v)), pages=8,
                    flush_interval=0.1) as pb, Poller(pb) as p:
        t = threading.Timer(0.05, emit, (obj, 1, 77))
        t.start()
        t0 = time.monotonic()
        assert p.poll(10.0) == 1
        t.join()
        assert got == [77] and time.monotonic() - t0 < 5


def test_bulk_copies_match_callbacks_across_wraps(obj):
    """read_array and iter_arrays hand the samples the callback path hands for the same
    fill, in the same order, on every CPU: runs cut by the end of each CPU's ring (a small
    ring, many laps, with the sample that wraps copied on its own), by chunks and by
    samples of other sizes."""
    np = pytest.importorskip("numpy")
    dt = np.dtype([("seq", "<u8"), ("kind", "<u4"), ("len", "<u4"), ("data", "V48")])
    seq_dt = np.dtype([("seq", "<u8")])
    got: list = []
    with PerfBuffer(obj.maps["events"], lambda v: got.append(bytes(v)), pages=4) as pcb, \
            PerfBuffer(obj.maps["events"], pages=4) as pb:
        drains = {
            "read_array": lambda d: pb.read_array(d),
            # each array views the reused staging buffer: copied before the next
            "iter_arrays": lambda d: np.concatenate([a.copy() for a in pb.iter_arrays(d)]),
            "iter_arrays chunk 7": lambda d: np.concatenate([a.copy() for a in
                                                             pb.iter_arrays(d, chunk=7)]),
        }
        for name, drain in drains.items():
            for rnd in range(5):     # 5 * 150 * 80 bytes: laps of a 16 KiB ring
                for cpu in CPUS:
                    # two readers share the map: the same fill goes to one, then the other
                    base = rnd * 1000 + cpu * 100000
                    got.clear()
                    _point(obj, pcb, cpu)
                    emit(obj, 150, seq=base, cpu=cpu)
                    assert pcb.consume() == 150
                    want = np.frombuffer(b"".join(r[:64] for r in got), dtype=dt)
                    _point(obj, pb, cpu)
                    emit(obj, 150, seq=base, cpu=cpu)
                    arr = drain(dt)
                    assert arr.tobytes() == want.tobytes(), name
                    assert arr["seq"].tolist() == list(range(base, base + 150)), name
                # samples of many sizes (8..130 bytes): the dtype takes each one's first 8
                _point(obj, pb, CPUS[0])
                emit(obj, 123, seq=rnd * 1000, size=130, vary=1, cpu=CPUS[0])
                assert drain(seq_dt)["seq"].tolist() == list(range(rnd * 1000,
                                                                   rnd * 1000 + 123)), name
        assert pb.lost == 0 and pcb.lost == 0
        for a in pb.iter_arrays(dt):
            pass
        emit(obj, 3, seq=7, cpu=CPUS[0])
        arrs = list(pb.iter_arrays(dt))
        assert [a.flags.aligned for a in arrs] == [True] * len(arrs)
        # a sample smaller than the dtype is an error, not a short read
        emit(obj, 1, size=8, cpu=CPUS[0])
        with pytest.raises(EventBufferError):
            pb.read_array(dt)
        emit(obj, 1, size=8, cpu=CPUS[0])
        with pytest.raises(EventBufferError):
            list(pb.iter_arrays(dt))
        with pytest.raises(EventBufferError):
            pb.read_array(dt, out=[1, 2])
        with pytest.raises(EventBufferError):
            list(pb.iter_arrays(dt, chunk=0))


def _point(obj, pb, cpu):
    """Put ``pb``'s perf event of ``cpu`` in the map slot (two readers share one map)."""
    fd = next(r.fd for r in pb._rings if r.cpu == cpu)
    _sys.map_update_elem(obj.maps["events"], struct.pack("<I", cpu),
                         struct.pack("<I", fd.fileno()))


def test_bulk_copies_count_lost_samples(obj):
    """PERF_RECORD_LOST records met by read_array / iter_arrays are counted and reported;
    the samples around them arrive in order."""
    np = pytest.importorskip("numpy")
    dt = np.dtype([("seq", "<u8"), ("kind", "<u4"), ("len", "<u4"), ("data", "V48")])
    lost = []
    with PerfBuffer(obj.maps["events"], pages=1,
                    lost_callback=lambda cpu, n: lost.append((cpu, n))) as pb:
        for drain in (lambda: pb.read_array(dt)["seq"].tolist(),
                      lambda: [s for a in pb.iter_arrays(dt) for s in a["seq"].tolist()]):
            lost.clear()
            pb.lost = 0
            emit(obj, 200, cpu=CPUS[0])   # 200 * 80 bytes > one 4 KiB page
            first = drain()
            emit(obj, 5, seq=1000, cpu=CPUS[0])
            second = drain()
            assert pb.lost > 0
            assert sum(n for _, n in lost) == pb.lost
            assert {c for c, _ in lost} == {CPUS[0]}
            assert len(first) + len(second) + pb.lost == 205
            assert first == list(range(len(first)))
            assert second == list(range(1000, 1005))
