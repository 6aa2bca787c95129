"""A corpus of real-world BPF objects compiled by others, taken from Debian packages.

Used by tests/test_realworld.py (differential test against libbpf). The packages are fetched
with ``apt-get download`` (never installed) and unpacked with ``dpkg -x`` into a cache
directory (tests/.build/corpus, or $COREBPF_CORPUS_DIR); BPF objects are then collected:

- plain object files (``*.o`` under /usr/lib*/bpf, /usr/libexec/xdp-tools ...),
- cilium/ebpf's little-endian test objects (``*-el.elf``),
- ELF objects embedded in binaries as libbpf skeletons (libbpf-tools, xdp-tools): found by
  scanning for ELF headers whose e_machine is EM_BPF, each cut at the end of its section
  header table.

Run ``python tests/corpus.py`` to fetch and list the corpus.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("COREBPF_CORPUS_DIR") or ROOT / "tests" / ".build" / "corpus")

# Debian package -> what to take from it
PACKAGES = ("libbpf-tools", "golang-github-cilium-ebpf-dev", "xdp-tools", "xdp-tests",
            "libxdp1")

EM_BPF = 247


class CorpusError(RuntimeError):
    """A package could not be downloaded or unpacked."""


def _run(cmd: list[str], cwd: Path) -> None:
    r = subprocess.run(cmd, cwd=str(cwd), capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise CorpusError(f"{' '.join(cmd)} failed ({r.returncode}): "
                          f"{(r.stderr or r.stdout).strip()[-800:]}")


def fetch(package: str) -> Path:
    """Download and unpack one package into the cache (once); return its root."""
    dest = CACHE / "pkg" / package
    done = dest / ".unpacked"
    if done.exists():
        return dest
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        if not shutil.which("apt-get"):
            raise CorpusError("apt-get is needed to fetch the real-world corpus")
        _run(["apt-get", "download", package], debs)
        found = sorted(debs.glob(f"{package}_*.deb"))
        if not found:
            raise CorpusError(f"apt-get download {package} left no .deb in {debs}")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    _run(["dpkg", "-x", str(found[-1]), str(dest)], debs)
    done.write_text(found[-1].name + "\n")
    return dest


def embedded_elves(data: bytes) -> list[bytes]:
    """Every little-endian ELF64 EM_BPF object embedded in ``data`` (not at offset 0)."""
    out = []
    i = data.find(b"\x7fELF", 1)
    while i != -1:
        hdr = data[i:i + 64]
        if (len(hdr) == 64 and hdr[4] == 2 and hdr[5] == 1
                and struct.unpack_from("<H", hdr, 18)[0] == EM_BPF):
            shoff, = struct.unpack_from("<Q", hdr, 40)
            shentsize, shnum = struct.unpack_from("<HH", hdr, 58)
            end = shoff + shentsize * shnum
            if shentsize == 64 and 0 < end <= len(data) - i:
                out.append(data[i:i + end])
                i = data.find(b"\x7fELF", i + end)
                continue
        i = data.find(b"\x7fELF", i + 1)
    return out


def _is_bpf_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        hdr = f.read(20)
    return (len(hdr) == 20 and hdr[:4] == b"\x7fELF" and hdr[5] == 1
            and struct.unpack_from("<H", hdr, 18)[0] == EM_BPF)


def objects() -> dict[str, Path]:
    """All corpus objects: {"package/relative-name": path to an ELF file}."""
    out: dict[str, Path] = {}
    seen: set[str] = set()  # one entry per distinct object (tools share skeletons)
    emb = CACHE / "embedded"
    for package in PACKAGES:
        root = fetch(package)
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            rel = path.relative_to(root)
            if path.suffix in (".o", ".elf"):
                if path.name.endswith("-eb.elf") or not _is_bpf_elf(path):
                    continue
                out[f"{package}/{rel}"] = path
                continue
            # executables and libraries: libbpf skeletons embed the object
            if path.stat().st_size > 64 << 20 or "/share/" in str(rel):
                continue
            data = path.read_bytes()
            if data[:4] != b"\x7fELF":
                continue
            elves = embedded_elves(data)
            for n, blob in enumerate(elves):
                digest = hashlib.sha256(blob).hexdigest()[:12]
                if digest in seen:
                    continue
                seen.add(digest)
                name = path.name + (f".{n}" if len(elves) > 1 else "") + ".bpf.o"
                # the file name gives libbpf's object name (internal map names): keep the
                # tool's name and tell versions apart by directory
                target = emb / package / digest / name
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    tmp = target.with_suffix(".tmp")
                    tmp.write_bytes(blob)
                    tmp.replace(target)
                out[f"{package}/{rel.parent}/{name}"] = target
    return out


if __name__ == "__main__":
    objs = objects()
    for key, p in objs.items():
        print(f"{key}\t{p}")
    print(f"{len(objs)} objects", file=sys.stderr)
