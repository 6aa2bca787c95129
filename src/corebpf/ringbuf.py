"""BPF ring buffers: the consumer side (``RingBuffer``), several buffers behind one wait
(``Poller``) and the user-space producer side (``UserRingBuffer``).

Memory layout of a BPF_MAP_TYPE_RINGBUF map, as the kernel exposes it to mmap:

* offset 0, one page, read-write: the consumer page; ``consumer_pos`` (u64) at its start.
* offset ``page``, read-only, ``page + 2 * size`` bytes: the producer page (``producer_pos``)
  followed by the data area, mapped twice back to back so that a record that wraps around
  the end is still contiguous in our view.

Each record starts with an 8-byte header: u32 length with BUSY (1<<31, still being written)
and DISCARD (1<<30) bits, and u32 pg_off; records are 8-byte aligned. Positions grow
forever; ``pos & (size - 1)`` is the offset in the data area.

Record views handed to callbacks are zero-copy memoryviews into the mapped data; they stay
valid until the callback returns (or, for iteration, until the next record is asked for),
because only then does the consumer position move past them.

Speed (bench/bench_ringbuf.py, 64-byte records, CPU time, against libbpf's
``ring_buffer__consume`` in the same run): callbacks walk runs of same-size records with
one C-level header check per run (≈4-13 M records/s, more in batches). The numpy paths
check a chunk's headers with one strided gather and one bytes comparison, then copy the
chunk while it is in the CPU cache: ``array_view`` (zero-copy) beats libbpf; ``iter_arrays``
(copies into a reused, cache-sized staging buffer) runs at about 0.8-1.0 of it;
``read_strided`` / ``read_array`` copy into one large array and so also write every record
to memory: on a 64 MiB ring they cannot beat libbpf, which copies nothing (a bare memcpy
of the same bytes already runs at about 0.8 of it), and reach about 0.5-0.7.
Memory ordering of the bulk paths: each chunk's headers are loaded before its records
(x86 keeps loads in order), and the consumer position moves once per chunk, after the
copy.
"""
from __future__ import annotations

import _thread
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Iterator

from . import _sys
from .errors import EventBufferError

BUSY = 1 << 31
DISCARD = 1 << 30
HDR_SIZE = 8
LEN_MASK = DISCARD - 1

MAP_TYPE_RINGBUF = 27
MAP_TYPE_USER_RINGBUF = 31
_EPOLLIN = 0x001
_EPOLLOUT = 0x004
_EPOLLET = 1 << 31

_PAGE: int | None = None

# A full memory barrier between our store of consumer_pos and our next load of
# producer_pos. The kernel producer wakes us only if, when it commits a record, it sees our
# consumer_pos equal to that record's position; if our store were still in the store buffer
# while we read an old producer_pos we would go to sleep with data pending (the lost-wakeup
# bug). CPython has no fence primitive, but acquiring a lock executes a locked
# read-modify-write (sem_trywait / futex word), which on x86 orders earlier stores before
# later loads.
_fence_lock = _thread.allocate_lock()


def _fence() -> None:
    _fence_lock.acquire()
    _fence_lock.release()


# Bytes of ring per chunk of the copying bulk paths: the header check pulls a chunk into
# the CPU cache and the copy then reads it from there. iter_arrays' staging buffer is
# reused, so a chunk and its copy both stay in a core's L2 cache (512 KiB and more on
# current x86 and arm64 cores); copies into a large array write cold memory anyway and
# do better with fewer, longer chunks (bench/bench_ringbuf.py).
_STAGE_BYTES = 256 << 10
_CHUNK_BYTES = 1 << 20


class _Headers:
    """Checks a run of record headers (``stride`` bytes apart in ``mm``) against the one
    value a run of same-size committed records has: one strided numpy gather into a
    reused buffer and one bytes comparison (a memcmp). That is ~4 times cheaper than
    ``(headers == value).all()``, and the header pass is the one that brings the ring
    from memory, so it sets the speed of the copying bulk paths."""

    __slots__ = ("np", "mm", "stride", "dtype", "value", "chunk", "buf", "raw", "pat")

    def __init__(self, np: Any, mm: Any, stride: int, dtype: str, value: int,
                 chunk: int) -> None:
        self.np, self.mm, self.stride, self.value, self.chunk = np, mm, stride, value, chunk
        self.dtype = np.dtype(dtype)
        self.buf = np.empty(chunk, dtype=self.dtype)
        self.raw = memoryview(self.buf).cast("B")
        self.pat = np.full(chunk, value, dtype=self.dtype).tobytes()

    def full(self, off: int) -> bool:
        """Whether the next ``chunk`` headers from offset ``off`` all equal the value."""
        self.np.copyto(self.buf, self.np.ndarray((self.chunk,), self.dtype, self.mm, off,
                                                 (self.stride,)))
        return self.raw.tobytes() == self.pat

    def run(self, off: int, k: int) -> int:
        """How many of the ``k`` (<= chunk) headers from offset ``off`` equal the value."""
        np = self.np
        if k == self.chunk:
            buf, raw, pat = self.buf, self.raw, self.pat
        else:
            n = k * self.dtype.itemsize
            buf, raw, pat = self.buf[:k], self.raw[:n], self.pat[:n]
        # x86 keeps these loads before the copy's loads of the records they vouch for
        np.copyto(buf, np.ndarray((k,), dtype=self.dtype, buffer=self.mm, offset=off,
                                  strides=(self.stride,)))
        if raw.tobytes() == pat:
            return k
        return int((buf != self.value).argmax())


