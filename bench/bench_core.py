"""CO-RE relocation benchmark: a typical tracing object relocated against the running
kernel's BTF, whole process, corebpf against libbpf.

corebpf: a fresh interpreter that reads the object (``ObjectSpec.from_file``), opens
/sys/kernel/btf/vmlinux and applies every CO-RE record (``corebpf.btf.core.relocate``).
Reference: ``bpftool gen min_core_btf`` on the same object, which runs libbpf's CO-RE
calculation for every record against the same vmlinux BTF (plus writing a small BTF).
Medians of several runs (wall clock), minimum CPU time (user + sys: steadier on a busy
machine), also without the vmlinux index cache, and the in-process split of corebpf's time.

    .venv/bin/python bench/bench_core.py [--runs N] [OBJ...]

Prints ``name: corebpf X, reference Y, ratio Z`` lines.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

CHILD = r"""
import sys, time
t0 = time.perf_counter()
from corebpf.spec import ObjectSpec
from corebpf.btf import BTF, core
spec = ObjectSpec.from_file(sys.argv[1])
t1 = time.perf_counter()
kernel = BTF.kernel()
cache = core.CoreCache()
n = 0
for fn in (getattr(spec, "functions", None) or spec.programs).values():
    if fn.core_relos:
        buf = bytearray(fn.insns)
        n += len(core.relocate(buf, fn.core_relos, spec.btf, kernel, fn.section, cache))
t2 = time.perf_counter()
print(f"{t1 - t0:.6f} {t2 - t1:.6f} {n}")
"""


CPU: list[float] = []  # CPU time (user + sys) of the last child run by timed()


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[:] = [(r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)]
    if r.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr[-2000:]}")
    return dt, r.stdout


def objects(args: list[str]) -> list[Path]:
    if args:
        return [Path(a) for a in args]
    from conftest import build_prog
    out = [build_prog("core_kernel")]
    tool = ROOT / "src" / "corebpf" / "tools" / "tcplife.bpf.o"
    if tool.exists():
        out.append(tool)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("objs", nargs="*")
    a = ap.parse_args()
    if not shutil.which("bpftool"):
        raise SystemExit("bpftool is needed as the reference")
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # cached bytecode, as on a user's machine
    env["PYTHONPATH"] = str(ROOT / "src")
    with tempfile.TemporaryDirectory() as tmp:
        child = Path(tmp) / "child.py"
        child.write_text(CHILD)
        cold = dict(env, COREBPF_NO_BTF_CACHE="1")
        for obj in objects(a.objs):
            ours, ref, split, ocpu, rcpu, ccpu = [], [], [], [], [], []
            timed([sys.executable, str(child), str(obj)], env)  # warm the bytecode cache
            for _ in range(a.runs):
                dt, out = timed([sys.executable, str(child), str(obj)], env)
                ours.append(dt)
                ocpu.append(CPU[0])
                split.append(out.split())
                dt, _ = timed(["bpftool", "gen", "min_core_btf", "/sys/kernel/btf/vmlinux",
                               str(Path(tmp) / "min.btf"), str(obj)])
                ref.append(dt)
                rcpu.append(CPU[0])
                timed([sys.executable, str(child), str(obj)], cold)
                ccpu.append(CPU[0])
            o, r = statistics.median(ours), statistics.median(ref)
            n = split[0][2]
            rel = statistics.median(float(s[1]) for s in split)
            opened = statistics.median(float(s[0]) for s in split)
            name = obj.name.split("-")[0].replace(".bpf.o", "")
            print(f"core_relocate[{name}, {n} relos, whole process]: corebpf {o * 1000:.1f} ms, "
                  f"reference {r * 1000:.1f} ms, ratio {o / r:.2f}")
            print(f"  corebpf in-process: import+parse object {opened * 1000:.1f} ms, "
                  f"kernel BTF + relocation {rel * 1000:.1f} ms")
            oc, rc, cc = min(ocpu), min(rcpu), min(ccpu)
            print(f"core_relocate[{name}, CPU user+sys, min of {a.runs}]: corebpf "
                  f"{oc * 1000:.1f} ms, reference {rc * 1000:.1f} ms, ratio {oc / rc:.2f}")
            print(f"  without the /run vmlinux index cache (COREBPF_NO_BTF_CACHE=1): corebpf "
                  f"{cc * 1000:.1f} ms, ratio {cc / rc:.2f}")


if __name__ == "__main__":
    main()
