"""Perf event buffers: the reader of a BPF_MAP_TYPE_PERF_EVENT_ARRAY (``PerfBuffer``).

For every online CPU we open a software perf event (PERF_COUNT_SW_BPF_OUTPUT, sample type
RAW), mmap its ring (one metadata page, ``struct perf_event_mmap_page``, then ``pages``
data pages) and store the event's fd in the map slot of that CPU, where
``bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, ...)`` finds it.

Records in a ring: ``struct perf_event_header {u32 type; u16 misc; u16 size}``; a
PERF_RECORD_SAMPLE (9) then holds ``u32 size`` and the raw bytes (padded by the kernel so
that the record stays 8-byte aligned: a 64-byte sample arrives as 68 bytes, as libbpf hands
it too); PERF_RECORD_LOST (2) holds ``u64 id, u64 lost``. The kernel advances
``data_head`` (offset 1024 of the metadata page); we publish ``data_tail`` (offset 1032).
Unlike BPF ring buffers the data area is mapped once, so a record that wraps around the end
is copied to be handed over contiguously.

Wakeups use a watermark (``watermark`` bytes) rather than one interrupt per sample; records
below the watermark are still consumed by every poll/consume and by the iteration helpers,
which look at least every ``flush_interval`` seconds.
"""
from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

from . import _sys
from .errors import EventBufferError
from .ringbuf import (_CHUNK_BYTES, _STAGE_BYTES, _fence, _Headers, _map_fd_info, _Reader,
                      page_size)

MAP_TYPE_PERF_EVENT_ARRAY = 4
PERF_RECORD_LOST = 2
PERF_RECORD_SAMPLE = 9
_EPOLLIN = 0x001
_HEAD_OFF = 1024    # perf_event_mmap_page.data_head
_TAIL_OFF = 1032    # perf_event_mmap_page.data_tail
_U32 = struct.Struct("<I")
_LOST = struct.Struct("<QQ")


class _CpuRing:
    """One CPU's perf event and its mapped ring."""

    __slots__ = ("cpu", "fd", "mm", "meta", "data", "dq", "size", "mask")

    def __init__(self, cpu: int, fd: Any, mm: Any, pg: int, size: int) -> None:
        self.cpu, self.fd, self.mm, self.size, self.mask = cpu, fd, mm, size, size - 1
        mv = memoryview(mm)
        self.meta = mv[_HEAD_OFF:_TAIL_OFF + 8].cast("Q")   # [0] head, [1] tail
        self.data = mv[pg:pg + size]
        self.dq = self.data.cast("Q")
        mv.release()

    def release(self) -> None:
        for v in (self.dq, self.data, self.meta):
            try:
                v.release()
            except ValueError:
                pass
        try:
            self.mm.close()
        except BufferError:
            pass   # a record view is still alive; unmapped when it goes
        self.fd.close()


