"""Ring/perf buffer drain speed: corebpf against libbpf's C consumer, same run, same map.

A raw_tp program (tests/progs/buf_ringbuf.bpf.c, 64 MiB ring) fills the ring with 64-byte
records through bpf_ringbuf_output in bpf_loop under BPF_PROG_TEST_RUN; then one consumer
drains it and we time the drain only. The reference is bench/ringbuf_consume.c (libbpf
``ring_buffer__consume`` / ``perf_buffer__consume``) on the same pinned map.

    .venv/bin/python bench/bench_ringbuf.py [--rounds N]

The object is loaded with corebpf.load and the map pinned for the C side.

Figures: ``callbacks`` (one Python call per record, a memoryview each), ``batch callbacks``
(lists of 256), ``bulk numpy copy`` (``read_array`` into a preallocated structured array),
``bulk numpy chunks`` (``iter_arrays``: copies in 16K-record chunks), ``bulk numpy
zero-copy`` (``array_view``: a structured array over the ring itself, headers checked).

Prints ``name: corebpf X, libbpf Y, ratio Z`` (records/s; ratio = corebpf / libbpf).
Rates are per CPU second of the draining thread (``--clock cpu``, the default), so that
other work on a shared machine does not skew one side; ``--clock wall`` uses elapsed time.
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
from corebpf.ringbuf import RingBuffer  # noqa: E402

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


def report(name: str, mine: list, ref: list) -> None:
    """Medians of the rates; the ratio is the median of per-round ratios (each corebpf
    drain against the C drain of the same round), which holds up on a busy machine."""
    m, r = statistics.median(mine), statistics.median(ref)
    ratio = statistics.median(a / b for a, b in zip(mine, ref))
    print(f"{name}: corebpf {m / 1e6:.1f} M records/s, libbpf {r / 1e6:.1f} M records/s, "
          f"ratio {ratio:.2f}")


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
        results: dict[str, tuple[list, list]] = {"ringbuf callbacks": ([], []),
                                                 "ringbuf batch callbacks": ([], []),
                                                 "ringbuf bulk numpy copy": ([], []),
                                                 "ringbuf bulk numpy chunks": ([], []),
                                                 "ringbuf bulk numpy zero-copy": ([], [])}
        import numpy as np
        dt = np.dtype([("seq", "<u8"), ("kind", "<u4"), ("len", "<u4"), ("data", "V48")])
        out = np.empty(n_fill, dtype=dt)
        out[:] = np.zeros(1, dtype=dt)  # touch the pages once, as C's ring is touched
        with RingBuffer(ring_map, lambda v: None) as rb, \
                RingBuffer(ring_map, lambda vs: None, batch=256) as rbb, \
                RingBuffer(ring_map) as rbn:
            for _ in range(args.rounds):
                cn, cs = run_c(exe, "ring", pin / "m" / "rb", lambda: fill(prog, n_fill))
                for name, consume in (("ringbuf callbacks", rb.consume),
                                      ("ringbuf batch callbacks", rbb.consume),
                                      ("ringbuf bulk numpy copy",
                                       lambda: len(rbn.read_array(dt, out=out))),
                                      ("ringbuf bulk numpy chunks",
                                       lambda: chunks(rbn, dt)),
                                      ("ringbuf bulk numpy zero-copy",
                                       lambda: zero_copy(rbn, dt))):
                    fill(prog, n_fill)
                    t0 = clock()
                    n = consume()
                    t1 = clock()
                    assert n == cn == n_fill, (name, n, cn, n_fill)
                    results[name][0].append(n / (t1 - t0))
                    results[name][1].append(cn / cs)
                    # the C figure of the round applies to every corebpf variant
        o.close()
        for name, (mine, ref) in results.items():
            report(name, mine, ref)
        bench_perf(perf_obj, exe, pin, args.rounds)
    finally:
        subprocess.run(["rm", "-rf", str(pin)], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def bench_perf(perf_obj: Path, exe: Path, pin: Path, rounds: int) -> None:
    try:
        from corebpf.perfbuf import PerfBuffer
    except ImportError:
        return
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
                                         "perfbuf bulk numpy copy": ([], [])}
    # libbpf's reader puts its own perf events in the map slots, so its rounds run first,
    # then ours, with one long-lived PerfBuffer (as a tool would keep it)
    ref = []
    for _ in range(rounds):
        cn, cs = run_c(exe, "perf", ppin / "m" / "events", pfill)
        assert cn == n_fill, (cn, n_fill)
        ref.append(cn / cs)
    out = np.empty(n_fill, dtype=dt)
    out[:] = np.zeros(1, dtype=dt)
    with PerfBuffer(pmap, lambda v: None, pages=PERF_PAGES) as pb:
        for _ in range(rounds):
            for name in res:
                pfill()
                t0 = clock()
                n = pb.consume() if name == "perfbuf callbacks" else \
                    len(pb.read_array(dt, out=out))
                t1 = clock()
                assert n == n_fill, (name, n, n_fill)
                res[name][0].append(n / (t1 - t0))
    for name in res:
        res[name][1].extend(ref)
    o.close()
    for name, (mine, ref) in res.items():
        report(name, mine, ref)


if __name__ == "__main__":
    main()
