"""A corpus of real-world BPF objects compiled by others, taken from Debian packages.

Used by tests/test_realworld.py (differential test against libbpf). The packages are fetched
with ``apt-get download`` (never installed) and unpacked with ``dpkg -x`` into a cache
directory ($XDG_CACHE_HOME/corebpf/corpus, or $COREBPF_CORPUS_DIR); BPF objects are then
collected:

- plain object files (``*.o`` under /usr/lib*/bpf, /usr/libexec/xdp-tools ...),
- cilium/ebpf's little-endian test objects (``*-el.elf``),
- ELF objects embedded in binaries as libbpf skeletons (libbpf-tools, xdp-tools): found by
  scanning for ELF headers whose e_machine is EM_BPF, each cut at the end of its section
  header table.

Plus the repository's own programs (tests/progs, the tools) compiled against Debian 6.1's
vmlinux.h (``old_header_objects``): CO-RE relocations that move between 6.1 and this kernel.

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
# outside the checkout: kept across clones (CI runs in a fresh clone on the same machine)
CACHE = Path(os.environ.get("COREBPF_CORPUS_DIR")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
             / "corebpf" / "corpus")

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
    objs: dict = dict(objects())
    objs.update(old_header_objects())
    for key, p in objs.items():
        print(f"{key}\t{p}")
    print(f"{len(objs)} objects", file=sys.stderr)


# -- the repository's own programs compiled against an older kernel's headers -----------------
# Debian 6.1's vmlinux.h (from the linux-image package's BTF): the objects carry 6.1 layouts,
# so CO-RE relocations really move when they load on the running kernel.
OLD_SERIES = "6.1"
CLANG_FLAGS = ["-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86", "-w",
               "-idirafter", "/usr/include/x86_64-linux-gnu"]


def _vmlinux_from_vmlinuz(data: bytes) -> bytes:
    """Decompress the kernel ELF inside a bzImage (xz or gzip payload)."""
    import lzma
    import zlib
    i = data.find(b"\xfd7zXZ\x00")
    if i != -1:
        out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[i:])
        if out[:4] == b"\x7fELF":
            return out
    i = data.find(b"\x1f\x8b\x08\x00")
    while i != -1:
        try:
            out = zlib.decompressobj(31).decompress(data[i:])
            if out[:4] == b"\x7fELF":
                return out
        except zlib.error:
            pass
        i = data.find(b"\x1f\x8b\x08\x00", i + 1)
    raise CorpusError("no xz/gzip-compressed kernel ELF found in vmlinuz")


def old_vmlinux_h(series: str = OLD_SERIES) -> Path:
    """vmlinux.h of Debian's kernel ``series`` (cached)."""
    out = CACHE / f"include-{series}" / "vmlinux.h"
    if out.exists() and out.stat().st_size > 0:
        return out
    from corebpf.testing import vmrun
    try:
        kdir = vmrun.fetch_kernel(series)
    except (vmrun.VMError, subprocess.CalledProcessError, StopIteration) as e:
        raise CorpusError(f"cannot fetch Debian's {series} kernel: {e}") from e
    out.parent.mkdir(parents=True, exist_ok=True)
    elf = out.parent / "vmlinux"
    elf.write_bytes(_vmlinux_from_vmlinuz((kdir / "vmlinuz").read_bytes()))
    try:
        with open(out.with_suffix(".tmp"), "w") as f:
            r = subprocess.run(["bpftool", "btf", "dump", "file", str(elf), "format", "c"],
                               stdout=f, stderr=subprocess.PIPE, text=True, timeout=300)
        if r.returncode != 0:
            raise CorpusError(f"bpftool btf dump of the {series} kernel failed: {r.stderr}")
        out.with_suffix(".tmp").replace(out)
    finally:
        elf.unlink()
    return out


def old_header_objects(series: str = OLD_SERIES) -> dict[str, Path | str]:
    """tests/progs/*.bpf.c and the tools' .bpf.c built against ``series`` headers:
    {"oldheaders-6.1/name": object path, or the compiler's complaint}."""
    header = old_vmlinux_h(series)
    sources = sorted((ROOT / "tests" / "progs").glob("*.bpf.c"))
    sources += sorted((ROOT / "src" / "corebpf" / "tools").glob("*.bpf.c"))
    outdir = CACHE / f"objs-{series}"
    outdir.mkdir(parents=True, exist_ok=True)
    hh = hashlib.sha256(header.read_bytes()).hexdigest()
    out: dict[str, Path | str] = {}
    for src in sources:
        h = hashlib.sha256(hh.encode() + " ".join(CLANG_FLAGS).encode())
        h.update(src.read_bytes())
        for hdr in sorted(src.parent.glob("*.h")):
            h.update(hdr.read_bytes())
        name = src.name[:-len(".bpf.c")]
        obj = outdir / name / f"{h.hexdigest()[:12]}" / f"{name}.bpf.o"
        key = f"oldheaders-{series}/{name}"
        if not obj.exists():
            obj.parent.mkdir(parents=True, exist_ok=True)
            tmp = obj.with_suffix(".tmp")
            r = subprocess.run(["clang", *CLANG_FLAGS, "-I", str(header.parent), "-I",
                                str(src.parent), "-c", str(src), "-o", str(tmp)],
                               capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                out[key] = f"does not compile against {series} headers: {r.stderr[-400:]}"
                continue
            tmp.replace(obj)
        out[key] = obj
    return out