class PerfBuffer(_Reader):
    """Reader of a BPF_MAP_TYPE_PERF_EVENT_ARRAY map, one ring per online CPU.

    Same API as :class:`corebpf.ringbuf.RingBuffer`: ``callback(record)`` (zero-copy
    memoryview, or decoded through ``event_type``; ``batch=N`` for lists), ``poll``,
    ``consume``, iteration, ``async for``, numpy bulk reads (:meth:`read_array`,
    :meth:`iter_arrays`). ``lost_callback(cpu, n)``
    hears of samples the kernel dropped (ring full); ``lost`` totals them.
    ``pages``: data pages per CPU (a power of 2). Close with :meth:`close` or ``with``;
    that also clears the map slots we filled.
    """

    def __init__(self, map: Any, callback: Callable[[Any], Any] | None = None, *,
                 event_type: Any = None, batch: int = 0, pages: int = 64,
                 watermark: int | None = None, lost_callback: Callable[[int, int], Any]
                 | None = None, cpus: list[int] | None = None,
                 flush_interval: float = 0.1, btf: Any = None) -> None:
        self._closed = True
        self._epoll = None
        self._rings: list[_CpuRing] = []
        fd, mtype, max_entries = _map_fd_info(map, "PerfBuffer")
        if mtype != MAP_TYPE_PERF_EVENT_ARRAY:
            raise EventBufferError(f"PerfBuffer: map fd {fd} is of type {mtype}, not "
                                   "BPF_MAP_TYPE_PERF_EVENT_ARRAY (4)")
        if pages <= 0 or pages & (pages - 1):
            raise EventBufferError(f"PerfBuffer: pages must be a power of 2, not {pages}")
        if batch < 0:
            raise EventBufferError("PerfBuffer: batch must be >= 0")
        pg = page_size()
        size = pages * pg
        if watermark is None:
            # one wakeup per page of samples: a wakeup per sample costs an interrupt each
            watermark = min(pg, size // 2)
        if not 0 < watermark < size:
            raise EventBufferError(f"PerfBuffer: watermark must be in 1..{size - 1} bytes")
        self._setup(map, callback, batch, event_type, btf)
        self._map_fd = fd
        self.lost_callback = lost_callback
        self.lost = 0
        self.flush_interval = flush_interval
        self.pages = pages
        self._pg = pg
        self._size = size
        self._key = bytearray(4)
        self._val = bytearray(4)
        if cpus is None:
            cpus = [c for c in _sys.online_cpus() if c < max_entries]
        try:
            self._epoll = _sys.epoll_create()
            for cpu in cpus:
                if cpu >= max_entries:
                    raise EventBufferError(f"PerfBuffer: CPU {cpu} has no slot in a map of "
                                           f"{max_entries} entries")
                pfd = _sys.perf_event_open(_sys.PERF_TYPE_SOFTWARE,
                                           _sys.PERF_COUNT_SW_BPF_OUTPUT, pid=-1, cpu=cpu,
                                           sample_type=_sys.PERF_SAMPLE_RAW,
                                           sample_period=1, wakeup_watermark=watermark)
                try:
                    mm = _sys.mmap_fd(pfd, pg + size, writable=True,
                                      what=f"mmap perf buffer of CPU {cpu}")
                except BaseException:
                    pfd.close()
                    raise
                ring = _CpuRing(cpu, pfd, mm, pg, size)
                self._rings.append(ring)
                _U32.pack_into(self._key, 0, cpu)
                _U32.pack_into(self._val, 0, pfd.fileno())
                _sys.map_update_elem(fd, self._key, self._val)
                self._epoll.register(pfd.fileno(), _EPOLLIN)
        except BaseException:
            self._release()
            raise
        self._closed = False

    @property
    def cpus(self) -> list[int]:
        return [r.cpu for r in self._rings]

    def _wait(self, timeout: float | None) -> bool:
        # below the watermark the kernel does not wake us: never sleep longer than
        # flush_interval without looking
        self._check()
        t = self.flush_interval if timeout is None or timeout < 0 else \
            min(timeout, self.flush_interval)
        self._epoll.poll(t)
        return True

    def _async_wait_limit(self) -> float | None:
        return self.flush_interval

    def poll(self, timeout: float | None = None, limit: int | None = None) -> Any:
        """Wait up to ``timeout`` seconds (None: until something arrives) for records,
        then consume them as :meth:`consume` does."""
        self._check()
        import time
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            r = self.consume(limit)
            if r or timeout == 0:
                return r
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return r
            self._wait(left)

    _RUN = 4096

    def _lost(self, ring: _CpuRing, n: int) -> None:
        self.lost += n
        if self.lost_callback is not None:
            self.lost_callback(ring.cpu, n)

    def _consume(self, cb: Callable[[Any], Any], batch: int, limit: int | None) -> int:
        n = 0
        for ring in self._rings:
            n += self._consume_ring(ring, cb, batch, None if limit is None else limit - n)
            if limit is not None and n >= limit:
                break
        return n

    def _consume_ring(self, ring: _CpuRing, cb: Callable[[Any], Any], batch: int,
                      limit: int | None) -> int:
        meta, data, dq, size, mask = ring.meta, ring.data, ring.dq, ring.size, ring.mask
        run_max = self._RUN if limit is None else max(limit, 1)
        lim = -1 if limit is None else limit
        n = 0
        tail = meta[1]
        pending: list = []
        try:
            while True:
                head = meta[0]
                if tail >= head:
                    meta[1] = tail
                    _fence()
                    head = meta[0]
                    if tail >= head:
                        break
                while tail < head and n != lim:
                    off = tail & mask
                    w = dq[off >> 3]
                    sz = w >> 48
                    if sz < 8 or sz & 7 or sz > head - tail:
                        meta[1] = tail
                        raise EventBufferError(f"perf buffer of CPU {ring.cpu}: corrupt "
                                               f"record of {sz} bytes at {tail}")
                    typ = w & 0xFFFFFFFF
                    if typ == PERF_RECORD_SAMPLE and off + sz <= size:
                        # a run of samples with the same header word, up to the ring end
                        k = min((head - tail) // sz, (size - off) // sz, run_max)
                        if lim >= 0 and k > lim - n:
                            k = lim - n
                        if k > 1:
                            hs = dq[off >> 3:(off + k * sz) >> 3:sz >> 3].tolist()
                            if hs.count(w) != k:
                                k = 1
                                while hs[k] == w:
                                    k += 1
                        raw = _U32.unpack_from(data, off + 8)[0]
                        start = off + 12
                        if batch:
                            i = 0
                            r = None
                            while i < k:
                                j = i + batch if i + batch < k else k
                                r = cb([data[o:o + raw] for o in
                                        range(start + i * sz, start + j * sz, sz)])
                                i = j
                                if r is not None and r < 0:
                                    break
                        else:
                            i = 0
                            r = None
                            for o in range(start, start + k * sz, sz):
                                i += 1
                                r = cb(data[o:o + raw])
                                if r is not None and r < 0:
                                    break
                        tail += i * sz
                        n += i
                        meta[1] = tail
                        if r is not None and r < 0:
                            return n
                        continue
                    # a wrapped or non-sample record: copy it out whole
                    if off + sz <= size:
                        rec: Any = data[off:off + sz]
                    else:
                        rec = bytes(data[off:]) + bytes(data[:off + sz - size])
                    tail += sz
                    if typ == PERF_RECORD_SAMPLE:
                        raw = _U32.unpack_from(rec, 8)[0]
                        v = memoryview(rec)[12:12 + raw]
                        r = cb([v] if batch else v)
                        n += 1
                        if r is not None and r < 0:
                            meta[1] = tail
                            return n
                    elif typ == PERF_RECORD_LOST:
                        self._lost(ring, _LOST.unpack_from(rec, 8)[1])
                    # other record types (throttle, ...) are skipped
                meta[1] = tail
                if n == lim:
                    break
        except BaseException:
            if not self._closed:
                meta[1] = tail
            raise
        return n

    # -- bulk path
    def read_array(self, dtype: Any = None, out: Any = None,
                   max_records: int | None = None) -> Any:
        """Drain samples into a numpy structured array (a copy), CPU after CPU.

        ``dtype``: the sample's numpy dtype; its itemsize may be smaller than the raw size
        (the kernel pads samples to keep records 8-byte aligned): each sample's first
        ``itemsize`` bytes are taken. Runs of same-size samples are taken in chunks of
        about 1 MiB: their header words are checked with one strided gather and one
        bytes comparison, then the chunk is copied with one numpy copy while it is still in
        the cache, and ``data_tail`` moves once per chunk. A run stops at the end of the
        ring (the data area is mapped once); the sample that wraps around it is copied on
        its own, as are PERF_RECORD_LOST records (counted in ``lost``, handed to
        ``lost_callback``)."""
        import numpy as np
        self._check()
        dt = self._np_dtype(np, dtype, "read_array")
        isz = dt.itemsize
        if out is None:
            cap = sum((r.meta[0] - r.meta[1]) // (((isz + 12) + 7) & ~7) + 1
                      for r in self._rings)
            if max_records is not None:
                cap = min(cap, max_records)
            out = np.empty(cap, dtype=dt)
        elif getattr(out, "ndim", None) != 1 or out.dtype.itemsize != isz:
            raise EventBufferError(f"read_array: out must be a 1-D numpy array with "
                                   f"itemsize {isz}")
        cap = len(out) if max_records is None else min(len(out), max_records)
        # copy as opaque items (one memcpy-like loop), unless out is a strided view
        void = np.dtype(f"V{isz}") if out.flags.c_contiguous else out.dtype
        outv = out.view(void) if out.flags.c_contiguous else out
        filled = 0
        checkers: dict = {}
        for ring in self._rings:
            if filled >= cap:
                break
            checkers.clear()   # they are for this ring's mapping
            filled = self._ring_to_array(np, ring, outv, filled, cap, isz, void, checkers,
                                         _CHUNK_BYTES)
        checkers.clear()
        return out[:filled]

    def iter_arrays(self, dtype: Any = None, chunk: int | None = None) -> Any:
        """Drain samples as a stream of numpy structured arrays of up to ``chunk``
        samples each (by default about 256 KiB of ring), CPU after CPU, the fastest
        copying path: a run of same-size samples is checked as :meth:`read_array` does,
        then copied as it lies in the ring (headers included) with one memcpy into a
        staging buffer that is reused and stays in the CPU cache; the array views it
        with the samples' stride (8-byte aligned). So an array is valid until the next
        one is asked for (``.copy()`` it to keep it), and holds samples of one size; the
        sample that wraps around the ring's end comes alone. ``data_tail`` has already
        moved past the samples when they are yielded; lost samples are counted."""
        import numpy as np
        self._check()
        dt = self._np_dtype(np, dtype, "iter_arrays")
        isz = dt.itemsize
        if chunk is None:
            chunk = max(_STAGE_BYTES // (((isz + 12) + 7) & ~7), 1)
        elif chunk <= 0:
            raise EventBufferError("PerfBuffer.iter_arrays: chunk must be > 0")
        # the sample of a record starts 12 bytes in: copying records to offset 4 of the
        # stage puts every sample on an 8-byte boundary
        stage = np.empty(0, dtype=np.uint8)
        base = self._pg
        checkers: dict = {}
        for ring in list(self._rings):
            if self._closed:
                return
            checkers.clear()   # they are for this ring's mapping
            meta, data, dq, size, mask = ring.meta, ring.data, ring.dq, ring.size, ring.mask
            src = np.frombuffer(ring.mm, dtype=np.uint8)
            tail = meta[1]
            # the current run: its header checker, a full chunk's bytes, the stage part a
            # full chunk fills, the samples' stride
            chk: Any = None
            full = 0
            stage_full: Any = None
            strides: tuple = ()
            try:
                while not self._closed:
                    head = meta[0]
                    off = tail & mask
                    # fast path: another full chunk of the current run
                    if chk is not None and head - tail >= full and off + full <= size and \
                            chk.full(base + off):
                        np.copyto(stage_full, src[base + off:base + off + full])
                        tail += full
                        meta[1] = tail
                        yield np.ndarray((chunk,), dt, stage, 16, strides)
                        continue
                    if tail >= head:
                        meta[1] = tail
                        _fence()
                        head = meta[0]
                        if tail >= head:
                            break
                    off = tail & mask
                    w = dq[off >> 3]
                    sz = w >> 48
                    typ = w & 0xFFFFFFFF
                    if sz < 8 or sz & 7 or sz > head - tail:
                        raise EventBufferError(f"perf buffer of CPU {ring.cpu}: corrupt "
                                               f"record of {sz} bytes at {tail}")
                    if typ == PERF_RECORD_SAMPLE and sz - 12 >= isz:
                        if off + sz <= size:
                            chk = checkers.get(w)
                            if chk is None:
                                chk = checkers[w] = _Headers(np, ring.mm, sz, "<u8", w, chunk)
                            k = min((head - tail) // sz, (size - off) // sz, chunk)
                            k = chk.run(base + off, k)
                            n = k * sz
                            if len(stage) < 4 + chunk * sz:
                                stage = np.empty(4 + chunk * sz, dtype=np.uint8)
                            np.copyto(stage[4:4 + n], src[base + off:base + off + n])
                            full = chunk * sz
                            stage_full = stage[4:4 + full]
                            strides = (sz,)
                        else:
                            k, n = 1, sz
                            chk = None
                            if len(stage) < 4 + n:
                                stage = np.empty(4 + chunk * sz, dtype=np.uint8)
                            first = size - off
                            np.copyto(stage[4:4 + first], src[base + off:base + size])
                            np.copyto(stage[4 + first:4 + sz], src[base:base + sz - first])
                        tail += n
                        meta[1] = tail
                        yield np.ndarray((k,), dtype=dt, buffer=stage, offset=16,
                                         strides=(sz,))
                        continue
                    if off + sz <= size:
                        rec: Any = data[off:off + sz]
                    else:
                        rec = bytes(data[off:]) + bytes(data[:off + sz - size])
                    tail += sz
                    if typ == PERF_RECORD_SAMPLE:
                        # as read_array: the sample is consumed, then reported
                        meta[1] = tail
                        raise EventBufferError(f"perf sample of {sz - 12} bytes is smaller "
                                               f"than the dtype ({isz} bytes)")
                    if typ == PERF_RECORD_LOST:
                        self._lost(ring, _LOST.unpack_from(rec, 8)[1])
                    del rec
                    meta[1] = tail
            finally:
                del src
                if not self._closed:
                    meta[1] = tail

    def _np_dtype(self, np: Any, dtype: Any, what: str) -> Any:
        if dtype is None:
            dtype = getattr(self.event_type, "dtype", None)
        if dtype is None:
            raise EventBufferError(f"PerfBuffer.{what} needs a dtype (or an event_type "
                                   "with .dtype)")
        return np.dtype(dtype)

    def _ring_to_array(self, np: Any, ring: _CpuRing, outv: Any, filled: int, cap: int,
                       isz: int, void: Any, checkers: dict, chunk_bytes: int) -> int:
        """Copy samples of ``ring`` into ``outv[filled:cap]``; the new ``filled``."""
        meta, data, dq, size, mask = ring.meta, ring.data, ring.dq, ring.size, ring.mask
        tail = meta[1]
        base = self._pg
        mm = ring.mm
        try:
            while filled < cap:
                head = meta[0]
                if tail >= head:
                    meta[1] = tail
                    _fence()
                    head = meta[0]
                    if tail >= head:
                        break
                off = tail & mask
                w = dq[off >> 3]
                sz = w >> 48
                typ = w & 0xFFFFFFFF
                if sz < 8 or sz & 7 or sz > head - tail:
                    raise EventBufferError(f"perf buffer of CPU {ring.cpu}: corrupt record "
                                           f"of {sz} bytes at {tail}")
                if typ == PERF_RECORD_SAMPLE and off + sz <= size and sz - 12 >= isz:
                    # a run of samples with this header word up to the end of the ring (the
                    # data area is mapped once: a run across the end continues at offset 0
                    # after the record that wraps), in chunks whose header check leaves them
                    # in the cache for the copy
                    chk = checkers.get(w)
                    if chk is None:
                        chk = checkers[w] = _Headers(np, mm, sz, "<u8", w,
                                                     max(chunk_bytes // sz, 1))
                    k = min((head - tail) // sz, (size - off) // sz, cap - filled, chk.chunk)
                    k = chk.run(base + off, k)
                    np.copyto(outv[filled:filled + k],
                              np.ndarray((k,), dtype=void, buffer=mm, offset=base + off + 12,
                                         strides=(sz,)))
                    filled += k
                    tail += k * sz
                    meta[1] = tail
                    continue
                if off + sz <= size:
                    rec: Any = bytes(data[off:off + sz])
                else:
                    rec = bytes(data[off:]) + bytes(data[:off + sz - size])
                tail += sz
                if typ == PERF_RECORD_SAMPLE:
                    raw = _U32.unpack_from(rec, 8)[0]
                    if raw < isz:
                        meta[1] = tail
                        raise EventBufferError(f"perf sample of {raw} bytes is smaller "
                                               f"than the dtype ({isz} bytes)")
                    outv[filled] = np.frombuffer(rec, dtype=void, count=1, offset=12)[0]
                    filled += 1
                elif typ == PERF_RECORD_LOST:
                    self._lost(ring, _LOST.unpack_from(rec, 8)[1])
                meta[1] = tail
        finally:
            if not self._closed:
                meta[1] = tail
        return filled

    def close(self) -> None:
        """Clear our map slots, unmap the rings, close the perf events (idempotent)."""
        self._closed = True
        self._release()

    def _release(self) -> None:
        rings, self._rings = self._rings, []
        for ring in rings:
            try:
                _U32.pack_into(self._key, 0, ring.cpu)
                _sys.map_delete_elem(self._map_fd, self._key)
            except Exception:
                pass   # the map may be gone already; the slot dies with it
            ring.release()
        ep, self._epoll = self._epoll, None
        if ep is not None:
            ep.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"cpus={self.cpus} pages={self.pages}"
        return f"<PerfBuffer {state}>"
