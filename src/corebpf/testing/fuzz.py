"""Mutation fuzzer for every reader of untrusted bytes.

    python -m corebpf.testing.fuzz --cases 100000 [--seed N] [--target elf,btf,ext,codec,cli]

Seeds are real objects (the test programs in tests/.build and the tools' prebuilt objects).
Each case mutates one seed (bit flips, interesting values at aligned offsets, truncation,
chunk deletion/duplication) and feeds it to a reader. Only ``corebpf.errors.Error`` may
escape; anything else, a case running over its time limit, or memory past a cap is reported
as a finding with the seed and mutation so it can be replayed.
"""
from __future__ import annotations

import argparse
import io
import os
import random
import resource
import signal
import struct
import sys
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Callable

from ..errors import Error

INTERESTING32 = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
                 0xFFFFFFFF, 0x10000, 0x1000)


class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise CaseTimeout()


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    if not b:
        return bytes(b)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        op = rng.randrange(6)
        n = len(b)
        if n == 0:
            break
        if op == 0:
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n >= 4:
            i = rng.randrange(n - 3) & ~3
            struct.pack_into("<I", b, i, rng.choice(INTERESTING32))
        elif op == 2:
            del b[rng.randrange(n):]
        elif op == 3:
            i = rng.randrange(n)
            del b[i:i + rng.randrange(1, 64)]
        elif op == 4:
            i = rng.randrange(n)
            j = min(n, i + rng.randrange(1, 64))
            b[i:i] = b[i:j]
        else:
            i = rng.randrange(n)
            b[i] = rng.randrange(256)
    return bytes(b)


def _seeds(root: Path) -> list[Path]:
    seeds = sorted((root / "tests" / ".build").glob("*.bpf.o"))
    seeds += sorted((root / "src" / "corebpf" / "tools").glob("*.bpf.o"))
    return seeds


def _elf_target(data: bytes) -> None:
    from ..spec import ObjectSpec
    spec = ObjectSpec.from_bytes(data, "fuzz.bpf.o")
    for p in spec.programs.values():
        _ = p.section, p.type
    for m in spec.maps.values():
        _ = m.key_size, m.value_size


def _btf_target(data: bytes) -> None:
    from ..btf import BTF
    btf = BTF.from_bytes(data)
    n = len(btf)
    for i in range(btf.start_id, min(n, btf.start_id + 2000)):
        btf[i]
        btf.type_name(i)
        try:
            btf.size_of(i)
        except Error:
            pass


def _ext_target(pair: tuple[bytes, bytes]) -> None:
    from ..btf import BTF
    from ..btf.ext import parse_btf_ext
    btf = BTF.from_bytes(pair[0])
    parse_btf_ext(pair[1], btf)


def _codec_target(pair: tuple[object, int, bytes]) -> None:
    from ..btf.codec import Codec
    btf, tid, buf = pair
    c = Codec(btf, tid)
    v = c.decode(buf)
    c.encode(v)


def _cli_target(argv: list[str]) -> None:
    from ..cli.main import main
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(out):
        try:
            main(argv)
        except SystemExit:
            pass


def _sections(data: bytes) -> dict[str, bytes]:
    from ..elf import ELFFile
    elf = ELFFile(data, "seed")
    out = {}
    for name in (".BTF", ".BTF.ext"):
        sec = elf.section_by_name(name)
        if sec is not None:
            out[name] = bytes(sec.data())
    return out


