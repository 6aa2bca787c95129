"""Run every benchmark (bench/bench_*.py) and write one table: bench/RESULTS.md.

Each benchmark prints lines ``name: corebpf X, <reference> Y, ratio Z[; more]`` with the
reference (libbpf, bpftool, a bare interpreter …) measured in the same run. This script runs
them one after the other (never in parallel: the machine's two cores are shared), collects
those lines, checks them against the project's targets and writes the table with the raw
output of every benchmark below it.

    .venv/bin/python bench/run_all.py [--only NAME]... [--skip NAME]... [--out FILE]
                                      [--timeout S]

NAME is the part after ``bench_`` (``maps``, ``startup`` …). Exit status 0 when every
benchmark ran; a target missed is reported, not an error.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_PY = ROOT / ".venv" / "bin" / "python"

# "name: corebpf X, reference-name Y, ratio Z rest" (the reference and ratio may be absent)
LINE = re.compile(r"^(?P<name>\S.*?):\s+corebpf\s+(?P<body>.*)$")
RATIO = re.compile(r",\s+ratio\s+(?P<ratio>[0-9.]+|n/a)(?P<rest>.*)$")
NUM = re.compile(r"[-+]?[0-9][0-9,]*\.?[0-9]*")

# (regex on the result name, target text, check(result) -> bool | None). Targets are those
# of the issues: 2 (import), 3 (BTF, CO-RE, btf dump), 4 (ring buffer, corebpf run), and
# the map throughput goal.


def _num(text: str) -> float | None:
    m = NUM.search(text)
    return float(m.group().replace(",", "")) if m else None


def _unit_scale(text: str) -> float:
    """Records/ops per second: 'M records/s' -> 1e6."""
    return 1e6 if re.search(r"\bM\b", text) else 1.0


def _rate(text: str) -> float | None:
    v = _num(text)
    return None if v is None else v * _unit_scale(text)


def _cost_ms(r: dict) -> float | None:
    m = re.search(r"cost\s+(-?[0-9.]+)\s*ms", r["rest"])
    return float(m.group(1)) if m else None


def _ms(text: str) -> float | None:
    """A duration in ms from 'X ms' or 'X s'."""
    v = _num(text)
    if v is None:
        return None
    if re.search(r"\d\s*us\b|µs", text):
        return v / 1000
    if re.search(r"\d\s*s\b", text) and "ms" not in text:
        return v * 1000
    return v


def _ratio(r: dict) -> float | None:
    return None if r["ratio"] == "n/a" else float(r["ratio"])


TARGETS: list[tuple[str, str, object]] = [
    (r"^import corebpf\b(?!\.)", "cost <= 15 ms", lambda r: (c := _cost_ms(r)) is not None
     and c <= 15),
    (r"^import corebpf\.", "(information)", None),
    (r"^core: ", "ratio <= 2", lambda r: (x := _ratio(r)) is not None and x <= 2),
    (r"^(btf: vmlinux index|startup: kernel BTF: vmlinux BTF index)", "<= 25 ms",
     lambda r: (v := _ms(r["ours"])) is not None and v <= 25),
    (r"^find\+resolve task_struct|^kernel BTF: first find", "<= 1 ms",
     lambda r: (v := _ms(r["ours"])) is not None and v <= 1),
    (r"^core_relocate", "ratio <= 2", lambda r: (x := _ratio(r)) is not None and x <= 2),
    (r"^btf_dump_c\b", "ratio <= 10", lambda r: (x := _ratio(r)) is not None and x <= 10),
    (r"^run --duration 0 .*wall", "ratio <= 1.5", lambda r: (x := _ratio(r)) is not None
     and x <= 1.5),
    (r"^run --duration 0 .*peak RSS", "corebpf <= 40 MB",
     lambda r: (v := _num(r["ours"])) is not None and v <= 40),
    (r"^maps: ", ">= 1 M ops/s",
     lambda r: (v := _rate(r["ours"])) is not None and v >= 1e6),
    (r"^ringbuf: ringbuf .*callbacks", ">= 3 M records/s",
     lambda r: (v := _rate(r["ours"])) is not None and v >= 3e6),
    (r"^ringbuf: ringbuf bulk", "ratio >= 1 (as fast as libbpf)",
     lambda r: (x := _ratio(r)) is not None and x >= 1),
]


def target_of(r: dict) -> tuple[str, str]:
    """(target text, 'yes'/'NO'/'') for a result line."""
    key = f"{r['bench']}: {r['name']}"
    for pat, text, check in TARGETS:
        if re.search(pat, key) or re.search(pat, r["name"]):
            if check is None:
                return text, ""
            try:
                ok = check(r)  # type: ignore[operator]
            except (ValueError, TypeError):
                ok = None
            return text, "" if ok is None else ("yes" if ok else "**NO**")
    return "", ""


def parse(out: str, bench: str) -> list[dict]:
    rows = []
    for line in out.splitlines():
        m = LINE.match(line.strip())
        if not m:
            continue
        body = m.group("body")
        rm = RATIO.search(body)
        if rm:
            ratio, rest = rm.group("ratio"), rm.group("rest")
            body = body[:rm.start()]
        else:
            ratio, rest = "n/a", ""
        ours, _, ref = body.partition(", ")
        rows.append({"bench": bench, "name": m.group("name"), "ours": ours.strip(),
                     "ref": ref.strip() or "n/a", "ratio": ratio, "rest": rest.strip(" ;,")})
    return rows


# Per-benchmark environment: bench_btf times indexing vmlinux, so it must not be served by
# the kernel-BTF index cache that later processes of a boot use (btf/reader.py).
NO_CACHE = {"COREBPF_NO_BTF_CACHE": "1"}
BENCH_ENV = {"btf": NO_CACHE}
# Whole-process benchmarks that read kernel BTF run a second time without that cache: the
# figure of the first run after a boot (bench_startup reports both by itself).
SECOND_RUN = {"load": ("no BTF index cache", NO_CACHE)}


def run_bench(path: Path, timeout: float, env: dict,
              extra: dict | None = None) -> tuple[int, str, str, float]:
    py = str(VENV_PY if VENV_PY.exists() else Path(sys.executable))
    env = {**env, **BENCH_ENV.get(path.stem[len("bench_"):], {}), **(extra or {})}
    t = time.perf_counter()
    try:
        p = subprocess.run([py, str(path)], capture_output=True, text=True, env=env,
                           timeout=timeout, cwd=ROOT)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc = -1
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = (e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")) + \
            f"\n(timed out after {timeout:.0f} s)"
    return rc, out, err, time.perf_counter() - t


def machine() -> str:
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = ["?"]
    return (f"Linux {platform.release()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, load average {' '.join(load)}")


def cell(s: str) -> str:
    return s.replace("|", "\\|").strip()


def write(out_path: Path, started: str, before: str, after: str, results: list[tuple]) -> None:
    lines = ["# Benchmark results", "",
             f"Written by `bench/run_all.py` on {started} UTC. Each figure's reference was "
             "measured in the same run of the same benchmark (ratio = corebpf / reference "
             "for times and sizes, as printed by each benchmark). See docs/performance.md "
             "for what is measured and how.", "",
             f"- machine before: {before}", f"- machine after: {after}", "",
             "| benchmark | result | corebpf | reference | ratio | target | met |",
             "|---|---|---|---|---|---|---|"]
    failed = []
    for bench, rc, out, err, secs, rows in results:
        if rc:
            failed.append((bench, rc, err))
        if not rows:
            lines.append(f"| {bench} | (no result lines; exit {rc}) | | | | | |")
        for r in rows:
            tgt, ok = target_of(r)
            rest = cell(r["rest"])
            extra = "" if not rest else f" {rest}" if rest.startswith("(") else f" ({rest})"
            lines.append(f"| {bench} | {cell(r['name'])} | {cell(r['ours'])} | "
                         f"{cell(r['ref'])} | {r['ratio']}{extra} | {tgt} | {ok} |")
    lines.append("")
    if failed:
        lines += ["## Benchmarks that failed", ""]
        for bench, rc, err in failed:
            tail = "\n".join(err.strip().splitlines()[-15:])
            lines += [f"### {bench} (exit {rc})", "", "```", tail, "```", ""]
    lines += ["## Raw output", ""]
    for bench, rc, out, err, secs, rows in results:
        lines += [f"### bench_{bench} ({secs:.0f} s, exit {rc})", "", "```",
                  out.rstrip() or "(no output)", "```", ""]
    out_path.write_text("\n".join(lines))


def rebuild(src: Path, out: Path) -> int:
    text = src.read_text()
    started = re.search(r"on (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", text)
    before = re.search(r"^- machine before: (.*)$", text, re.M)
    after = re.search(r"^- machine after: (.*)$", text, re.M)
    results = []
    for m in re.finditer(r"^### bench_(\S+)(?: \(([^)\n]*)\))? \((\d+) s, exit (-?\d+)\)\n\n```\n"
                         r"(.*?)\n```", text, re.M | re.S):
        shown, label, secs, rc, body = m.groups()
        name = shown.removesuffix(".py")
        raw = "" if body == "(no output)" else body
        rows = parse(raw, name)
        for r in rows:
            if label:
                r["name"] += f" [{label}]"
        results.append((f"{name} ({label})" if label else name, int(rc), raw, "",
                        float(secs), rows))
    write(out, started.group(1) if started else "?", before.group(1) if before else "?",
          after.group(1) if after else "?", results)
    print(f"wrote {out} from {src}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", default=[], metavar="NAME")
    ap.add_argument("--skip", action="append", default=[], metavar="NAME")
    ap.add_argument("--out", default=str(BENCH / "RESULTS.md"))
    ap.add_argument("--timeout", type=float, default=900, help="per benchmark, seconds")
    ap.add_argument("--from", dest="from_file", metavar="RESULTS.md",
                    help="rebuild the table from the raw output in an earlier RESULTS.md "
                    "instead of running the benchmarks (after changing the targets)")
    a = ap.parse_args()
    if a.from_file:
        return rebuild(Path(a.from_file), Path(a.out))
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure with cached bytecode, as users run
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env["PYTHONPATH"] = str(ROOT / "src")
    benches = sorted(BENCH.glob("bench_*.py"))
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    before = machine()
    results = []
    bad = 0
    for path in benches:
        name = path.stem[len("bench_"):]
        if (a.only and name not in a.only) or name in a.skip:
            continue
        runs = [(name, "", None)]
        if name in SECOND_RUN:
            label, extra = SECOND_RUN[name]
            runs.append((f"{name} ({label})", label, extra))
        for shown, label, extra in runs:
            print(f"== {path.name}{f' ({label})' if label else ''}", flush=True)
            rc, out, err, secs = run_bench(path, a.timeout, env, extra)
            rows = parse(out, name)
            for r in rows:
                if label:
                    r["name"] += f" [{label}]"
                tgt, ok = target_of(r)
                mark = f"  [{tgt}: {ok}]" if tgt and ok else ""
                print(f"  {r['name']}: corebpf {r['ours']}, {r['ref']}, ratio {r['ratio']}"
                      f"{mark}", flush=True)
            if rc:
                bad += 1
                print(f"  FAILED (exit {rc}): {err.strip().splitlines()[-1:] or ''}",
                      flush=True)
            results.append((shown, rc, out, err, secs, rows))
    write(Path(a.out), started, before, machine(), results)
    print(f"wrote {a.out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
