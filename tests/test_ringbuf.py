"""Ring buffers on the real kernel: a raw_tp program (tests/progs/buf_ringbuf.bpf.c) run
with BPF_PROG_TEST_RUN emits records with bpf_ringbuf_output / reserve+submit/discard in
bpf_loop; we read them with corebpf.ringbuf."""
from __future__ import annotations

import asyncio
import gc
import struct
import threading
import time

import pytest

from bpftool_loaded import Loaded
from corebpf import _sys
from corebpf.errors import Error, EventBufferError
from corebpf.ringbuf import Poller, RingBuffer, UserRingBuffer

pytestmark = pytest.mark.kernel

RING = 256 * 1024
REC = 64
STRIDE = 72          # 64-byte record + 8-byte header


def bss_u64(fd, index: int) -> int:
    val = bytearray(_sys.map_info(fd)["value_size"])
    _sys.map_lookup_elem(fd, bytearray(4), val)
    return struct.unpack_from("<Q", val, 8 * index)[0]


@pytest.fixture(scope="module")
def obj(bpf_prog):
    o = Loaded(bpf_prog("buf_ringbuf"), ["emit"], ["rb", "buf_ring_bss"])
    yield o
    o.close()


@pytest.fixture(scope="module")
def obj2(bpf_prog):
    o = Loaded(bpf_prog("buf_ringbuf"), ["emit"], ["rb", "buf_ring_bss"])
    yield o
    o.close()


def emit(o, n, mode=0, seq=0, size=REC, flags=0):
    _sys.prog_test_run(o.progs["emit"], ctx=struct.pack("<5Q", n, mode, seq, size, flags),
                       ctx_out_size=0)


@pytest.fixture
def drained(obj):
    """The module's ring, empty at the start of the test."""
    with RingBuffer(obj.maps["rb"]) as rb:
        rb.consume()
        assert rb.available() == 0
    return obj


def seq_of(v) -> int:
    return struct.unpack_from("<Q", v)[0]


def test_order_and_content(drained, no_fd_leak):
    got = []
    with RingBuffer(drained.maps["rb"], lambda v: got.append((len(v), seq_of(v)))) as rb:
        assert rb.poll(0) == 0
        emit(drained, 1000, seq=7)
        assert rb.poll(1.0) == 1000
        assert rb.consumer_pos == rb.producer_pos
    assert got == [(REC, 7 + i) for i in range(1000)]


def test_discard_is_skipped(drained):
    got = []
    with RingBuffer(drained.maps["rb"], lambda v: got.append(seq_of(v))) as rb:
        emit(drained, 30, mode=1)
        assert rb.poll(1.0) == 20
    assert got == [i for i in range(30) if i % 3 != 2]


def test_variable_sizes_and_wraparound(drained):
    """Records of many sizes, rounds that carry positions well past the ring's end: every
    record arrives whole and in order (wrapped ones are contiguous thanks to the double
    mapping)."""
    got = []
    with RingBuffer(drained.maps["rb"], lambda v: got.append(bytes(v))) as rb:
        seq = 0
        for _ in range(12):
            emit(drained, 1500, mode=2, seq=seq, size=200)
            assert rb.poll(1.0) == 1500
            seq += 1500
        assert rb.consumer_pos > 4 * RING
    assert len(got) == seq
    for i, rec in enumerate(got):
        assert len(rec) == 8 + i % 193
        assert seq_of(rec) == i


def test_batches(drained):
    sizes, seqs = [], []

    def cb(views):
        sizes.append(len(views))
        seqs.extend(seq_of(v) for v in views)
    with RingBuffer(drained.maps["rb"], cb, batch=100) as rb:
        emit(drained, 1050)
        assert rb.consume() == 1050
    assert seqs == list(range(1050))
    assert max(sizes) <= 100 and sum(sizes) == 1050


def test_callback_stops_with_negative_return(drained):
    got = []

    def cb(v):
        got.append(seq_of(v))
        return -1 if len(got) == 5 else None
    with RingBuffer(drained.maps["rb"], cb) as rb:
        emit(drained, 10)
        assert rb.consume() == 5
        assert rb.consume() == 5
    assert got == list(range(10))


