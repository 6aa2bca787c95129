"""BTF benchmarks: vmlinux indexing, type lookup, typed-value decoding.

* ``vmlinux index``: parse /sys/kernel/btf/vmlinux into a lazily indexed ``BTF`` (in
  process, medians) against libbpf's ``btf__parse`` of the same file (a small C program
  built with gcc -lbpf, timed inside the process). Measured without the index cache that
  later processes of the same boot read from /run (reported on its own line).
* ``find+resolve task_struct``: the first ``find_one`` + decode after indexing, against
  libbpf's ``btf__find_by_name_kind`` + member walk.
* ``[CPU, fresh process]``: the figures of issue #3 (index <= 25 ms, task_struct resolved
  <= 1 ms after): CPU time of index, first find, decode of task_struct in fresh processes
  without the index cache (the first process after a boot), runs interleaved with a libbpf
  program doing the same once per process; best and median. Also a second struct
  (mm_struct), six more as CO-RE would look up, and the child's peak RSS.
* ``whole process``: ``python -c`` that indexes vmlinux and resolves task_struct against
  ``bpftool btf dump file /sys/kernel/btf/vmlinux`` (which parses and prints everything).
* ``codec decode``: 64-byte event records per second through ``Codec.decode`` against a
  hand-written ``struct.unpack_from`` + class constructor (what careful Python does by hand).

    .venv/bin/python bench/bench_btf.py [--runs N]

Prints ``name: corebpf X, reference Y, ratio Z`` lines (ratio = corebpf / reference for
times, reference / corebpf for rates; lower is better for both).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
VMLINUX = "/sys/kernel/btf/vmlinux"

C_SRC = r"""
#include <stdio.h>
#include <time.h>
#include <bpf/btf.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
                          return t.tv_sec + t.tv_nsec * 1e-9; }
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
                          return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    for (int r = 0; r < runs; r++) {
        double c0 = cpu(), t0 = now();
        struct btf *btf = btf__parse("/sys/kernel/btf/vmlinux", NULL);
        double t1 = now(), c1 = cpu();
        if (!btf) return 1;
        int id = btf__find_by_name_kind(btf, "task_struct", BTF_KIND_STRUCT);
        const struct btf_type *t = btf__type_by_id(btf, id);
        const struct btf_member *m = btf_members(t);
        unsigned long sum = 0;
        for (int i = 0; i < btf_vlen(t); i++, m++)
            sum += m->offset + (unsigned long)btf__name_by_offset(btf, m->name_off)[0];
        double t2 = now();
        printf("%.6f %.6f %lu %.6f\n", t1 - t0, t2 - t1, sum, c1 - c0);
        btf__free(btf);
    }
    return 0;
}
"""

# one parse + find + member walk per process, CPU time of each (CLOCK_PROCESS_CPUTIME_ID):
# the same C program bench_startup.py times
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_startup import BTF_C as C_FRESH  # noqa: E402

# the same in a fresh Python process, and then a second struct
FRESH_CHILD = r"""
import resource, time
T = time.process_time
from corebpf.btf import reader
t0 = T()
k = reader.BTF._open_sysfs("/sys/kernel/btf/vmlinux", None)
t1 = T()
tid = k.find_one("task_struct", 4)
t2 = T()
s = sum(m.bit_offset + len(m.name) for m in k[tid].members)
t3 = T()
tid = k.find_one("mm_struct", 4)
s += sum(m.bit_offset + len(m.name) for m in k[tid].members)
t4 = T()
for name in ("pt_regs", "file", "inode", "sk_buff", "cred", "dentry"):  # as CO-RE would
    for tid in k.find(name, 4):
        s += sum(m.bit_offset + len(m.name) for m in k[tid].members)
t5 = T()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
      t5 - t4)
