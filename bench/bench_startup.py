"""Start-up benchmark: what a user waits for before corebpf does anything.

* ``import corebpf``: ``.venv/bin/python -c "import corebpf"`` against ``.venv/bin/python -c
  pass`` (bytecode cached: PYTHONDONTWRITEBYTECODE is unset; the venv's python is run
  directly, not through a pyenv shim). Also, for information, the imports of the load path
  (``corebpf.object``) and of the command line (``corebpf.cli.main``).
* ``corebpf run OBJ --duration 0``: the whole process (interpreter start, imports, ELF and
  BTF parsing, CO-RE against the kernel's BTF, map creation, program load, attach, detach,
  exit) on a CO-RE tracepoint object (tests/progs/hook_run.bpf.c), against
  bench/startup_libbpf.c (libbpf 1.1, gcc -lbpf): open, load, attach every program,
  detach, close. Wall time, CPU time (user + system of the child) and peak RSS
  (``ru_maxrss`` of the child from ``wait4``).

Runs of the two sides are interleaved; the machine is shared and busy, so we report the
minimum over the runs (the figure least disturbed by other work) and the median.

    .venv/bin/python bench/bench_startup.py [--runs N] [--src DIR] [OBJ]

Prints ``name: corebpf X, reference Y, ratio Z`` lines (ratio = corebpf / reference).
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
VENV_PY = ROOT / ".venv" / "bin" / "python"
sys.path.insert(0, str(ROOT / "tests"))


class Sample:
    """One child process: wall ms, CPU ms (user + sys), peak RSS MB."""

    __slots__ = ("wall", "cpu", "rss")

    def __init__(self, wall: float, cpu: float, rss: float) -> None:
        self.wall, self.cpu, self.rss = wall, cpu, rss


def run_once(cmd: list[str], env: dict) -> Sample:
    """Run ``cmd`` to completion; its own rusage through wait4 (not the sum of all
    children, so nothing else we run is counted)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = (time.perf_counter() - t) * 1000
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read() if p.stderr else b""
    if p.stderr:
        p.stderr.close()
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {err[-2000:].decode()}")
    return Sample(wall, (ru.ru_utime + ru.ru_stime) * 1000, ru.ru_maxrss / 1024)


def interleaved(cmds: list[list[str]], runs: int, env: dict) -> list[list[Sample]]:
    """``runs`` samples of each command, run in turns after one warm-up run each."""
    for c in cmds:
        run_once(c, env)
    out: list[list[Sample]] = [[] for _ in cmds]
    for _ in range(runs):
        for i, c in enumerate(cmds):
            out[i].append(run_once(c, env))
    return out


def best(samples: list[Sample], attr: str) -> float:
    return min(getattr(s, attr) for s in samples)


def med(samples: list[Sample], attr: str) -> float:
    return statistics.median(getattr(s, attr) for s in samples)


def build_reference(tmp: Path) -> Path:
    exe = tmp / "startup_libbpf"
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(exe), str(ROOT / "bench" /
                    "startup_libbpf.c"), "-lbpf"], check=True)
    return exe


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--src", default=str(ROOT / "src"), help="corebpf source tree to "
                    "measure (default: this checkout's src/; another tree measures a patch)")
    ap.add_argument("obj", nargs="?", help="CO-RE tracepoint object (default: "
                    "tests/progs/hook_run.bpf.c, compiled)")
    a = ap.parse_args()
    py = str(VENV_PY if VENV_PY.exists() else Path(sys.executable))
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users have cached bytecode
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env["PYTHONPATH"] = a.src
    if a.obj:
        obj = a.obj
    else:
        from conftest import build_prog
        obj = str(build_prog("hook_run"))
    name = Path(obj).name.split("-")[0].replace(".bpf.o", "")

    # -- import cost
    bare = [py, "-c", "pass"]
    imp = [py, "-c", "import corebpf"]
    imp_load = [py, "-c", "import corebpf.object"]
    imp_cli = [py, "-c", "import corebpf.cli.main, corebpf.cli.run"]
    s_bare, s_imp, s_load, s_cli = interleaved([bare, imp, imp_load, imp_cli], a.runs * 2, env)
    b = best(s_bare, "wall")
    for label, s, target in (("import corebpf", s_imp, " (target: cost <= 15 ms)"),
                             ("import corebpf.object (load path)", s_load, ""),
                             ("import corebpf.cli.main+run (command)", s_cli, "")):
        w = best(s, "wall")
        print(f"{label} [best of {len(s)}, wall]: corebpf {w:.1f} ms, reference {b:.1f} ms "
              f"(bare interpreter), ratio {w / b:.2f}; cost {w - b:.1f} ms{target}; "
              f"CPU cost {best(s, 'cpu') - best(s_bare, 'cpu'):.1f} ms; medians "
              f"{med(s, 'wall'):.1f} / {med(s_bare, 'wall'):.1f} ms")

    # -- whole process: corebpf run OBJ --duration 0 against libbpf
    with tempfile.TemporaryDirectory() as d:
        ref = build_reference(Path(d))
        ours_cmd = [py, "-m", "corebpf", "run", obj, "--duration", "0"]
        ref_cmd = [str(ref), obj]
        s_ours, s_ref = interleaved([ours_cmd, ref_cmd], a.runs, env)
    ow, rw = best(s_ours, "wall"), best(s_ref, "wall")
    oc, rc = best(s_ours, "cpu"), best(s_ref, "cpu")
    om, rm = best(s_ours, "rss"), best(s_ref, "rss")
    print(f"run --duration 0 [{name}, whole process, best of {a.runs}, wall]: corebpf "
          f"{ow:.1f} ms, reference {rw:.1f} ms (libbpf 1.1 C), ratio {ow / rw:.2f} "
          f"(target <= 1.5; medians {med(s_ours, 'wall'):.1f} / {med(s_ref, 'wall'):.1f} ms)")
    print(f"run --duration 0 [{name}, whole process, best of {a.runs}, CPU user+sys]: "
          f"corebpf {oc:.1f} ms, reference {rc:.1f} ms (libbpf 1.1 C), ratio {oc / rc:.2f}")
    print(f"run --duration 0 [{name}, peak RSS]: corebpf {om:.1f} MB, reference {rm:.1f} MB "
          f"(libbpf 1.1 C), ratio {om / rm:.2f} (target: corebpf <= 40 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