def run(cases: int, seed: int, targets: list[str], root: Path, time_limit: float = 5.0,
        verbose: bool = False) -> list[str]:
    """Run ``cases`` fuzz cases spread over ``targets``; return the findings."""
    rng = random.Random(seed)
    seeds = _seeds(root)
    if not seeds:
        raise SystemExit("fuzz: no seed objects (run the tests once to build tests/.build)")
    blobs = [p.read_bytes() for p in seeds]
    btfs: list[bytes] = []
    exts: list[tuple[bytes, bytes]] = []
    for blob in blobs:
        try:
            secs = _sections(blob)
        except Exception:
            continue
        if ".BTF" in secs:
            btfs.append(secs[".BTF"])
            if ".BTF.ext" in secs:
                exts.append((secs[".BTF"], secs[".BTF.ext"]))
    codec_types: list[tuple[object, int, int]] = []
    if "codec" in targets and btfs:
        from ..btf import BTF
        from ..btf import types as T
        for raw in btfs[:10]:
            b = BTF.from_bytes(raw)
            for i in range(1, len(b)):
                t = b[i]
                if t.kind in (T.STRUCT, T.UNION, T.INT, T.ARRAY, T.ENUM):
                    try:
                        size = b.size_of(i)
                    except Error:
                        continue
                    if 0 < size <= 4096:
                        codec_types.append((b, i, size))
    cli_words = ["inspect", "load", "run", "btf", "dump", "map", "prog", "link", "show",
                 "list", "--json", "--format", "c", "raw", "--type", "--pin-dir", "/nonexistent",
                 "--duration", "0", "-1", "x" * 300, "\0", str(seeds[0]), "--program", "id",
                 "999999", "lookup", "key", "0x", "feature"]
    findings: list[str] = []
    old = signal.signal(signal.SIGALRM, _alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = 6 << 30
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard < 0 or hard > cap else hard, hard))
    counts: dict[str, int] = {}
    t0 = time.monotonic()
    try:
        have = {"elf": blobs, "btf": btfs, "ext": exts, "codec": codec_types, "cli": [1]}
        targets = [t for t in targets if have.get(t)]
        if not targets:
            raise SystemExit("fuzz: no target has seed data")
        i = -1
        while sum(counts.values()) < cases:
            i += 1
            target = targets[i % len(targets)]
            fn: Callable
            what: str
            if target == "elf":
                k = rng.randrange(len(blobs))
                arg = mutate(blobs[k], rng)
                fn, what = _elf_target, seeds[k].name
            elif target == "btf" and btfs:
                k = rng.randrange(len(btfs))
                arg = mutate(btfs[k], rng)
                fn, what = _btf_target, f"btf#{k}"
            elif target == "ext" and exts:
                k = rng.randrange(len(exts))
                b, e = exts[k]
                arg = (b, mutate(e, rng)) if rng.random() < 0.8 else (mutate(b, rng), e)
                fn, what = _ext_target, f"ext#{k}"
            elif target == "codec" and codec_types:
                b, tid, size = rng.choice(codec_types)
                n = size if rng.random() < 0.7 else rng.randrange(0, size + 9)
                arg = (b, tid, rng.randbytes(n))
                fn, what = _codec_target, f"codec type {tid} ({n} bytes)"
            elif target == "cli":
                arg = [rng.choice(cli_words) for _ in range(rng.randrange(1, 6))]
                # never let the fuzzer load/run/update things for real
                if any(w in arg for w in ("load", "run", "update", "pin", "detach")):
                    continue
                fn, what = _cli_target, repr(arg)
            else:
                continue
            counts[target] = counts.get(target, 0) + 1
            signal.setitimer(signal.ITIMER_REAL, time_limit)
            try:
                fn(arg)
            except Error:
                pass
            except CaseTimeout:
                findings.append(f"[{target}] case {i} ({what}): over {time_limit}s (hang?)")
            except MemoryError:
                findings.append(f"[{target}] case {i} ({what}): MemoryError (unbounded)")
            except Exception as e:  # noqa: BLE001 - that is the point of a fuzzer
                tb = traceback.format_exception(type(e), e, e.__traceback__)[-3:]
                findings.append(f"[{target}] case {i} ({what}): {type(e).__name__}: {e}\n"
                                + "".join(tb))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if verbose and counts[target] % 2000 == 0 and target == targets[0]:
                print(f"fuzz: {i} cases, {len(findings)} findings, "
                      f"{time.monotonic() - t0:.0f}s", file=sys.stderr)
    finally:
        signal.signal(signal.SIGALRM, old)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    run.counts = counts  # type: ignore[attr-defined]
    return findings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="corebpf.testing.fuzz")
    p.add_argument("--cases", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "1")))
    p.add_argument("--target", default="elf,btf,ext,codec,cli")
    p.add_argument("--root", default=str(Path(__file__).resolve().parents[3]))
    a = p.parse_args(argv)
    t0 = time.monotonic()
    findings = run(a.cases, a.seed, a.target.split(","), Path(a.root), verbose=True)
    dt = time.monotonic() - t0
    counts = getattr(run, "counts", {})
    print(f"fuzz: {sum(counts.values())} cases in {dt:.0f}s "
          f"({', '.join(f'{k} {v}' for k, v in counts.items())}), {len(findings)} findings")
    for f in findings[:50]:
        print(f)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
