"""Ring/perf buffer drain speed: corebpf against libbpf's C consumer, same run, same map.

A raw_tp program (tests/progs/buf_ringbuf.bpf.c, 64 MiB ring) fills the ring with 64-byte
records through bpf_ringbuf_output in bpf_loop under BPF_PROG_TEST_RUN; then one consumer
drains it and we time the drain only. The reference is bench/ringbuf_consume.c (libbpf
``ring_buffer__consume`` / ``perf_buffer__consume``) on the same pinned map, filled the
same way with the same number of records, in every round before corebpf's drains (each
drain gets a fresh fill; every drain must return exactly the records of the fill).

    .venv/bin/python bench/bench_ringbuf.py [--rounds N] [--clock cpu|wall]

The object is loaded with corebpf.load and the map pinned for the C side.

Figures: ``callbacks`` (one Python call per record, a memoryview each), ``batch callbacks``
(lists of 256), ``bulk numpy copy`` (``read_array`` into a preallocated packed structured
array), ``bulk numpy strided copy`` (``read_strided``: whole runs of the ring, headers
included, memcpy'd into a preallocated buffer and viewed with the ring's stride), ``bulk
numpy chunks`` (``iter_arrays``: the same copy into a reused cache-sized staging buffer, one
array per chunk), ``bulk numpy zero-copy`` (``array_view``: a structured array over the
ring itself, headers checked). ``copy floor`` is not a corebpf path: one plain numpy
memcpy of the filled ring's bytes into a preallocated buffer (no header checks, no
consumer position), the least any copy into a buffer that size costs on this machine.
The copying paths are also set against ``ringcopy`` (libbpf's consumer whose callback
copies each record into a preallocated array: what a C program that keeps the records
does), in lines of their own (``ringbuf numpy ... vs libbpf copying each record``).

Perf buffers: ``perfbuf callbacks``, ``perfbuf bulk numpy copy`` (``read_array``) and
``perfbuf bulk numpy chunks`` (``iter_arrays``) against ``perf_buffer__consume`` (4096 pages
per CPU on both sides; samples on CPU 0). libbpf's reader puts its own perf events in the
map's slots, so after each C drain ours are put back.

Prints ``name: corebpf X, libbpf Y, ratio Z`` (records/s; ratio = corebpf / libbpf, the
median of per-round ratios). Rates are per CPU second of the draining thread (``--clock
cpu``, the default), so that other work on a shared machine does not skew one side;
``--clock wall`` uses elapsed time.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from corebpf import _sys  # noqa: E402
from corebpf.ringbuf import RingBuffer, page_size  # noqa: E402

RING = 64 << 20
REC = 64
PERF_PAGES = 4096          # per CPU, for both consumers


def build_tools(tmp: Path) -> tuple[Path, Path]:
    import conftest
    obj = conftest.build_prog("buf_ringbuf", (f"-DRB_SIZE={RING}",))
    perf_obj = conftest.build_prog("buf_perf")
    exe = tmp / "ringbuf_consume"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(ROOT / "bench" / "ringbuf_consume.c"),
                    "-lbpf"], check=True)
    return obj, perf_obj, exe


def load_pinned(obj: Path, pin: Path, map_name: str):
    """Load with corebpf and pin the map (the C consumer opens it by path); returns
    (object, map, program)."""
    import corebpf
    o = corebpf.load(str(obj))
    (pin / "m").mkdir(parents=True, exist_ok=True)
    _sys.obj_pin(o.maps[map_name], str(pin / "m" / map_name))
    return o, o.maps[map_name], o.programs["emit"]


SETTLE = 0.05   # let the fill's wakeup interrupts finish before any timed drain


def fill(prog, n: int, mode: int = 0) -> None:
    _sys.prog_test_run(prog, ctx=struct.pack("<5Q", n, mode, 0, REC, 0), ctx_out_size=0)
    time.sleep(SETTLE)


CLOCK = "cpu"


def clock() -> float:
    return time.thread_time() if CLOCK == "cpu" else time.perf_counter()


def run_c(exe: Path, kind: str, pin: Path, fill_fn) -> tuple[int, float]:
    p = subprocess.Popen([str(exe), kind, str(pin)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    fill_fn()
    p.stdin.write("go\n")
    p.stdin.flush()
    out, _ = p.communicate(timeout=60)
    if p.returncode:
        raise RuntimeError(f"{exe} {kind} failed ({p.returncode})")
    n, wall, cpu = out.split()
    return int(n), float(cpu if CLOCK == "cpu" else wall)


def report(name: str, mine: list, ref: list, ref_name: str = "libbpf") -> None:
    """Medians of the rates; the ratio is the median of per-round ratios (each corebpf
    drain against the C drain of the same round), which holds up on a busy machine; the
    best round is printed too."""
    m, r = statistics.median(mine), statistics.median(ref)
    ratios = [a / b for a, b in zip(mine, ref)]
    print(f"{name}: corebpf {m / 1e6:.1f} M records/s, {ref_name} {r / 1e6:.1f} M records/s, "
          f"ratio {statistics.median(ratios):.2f}; best round {max(ratios):.2f}, "
          f"{len(ratios)} rounds")


def chunks(rb: RingBuffer, dt) -> int:
    """Drain through iter_arrays: every record copied into a numpy array, chunk by chunk."""
    n = 0
    for arr in rb.iter_arrays(dt):
        n += len(arr)
    return n


def zero_copy(rb: RingBuffer, dt) -> int:
    """Drain through array_view (headers are checked, records viewed in place)."""
    n = 0
    while True:
        with rb.array_view(dt) as arr:
            if not len(arr):
                return n
            n += len(arr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = ap.parse_args()
    global CLOCK
    CLOCK = args.clock
    if not _sys.is_bpffs("/sys/fs/bpf"):
        _sys.mount_bpffs("/sys/fs/bpf")
    tmp = Path(tempfile.mkdtemp(prefix="corebpf-bench-"))
    pin = Path(tempfile.mkdtemp(prefix="bench-rb-", dir="/sys/fs/bpf"))
    try:
        obj, perf_obj, exe = build_tools(tmp)
        o, ring_map, prog = load_pinned(obj, pin, "rb")
        n_fill = RING // ((REC + 15) & ~7)
        stride = (REC + 15) & ~7
        import numpy as np
        dt = np.dtype([("seq", "<u8"), ("kind", "<u4"), ("len", "<u4"), ("data", "V48")])
        # preallocated and touched once, as a long-running consumer's buffers would be
        out = np.zeros(n_fill, dtype=dt)
        raw = np.zeros(n_fill * stride, dtype=np.uint8)
        with RingBuffer(ring_map, lambda v: None) as rb, \
                RingBuffer(ring_map, lambda vs: None, batch=256) as rbb, \
                RingBuffer(ring_map) as rbn:
            ring_bytes = np.frombuffer(rbn._prod_mm, dtype=np.uint8)

            def copy_floor() -> int:
                # not a corebpf path: one memcpy of the filled bytes, then drain untimed
                start = page_size() + (rbn.consumer_pos & (RING - 1))
                np.copyto(raw, ring_bytes[start:start + n_fill * stride])
                return n_fill

            variants = (("ringbuf callbacks", rb.consume),
                        ("ringbuf batch callbacks", rbb.consume),
                        ("ringbuf bulk numpy copy", lambda: len(rbn.read_array(dt, out=out))),
                        ("ringbuf bulk numpy strided copy",
                         lambda: len(rbn.read_strided(dt, raw))),
                        ("ringbuf bulk numpy chunks", lambda: chunks(rbn, dt)),
                        ("ringbuf bulk numpy zero-copy", lambda: zero_copy(rbn, dt)),
                        ("ringbuf copy floor (plain numpy memcpy of the filled bytes, "
                         "not a drain)", copy_floor))
            results: dict[str, tuple[list, list]] = {name: ([], []) for name, _ in variants}
            copying = ("ringbuf bulk numpy copy", "ringbuf bulk numpy strided copy",
                       "ringbuf bulk numpy chunks")
            ref_copy: list = []
            for _ in range(args.rounds):
                cn, cs = run_c(exe, "ring", pin / "m" / "rb", lambda: fill(prog, n_fill))
                assert cn == n_fill, (cn, n_fill)
                ccn, ccs = run_c(exe, "ringcopy", pin / "m" / "rb", lambda: fill(prog, n_fill))
                assert ccn == n_fill, (ccn, n_fill)
                ref_copy.append(ccn / ccs)
                for name, consume in variants:
                    fill(prog, n_fill)
                    t0 = clock()
                    n = consume()
                    t1 = clock()
                    assert n == n_fill, (name, n, n_fill)
                    if consume is copy_floor:
                        assert zero_copy(rbn, dt) == n_fill
                    assert rbn.available() == 0, name
                    results[name][0].append(n / (t1 - t0))
                    # the C figure of the round applies to every corebpf variant
                    results[name][1].append(cn / cs)
            del ring_bytes
        o.close()
        for name, (mine, ref) in results.items():
            report(name, mine, ref)
        # context for the copying paths: a C consumer that keeps the records copies them
        for name in copying:
            report(f"ringbuf{name[len('ringbuf bulk'):]} vs libbpf copying each record",
                   results[name][0], ref_copy, ref_name="libbpf+memcpy")
        bench_perf(perf_obj, exe, pin, args.rounds)
    finally:
        subprocess.run(["rm", "-rf", str(pin)], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def bench_perf(perf_obj: Path, exe: Path, pin: Path, rounds: int) -> None:
    from corebpf.perfbuf import PerfBuffer
    ppin = pin / "perf"
    ppin.mkdir()
    o, pmap, prog = load_pinned(perf_obj, ppin, "events")
    cpu = 0
    # records per CPU buffer: 64-byte sample + 4-byte size + 8-byte header, 8-aligned
    n_fill = (PERF_PAGES * 4096 // 80) * 9 // 10

    def pfill() -> None:
        _sys.prog_test_run(prog, ctx=struct.pack("<4Q", n_fill, 0, REC, 0), ctx_out_size=0,
                           flags=1, cpu=cpu)   # BPF_F_TEST_RUN_ON_CPU
        time.sleep(SETTLE)
    import numpy as np
    dt = np.dtype([("seq", "<u8"), ("kind", "<u4"), ("len", "<u4"), ("data", "V48")])
    res: dict[str, tuple[list, list]] = {"perfbuf callbacks": ([], []),
                                         "perfbuf bulk numpy copy": ([], []),
                                         "perfbuf bulk numpy chunks": ([], [])}
    out = np.zeros(n_fill, dtype=dt)
    key, val = bytearray(4), bytearray(4)
    with PerfBuffer(pmap, lambda v: None, pages=PERF_PAGES) as pb:
        for _ in range(rounds):
            # libbpf's reader puts its own perf events in the map slots (and clears them
            # when it exits): run it, then put ours back, so both drain in every round
            cn, cs = run_c(exe, "perf", ppin / "m" / "events", pfill)
            assert cn == n_fill, (cn, n_fill)
            for ring in pb._rings:
                struct.pack_into("<I", key, 0, ring.cpu)
                struct.pack_into("<I", val, 0, ring.fd.fileno())
                _sys.map_update_elem(pmap, key, val)
            for name in res:
                pfill()
                t0 = clock()
                if name == "perfbuf callbacks":
                    n = pb.consume()
                elif name == "perfbuf bulk numpy copy":
                    n = len(pb.read_array(dt, out=out))
                else:
                    n = 0
                    for arr in pb.iter_arrays(dt):
                        n += len(arr)
                t1 = clock()
                assert n == n_fill, (name, n, n_fill)
                assert pb.lost == 0
                res[name][0].append(n / (t1 - t0))
                res[name][1].append(cn / cs)
    o.close()
    for name, (mine, ref) in res.items():
        report(name, mine, ref)


if __name__ == "__main__":
    main()
