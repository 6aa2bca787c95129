"""A newer toolchain for the differential tests: clang-22 and libbpf 1.5 (Linux 6.12).

tests/test_differential.py and tests/test_realworld.py compare corebpf with Debian 12's
libbpf 1.1 on objects built by clang 14. Objects built by newer toolchains, using newer
libbpf conventions (arena, open-coded iterators, exception callbacks, ``__arg_ctx``,
``.struct_ops.link``, ``-mcpu=v4`` instructions), are checked here, against the libbpf of
Debian's linux-source-6.12 package (tools/lib/bpf, libbpf ≈1.5):

- ``source_tree()``: the parts of linux-source-6.12 we need (tools/lib/bpf, tools/include,
  tools/arch/x86/include, scripts/bpf_doc.py, tools/testing/selftests/bpf headers and
  progs), extracted once into the corpus cache (``corpus.CACHE``), never into the checkout;
- ``libbpf_dir()``: libbpf 1.5 compiled with gcc into a static library + its headers
  (``bpf/*.h`` including the generated ``bpf_helper_defs.h``), cached by content hash;
- ``oracle()``: tests/oracle_realworld/oracle.c (+ tests/oracle/oracle.c) linked against it;
- ``objects()``: tests/progs/*.bpf.c and a curated set of the 6.12 selftests compiled by
  clang-22 ``-mcpu=v4`` with libbpf 1.5's headers and the running kernel's vmlinux.h.

Every build is cached under a content hash, as tests/conftest.py does for tests/.build.
Run ``python tests/modern.py`` to build everything and list the objects.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from corpus import CACHE, CorpusError

ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGE = "linux-source-6.12"
CLANG = "clang-22"
TREE = CACHE / f"{SOURCE_PACKAGE}-tree"
# what we take from the 6.12 source tarball (tar --wildcards patterns under linux-source-6.12/)
_WANT = ("tools/lib/bpf", "tools/include", "tools/arch/x86/include", "scripts/bpf_doc.py",
         "tools/testing/selftests/bpf/progs", "tools/testing/selftests/bpf/*.h")

# 6.12 selftests this kernel can load, one for each newer convention (see test_modern.py)
SELFTESTS = (
    # arena (.addr_space.1, __arena, addr_space_cast), may_goto (can_loop/cond_break)
    "arena_htab", "arena_list", "arena_atomics", "verifier_arena", "verifier_arena_large",
    # open-coded iterators, callbacks
    "iters", "iters_num", "iters_looping", "iters_testmod_seq", "iters_task_vma",
    "verifier_iterating_callbacks", "bpf_loop", "for_each_array_map_elem",
    "for_each_hash_map_elem", "for_each_multi_maps", "timer", "timer_mim",
    # exception callbacks (bpf_throw, __exception_cb decl tags)
    "exceptions", "exceptions_assert", "exceptions_ext",
    # global subprograms with __arg_ctx/__arg_nonnull/... decl tags
    "test_global_func_ctx_args", "verifier_global_subprogs", "verifier_subprog_precision",
    # kfuncs, typed and weak ksyms, bpf_ksym_exists
    "cpumask_success", "task_kfunc_success", "test_ksyms_weak", "test_ksyms_btf",
    "test_ksyms_module", "kfunc_call_test", "dynptr_success", "rbtree", "linked_list",
    "local_kptr_stash", "preempt_lock",
    # CO-RE incl. bpf_core_type_matches, __kconfig/LINUX_KERNEL_VERSION
    "test_core_reloc_type_based", "test_core_reloc_kernel", "test_core_extern",
    # custom .data.<name>/.rodata.<name>, map-in-map and prog-array .values
    "test_global_data", "test_skeleton", "test_global_map_resize", "test_prog_array_init",
    "test_btf_map_in_map", "test_map_in_map", "map_in_map_btf", "test_map_init",
    "verifier_spill_fill",
    # struct_ops (.struct_ops.link, autocreate, modules)
    "bpf_cubic", "bpf_dctcp", "tcp_ca_update", "struct_ops_module", "struct_ops_maybe_null",
    "struct_ops_autocreate", "struct_ops_autocreate2",
    # cpuv4 instructions
    "verifier_sdiv", "verifier_movsx", "verifier_ldsx", "verifier_bswap", "verifier_gotol",
    # sections, autoload, attach kinds
    "test_autoload", "test_subprogs", "test_custom_sec_handlers", "test_vmlinux",
    "test_attach_probe", "tracing_struct", "test_ringbuf", "test_usdt", "test_uprobe",
    "uprobe_multi", "test_build_id", "kprobe_multi_session", "test_tp_btf_nullable",
    "test_static_linked1",
)
CLANG_FLAGS = ["-g", "-O2", "-target", "bpf", "-mcpu=v4", "-D__TARGET_ARCH_x86",
               "-Wno-compare-distinct-pointer-types", "-w",
               "-idirafter", "/usr/include/x86_64-linux-gnu", "-idirafter", "/usr/include"]


def _run(cmd: list[str], cwd: Path | None = None, timeout: int = 600) -> str:
    r = subprocess.run(cmd, cwd=str(cwd) if cwd else None, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise CorpusError(f"{' '.join(map(str, cmd))[:300]} failed ({r.returncode}): "
                          f"{(r.stderr or r.stdout).strip()[-1200:]}")
    return r.stdout


def clang() -> str:
    """The clang-22 binary (scripts/setup-system.sh installs it)."""
    path = shutil.which(CLANG)
    if path is None:
        raise CorpusError(f"{CLANG} is not installed (apt-get install {CLANG})")
    return path


@contextlib.contextmanager
def _locked():
    """One builder at a time (parallel test sessions share the cache)."""
    import fcntl
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".modern.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def source_tree() -> Path:
    """The wanted parts of linux-source-6.12, extracted once (one pass of tar over the xz)."""
    done = TREE / ".extracted"
    if done.exists():
        return TREE
    with _locked():
        if done.exists():
            return TREE
        return _extract(done)


def _extract(done: Path) -> Path:
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{SOURCE_PACKAGE}_*.deb"))
    if not found:
        if not shutil.which("apt-get"):
            raise CorpusError(f"apt-get is needed to fetch {SOURCE_PACKAGE}")
        _run(["apt-get", "download", SOURCE_PACKAGE], debs)
        found = sorted(debs.glob(f"{SOURCE_PACKAGE}_*.deb"))
        if not found:
            raise CorpusError(f"apt-get download {SOURCE_PACKAGE} left no .deb in {debs}")
    if TREE.exists():
        shutil.rmtree(TREE)
    TREE.mkdir(parents=True)
    tmp = CACHE / f"{SOURCE_PACKAGE}-deb"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        # the .deb holds the tarball under usr/src: take it out, then only what we need
        _run(["dpkg", "-x", str(found[-1]), str(tmp)])
        tarball = next(tmp.rglob("linux-source-*.tar.*"), None)
        if tarball is None:
            raise CorpusError(f"{SOURCE_PACKAGE} holds no source tarball")
        top = tarball.name.split(".tar")[0]
        _run(["tar", "-xf", str(tarball), "-C", str(TREE), "--strip-components=1",
              "--wildcards", *(f"{top}/{w}" for w in _WANT)], timeout=900)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    done.write_text(found[-1].name + "\n")
    return TREE


def _tree_hash(paths: list[Path], extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for p in sorted(paths):
        h.update(str(p).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def libbpf_dir() -> Path:
    """libbpf 1.5 built from the 6.12 source: DIR/libbpf.a and DIR/include/bpf/*.h."""
    tree = source_tree()
    src = tree / "tools" / "lib" / "bpf"
    sources = sorted(src.glob("*.c"))
    headers = sorted(src.glob("*.h"))
    uapi = tree / "tools" / "include" / "uapi" / "linux" / "bpf.h"
    key = _tree_hash(sources + headers + [uapi])
    out = CACHE / f"libbpf-6.12-{key}"
    if (out / "libbpf.a").exists():
        return out
    with _locked():
        if (out / "libbpf.a").exists():
            return out
        return _build_libbpf(tree, src, sources, headers, uapi, out)


def _build_libbpf(tree: Path, src: Path, sources: list[Path], headers: list[Path],
                  uapi: Path, out: Path) -> Path:
    if not shutil.which("gcc"):
        raise CorpusError("gcc is needed to build libbpf 1.5")
    build = out.with_name(out.name + ".tmp")
    if build.exists():
        shutil.rmtree(build)
    inc = build / "include" / "bpf"
    inc.mkdir(parents=True)
    for hdr in headers:
        shutil.copy(hdr, inc / hdr.name)
    # bpf_helper_defs.h is generated from the uapi header, as libbpf's Makefile does
    defs = _run([sys.executable, str(tree / "scripts" / "bpf_doc.py"), "--header",
                 "--file", str(uapi)])
    (inc / "bpf_helper_defs.h").write_text(defs)
    cflags = ["-O1", "-g0", "-fPIC", "-std=gnu89", "-D_LARGEFILE64_SOURCE",
              "-D_FILE_OFFSET_BITS=64", "-D_GNU_SOURCE", "-w",
              "-I", str(build / "include"), "-I", str(src),
              "-I", str(tree / "tools" / "include"),
              "-I", str(tree / "tools" / "include" / "uapi")]
    from concurrent.futures import ThreadPoolExecutor

    def one(c: Path) -> Path:
        o = build / (c.stem + ".o")
        _run(["gcc", *cflags, "-c", str(c), "-o", str(o)])
        return o

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        objs = list(pool.map(one, sources))
    _run(["ar", "rcs", str(build / "libbpf.a"), *map(str, objs)])
    for o in objs:
        o.unlink()
    if out.exists():
        shutil.rmtree(out)
    build.replace(out)
    return out


ORACLE_SRCS = (ROOT / "tests" / "oracle_realworld" / "oracle.c",
               ROOT / "tests" / "oracle" / "oracle.c")


def oracle(srcs: tuple[Path, ...] = ORACLE_SRCS, name: str = "oracle") -> Path:
    """tests/oracle_realworld/oracle.c (or ``srcs[0]``, which #includes the others) linked
    statically against libbpf 1.5."""
    lib = libbpf_dir()
    key = _tree_hash(list(srcs), str(lib))
    out = CACHE / "oracle-libbpf-1.5" / key / name
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    _run(["gcc", "-O1", "-w", "-I", str(lib / "include"), "-o", str(tmp), str(srcs[0]),
          str(lib / "libbpf.a"), "-lelf", "-lz"])
    tmp.replace(out)
    return out


def spec_oracle() -> Path:
    """tests/oracle_spec/spec_oracle.c (libbpf's open-time view) on libbpf 1.5."""
    return oracle((ROOT / "tests" / "oracle_spec" / "spec_oracle.c",), "spec_oracle")


def vmlinux_h() -> Path:
    """The running kernel's vmlinux.h (our dumper), cached by the kernel BTF's hash."""
    raw = Path("/sys/kernel/btf/vmlinux").read_bytes()
    out = CACHE / f"include-running-{hashlib.sha256(raw).hexdigest()[:12]}" / "vmlinux.h"
    if out.exists() and out.stat().st_size > 0:
        return out
    from corebpf.btf import BTF
    from corebpf.btf.cdump import dump_c
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(dump_c(BTF.from_bytes(raw)))
    tmp.replace(out)
    return out


def _build(jobs: list[tuple[str, list[str], Path, Path]]) -> dict[str, Path | str]:
    from concurrent.futures import ThreadPoolExecutor
    cc = clang()

    def one(job: tuple[str, list[str], Path, Path]) -> Path | str:
        _key, flags, src, obj = job
        if obj.exists():
            return obj
        if obj.with_suffix(".err").exists():
            return obj.with_suffix(".err").read_text()
        obj.parent.mkdir(parents=True, exist_ok=True)
        tmp = obj.with_suffix(f".tmp{os.getpid()}")
        r = subprocess.run([cc, *flags, "-c", str(src), "-o", str(tmp)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            why = f"does not compile with {CLANG}: {r.stderr.strip()[-400:]}"
            if r.returncode == 1 and "error:" in r.stderr:  # a real compile error: cache it
                obj.with_suffix(".err").write_text(why)
            return why
        tmp.replace(obj)
        return obj

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip((j[0] for j in jobs), pool.map(one, jobs)))


def _flags_hash(*parts: bytes) -> hashlib._Hash:
    h = hashlib.sha256(" ".join(CLANG_FLAGS).encode())
    for p in parts:
        h.update(p)
    return h


def own_objects() -> dict[str, Path | str]:
    """tests/progs/*.bpf.c by clang-22 -mcpu=v4 with libbpf 1.5's headers:
    {"clang22/name": object path, or why it does not compile}."""
    lib = libbpf_dir()
    header = vmlinux_h()
    progs = ROOT / "tests" / "progs"
    base = _flags_hash(header.read_bytes(), str(lib).encode())
    for hdr in sorted(progs.glob("*.h")):
        base.update(hdr.read_bytes())
    jobs = []
    for src in sorted(progs.glob("*.bpf.c")):
        name = src.name[:-len(".bpf.c")]
        h = base.copy()
        h.update(src.read_bytes())
        obj = CACHE / "objs-clang22" / name / h.hexdigest()[:12] / f"{name}.bpf.o"
        flags = [*CLANG_FLAGS, "-I", str(lib / "include"), "-I", str(header.parent),
                 "-I", str(progs)]
        jobs.append((f"clang22/{name}", flags, src, obj))
    return _build(jobs)


def selftest_objects() -> dict[str, Path | str]:
    """The curated 6.12 selftests by clang-22 -mcpu=v4: {"selftests-6.12/name": ...}."""
    lib = libbpf_dir()
    header = vmlinux_h()
    st = source_tree() / "tools" / "testing" / "selftests" / "bpf"
    flags = [*CLANG_FLAGS, "-I", str(lib / "include"), "-I", str(header.parent),
             "-I", str(st / "progs"), "-I", str(st),
             "-I", str(TREE / "tools" / "include" / "uapi"),
             "-DENABLE_ATOMICS_TESTS", "-std=gnu11", "-fno-strict-aliasing"]
    base = _flags_hash(header.read_bytes(), str(lib).encode(), " ".join(flags).encode())
    for hdr in [p for p in sorted((st / "progs").glob("*.h")) + sorted(st.glob("*.h"))
                if p.is_file()]:  # dangling symlinks into kernel/ (not extracted)
        base.update(hdr.read_bytes())
    out: dict[str, Path | str] = {}
    jobs = []
    for name in SELFTESTS:
        src = st / "progs" / f"{name}.c"
        key = f"selftests-6.12/{name}"
        if not src.exists():
            out[key] = f"{src.name} is not in {SOURCE_PACKAGE}"
            continue
        h = base.copy()
        h.update(src.read_bytes())
        jobs.append((key, flags, src, CACHE / "selftests-6.12" / h.hexdigest()[:12]
                     / f"{name}.bpf.o"))
    out.update(_build(jobs))
    return out


def objects() -> dict[str, Path | str]:
    out = own_objects()
    out.update(selftest_objects())
    return out


if __name__ == "__main__":
    print("oracle:", oracle(), file=sys.stderr)
    for key, p in objects().items():
        print(f"{key}\t{p if isinstance(p, Path) else p[:200]}")