def page_size() -> int:
    global _PAGE
    if _PAGE is None:
        import mmap
        _PAGE = mmap.PAGESIZE
    return _PAGE


def _map_fd_info(m: Any, what: str) -> tuple[int, int, int]:
    """(fd, map type, max_entries) of a Map object, FD or fd number."""
    try:
        fd = _sys._fdnum(m)
    except (TypeError, ValueError) as e:
        raise EventBufferError(f"{what}: expected a map (Map, FD or fd), got {m!r}") from e
    info = _sys.map_info(fd)
    return fd, info["type"], info["max_entries"]


def _map_ring(r: Any, fd: int, size: int, user: bool, events: int) -> None:
    """Map a ring's consumer page and producer page + data (twice ``size``, so records
    that wrap read contiguously) into ``r`` and register ``fd`` with a new epoll. For a
    user ring (``user``) we are the producer: the consumer page is the read-only one.
    On failure everything mapped so far is released again."""
    pg = page_size()
    r._pg = pg
    kind = "user ringbuf" if user else "ringbuf"
    try:
        r._cons_mm = _sys.mmap_fd(fd, pg, writable=not user, what=f"mmap {kind} consumer")
        r._prod_mm = _sys.mmap_fd(fd, pg + 2 * size, writable=user, offset=pg,
                                  what=f"mmap {kind} producer/data")
        r._epoll = _sys.epoll_create()
        r._epoll.register(fd, events)
    except BaseException:
        _release_ring(r)
        raise
    r._cons = memoryview(r._cons_mm).cast("Q")   # [0] = consumer_pos
    r._pview = memoryview(r._prod_mm)
    r._prod = r._pview[:8].cast("Q")             # [0] = producer_pos
    r._data = r._pview[pg:]                        # 2 * size bytes
    r._hdr = r._data.cast("I")                     # headers by offset >> 2


def _release_ring(r: Any) -> None:
    """Drop the views and mappings :func:`_map_ring` made and close the epoll fd
    (idempotent)."""
    for name in ("_hdr", "_data", "_prod", "_pview", "_cons"):
        v = r.__dict__.pop(name, None)
        if v is not None:
            try:
                v.release()
            except ValueError:
                pass
    for name in ("_cons_mm", "_prod_mm"):
        mm = getattr(r, name, None)
        setattr(r, name, None)
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                # a record view is still referenced somewhere: the mapping goes away
                # when the last view does
                pass
    ep, r._epoll = r._epoll, None
    if ep is not None:
        ep.close()


def resolve_event_type(event_type: Any, btf: Any) -> Any:
    """``event_type`` as given, or, when it is a type name (``"event"``, ``"struct
    event"``) or id and ``btf`` is given, a ``corebpf.btf.codec.Codec`` of that type."""
    if isinstance(event_type, (str, int)) and not isinstance(event_type, bool):
        if btf is None:
            raise EventBufferError(f"event_type {event_type!r} names a BTF type, but no BTF "
                                   "was given (pass btf=, or a Codec)")
        from .btf.codec import Codec
        tid = event_type
        if isinstance(event_type, str):
            name = event_type
            for prefix in ("struct ", "union "):
                if name.startswith(prefix):
                    name = name[len(prefix):]
            tid = btf.find_one(name)
        return Codec(btf, tid)
    return event_type


def _decoder(event_type: Any) -> Callable[[Any], Any] | None:
    if event_type is None:
        return None
    dec = getattr(event_type, "decode", None)
    if dec is None or not callable(dec):
        raise EventBufferError(f"event_type {event_type!r} has no decode(buf) method "
                               "(pass a corebpf.btf.codec.Codec or similar)")
    return dec