"""

CHILD = r"""
from corebpf.btf import BTF
k = BTF.kernel()
t = k[k.find_one("task_struct", 4)]
print(len(t.members))
"""


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def line(name: str, ours: float, ref: float | None, unit: str, rate: bool = False) -> None:
    if ref is None:
        print(f"{name}: corebpf {ours:.3f} {unit}, reference n/a, ratio n/a")
        return
    ratio = ref / ours if rate else ours / ref
    print(f"{name}: corebpf {ours:.3f} {unit}, reference {ref:.3f} {unit}, ratio {ratio:.2f}")


def libbpf_times(runs: int) -> tuple[float, float, float] | None:
    """libbpf's (parse, find + member walk) wall medians and the parse's minimum CPU time."""
    if not shutil.which("gcc"):
        return None
    with tempfile.TemporaryDirectory() as d:
        src, exe = Path(d) / "b.c", Path(d) / "b"
        src.write_text("#include <stdlib.h>\n" + C_SRC)
        r = subprocess.run(["gcc", "-O2", "-o", str(exe), str(src), "-lbpf"],
                           capture_output=True, text=True)
        if r.returncode:
            print(f"# libbpf reference unavailable: {r.stderr.strip()[:200]}")
            return None
        out = subprocess.run([str(exe), str(runs)], capture_output=True, text=True,
                             check=True).stdout.split("\n")
        rows = [ln.split() for ln in out if ln.strip()]
        return (med([float(r[0]) for r in rows]), med([float(r[1]) for r in rows]),
                min(float(r[3]) for r in rows))


def bench_fresh_cpu(runs: int) -> tuple[list[list[float]], list[list[float]] | None]:
    """Per run: ours (index, find, decode, next struct in ms; peak RSS in MB; six more
    structs in ms) and libbpf's (parse, find, walk in ms), each in a fresh process without
    the index cache."""
    py = sys.executable
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), COREBPF_NO_BTF_CACHE="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([py, "-c", FRESH_CHILD], env=env, check=True, capture_output=True)  # pyc
    exe = None
    tmp = tempfile.TemporaryDirectory()
    if shutil.which("gcc"):
        src, exe = Path(tmp.name) / "f.c", Path(tmp.name) / "f"
        src.write_text(C_FRESH)
        if subprocess.run(["gcc", "-O2", "-o", str(exe), str(src), "-lbpf"],
                          capture_output=True).returncode:
            exe = None
    ours, ref = [], []
    with tmp:
        for _ in range(runs):
            out = subprocess.run([py, "-c", FRESH_CHILD], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
            ours.append([float(x) * 1e3 for x in out[:4]] + [int(out[4]) / 1024,
                                                              float(out[5]) * 1e3])
            if exe is not None:
                out = subprocess.run([str(exe)], check=True, capture_output=True,
                                     text=True).stdout.split()
                ref.append([float(x) * 1e3 for x in out[:3]])
    return ours, (ref or None)


def bench_index(runs: int, cached: bool = False) -> tuple[float, float, float, float]:
    """(index, first find of task_struct, decode of task_struct) wall medians, and the
    index's minimum CPU time. ``cached``: with the /run index cache a second process
    finds (the first index is a plain pass: COREBPF_NO_BTF_CACHE=1)."""
    from corebpf.btf import BTF
    idx, fnd, res, cpu = [], [], [], []
    if cached:
        os.environ.pop("COREBPF_NO_BTF_CACHE", None)
        BTF._open_sysfs(VMLINUX, None)  # writes the cache when it is missing
    else:
        os.environ["COREBPF_NO_BTF_CACHE"] = "1"
    try:
        for _ in range(runs):
            c0 = time.process_time()
            t0 = time.perf_counter()
            k = BTF._open_sysfs(VMLINUX, None)
            t1 = time.perf_counter()
            c1 = time.process_time()
            tid = k.find_one("task_struct", 4)
            t2 = time.perf_counter()
            t = k[tid]
            s = sum(m.bit_offset + len(m.name) for m in t.members)
            t3 = time.perf_counter()
            idx.append(t1 - t0)
            fnd.append(t2 - t1)
            res.append(t3 - t2)
            cpu.append(c1 - c0)
            del k, t, s
    finally:
        os.environ.pop("COREBPF_NO_BTF_CACHE", None)
    return med(idx), med(fnd), med(res), min(cpu)


def bench_decode_lookup(runs: int) -> float:
    """A lookup after the index exists (find+decode of an uncached struct)."""
    from corebpf.btf import BTF
    k = BTF.kernel()
    k.find_one("task_struct", 4)
    names = ["mm_struct", "sk_buff", "file", "inode", "cred", "dentry", "net_device",
             "bpf_prog", "bpf_map", "pt_regs"]
    times = []
    for n in names[:runs + 2]:
        t0 = time.perf_counter()
        t = k[k.find(n)[0]]
        times.append(time.perf_counter() - t0)
    return med(times)


def bench_whole(runs: int) -> tuple[float, float | None]:
    py = sys.executable
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([py, "-c", CHILD], env=env, check=True, capture_output=True)  # warm pyc
    ours, ref = [], []
    bpftool = shutil.which("bpftool")
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([py, "-c", CHILD], env=env, check=True, capture_output=True)
        ours.append(time.perf_counter() - t)
        if bpftool:
            t = time.perf_counter()
            subprocess.run([bpftool, "btf", "dump", "file", VMLINUX], check=True,
                           stdout=subprocess.DEVNULL)
            ref.append(time.perf_counter() - t)
    return med(ours), (med(ref) if ref else None)


def bench_codec(n: int) -> tuple[float, float]:
    from corebpf.btf import BTF, types as T
    from corebpf.btf.codec import Codec
    from corebpf.btf.marshal import marshal_btf
    # struct event { u32 pid, ppid; char comm[16]; u64 ts; u64 delta; u32 uid, gid;
    #                s32 ret; u32 flags; char pad[8]; }   (64 bytes)
    types = [T.Int(1, "unsigned int", 4), T.Int(2, "char", 1, T.INT_SIGNED),
             T.Array(3, 2, 1, 16), T.Int(4, "long long unsigned int", 8),
             T.Int(5, "int", 4, T.INT_SIGNED), T.Array(6, 2, 1, 8),
             T.Composite(7, T.STRUCT, "event", 64, [
                 T.Member("pid", 1, 0), T.Member("ppid", 1, 32), T.Member("comm", 3, 64),
                 T.Member("ts", 4, 192), T.Member("delta", 4, 256), T.Member("uid", 1, 320),
                 T.Member("gid", 1, 352), T.Member("ret", 5, 384), T.Member("flags", 1, 416),
                 T.Member("tag", 6, 448)])]
    btf = BTF.from_bytes(marshal_btf(types))
    c = Codec(btf, 7)
    rec = struct.pack("<II16sQQIIiI8s", 1, 2, b"python3\0", 3, 4, 5, 6, -7, 8, b"x")
    assert c.decode(rec).comm == "python3"

    S = struct.Struct("<II16sQQIIiI8s")

    class Event:
        __slots__ = ("pid", "ppid", "comm", "ts", "delta", "uid", "gid", "ret", "flags", "tag")

        def __init__(self, pid, ppid, comm, ts, delta, uid, gid, ret, flags, tag):
            self.pid, self.ppid, self.comm, self.ts, self.delta = pid, ppid, comm, ts, delta
            self.uid, self.gid, self.ret, self.flags, self.tag = uid, gid, ret, flags, tag

    def by_hand(buf):
        v = S.unpack_from(buf)
        return Event(v[0], v[1], v[2].split(b"\0", 1)[0].decode(), v[3], v[4], v[5], v[6],
                     v[7], v[8], v[9].split(b"\0", 1)[0].decode())

    dec = c.decode
    mv = memoryview(rec)
    best_ours = best_ref = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n):
            dec(mv)
        best_ours = max(best_ours, n / (time.perf_counter() - t))
        t = time.perf_counter()
        for _ in range(n):
            by_hand(mv)
        best_ref = max(best_ref, n / (time.perf_counter() - t))
    return best_ours, best_ref


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--records", type=int, default=200_000)
    a = ap.parse_args()
    if not os.path.exists(VMLINUX):
        raise SystemExit("no /sys/kernel/btf/vmlinux")
    import gc
    ours, ref = bench_fresh_cpu(max(a.runs, 5))
    n = len(ours)

    def col(rows: list[list[float]], *cols: int) -> list[float]:
        return [sum(r[c] for c in cols) for r in rows]

    for label, oc, rc in (("vmlinux index", (0,), (0,)),
                          ("find+resolve task_struct after indexing", (1, 2), (1, 2))):
        o = col(ours, *oc)
        r = col(ref, *rc) if ref else None
        print(f"{label} [CPU, fresh process, no index cache, best of {n}]: corebpf "
              f"{min(o):.3f} ms (median {med(o):.3f}), reference "
              + (f"{min(r):.3f} ms (median {med(r):.3f}; libbpf), ratio {min(o) / min(r):.1f}"
                 if r else "n/a"))
    print(f"# of which (best of {n}): first find {min(col(ours, 1)):.3f} ms, decoding "
          f"task_struct {min(col(ours, 2)):.3f} ms; then find+decode of mm_struct "
          f"{min(col(ours, 3)):.3f} ms; peak RSS {med(col(ours, 4)):.1f} MB (median)")
    print(f"# index + 8 structs found and decoded (task_struct, mm_struct, pt_regs, file, "
          f"inode, sk_buff, cred, dentry): {min(col(ours, 0, 1, 2, 3, 5)):.2f} ms "
          f"(median {med(col(ours, 0, 1, 2, 3, 5)):.2f})")
    idx, fnd, res, cpu = bench_index(a.runs)
    lib = libbpf_times(a.runs)
    line("vmlinux index (in process)", idx * 1e3, lib[0] * 1e3 if lib else None, "ms")
    line(f"vmlinux index, CPU time (min of {a.runs}; steadier on a busy machine)", cpu * 1e3,
         lib[2] * 1e3 if lib else None, "ms")
    cidx, _, _, ccpu = bench_index(a.runs, cached=True)
    line("vmlinux index, cached in /run by an earlier process", cidx * 1e3,
         lib[0] * 1e3 if lib else None, "ms")
    line("find+resolve task_struct (first lookup)", (fnd + res) * 1e3,
         lib[1] * 1e3 if lib else None, "ms")
    print(f"# of which: first find() (string + type section search) {fnd * 1e3:.3f} ms, "
          f"decoding task_struct {res * 1e3:.3f} ms")
    print(f"# a later lookup + decode of an uncached struct: {bench_decode_lookup(a.runs) * 1e3:.3f} ms")
    ours, ref = bench_whole(a.runs)
    line("whole process: index vmlinux + resolve task_struct vs bpftool btf dump",
         ours * 1e3, ref * 1e3 if ref else None, "ms")
    gc.collect()
    o, r = bench_codec(a.records)
    line("codec decode 64-byte event (records/s)", o / 1e6, r / 1e6, "M/s", rate=True)


if __name__ == "__main__":
    main()