def test_callback_error_propagates_and_consumes(drained):
    def cb(v):
        raise ValueError("boom")
    with RingBuffer(drained.maps["rb"], cb) as rb:
        emit(drained, 3)
        with pytest.raises(ValueError):
            rb.consume()
        assert rb.available() == 2 * STRIDE   # the failing record counts as consumed


def test_limit(drained):
    with RingBuffer(drained.maps["rb"], lambda v: None) as rb:
        emit(drained, 10)
        assert rb.consume(limit=3) == 3
        assert rb.consume(limit=100) == 7


def test_overflow_drops_and_reports(drained):
    before = bss_u64(drained.maps["buf_ring_bss"], 0)
    with RingBuffer(drained.maps["rb"]) as rb:
        emit(drained, 5000)
        dropped = bss_u64(drained.maps["buf_ring_bss"], 0) - before
        recs = rb.consume()
    assert dropped > 0
    assert len(recs) + dropped == 5000
    assert len(recs) == RING // STRIDE
    assert [seq_of(r) for r in recs] == list(range(len(recs)))


def test_poll_without_callback_returns_records(drained):
    with RingBuffer(drained.maps["rb"]) as rb:
        emit(drained, 3, seq=100)
        recs = rb.poll(1.0)
        assert [seq_of(r) for r in recs] == [100, 101, 102]
        assert all(isinstance(r, bytes) for r in recs)
        t0 = time.monotonic()
        assert rb.poll(0.2) == []
        assert time.monotonic() - t0 >= 0.15


def test_views_zero_copy_and_partial(drained):
    with RingBuffer(drained.maps["rb"]) as rb:
        emit(drained, 10)
        it = rb.views()
        first = [seq_of(next(it)) for _ in range(4)]
        it.close()
        assert first == [0, 1, 2, 3]
        rest = [seq_of(v) for v in rb.views()]
        # the fourth view was handed out, so it counts as consumed
        assert rest == [4, 5, 6, 7, 8, 9]


def test_wakeup_from_another_thread(drained):
    got = []
    with RingBuffer(drained.maps["rb"], lambda v: got.append(seq_of(v))) as rb:
        t = threading.Timer(0.2, emit, (drained, 5))
        t.start()
        t0 = time.monotonic()
        n = rb.poll(5.0)
        t.join()
        assert n == 5 and got == list(range(5))
        assert time.monotonic() - t0 < 3.0


def test_no_wakeup_flag_still_consumed_by_poll(drained):
    with RingBuffer(drained.maps["rb"]) as rb:
        emit(drained, 4, flags=1)   # BPF_RB_NO_WAKEUP
        assert len(rb.poll(0.5)) == 4


def test_async_for(drained):
    async def main():
        out = []
        with RingBuffer(drained.maps["rb"]) as rb:
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, emit, drained, 3)
            loop.call_later(0.15, emit, drained, 2, 0, 3)
            async for rec in rb:
                out.append(seq_of(rec))
                if len(out) == 5:
                    break
        return out
    assert asyncio.run(asyncio.wait_for(main(), 10)) == [0, 1, 2, 3, 4]


def test_poller_two_buffers(drained, obj2, no_fd_leak):
    a, b = [], []
    with RingBuffer(obj2.maps["rb"]) as r2:
        r2.consume()
    with RingBuffer(drained.maps["rb"], lambda v: a.append(seq_of(v))) as r1, \
            RingBuffer(obj2.maps["rb"], lambda v: b.append(seq_of(v))) as r2, \
            Poller(r1, r2) as p:
        assert p.poll(0) == 0
        emit(obj2, 4, seq=50)
        assert p.poll(1.0) == 4
        emit(drained, 3)
        emit(obj2, 1, seq=60)
        assert p.poll(1.0) == 4
        t0 = time.monotonic()
        assert p.poll(0.1) == 0
        assert time.monotonic() - t0 >= 0.08

        async def run():
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(0.05, emit, drained, 2, 0, 3)
            asyncio.get_running_loop().call_later(0.3, stop.set)
            await p.run(stop)
        asyncio.run(run())
    assert a == [0, 1, 2, 3, 4] and b == [50, 51, 52, 53, 60]