class _Reader:
    """What RingBuffer and PerfBuffer share: waiting, iteration, asyncio, context manager."""

    _callback: Callable[[Any], Any] | None
    _epoll: Any
    _closed: bool

    # subclasses implement _consume(cb, batch, limit) -> int and close()
    def _consume(self, cb: Callable[[Any], Any], batch: int, limit: int | None) -> int:
        raise NotImplementedError

    def _setup(self, map: Any, callback: Callable[[Any], Any] | None, batch: int,
               event_type: Any, btf: Any) -> None:
        """The reading state of every reader: the map (kept alive while we read it), the
        callback, and how records are decoded."""
        self._map = map
        self._callback = callback
        self._batch = batch
        self.event_type = event_type = resolve_event_type(event_type, btf)
        self._decode = _decoder(event_type)
        self._cb_wrapped = self._wrap(callback)

    def _wrap(self, cb: Callable[[Any], Any] | None) -> Any:
        """The user's callback, fed decoded records when there is an event_type."""
        if cb is None or self._decode is None:
            return cb
        dec = self._decode
        if self._batch:
            return lambda vs: cb([dec(v) for v in vs])
        return lambda v: cb(dec(v))

    def fileno(self) -> int:
        """An fd that becomes readable when records are available (an epoll fd)."""
        self._check()
        return self._epoll.fileno()

    def _check(self) -> None:
        if self._closed:
            raise EventBufferError(f"{type(self).__name__} is closed")

    def _wait(self, timeout: float | None) -> bool:
        """Block until the kernel signals data (or timeout, seconds; None = forever)."""
        self._check()
        try:
            return bool(self._epoll.poll(-1 if timeout is None else timeout))
        except InterruptedError:  # pragma: no cover (PEP 475 retries)
            return False

    def _emit(self) -> tuple[Callable[[Any], Any], list]:
        """A callback that collects decoded copies (for poll()/consume() without a
        callback)."""
        out: list = []
        dec = self._decode
        if dec is None:
            def cb(v: memoryview, _a: Callable = out.append) -> None:
                _a(bytes(v))
        else:
            def cb(v: memoryview, _a: Callable = out.append, _d: Callable = dec) -> None:
                _a(_d(v))
        return cb, out

    def consume(self, limit: int | None = None) -> Any:
        """Consume what is available now, without waiting. With a callback: the number
        of records handed to it; without: a list of records (decoded through
        ``event_type``, else ``bytes`` copies)."""
        self._check()
        if self._callback is not None:
            return self._consume(self._cb_wrapped, self._batch, limit)
        cb, out = self._emit()
        self._consume(cb, 0, limit)
        return out

    def poll(self, timeout: float | None = None, limit: int | None = None) -> Any:
        """Wait up to ``timeout`` seconds (None: forever, 0: don't wait) for records, then
        consume them as :meth:`consume` does."""
        self._check()
        if self._callback is not None:
            n = self._consume(self._cb_wrapped, self._batch, limit)
            if n or timeout == 0:
                return n
            if self._wait(timeout):
                n = self._consume(self._cb_wrapped, self._batch, limit)
            return n
        cb, out = self._emit()
        self._consume(cb, 0, limit)
        if not out and timeout != 0 and self._wait(timeout):
            self._consume(cb, 0, limit)
        return out

    def __iter__(self) -> Iterator[Any]:
        """Blocking iteration over records forever (decoded, else bytes copies)."""
        while not self._closed:
            for ev in self.poll(None):
                yield ev

    # longest asyncio wait before looking again without a wakeup (None: until readable);
    # PerfBuffer: its flush_interval, as the kernel does not wake us below the watermark
    def _async_wait_limit(self) -> float | None:
        return None

    async def _await_readable(self) -> None:
        import asyncio
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        fd = self.fileno()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)
        loop.add_reader(fd, ready)
        try:
            limit = self._async_wait_limit()
            if limit is None:
                await fut
            else:
                try:
                    await asyncio.wait_for(fut, limit)
                except asyncio.TimeoutError:
                    pass
        finally:
            loop.remove_reader(fd)

    async def records(self) -> Any:
        """Async iteration over records (``async for ev in buf.records()``)."""
        while not self._closed:
            cb, out = self._emit()
            self._consume(cb, 0, None)
            if out:
                for ev in out:
                    yield ev
                continue
            await self._await_readable()

    def __aiter__(self) -> Any:
        return self.records()

    async def wait_readable(self) -> None:
        """Wait (asyncio) until records may be available."""
        await self._await_readable()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover
            pass

    def close(self) -> None:  # pragma: no cover
        raise NotImplementedError


