"""`corebpf build`: clang with the right flags, vmlinux.h from our dumper, clear errors."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from conftest import vmlinux_h
from corebpf.cli import build as B
from corebpf.errors import Error

SRC = r'''
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64);
         __uint(max_entries, 1); } counts SEC(".maps");

SEC("tp/sched/sched_process_exec")
int on_exec(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	__u32 k = 0; __u64 *v = bpf_map_lookup_elem(&counts, &k);
	if (v && BPF_CORE_READ(t, real_parent, tgid) >= 0)
		__sync_fetch_and_add(v, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
'''

HAVE_CDUMP = importlib.util.find_spec("corebpf.btf.cdump") is not None


def _sections(path) -> set[str]:
    import re
    r = subprocess.run(["llvm-readelf", "-S", "-W", str(path)], capture_output=True, text=True)
    return set(re.findall(r"^\s*\[\s*\d+\]\s+(\S+)", r.stdout, re.M))


def test_arch_names():
    assert B.target_arch("x86_64") == "x86"
    assert B.target_arch("aarch64") == "arm64"
    assert B.target_arch("s390x") == "s390"
    with pytest.raises(Error, match="unknown machine"):
        B.target_arch("pdp11")


def test_default_output(tmp_path):
    assert B.default_output("a/x.bpf.c").name == "x.bpf.o"
    assert B.default_output("a/x.c").name == "x.bpf.o"


def test_build_with_given_header(tmp_path):
    src = tmp_path / "t.bpf.c"
    src.write_text(SRC)
    out = B.build(src, vmlinux=vmlinux_h(), strip=True)
    assert out == tmp_path / "t.bpf.o"
    secs = _sections(out)
    assert {".BTF", ".BTF.ext", ".maps", "tp/sched/sched_process_exec"} <= secs
    assert not any(s.startswith(".debug_") for s in secs)  # stripped


@pytest.mark.skipif(not HAVE_CDUMP, reason="corebpf.btf.cdump (our vmlinux.h dumper, "
                    "engineer D) is not in the tree yet")
def test_build_generates_vmlinux_h(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = tmp_path / "t.bpf.c"
    src.write_text(SRC)
    r = subprocess.run([sys.executable, "-m", "corebpf", "build", str(src), "-o",
                        str(tmp_path / "o.bpf.o")], capture_output=True, text=True,
                       timeout=600, env=os.environ)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o.bpf.o").exists()
    cached = list((tmp_path / "cache" / "corebpf").glob("vmlinux-*/vmlinux.h"))
    assert len(cached) == 1
    # the second build reuses the cached header
    mtime = cached[0].stat().st_mtime_ns
    B.build(src, tmp_path / "o2.bpf.o")
    assert cached[0].stat().st_mtime_ns == mtime
    # --btf FILE: the cache key is the BTF's checksum, not its path
    copy = tmp_path / "vmlinux.btf"
    copy.write_bytes(open("/sys/kernel/btf/vmlinux", "rb").read())
    assert B.vmlinux_h(copy) == cached[0]
    r = subprocess.run([sys.executable, "-m", "corebpf", "build", "--btf", str(copy),
                        "--print-vmlinux-h"], capture_output=True, text=True, env=os.environ)
    assert r.stdout.strip() == str(cached[0])


def test_clang_missing(tmp_path):
    src = tmp_path / "t.bpf.c"
    src.write_text(SRC)
    env = dict(os.environ, PATH=str(tmp_path))  # no clang on this PATH
    r = subprocess.run([sys.executable, "-m", "corebpf", "build", str(src), "--vmlinux-h",
                        str(vmlinux_h())], capture_output=True, text=True, env=env)
    assert r.returncode == 1
    assert "apt-get install clang" in r.stderr


def test_headers_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(B, "HEADER_DIRS", (str(tmp_path),))
    with pytest.raises(B.BuildError, match="libbpf-dev"):
        B.build(_write(tmp_path), vmlinux=vmlinux_h())


def _write(tmp_path):
    p = tmp_path / "t.bpf.c"
    p.write_text(SRC)
    return p


def test_compile_error_is_reported(tmp_path, capfd):
    p = tmp_path / "bad.bpf.c"
    p.write_text('#include "vmlinux.h"\nint f( { return 0; }\n')
    with pytest.raises(B.BuildError, match="clang failed on .*bad.bpf.c"):
        B.build(p, vmlinux=vmlinux_h())
    assert "error" in capfd.readouterr().err


def test_missing_source(tmp_path):
    with pytest.raises(B.BuildError, match="no such file"):
        B.build(tmp_path / "nope.bpf.c", vmlinux=vmlinux_h())


def test_bad_btf(tmp_path):
    bad = tmp_path / "x.btf"
    bad.write_bytes(b"not btf")
    with pytest.raises(Error):
        B.vmlinux_h(bad, cache=tmp_path)


def test_include_and_define_flags(tmp_path):
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "extra.h").write_text("#define FROM_EXTRA 7\n")
    src = tmp_path / "flags.bpf.c"
    src.write_text('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include <extra.h>\n'
                   "#if FROM_EXTRA != 7 || WANT != 3\n#error flags not passed\n#endif\n"
                   'SEC("xdp") int f(void *ctx) { return 2; }\n'
                   'char LICENSE[] SEC("license") = "GPL";\n')
    r = subprocess.run([sys.executable, "-m", "corebpf", "build", str(src), "-I", str(inc),
                        "-D", "WANT=3", "--vmlinux-h", str(vmlinux_h()), "-o",
                        str(tmp_path / "out.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "out.o")
    r = subprocess.run([sys.executable, "-m", "corebpf", "build", str(src), "-I", str(inc),
                        "-D", "WANT=4", "--vmlinux-h", str(vmlinux_h())],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "flags not passed" in r.stderr