def test_event_type_codec(drained, bpf_prog):
    """Records decoded through corebpf.btf.codec.Codec of the object's struct event."""
    from corebpf.btf import BTF
    from corebpf.btf.codec import Codec
    btf = BTF.from_file(str(bpf_prog("buf_ringbuf")))
    codec = Codec(btf, btf.find_one("event"))
    assert codec.size == REC
    with RingBuffer(drained.maps["rb"], event_type=codec) as rb:
        emit(drained, 3, mode=1, seq=4)
        evs = rb.poll(1.0)
    assert [(e.seq, e.kind, e.len) for e in evs] == [(4, 1, 64), (6, 1, 64)]
    # by name, resolved in the object's BTF
    with RingBuffer(drained.maps["rb"], event_type="struct event", btf=btf) as rb:
        emit(drained, 1, seq=11)
        assert rb.poll(1.0)[0].seq == 11
    with pytest.raises(EventBufferError, match="no BTF"):
        RingBuffer(drained.maps["rb"], event_type="event")


def test_event_type_any_decoder(drained):
    class Dec:
        size = 64

        def decode(self, buf):
            return struct.unpack_from("<QII", buf)
    got = []
    with RingBuffer(drained.maps["rb"], got.append, event_type=Dec()) as rb:
        emit(drained, 2, seq=9)
        rb.poll(1.0)
    assert got == [(9, 0, 64), (10, 0, 64)]
    with RingBuffer(drained.maps["rb"], event_type=Dec()) as rb:
        emit(drained, 1, seq=3)
        assert rb.poll(1.0) == [(3, 0, 64)]
    with pytest.raises(EventBufferError):
        RingBuffer(drained.maps["rb"], event_type=object())


def test_read_array_and_array_view(drained):
    np = pytest.importorskip("numpy")
    dt = np.dtype([("seq", "<u8"), ("kind", "<u4"), ("len", "<u4"), ("data", "V48")])
    with RingBuffer(drained.maps["rb"]) as rb:
        emit(drained, 2000, seq=1)
        arr = rb.read_array(dt)
        assert arr["seq"].tolist() == list(range(1, 2001))
        assert (arr["len"] == 64).all()
        # discarded records are skipped
        emit(drained, 30, mode=1)
        arr = rb.read_array(dt)
        assert arr["seq"].tolist() == [i for i in range(30) if i % 3 != 2]
        assert (arr["kind"] == 1).all()
        # a record of another size stops the bulk path; consume() takes it
        emit(drained, 3)
        emit(drained, 2, mode=2, size=20)
        emit(drained, 2, seq=10)
        out = np.zeros(100, dtype=dt)
        assert rb.read_array(dt, out=out)["seq"].tolist() == [0, 1, 2]
        rest = rb.consume()
        assert [len(r) for r in rest] == [8, 9, 64, 64]
        # a strided out array (every other element)
        big = np.zeros(20, dtype=dt)
        emit(drained, 5, seq=40)
        assert rb.read_array(dt, out=big[::2])["seq"].tolist() == [40, 41, 42, 43, 44]
        assert big["seq"][:10].tolist() == [40, 0, 41, 0, 42, 0, 43, 0, 44, 0]
        # zero copy, across the end of the ring
        for rnd in range(8):
            emit(drained, 1000, seq=rnd * 1000)
            with rb.array_view(dt) as view:
                assert not view.flags.writeable
                assert view["seq"].tolist() == list(range(rnd * 1000, rnd * 1000 + 1000))
            assert rb.available() == 0
        with rb.array_view(dt) as view:
            assert len(view) == 0
        # streamed chunks, with discarded records and a change of size at the end
        emit(drained, 1000, seq=0)
        emit(drained, 30, mode=1, seq=1000)
        emit(drained, 1, mode=2, size=20)
        seqs, sizes = [], []
        for arr in rb.iter_arrays(dt, chunk=256):
            sizes.append(len(arr))
            seqs.extend(arr["seq"].tolist())
        assert seqs == list(range(1000)) + [s for s in range(1000, 1030) if s % 3 != 2]
        assert max(sizes) <= 256
        assert [len(r) for r in rb.consume()] == [8]


def test_fd_hygiene(drained, no_fd_leak):
    for _ in range(50):
        with RingBuffer(drained.maps["rb"], lambda v: None) as rb:
            rb.poll(0)
    rb = RingBuffer(drained.maps["rb"])
    emit(drained, 2)
    kept = next(rb.views())        # a view still alive at close: no crash, no fd kept
    rb.close()
    rb.close()
    del kept
    gc.collect()
    RingBuffer(drained.maps["rb"])  # dropped without close: GC releases it
    gc.collect()
    with pytest.raises(EventBufferError):
        rb.poll(0)


