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
vmlinux.h (``old_header_objects``): CO-RE relocations that move between 6.1 and this kernel;
and a curated set of the kernel's BPF selftests from Debian's linux-source-6.1 package,
compiled against the same header (``selftest_objects``).

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
    # modern_*.bpf.c need a newer clang than Debian 12's: tests/modern.py builds them
    sources = sorted(p for p in (ROOT / "tests" / "progs").glob("*.bpf.c")
                     if not p.name.startswith("modern_"))
    sources += sorted((ROOT / "src" / "corebpf" / "tools").glob("*.bpf.c"))
    outdir = CACHE / f"objs-{series}"
    outdir.mkdir(parents=True, exist_ok=True)
    hh = hashlib.sha256(header.read_bytes()).hexdigest()
    jobs = []
    for src in sources:
        h = hashlib.sha256(hh.encode() + " ".join(CLANG_FLAGS).encode())
        h.update(src.read_bytes())
        for hdr in sorted(src.parent.glob("*.h")):
            h.update(hdr.read_bytes())
        name = src.name[:-len(".bpf.c")]
        obj = outdir / name / f"{h.hexdigest()[:12]}" / f"{name}.bpf.o"
        cmd = [*CLANG_FLAGS, "-I", str(header.parent), "-I", str(src.parent)]
        jobs.append((f"oldheaders-{series}/{name}", cmd, src, obj))
    return _build(jobs, f"does not compile against {series} headers")


def _build(jobs: list[tuple[str, list[str], Path, Path]], why: str) -> dict[str, Path | str]:
    """Compile (key, clang flags, source, object) jobs not yet cached, on every CPU."""
    from concurrent.futures import ThreadPoolExecutor

    def one(job: tuple[str, list[str], Path, Path]) -> Path | str:
        _key, flags, src, obj = job
        if obj.exists():
            return obj
        obj.parent.mkdir(parents=True, exist_ok=True)
        tmp = obj.with_suffix(".tmp")
        r = subprocess.run(["clang", *flags, "-c", str(src), "-o", str(tmp)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            return f"{why}: {r.stderr[-400:]}"
        tmp.replace(obj)
        return obj

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip((j[0] for j in jobs), pool.map(one, jobs)))

# -- programs from the kernel's own BPF selftests (Debian's linux-source-6.1) ----------------
# Written by the kernel's BPF developers against 6.1's headers and libbpf; a varied, curated
# subset (struct_ops TCP congestion control, CO-RE relocation tests, iterators, tail calls,
# global functions, typed/weak ksyms, timers, USDT, sockmap, sk_lookup ...), compiled here
# against Debian 6.1's vmlinux.h as the selftests' Makefile does (-mcpu=v3).
SELFTEST_PACKAGE = "linux-source-6.1"
SELFTESTS = (
    "bpf_cubic", "bpf_dctcp", "bpf_iter_task", "bpf_iter_tcp4", "bpf_loop",
    "cgroup_skb_sk_lookup_kern", "connect4_prog", "core_kern", "get_func_ip_test",
    "kfree_skb", "tailcall1", "tailcall3", "tailcall6", "test_attach_probe", "test_autoload",
    "test_btf_map_in_map", "test_core_reloc_bitfields_probed", "test_core_reloc_enumval",
    "test_core_reloc_existence", "test_core_reloc_kernel", "test_core_reloc_type_based",
    "test_custom_sec_handlers", "test_global_data", "test_global_func10",
    "test_global_func17", "test_ksyms_btf", "test_ksyms_weak", "test_legacy_printk",
    "test_map_init", "test_prog_array_init", "test_ringbuf", "test_sk_lookup",
    "test_skeleton", "test_sockmap_kern", "test_spin_lock", "test_stacktrace_build_id",
    "test_subprogs", "test_task_pt_regs", "test_tc_bpf", "test_tunnel_kern", "test_usdt",
    "test_xdp", "timer", "test_vmlinux",
)


def _selftest_tree() -> Path:
    """tools/testing/selftests/bpf (+ tools/include) of Debian's 6.1 source, cached."""
    import tarfile
    tree = CACHE / f"{SELFTEST_PACKAGE}-tree"
    if (tree / ".extracted").exists():
        return tree
    root = fetch(SELFTEST_PACKAGE)
    tarball = next(root.rglob("linux-source-*.tar.*"), None)
    if tarball is None:
        raise CorpusError(f"{SELFTEST_PACKAGE} holds no source tarball")
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    want = ("/tools/testing/selftests/bpf/", "/tools/include/")
    with tarfile.open(tarball) as tf:  # one sequential pass over the xz stream
        for member in tf:
            name = member.name
            if not any(w in name for w in want) or not (member.isfile() or member.isdir()):
                continue
            rel = name.split("/", 1)[1] if "/" in name else name
            if "/selftests/bpf/" in name and member.isfile():
                base = rel.rsplit("/", 1)[-1]
                if not base.endswith(".h") and not (
                        base.endswith(".c") and base[:-2] in SELFTESTS):
                    continue
            dest = tree / rel
            if member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(member)
            if src is not None:
                dest.write_bytes(src.read())
    (tree / ".extracted").touch()
    # the 139 MB source tarball is not needed any more
    shutil.rmtree(root, ignore_errors=True)
    for deb in (CACHE / "debs").glob(f"{SELFTEST_PACKAGE}_*.deb"):
        deb.unlink()
    return tree


def selftest_objects(series: str = OLD_SERIES) -> dict[str, Path | str]:
    """{"selftests-6.1/name": object path, or the compiler's complaint}."""
    header = old_vmlinux_h(series)
    tree = _selftest_tree()
    st = tree / "tools" / "testing" / "selftests" / "bpf"
    flags = CLANG_FLAGS + ["-mcpu=v3", "-I", str(header.parent), "-I", str(st / "progs"),
                           "-I", str(st), "-I", str(tree / "tools" / "include" / "uapi")]
    hh = hashlib.sha256(header.read_bytes() + " ".join(flags).encode()).hexdigest()
    outdir = CACHE / f"selftests-{series}"
    out: dict[str, Path | str] = {}
    jobs = []
    for name in SELFTESTS:
        src = st / "progs" / f"{name}.c"
        key = f"selftests-{series}/{name}"
        if not src.exists():
            out[key] = f"{src} is not in {SELFTEST_PACKAGE}"
            continue
        h = hashlib.sha256(hh.encode() + src.read_bytes()).hexdigest()[:12]
        jobs.append((key, flags, src, outdir / h / f"{name}.bpf.o"))
    out.update(_build(jobs, "does not compile"))
    return out

if __name__ == "__main__":
    objs: dict = dict(objects())
    objs.update(old_header_objects())
    objs.update(selftest_objects())
    for key, p in objs.items():
        print(f"{key}\t{p}")
    print(f"{len(objs)} objects", file=sys.stderr)