class RingBuffer(_Reader):
    """Reader of a BPF_MAP_TYPE_RINGBUF map.

    ``callback(record)`` gets each record as a zero-copy ``memoryview`` (or decoded through
    ``event_type``, anything with ``.decode(buf)`` such as a ``corebpf.btf.codec.Codec``,
    or a BTF type name resolved in ``btf``), valid until it returns. With ``batch=N`` the
    callback gets lists of up to N records instead. A callback returning a negative int
    stops the current consume.

    Without a callback, :meth:`poll` / :meth:`consume` return lists of records and the
    object iterates (``for ev in rb``, ``async for ev in rb``). :meth:`views` walks records
    zero-copy; fixed-size records drain in bulk into numpy structured arrays:
    :meth:`array_view` (zero-copy), :meth:`iter_arrays` (chunks through a reused buffer),
    :meth:`read_strided` / :meth:`read_array` (copies that outlive the ring's reuse).
    Close with :meth:`close` or ``with``; the map itself stays open (it is the caller's).
    """

    def __init__(self, map: Any, callback: Callable[[Any], Any] | None = None, *,
                 event_type: Any = None, batch: int = 0, btf: Any = None) -> None:
        self._closed = True
        self._epoll = None
        self._cons_mm = self._prod_mm = None
        fd, mtype, size = _map_fd_info(map, "RingBuffer")
        if mtype != MAP_TYPE_RINGBUF:
            raise EventBufferError(f"RingBuffer: map fd {fd} is of type {mtype}, "
                                   "not BPF_MAP_TYPE_RINGBUF (27)")
        if size <= 0 or size & (size - 1):
            raise EventBufferError(f"RingBuffer: bad ring size {size}")
        if batch < 0:
            raise EventBufferError("RingBuffer: batch must be >= 0")
        self.size = size
        self._mask = size - 1
        self._setup(map, callback, batch, event_type, btf)
        _map_ring(self, fd, size, False, _EPOLLIN)
        self._closed = False

    # -- positions
    @property
    def consumer_pos(self) -> int:
        self._check()
        return self._cons[0]

    @property
    def producer_pos(self) -> int:
        self._check()
        return self._prod[0]

    def available(self) -> int:
        """Bytes (headers included) between the consumer and producer positions."""
        self._check()
        return self._prod[0] - self._cons[0]

    def _bad_len(self, ln: int, cons: int) -> EventBufferError:
        return EventBufferError(f"ring buffer record at position {cons} has length {ln}, "
                                f"more than the ring ({self.size} bytes): corrupt data")

    _RUN = 4096   # records per header check of a same-size run

    def _consume(self, cb: Callable[[Any], Any], batch: int, limit: int | None) -> int:
        """Hand available records to ``cb``; the number handed.

        Fast path: records usually come in runs of one size, so from a committed header
        we check the next headers of the presumed run in one C-level step (a strided
        memoryview's tolist + count) and then walk the run with range(), one slice and
        one call per record and no per-record header parsing in Python."""
        if limit is not None:
            return self._consume_generic(cb, batch, limit)
        cons_v = self._cons
        prod_v = self._prod
        hdr = self._hdr
        data = self._data
        mask = self._mask
        size = self.size
        run_max = self._RUN
        n = i = stride = 0
        cons = cons_v[0]
        try:
            while True:
                prod = prod_v[0]
                if cons >= prod:
                    cons_v[0] = cons
                    _fence()   # publish, fence, look once more before sleeping
                    prod = prod_v[0]
                    if cons >= prod:
                        return n
                while cons < prod:
                    off = cons & mask
                    h = hdr[off >> 2]
                    if h <= size:   # committed, not discarded, sane length
                        stride = (h + 15) & ~7
                        k = (prod - cons) // stride
                        if k > run_max:
                            k = run_max
                        elif not k:   # a record cannot extend past the producer
                            raise self._bad_len(h, cons)
                        if k > 1:
                            hs = hdr[off >> 2:(off + k * stride) >> 2:stride >> 2].tolist()
                            if hs.count(h) != k:
                                k = 1
                                while hs[k] == h:
                                    k += 1
                        start = off + 8
                        i = 0   # records of this run handed over (see except below)
                        if batch:
                            # lists of at most `batch` views, built right before the call
                            # (a list of a whole run would wake the cyclic GC)
                            while i < k:
                                j = i + batch if i + batch < k else k
                                views = [data[o:o + h] for o in
                                         range(start + i * stride, start + j * stride, stride)]
                                i = j
                                r = cb(views)
                                if r is not None and r < 0:
                                    break
                        else:
                            for o in range(start, start + k * stride, stride):
                                i += 1
                                r = cb(data[o:o + h])
                                if r is not None and r < 0:
                                    break
                        cons += i * stride
                        n += i
                        i = 0
                        # publish after each run so the kernel may reuse the space
                        cons_v[0] = cons
                        if r is not None and r < 0:
                            return n
                    elif h & BUSY:
                        cons_v[0] = cons
                        return n   # not committed yet; its commit wakes us
                    elif h & DISCARD and (h & LEN_MASK) <= size:
                        cons += ((h & LEN_MASK) + 15) & ~7
                    else:
                        cons_v[0] = cons
                        raise self._bad_len(h & LEN_MASK, cons)
        except BaseException:
            # a callback raised: what it was handed counts as consumed
            if not self._closed:
                cons_v[0] = cons + i * stride
            raise

    def _consume_generic(self, cb: Callable[[Any], Any], batch: int, limit: int | None) -> int:
        cons_v = self._cons
        prod_v = self._prod
        hdr = self._hdr
        data = self._data
        mask = self._mask
        size = self.size
        n = 0
        cons = cons_v[0]
        lim = -1 if limit is None else limit
        try:
            while True:
                prod = prod_v[0]
                if cons >= prod:
                    # we published cons below (or found nothing): fence, then look once more
                    # before the caller sleeps (see _fence)
                    _fence()
                    prod = prod_v[0]
                    if cons >= prod:
                        return n
                busy = False
                if batch:
                    views: list = []
                    while cons < prod and n != lim:
                        off = cons & mask
                        h = hdr[off >> 2]
                        if h & BUSY:
                            busy = True
                            break
                        ln = h & LEN_MASK
                        if ln > size:
                            cons_v[0] = cons
                            raise self._bad_len(ln, cons)
                        cons += (ln + 15) & ~7
                        if not h & DISCARD:
                            off += 8
                            views.append(data[off:off + ln])
                            n += 1
                            if len(views) == batch:
                                r = cb(views)
                                cons_v[0] = cons
                                views = []
                                if r is not None and r < 0:
                                    return n
                    if views:
                        r = cb(views)
                        cons_v[0] = cons
                        if r is not None and r < 0:
                            return n
                    cons_v[0] = cons
                else:
                    while cons < prod:
                        off = cons & mask
                        h = hdr[off >> 2]
                        if h & BUSY:
                            busy = True
                            break
                        ln = h & LEN_MASK
                        if ln > size:
                            cons_v[0] = cons
                            raise self._bad_len(ln, cons)
                        cons += (ln + 15) & ~7
                        if not h & DISCARD:
                            off += 8
                            r = cb(data[off:off + ln])
                            n += 1
                            if r is not None and r < 0 or n == lim:
                                cons_v[0] = cons
                                return n
                    # publishing per record would let the kernel reuse space sooner but costs
                    # a store per record; once per pass is enough for a consumer that keeps up
                    cons_v[0] = cons
                if busy or n == lim:
                    # a record still being written: the kernel wakes us when it is committed
                    return n
        except BaseException:
            # a callback raised: what it was handed counts as consumed
            if not self._closed:
                cons_v[0] = cons
            raise

    def views(self) -> Iterator[memoryview]:
        """Zero-copy record views of what is available now; each view is valid until the
        next one is asked for (the consumer position then moves past it)."""
        self._check()
        cons_v, prod_v, hdr, data, mask = self._cons, self._prod, self._hdr, self._data, \
            self._mask
        cons = cons_v[0]
        try:
            while True:
                prod = prod_v[0]
                if cons >= prod:
                    cons_v[0] = cons
                    _fence()
                    if cons >= prod_v[0]:
                        return
                    continue
                off = cons & mask
                h = hdr[off >> 2]
                if h & BUSY:
                    return
                ln = h & LEN_MASK
                if ln > self.size:
                    raise self._bad_len(ln, cons)
                cons += (ln + 15) & ~7
                if not h & DISCARD:
                    # published only when the next record is asked for (or on close), so
                    # the kernel leaves this one alone while the caller holds it
                    yield data[off + 8:off + 8 + ln]
                cons_v[0] = cons
        finally:
            if not self._closed:
                cons_v[0] = cons

    # -- bulk path
    def _np_dtype(self, np: Any, dtype: Any) -> Any:
        if dtype is None:
            dtype = getattr(self.event_type, "dtype", None)
        if dtype is None:
            cons, prod = self._cons[0], self._prod[0]
            if cons >= prod:
                return None
            dtype = f"V{(self._hdr[(cons & self._mask) >> 2] & LEN_MASK) or 1}"
        return np.dtype(dtype)

    def _np_run(self, np: Any, cons: int, prod: int, rsize: int, stride: int,
                kmax: int) -> int:
        """How many records from ``cons`` are committed, not discarded and ``rsize`` long
        (at most ``kmax``): one vectorised comparison over a strided view of headers."""
        k = min((prod - cons) // stride, kmax)
        if k <= 0:
            return 0
        hh = np.ndarray((k,), dtype="<u4", buffer=self._prod_mm,
                        offset=self._pg + (cons & self._mask), strides=(stride,))
        eq = hh == rsize
        if eq.all():
            return k
        return int(eq.argmin())

    def _skip_odd(self, cons: int, prod: int, rsize: int) -> tuple[int, bool]:
        """At a record that does not extend a run: skip it if discarded; else report
        that the bulk walk must stop (uncommitted, or another size)."""
        h = self._hdr[(cons & self._mask) >> 2]
        if h & BUSY or not h & DISCARD:
            return cons, False
        if (h & LEN_MASK) > self.size:
            raise self._bad_len(h & LEN_MASK, cons)
        return cons + (((h & LEN_MASK) + 15) & ~7), True

    def _bulk(self, np: Any, dtype: Any, chunk: int | None, default: int) -> tuple:
        """What the copying bulk paths share: (dtype, record size, stride, chunk, header
        checker, the producer mapping as bytes) or None when the ring is empty and no
        dtype was given."""
        dt = self._np_dtype(np, dtype)
        if dt is None:
            return None
        rsize = dt.itemsize
        if not 0 < rsize <= self.size:
            raise EventBufferError(f"ring buffer bulk read: a record of {rsize} bytes does "
                                   f"not fit in the ring ({self.size} bytes)")
        stride = (rsize + 15) & ~7
        if chunk is None:
            chunk = max(min(default, self.size) // stride, 1)
        elif chunk <= 0:
            raise EventBufferError("ring buffer bulk read: chunk must be > 0")
        return (dt, rsize, stride, chunk,
                _Headers(np, self._prod_mm, stride, "<u4", rsize, chunk),
                np.frombuffer(self._prod_mm, dtype=np.uint8))

    def _next_run(self, chk: _Headers, cons: int, stride: int, want: int,
                  rsize: int) -> tuple[int, int, int]:
        """At ``cons``: (records of a run to copy, at most ``want``, from offset ``off`` of
        the producer mapping; new cons), after skipping discarded records. (0, 0, cons)
        when the bulk walk must stop here (nothing committed, another record size, or
        the end of the data). Publishes the position when it stops."""
        cons_v, prod_v = self._cons, self._prod
        base, mask = self._pg, self._mask
        while True:
            prod = prod_v[0]
            if cons >= prod:
                # publish, fence, look once more (see _fence)
                cons_v[0] = cons
                _fence()
                prod = prod_v[0]
                if cons >= prod:
                    return 0, 0, cons
            k = (prod - cons) // stride
            if k > want:
                k = want
            off = base + (cons & mask)
            if k:
                # prod was read before the headers: none of them is left over from the
                # ring's previous lap
                k = chk.run(off, k)
                if k:
                    return k, off, cons
            cons, ok = self._skip_odd(cons, prod, rsize)
            if not ok:
                cons_v[0] = cons
                return 0, 0, cons

    def read_array(self, dtype: Any = None, out: Any = None, max_records: int | None = None,
                   chunk: int | None = None) -> Any:
        """Drain fixed-size records into a numpy structured array (a packed copy).

        ``dtype``: the record's numpy dtype (itemsize = record length); defaults to
        ``event_type.dtype`` when the codec has one, else raw bytes of the first record's
        size. ``out``: a preallocated 1-D array of that itemsize to fill (saves the page
        faults of a fresh array); returns the filled part. Headers are checked a chunk at
        a time (``chunk`` records, by default about 1 MiB of ring, so that the copy reads
        them from the cache), then the chunk is copied with one numpy copy; the
        consumer position moves once per chunk. A record of another size or still being
        written stops the drain (it stays for :meth:`consume`); discarded records are
        skipped. :meth:`read_strided` is faster when a strided result will do.
        """
        import numpy as np
        self._check()
        b = self._bulk(np, dtype, chunk, _CHUNK_BYTES)
        if b is None:
            return np.empty(0, dtype=dtype if dtype is not None else "V1")
        dt, rsize, stride, chunk, chk, _ = b
        cons = self._cons[0]
        if out is None:
            cap = (self._prod[0] - cons) // stride
            if max_records is not None:
                cap = min(cap, max_records)
            out = np.empty(max(cap, 0), dtype=dt)
        elif getattr(out, "ndim", None) != 1 or out.dtype.itemsize != rsize:
            raise EventBufferError(f"read_array: out must be a 1-D numpy array with "
                                   f"itemsize {rsize}")
        cap = len(out) if max_records is None else min(len(out), max_records)
        void = np.dtype(f"V{rsize}")
        # copy as opaque items (one memcpy-like loop), unless out is a strided view
        outv, sdt = (out.view(void), void) if out.flags.c_contiguous else (out, out.dtype)
        filled = 0
        mm = self._prod_mm
        try:
            while filled < cap:
                k, off, cons = self._next_run(chk, cons, stride, min(cap - filled, chunk),
                                              rsize)
                if not k:
                    break
                np.copyto(outv[filled:filled + k],
                          np.ndarray((k,), dtype=sdt, buffer=mm, offset=off + 8,
                                     strides=(stride,)))
                filled += k
                cons += k * stride
                self._cons[0] = cons
        finally:
            if not self._closed:
                self._cons[0] = cons
        return out[:filled]

    def read_strided(self, dtype: Any = None, buf: Any = None,
                     max_records: int | None = None, chunk: int | None = None) -> Any:
        """Drain fixed-size records, copying whole runs of the ring (headers included)
        into ``buf`` with one memcpy per chunk; returns a structured array of ``dtype``
        viewing ``buf`` with the ring's record stride (``(itemsize + 15) & ~7`` bytes; the
        8-byte headers are skipped). The fastest way to keep many records in one array
        (one memcpy of the ring's bytes as they lie, no per-record work); it stays valid
        after the kernel reuses the ring.

        ``buf``: a writable buffer (bytearray, numpy array, mmap) reused across calls,
        at least ``n * stride`` bytes for ``n`` records (its size bounds the drain); a
        new one sized to what is available when None. Same stopping rules as
        :meth:`read_array`.
        """
        import numpy as np
        self._check()
        b = self._bulk(np, dtype, chunk, _CHUNK_BYTES)
        if b is None:
            return np.empty(0, dtype=dtype if dtype is not None else "V1")
        dt, rsize, stride, chunk, chk, src = b
        cons = self._cons[0]
        if buf is None:
            cap = (self._prod[0] - cons) // stride
            if max_records is not None:
                cap = min(cap, max_records)
            dst = np.empty(max(cap, 0) * stride, dtype=np.uint8)
        else:
            try:
                dst = np.frombuffer(buf, dtype=np.uint8)
            except (TypeError, ValueError) as e:
                raise EventBufferError(f"read_strided: buf must be a contiguous buffer, "
                                       f"not {type(buf).__name__}") from e
            if not dst.flags.writeable:
                raise EventBufferError("read_strided: buf is read-only")
        cap = len(dst) // stride
        if max_records is not None:
            cap = min(cap, max_records)
        filled = 0
        try:
            while filled < cap:
                k, off, cons = self._next_run(chk, cons, stride, min(cap - filled, chunk),
                                              rsize)
                if not k:
                    break
                # the ring is mapped twice back to back: a run across its end is contiguous
                n = k * stride
                np.copyto(dst[filled * stride:filled * stride + n], src[off:off + n])
                filled += k
                cons += n
                self._cons[0] = cons
        finally:
            del src
            if not self._closed:
                self._cons[0] = cons
        return np.ndarray((filled,), dtype=dt, buffer=dst, offset=8 if filled else 0,
                          strides=(stride,))

    def iter_arrays(self, dtype: Any = None, chunk: int | None = None) -> Iterator[Any]:
        """Drain fixed-size records as a stream of numpy structured arrays of up to
        ``chunk`` records each (by default about 256 KiB of ring, which keeps the ring's
        bytes and the staging buffer in the CPU cache between the header check and the
        copy).

        Each chunk's headers are checked in the ring, then the chunk (headers included)
        is copied with one contiguous copy into a staging buffer that is reused; the
        yielded array is a strided view of that buffer, so it is valid until the next one
        is asked for (``.copy()`` it to keep it). The consumer position has already moved
        past the records when they are yielded. Stops at the end of the data, a record
        still being written or a record of another size; discarded records are skipped.
        """
        import numpy as np
        self._check()
        b = self._bulk(np, dtype, chunk, _STAGE_BYTES)
        if b is None:
            return
        dt, rsize, stride, chunk, chk, src = b
        stage = np.empty(chunk * stride, dtype=np.uint8)
        full = chunk * stride
        copyto, ndarray, strides = np.copyto, np.ndarray, (stride,)
        cons_v, prod_v, base, mask = self._cons, self._prod, self._pg, self._mask
        cons = cons_v[0]
        try:
            while not self._closed:
                # fast path: a whole chunk of the run (no per-chunk calls but numpy's)
                off = base + (cons & mask)
                if prod_v[0] - cons >= full and chk.full(off):
                    copyto(stage, src[off:off + full])
                    cons += full
                    cons_v[0] = cons
                    yield ndarray((chunk,), dt, stage, 8, strides)
                    continue
                k, off, cons = self._next_run(chk, cons, stride, chunk, rsize)
                if not k:
                    return
                n = k * stride
                copyto(stage[:n], src[off:off + n])
                cons += n
                cons_v[0] = cons
                yield ndarray((k,), dt, stage, 8, strides)
        finally:
            del src
            if not self._closed:
                self._cons[0] = cons

    def array_view(self, dtype: Any = None, max_records: int | None = None) -> "ArrayView":
        """Zero-copy bulk read: ``with rb.array_view(dt) as arr:`` gives a read-only
        structured array viewing the committed records of ``dtype``'s size at the head of
        the ring (strided over the ring's memory, headers checked with one vectorised
        comparison); the consumer position moves past them when the block exits. Do not
        keep ``arr`` (or views of it) after the block: the kernel reuses that memory."""
        return ArrayView(self, dtype, max_records)

    def close(self) -> None:
        """Unmap the ring and close the epoll fd (idempotent)."""
        self._closed = True
        self._release()

    def _release(self) -> None:
        _release_ring(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"size={self.size}"
        return f"<RingBuffer {state}>"


class ArrayView:
    """Context manager returned by :meth:`RingBuffer.array_view`."""

    def __init__(self, rb: RingBuffer, dtype: Any, max_records: int | None) -> None:
        self._rb, self._dtype, self._max = rb, dtype, max_records
        self._end: int | None = None
        self.array: Any = None

    def __enter__(self) -> Any:
        import numpy as np
        rb = self._rb
        rb._check()
        dt = rb._np_dtype(np, self._dtype)
        cons = rb._cons[0]
        if dt is None:
            self.array = np.empty(0, dtype=self._dtype if self._dtype is not None else "V1")
            self._end = cons
            return self.array
        rsize = dt.itemsize
        stride = (rsize + 15) & ~7
        prod = rb._prod[0]
        # skip leading discarded records
        while cons < prod:
            h = rb._hdr[(cons & rb._mask) >> 2]
            if h & BUSY or not h & DISCARD:
                break
            cons += ((h & LEN_MASK) + 15) & ~7
        kmax = (prod - cons) // stride if self._max is None else self._max
        k = rb._np_run(np, cons, prod, rsize, stride, kmax)
        arr = np.ndarray((k,), dtype=dt, buffer=rb._prod_mm,
                         offset=rb._pg + 8 + (cons & rb._mask), strides=(stride,))
        self._end = cons + k * stride
        self.array = arr
        return arr

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        self.array = None
        rb = self._rb
        if self._end is not None and not rb._closed:
            rb._cons[0] = self._end
            _fence()


class Poller:
    """Waits on several ring/perf buffers at once and dispatches to their callbacks.

    ``with Poller(rb1, rb2) as p: p.poll(1.0)``. Closing the poller does not close the
    buffers (``close_buffers=True`` makes it do so)."""

    def __init__(self, *buffers: Any, close_buffers: bool = False) -> None:
        self._epoll = _sys.epoll_create()
        self._bufs: dict[int, Any] = {}
        self._close_buffers = close_buffers
        for b in buffers:
            self.add(b)

    def add(self, buf: Any) -> None:
        if getattr(buf, "_callback", None) is None:
            raise EventBufferError("Poller: every buffer needs a callback")
        fd = buf.fileno()
        self._bufs[fd] = buf
        self._epoll.register(fd, _EPOLLIN)

    def remove(self, buf: Any) -> None:
        fd = buf.fileno()
        if self._bufs.pop(fd, None) is not None:
            self._epoll.unregister(fd)

    @property
    def buffers(self) -> list:
        return list(self._bufs.values())

    def fileno(self) -> int:
        return self._epoll.fileno()

    def consume(self) -> int:
        """Consume every buffer without waiting; the number of records handled."""
        return sum(b.consume() for b in self._bufs.values())

    def poll(self, timeout: float | None = None) -> int:
        """Wait up to ``timeout`` seconds (None: until something arrives) for any buffer,
        then consume; the number of records handled."""
        if self._epoll is None:
            raise EventBufferError("Poller is closed")
        n = self.consume()
        if n or timeout == 0:
            return n
        # perf buffers below their wakeup watermark do not wake us: look at least every
        # flush_interval
        step = min((getattr(b, "flush_interval", None) or 1e9 for b in self._bufs.values()),
                   default=1e9)
        import time
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 1e9 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return n
            wait = min(left, step)
            ready = self._epoll.poll(-1 if wait >= 1e9 else wait)
            if ready:
                for fd, _ in ready:
                    b = self._bufs.get(fd)
                    if b is not None:
                        n += b.consume()
                if step < 1e9:
                    n += sum(b.consume() for b in self._bufs.values()
                             if getattr(b, "flush_interval", None))
            elif step < 1e9:
                n += self.consume()
            if n:
                return n

    async def run(self, stop: Any = None) -> None:
        """Dispatch records as they come until ``stop`` (an asyncio.Event) is set."""
        import asyncio
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        loop.add_reader(self.fileno(), wake.set)
        try:
            while stop is None or not stop.is_set():
                self.consume()
                wake.clear()
                waiters = [asyncio.ensure_future(wake.wait())]
                if stop is not None:
                    waiters.append(asyncio.ensure_future(stop.wait()))
                done, pending = await asyncio.wait(waiters,
                                                   return_when=asyncio.FIRST_COMPLETED)
                for p in pending:
                    p.cancel()
            self.consume()
        finally:
            loop.remove_reader(self.fileno())

    def close(self) -> None:
        if self._close_buffers:
            for b in self._bufs.values():
                b.close()
        self._bufs.clear()
        ep, self._epoll = self._epoll, None
        if ep is not None:
            ep.close()

    def __enter__(self) -> "Poller":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover
            pass


class UserRingBuffer:
    """Producer side of a BPF_MAP_TYPE_USER_RINGBUF map: user space writes records that a
    BPF program drains with ``bpf_user_ringbuf_drain``.

    ``rec = urb.reserve(n)`` returns a writable memoryview of ``n`` bytes; fill it, then
    ``urb.submit(rec)`` (or ``urb.discard(rec)``). ``urb.write(data)`` does all three.
    Records must be submitted/discarded in any order but each exactly once. Not thread-safe.
    """

    def __init__(self, map: Any) -> None:
        self._closed = True
        self._epoll = None
        self._cons_mm = self._prod_mm = None
        fd, mtype, size = _map_fd_info(map, "UserRingBuffer")
        if mtype != MAP_TYPE_USER_RINGBUF:
            raise EventBufferError(f"UserRingBuffer: map fd {fd} is of type {mtype}, "
                                   "not BPF_MAP_TYPE_USER_RINGBUF (31)")
        self.size = size
        self._mask = size - 1
        self._map = map
        # the kernel is the consumer: its page is read-only for us
        _map_ring(self, fd, size, True, _EPOLLOUT | _EPOLLET)
        self._outstanding: dict[int, tuple] = {}   # id(view) -> (view, header offset)
        self._closed = False

    def available(self) -> int:
        """Free bytes in the ring (headers included)."""
        self._check()
        return self.size - (self._prod[0] - self._cons[0])

    def _check(self) -> None:
        if self._closed:
            raise EventBufferError("UserRingBuffer is closed")

    def reserve(self, size: int, timeout: float | None = 0) -> memoryview:
        """Reserve ``size`` bytes; waits up to ``timeout`` seconds for space (None:
        forever, 0: don't). Raises EventBufferError when the ring stays full."""
        self._check()
        if size <= 0:
            raise EventBufferError(f"UserRingBuffer.reserve: bad size {size}")
        total = (size + HDR_SIZE + 7) & ~7
        if total > self.size:
            raise EventBufferError(f"UserRingBuffer.reserve: {size} bytes do not fit in a "
                                   f"ring of {self.size}")
        deadline = None
        while True:
            cons = self._cons[0]
            prod = self._prod[0]
            if self.size - (prod - cons) >= total:
                break
            if timeout is not None:
                import time
                now = time.monotonic()
                if deadline is None:
                    deadline = now + timeout
                left = deadline - now
                if left <= 0:
                    raise EventBufferError(f"UserRingBuffer full: {size} bytes requested, "
                                           f"{self.size - (prod - cons)} free")
            else:
                left = -1
            # edge-triggered: wakes when the kernel has drained something since
            self._epoll.poll(left)
        off = prod & self._mask
        # header first (BUSY: the kernel stops draining here until we submit), then
        # publish the new producer position
        self._hdr[off >> 2] = size | BUSY
        self._hdr[(off >> 2) + 1] = 0
        self._prod[0] = prod + total
        view = self._data[off + HDR_SIZE:off + HDR_SIZE + size]
        self._outstanding[id(view)] = (view, off)
        return view

    def _finish(self, view: memoryview, discard: bool) -> None:
        self._check()
        ent = self._outstanding.pop(id(view), None)
        if ent is None or ent[0] is not view:
            if ent is not None:
                self._outstanding[id(view)] = ent
            raise EventBufferError("UserRingBuffer: record was not reserved here or was "
                                   "already submitted")
        off = ent[1]
        ln = self._hdr[off >> 2] & LEN_MASK
        # a single aligned 4-byte store: the kernel sees the record whole once BUSY clears
        # (x86 keeps our earlier data stores before it)
        self._hdr[off >> 2] = ln | (DISCARD if discard else 0)
        view.release()

    def submit(self, view: memoryview) -> None:
        """Make a reserved record visible to the kernel."""
        self._finish(view, False)

    def discard(self, view: memoryview) -> None:
        """Give back a reserved record unused."""
        self._finish(view, True)

    def write(self, data: Any, timeout: float | None = 0) -> None:
        """Reserve, copy ``data`` in, submit."""
        mv = memoryview(data).cast("B")
        v = self.reserve(len(mv), timeout)
        v[:] = mv
        self.submit(v)

    def close(self) -> None:
        """Unmap the ring and close the epoll fd; records reserved and not submitted are
        discarded (else the kernel would stop draining at them forever)."""
        self._closed = True
        hdr = self.__dict__.get("_hdr")
        for v, off in getattr(self, "_outstanding", {}).values():
            if hdr is not None:
                hdr[off >> 2] = (hdr[off >> 2] & LEN_MASK) | DISCARD
            v.release()
        self.__dict__.pop("_outstanding", None)
        _release_ring(self)

    def __enter__(self) -> "UserRingBuffer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover
            pass