def test_wrong_map_type(drained, no_fd_leak):
    with pytest.raises(EventBufferError, match="RINGBUF"):
        RingBuffer(drained.maps["buf_ring_bss"])
    with pytest.raises(Error):
        RingBuffer("not a map")


# ---------------------------------------------------------------- user ring buffer

@pytest.fixture(scope="module")
def uobj(bpf_prog):
    o = Loaded(bpf_prog("buf_user"), ["drain"], ["urb", "buf_user_bss"])
    yield o
    o.close()


def drain_user(o) -> tuple[int, int, int]:
    _sys.prog_test_run(o.progs["drain"], ctx=bytes(8), ctx_out_size=0)
    b = o.maps["buf_user_bss"]
    return bss_u64(b, 0), bss_u64(b, 1), bss_u64(b, 2)


def test_user_ringbuf(uobj, no_fd_leak):
    t0, c0, _ = drain_user(uobj)
    with UserRingBuffer(uobj.maps["urb"]) as urb:
        free = urb.available()
        assert free == 4096
        for v in range(1, 11):
            urb.write(struct.pack("<Q", v))
        r = urb.reserve(8)
        r[:] = struct.pack("<Q", 1000)
        urb.discard(r)
        r = urb.reserve(16)
        r[:8] = struct.pack("<Q", 100)
        urb.submit(r)
        with pytest.raises(EventBufferError):
            urb.submit(r)
        total, count, ret = drain_user(uobj)
        assert count - c0 == 11
        assert total - t0 == sum(range(1, 11)) + 100
        assert ret == 11          # records drained (discarded ones are not counted)
        assert urb.available() == free
        # full ring: reserve fails instead of overwriting
        recs = [urb.reserve(56) for _ in range(4096 // 64)]
        with pytest.raises(EventBufferError, match="full"):
            urb.reserve(56)
        for rec in recs:
            rec[:8] = struct.pack("<Q", 1)
            urb.submit(rec)
        total2, count2, _ = drain_user(uobj)
        assert count2 - count == 64 and total2 - total == 64
        # a blocking reserve waits for the kernel to drain
        recs = [urb.reserve(56) for _ in range(4096 // 64)]
        for rec in recs:
            rec[:8] = struct.pack("<Q", 2)
            urb.submit(rec)
        t = threading.Timer(0.2, drain_user, (uobj,))
        t.start()
        t0 = time.monotonic()
        rec = urb.reserve(56, timeout=5.0)
        assert 0.1 < time.monotonic() - t0 < 4
        t.join()
        urb.discard(rec)
        t0 = time.monotonic()
        for _ in range(4096 // 64 - 1):   # the discarded record still holds its space
            urb.reserve(56)
        with pytest.raises(EventBufferError, match="full"):
            urb.reserve(8, timeout=0.2)
        assert time.monotonic() - t0 >= 0.15
        with pytest.raises(EventBufferError):
            urb.reserve(5000)


def test_user_ringbuf_close_discards_pending(uobj, no_fd_leak):
    _, c0, _ = drain_user(uobj)
    with UserRingBuffer(uobj.maps["urb"]) as urb:
        urb.reserve(8)                       # never submitted
    with UserRingBuffer(uobj.maps["urb"]) as urb:
        urb.write(struct.pack("<Q", 5))
    _, c1, _ = drain_user(uobj)
    assert c1 - c0 == 1                      # the kernel went past the abandoned one


def test_user_ringbuf_wrong_type(obj, no_fd_leak):
    with pytest.raises(EventBufferError, match="USER_RINGBUF"):
        UserRingBuffer(obj.maps["rb"])


def test_through_corebpf_load(bpf_prog, no_fd_leak):
    """The whole path a user takes: corebpf.load, Object.ring_buffer with a type name."""
    import corebpf
    with corebpf.load(str(bpf_prog("buf_ringbuf"))) as o:
        with o.ring_buffer("rb", event_type="event") as rb:
            _sys.prog_test_run(o.programs["emit"], ctx=struct.pack("<5Q", 3, 0, 5, REC, 0),
                               ctx_out_size=0)
            assert [e.seq for e in rb.poll(1.0)] == [5, 6, 7]


def test_no_lost_wakeups_under_a_live_producer(drained):
    """A producer thread emits small bursts while we sleep in poll() between them: every
    burst must wake us (consumer position published and fenced before we sleep)."""
    got = []
    bursts, per = 150, 20
    stop = threading.Event()

    def produce():
        for i in range(bursts):
            emit(drained, per, seq=i * per)
            time.sleep(0.001)
        stop.set()
    with RingBuffer(drained.maps["rb"], lambda v: got.append(seq_of(v))) as rb:
        t = threading.Thread(target=produce)
        t0 = time.monotonic()
        t.start()
        longest = 0.0
        while len(got) < bursts * per and time.monotonic() - t0 < 60:
            t1 = time.monotonic()
            rb.poll(5.0)
            longest = max(longest, time.monotonic() - t1)
        t.join()
    assert got == list(range(bursts * per))
    # a lost wakeup would show up as a poll that sat out its whole 5 s timeout
    assert longest < 4.5


# -- copying bulk paths: the same records in the same order as the callback path

EVENT_DT = [("seq", "<u8"), ("kind", "<u4"), ("len", "<u4"), ("data", "V48")]


def _fill_pattern(o, rnd):
    """One round of records: a run, discarded ones among kept ones (mode 1: every third
    discarded), another run; ~1/3 of the ring, so rounds wrap around its end."""
    base = rnd * 10000
    emit(o, 700, seq=base)
    emit(o, 90, mode=1, seq=base + 700)
    emit(o, 500, seq=base + 790)


def _bulk_drains(rb, np, dt):
    """Every copying bulk reader, with chunk sizes that cut runs at odd places."""
    buf = bytearray(4000 * STRIDE)
    return {
        "read_array": lambda: rb.read_array(dt).tobytes(),
        "read_array chunk 7": lambda: rb.read_array(dt, chunk=7).tobytes(),
        "read_array out": lambda: rb.read_array(dt, out=np.zeros(4000, dtype=dt)).tobytes(),
        "read_strided": lambda: rb.read_strided(dt).tobytes(),
        "read_strided buf chunk 5": lambda: rb.read_strided(dt, buf, chunk=5).tobytes(),
        "iter_arrays": lambda: b"".join(a.tobytes() for a in rb.iter_arrays(dt)),
        "iter_arrays chunk 33": lambda: b"".join(a.tobytes()
                                                 for a in rb.iter_arrays(dt, chunk=33)),
    }


def _park(o, rb, before_end):
    """Move the (empty) ring's positions to about ``before_end`` bytes before the end of
    the data area, with 72-byte filler records that are consumed."""
    d = (RING - before_end - rb.consumer_pos % RING) % RING
    if d >= STRIDE:
        emit(o, d // STRIDE, seq=999999)
        assert len(rb.consume()) == d // STRIDE
    assert 0 <= (RING - before_end - rb.consumer_pos % RING) % RING < STRIDE


def test_bulk_copies_match_callbacks_across_wraps(drained, no_fd_leak):
    """Each bulk copy gives the records the callback path gives for the same fill, byte
    for byte, in the same order: runs cut by discarded records, by chunk boundaries and
    by the end of the ring (met in a run of kept records and among discarded ones)."""
    np = pytest.importorskip("numpy")
    dt = np.dtype(EVENT_DT)
    with RingBuffer(drained.maps["rb"]) as rb:
        rnd = 0
        for name, drain in _bulk_drains(rb, np, dt).items():
            # the end of the ring: nowhere, in the first run (700 records = 50400 bytes),
            # among the discarded records (the next 6480 bytes)
            for before_end in (None, 30000, 53000):
                _fill_pattern(drained, rnd)
                want = b"".join(bytes(v) for v in rb.consume())
                if before_end is not None:
                    _park(drained, rb, before_end)
                _fill_pattern(drained, rnd)
                start = rb.consumer_pos
                got = drain()
                assert rb.available() == 0, name
                if before_end is not None:
                    assert start // RING != rb.consumer_pos // RING, name   # it wrapped
                w, g = np.frombuffer(want, dtype=dt), np.frombuffer(got, dtype=dt)
                assert len(g) == len(w), (name, start % RING)
                for f in ("seq", "kind", "len"):
                    assert (g[f] == w[f]).all(), (name, f, start % RING)
                # reserved records (kind 1) keep whatever the ring held before in .data
                assert g[g["kind"] == 0].tobytes() == w[w["kind"] == 0].tobytes(), name
                seqs = g["seq"].tolist()
                base = rnd * 10000
                assert seqs == (list(range(base, base + 700))
                                + [s for s in range(base + 700, base + 790) if s % 3 != 2]
                                + list(range(base + 790, base + 1290))), name
                rnd += 1


def test_bulk_copy_stops_at_other_sizes_and_limits(drained):
    np = pytest.importorskip("numpy")
    dt = np.dtype(EVENT_DT)
    with RingBuffer(drained.maps["rb"]) as rb:
        # another size stops every bulk path; consume() then takes it
        for name, drain in _bulk_drains(rb, np, dt).items():
            emit(drained, 40, seq=0)
            emit(drained, 6, mode=1, seq=40)     # seq % 3 == 2 discarded: 41, 44
            emit(drained, 1, mode=2, size=20)   # an 8-byte record
            emit(drained, 3, seq=100)
            got = np.frombuffer(drain(), dtype=dt)["seq"].tolist()
            assert got == list(range(40)) + [40, 42, 43, 45], name
            assert [len(r) for r in rb.consume()] == [8, 64, 64, 64], name
        # a small buffer or max_records bounds the drain; the rest stays
        emit(drained, 50, seq=0)
        small = bytearray(10 * STRIDE + 5)
        arr = rb.read_strided(dt, small)
        assert arr["seq"].tolist() == list(range(10))
        assert arr.strides == (STRIDE,) and arr.base is not None
        assert rb.read_strided(dt, max_records=15)["seq"].tolist() == list(range(10, 25))
        assert rb.read_array(dt, max_records=5)["seq"].tolist() == list(range(25, 30))
        # the copies outlive the ring's reuse of that memory
        keep = rb.read_strided(dt)
        emit(drained, 3000, seq=5000)
        rb.consume()
        assert keep["seq"].tolist() == list(range(30, 50))
        # numpy buffers work too, a record type given by its dtype only
        nbuf = np.zeros(100 * STRIDE, dtype=np.uint8)
        emit(drained, 4, seq=7)
        assert rb.read_strided(dt, nbuf)["seq"].tolist() == [7, 8, 9, 10]
        assert len(rb.read_strided(dt, nbuf)) == 0
        with pytest.raises(EventBufferError):
            rb.read_strided(dt, b"\0" * 1000)       # read-only
        with pytest.raises(EventBufferError):
            rb.read_strided(dt, 12)
        with pytest.raises(EventBufferError):
            rb.read_array(dt, out=[0] * 10)
        with pytest.raises(EventBufferError):
            rb.read_array(dt, chunk=0)


def test_bulk_copy_under_a_live_producer(drained):
    """A producer thread on the other CPU keeps committing while we drain with the bulk
    paths: we meet records still being written (BUSY) and must stop there, and never
    hand out a record twice or out of order."""
    np = pytest.importorskip("numpy")
    dt = np.dtype(EVENT_DT)
    total, per = 30000, 300
    stop = threading.Event()
    dropped0 = bss_u64(drained.maps["buf_ring_bss"], 0)

    def produce():
        for i in range(0, total, per):
            emit(drained, per, seq=i)
            time.sleep(0.0005)
        stop.set()
    seqs: list = []
    with RingBuffer(drained.maps["rb"]) as rb:
        t = threading.Thread(target=produce)
        t.start()
        i = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            done = stop.is_set()
            kind = i % 3
            i += 1
            if kind == 0:
                seqs.extend(rb.read_array(dt, chunk=64)["seq"].tolist())
            elif kind == 1:
                seqs.extend(rb.read_strided(dt, chunk=100)["seq"].tolist())
            else:
                for a in rb.iter_arrays(dt, chunk=128):
                    seqs.extend(a["seq"].tolist())
            if done and rb.available() == 0:
                break
        t.join()
    dropped = bss_u64(drained.maps["buf_ring_bss"], 0) - dropped0
    # whatever did not fit was dropped by the producer; what arrived is whole, in order
    # and unique
    assert seqs == sorted(set(seqs))
    assert len(seqs) + dropped == total
    assert len(seqs) > 3 * RING // STRIDE
