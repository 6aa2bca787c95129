"""Load benchmark: whole-process open+load+attach+detach of a CO-RE tracepoint object.

corebpf (a fresh interpreter running ``corebpf.load(...).attach_all()``) against a C program
on the system libbpf doing the same, both as whole processes, medians of several runs; and
the cost of ``import corebpf`` over a bare interpreter start (bytecode cached).

    .venv/bin/python bench/bench_load.py [--runs N]

Prints ``name: corebpf X, reference Y, ratio Z`` lines.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

C_LOADER = r"""
#include <stdio.h>
#include <bpf/libbpf.h>
int main(int argc, char **argv)
{
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	struct bpf_program *prog;
	struct bpf_link *links[16];
	int n = 0;
	if (!obj || libbpf_get_error(obj) || bpf_object__load(obj))
		return 1;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_link *l = bpf_program__attach(prog);
		if (!l || libbpf_get_error(l))
			return 2;
		links[n++] = l;
	}
	while (n--)
		bpf_link__destroy(links[n]);
	bpf_object__close(obj);
	return 0;
}
"""

PY_LOADER = """
import sys, corebpf
with corebpf.load(sys.argv[1]) as obj:
    obj.attach_all()
"""


def timed(cmd: list[str], runs: int, env: dict | None = None) -> tuple[float, float]:
    """(median, minimum) wall time of ``cmd`` in ms after one warm-up run; the minimum is
    the steadier figure on a shared, busy machine."""
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    from conftest import build_prog
    obj = str(build_prog("load_core"))
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users have cached bytecode
    py = sys.executable

    with tempfile.TemporaryDirectory() as d:
        src, exe = Path(d) / "loader.c", Path(d) / "loader"
        src.write_text(C_LOADER)
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(src), "-lbpf"], check=True)
        ref, ref_min = timed([str(exe), obj], args.runs)
    ours, ours_min = timed([py, "-c", PY_LOADER, obj], args.runs, env)
    print(f"load+attach+detach (load_core.bpf.o, whole process, median): corebpf {ours:.1f} "
          f"ms, reference {ref:.1f} ms (libbpf C), ratio {ours / ref:.2f}")
    print(f"load+attach+detach (load_core.bpf.o, whole process, best): corebpf "
          f"{ours_min:.1f} ms, reference {ref_min:.1f} ms (libbpf C), "
          f"ratio {ours_min / ref_min:.2f}")

    bare, bare_min = timed([py, "-c", "pass"], args.runs * 3, env)
    imp, imp_min = timed([py, "-c", "import corebpf"], args.runs * 3, env)
    print(f"import corebpf (best of {args.runs * 3}): corebpf {imp_min:.1f} ms, reference "
          f"{bare_min:.1f} ms (bare interpreter), ratio {imp_min / bare_min:.2f} "
          f"(cost {imp_min - bare_min:.1f} ms, target <= 15 ms; medians {imp:.1f} / "
          f"{bare:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
