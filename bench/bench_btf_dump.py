"""`btf dump` benchmark: vmlinux BTF to C header (vmlinux.h) and to the raw listing, whole
process, ``corebpf btf dump`` against ``bpftool btf dump``; medians of several runs, the
output discarded. Also checks that both produce the same header (modulo the enum size
and union packing attributes bpftool 7.1 omits).

    .venv/bin/python bench/bench_btf_dump.py [--runs N]

Prints ``name: corebpf X, reference Y, ratio Z`` lines.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VMLINUX = "/sys/kernel/btf/vmlinux"


def run(cmd: list[str], env: dict | None = None) -> tuple[float, bytes]:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, env=env)
    dt = time.perf_counter() - t
    if r.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr[-2000:].decode()}")
    return dt, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    if not shutil.which("bpftool"):
        raise SystemExit("bpftool is needed as the reference")
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(ROOT / "src")
    for fmt in ("c", "raw"):
        ours_cmd = [sys.executable, "-m", "corebpf", "btf", "dump", VMLINUX, "--format", fmt]
        ref_cmd = ["bpftool", "btf", "dump", "file", VMLINUX, "format", fmt]
        _, mine = run(ours_cmd, env)  # warm caches
        _, theirs = run(ref_cmd)
        def norm(b: bytes) -> bytes:
            for attr in (b" __attribute__((mode(byte)))", b" __attribute__((mode(word)))",
                         b" __attribute__((packed))"):
                b = b.replace(attr, b"")
            return b
        same = norm(mine) == norm(theirs)
        ours, ref = [], []
        for _ in range(a.runs):
            ours.append(run(ours_cmd, env)[0])
            ref.append(run(ref_cmd)[0])
        o, r = statistics.median(ours), statistics.median(ref)
        print(f"btf_dump_{fmt}[vmlinux, whole process]: corebpf {o * 1000:.0f} ms, "
              f"reference {r * 1000:.0f} ms, ratio {o / r:.2f}"
              f"{'' if same else '  (OUTPUT DIFFERS)'}")


if __name__ == "__main__":
    main()
