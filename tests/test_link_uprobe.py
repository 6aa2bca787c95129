"""uprobes, uretprobes, uprobe.multi and USDT on a test binary compiled here with gcc."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import corebpf
from corebpf import link
from corebpf.errors import AttachError
from corebpf.link import usdt

# A USDT probe written the way <sys/sdt.h> writes it (systemtap-sdt-dev is not installed
# here): a nop at the probe site and a .note.stapsdt entry naming it, with the argument
# location filled in by the compiler ("-4@%eax" ...).
TARGET_C = r'''
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USDT1(prov, name, arg) \
  __asm__ __volatile__ ( \
    "990: nop\n" \
    ".pushsection .note.stapsdt,\"?\",\"note\"\n" \
    ".balign 4\n" \
    ".4byte 992f-991f, 994f-993f, 3\n" \
    "991: .asciz \"stapsdt\"\n" \
    "992: .balign 4\n" \
    "993: .8byte 990b\n" \
    ".8byte _.stapsdt.base\n" \
    ".8byte 0\n" \
    ".asciz \"" #prov "\"\n" \
    ".asciz \"" #name "\"\n" \
    ".asciz \"-4@%0\"\n" \
    "994: .balign 4\n" \
    ".popsection\n" \
    ".ifndef _.stapsdt.base\n" \
    ".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n" \
    ".weak _.stapsdt.base\n" \
    ".hidden _.stapsdt.base\n" \
    "_.stapsdt.base: .space 1\n" \
    ".size _.stapsdt.base, 1\n" \
    ".popsection\n" \
    ".endif\n" \
    :: "nor"(arg))

__attribute__((noinline)) int add(int a, int b) { __asm__ volatile(""); return a + b; }
__attribute__((noinline)) int sub(int a, int b) { __asm__ volatile(""); return a - b; }

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1, s = 0;
	char line[8];
	if (argc > 2 && !strcmp(argv[2], "wait") && !fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < n; i++) {
		s += add(i + 40, 2);
		s += sub(i, 1);
		USDT1(corebpf, tick, i + 7);
	}
	printf("%d\n", s);
	return 0;
}
'''

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("uprobe")
    src = d / "target.c"
    src.write_text(TARGET_C)
    out = d / "target"
    subprocess.run(["gcc", "-O1", "-o", str(out), str(src)], check=True)
    return str(out)


@pytest.fixture(scope="module", autouse=True)
def _kernel_btf_cached():
    from corebpf.btf import BTF
    BTF.kernel()  # cached and kept open: before the fd-leak checks


@pytest.fixture(scope="module")
def obj(bpf_prog):
    names = ["on_add", "on_add_ret", "on_usdt"]
    with corebpf.load(bpf_prog("hook_misc"), programs=names) as o:
        yield o


@pytest.fixture
def hits(obj):
    m = obj.maps["hits"]
    for i in range(16):
        m[i] = 0
    return m


def _nm(path: str, sym: str) -> int:
    out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == sym:
            return int(parts[0], 16)
    raise AssertionError(f"{sym} not in nm output")


def test_symbol_offset_matches_nm(target):
    # gcc's default PIE layout maps .text at the same virtual address as its file offset
    path, off = link.symbol_offset(target, "add")
    assert path == os.path.realpath(target)
    assert off == _nm(target, "add")
    assert link.symbol_offset(target, "add+4")[1] == off + 4
    with pytest.raises(AttachError, match="no function symbol 'nope'"):
        link.symbol_offset(target, "nope")
    with pytest.raises(AttachError, match="no such file"):
        link.symbol_offset("/no/such/binary", "main")
    with pytest.raises(AttachError, match="not a valid ELF64"):
        link.symbol_offset("/etc/passwd", "main")


def test_library_by_name_and_pid():
    libc = link.uprobe.resolve_path("libc.so.6")
    assert os.path.basename(libc).startswith("libc")
    p = subprocess.Popen(["sleep", "5"])
    try:
        import time
        time.sleep(0.1)
        via_pid = link.uprobe.resolve_path("libc", pid=p.pid)
        assert "libc" in os.path.basename(via_pid)
        with open(f"/proc/{p.pid}/maps") as f:
            assert via_pid in f.read()
        path, off = link.symbol_offset("libc.so.6", "getpid")
        assert off > 0
    finally:
        p.kill()
        p.wait()


def test_uprobe_and_uretprobe(obj, hits, target, no_fd_leak):
    with link.attach_uprobe(obj.programs["on_add"], target, "add") as up, \
            link.attach(obj.programs["on_add_ret"], binary=target, func="add") as ret:
        if up.info().perf_event_type != "unspec":   # details reported since Linux 6.6
            assert up.info().perf_event_type == "uprobe"
            assert ret.info().perf_event_type == "uretprobe"
            assert up.info().offset == _nm(target, "add")
        out = subprocess.run([target, "3"], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == str(40 + 41 + 42 + 3 * 2 + (-1 + 0 + 1))
        assert hits[1] == 3 and hits[2] == 3
        assert hits[5] == 44 and hits[6] == 44   # add(42, 2): args and return value
    subprocess.run([target, "2"], capture_output=True, check=True)
    assert hits[1] == 3, "uprobe still attached after close()"


def test_uprobe_section_target(obj, hits, target, no_fd_leak):
    prog = obj.programs["on_add"]
    old = prog.section
    prog.section = f"uprobe/{target}:add"
    try:
        with link.attach(prog):
            subprocess.run([target, "2"], capture_output=True, check=True)
        assert hits[1] == 2
    finally:
        prog.section = old
    with pytest.raises(AttachError, match="needs a binary"):
        link.attach(prog)


def test_uprobe_pid_filter(obj, hits, target, no_fd_leak):
    p = subprocess.Popen([target, "2", "wait"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        with link.attach_uprobe(obj.programs["on_add"], target, "add", pid=p.pid):
            subprocess.run([target, "5"], capture_output=True, check=True)  # other pid
            p.communicate("go\n", timeout=10)
        assert hits[1] == 2
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate()   # reaps it and closes our ends of its pipes


def _kernel_at_least(major: int, minor: int) -> bool:
    rel = os.uname().release.split("-")[0].split(".")
    return (int(rel[0]), int(rel[1])) >= (major, minor)


def test_uprobe_multi(bpf_prog, target, no_fd_leak):
    o = corebpf.load(bpf_prog("hook_misc"), programs=["on_multi"])
    if not _kernel_at_least(6, 6):
        with o, pytest.raises(link.HookUnavailable, match=r"'on_multi'.*Linux 6.6\+"):
            link.attach_uprobe_multi(o.programs["on_multi"], target, ["add", "sub"])
        return
    with o:
        hits = o.maps["hits"]
        prog = o.programs["on_multi"]
        with link.attach_uprobe_multi(prog, target, ["add", "sub"]) as ln:
            info = ln.info()
            assert info.type_name == "uprobe_multi" and info.count == 2
            subprocess.run([target, "3"], capture_output=True, check=True)
            assert hits[8] == 6
        with link.attach_uprobe_multi(prog, target, "a*"):
            subprocess.run([target, "1"], capture_output=True, check=True)
        assert hits[8] == 7


def test_usdt_notes(target):
    notes = usdt.read_notes(target)
    assert len(notes) == 1
    n = notes[0]
    assert (n.provider, n.name) == ("corebpf", "tick")
    assert len(n.args) == 1 and n.args[0].size == -4
    with pytest.raises(AttachError, match="no USDT probe corebpf:nope"):
        usdt.find_probes(target, "corebpf", "nope")


def test_usdt_arg_specs():
    a = usdt.parse_args("-4@%edi 8@-16(%rbp) 4@$5 2@(%rax) -8@0x10(%r12) 1@%r9b")
    assert [x.kind for x in a] == [usdt.ARG_REG, usdt.ARG_REG_DEREF, usdt.ARG_CONST,
                                   usdt.ARG_REG_DEREF, usdt.ARG_REG_DEREF, usdt.ARG_REG]
    assert a[0].reg_off == 112 and a[0].size == -4
    assert a[1].value == -16 and a[1].reg_off == 32
    assert a[2].value == 5
    assert a[4].value == 16 and a[4].reg_off == 24
    assert a[5].reg_off == 64
    spec = usdt.UsdtNote("p", "n", 0, 0, 0, "-4@%edi 4@$5").spec(cookie=9)
    assert len(spec) == usdt.SPEC_SIZE
    with pytest.raises(AttachError, match="unsupported USDT argument"):
        usdt.parse_args("8@sym(%rip)x")
    with pytest.raises(AttachError, match="unknown register"):
        usdt.parse_args("8@%xmm0")


def test_usdt_attach_reads_argument(obj, hits, target, no_fd_leak):
    with link.attach(obj.programs["on_usdt"], binary=target, provider="corebpf",
                     name="tick") as ln:
        assert ln.hook == "usdt"
        subprocess.run([target, "4"], capture_output=True, check=True)
    assert hits[4] == 4
    assert hits[7] == 3 + 7   # last call: i = 3


def test_uprobe_on_shared_library(obj, hits, no_fd_leak):
    code = "import os, sys; sys.stdin.readline(); [os.getpid() for _ in range(7)]"
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, text=True)
    try:
        import time
        for _ in range(600):   # until the interpreter has mapped libc
            with open(f"/proc/{p.pid}/maps") as f:
                if "libc" in f.read():
                    break
            time.sleep(0.05)
        # found through /proc/PID/maps, probe limited to that process
        with link.attach_uprobe(obj.programs["on_add"], "libc", "getpid", pid=p.pid) as ln:
            info = ln.info()
            assert info.perf_event_type == "unspec" or "libc" in info.file_name
            p.communicate("go\n", timeout=60)
        assert hits[1] >= 7
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate()   # reaps it and closes our ends of its pipes


def test_usdt_with_libbpf_header(bpf_prog, target, no_fd_leak):
    # BPF_USDT()/bpf_usdt_arg() from <bpf/usdt.bpf.h> read what attach_usdt wrote
    # usdt.bpf.h includes <linux/errno.h>, which wants the multiarch <asm/errno.h>
    path = bpf_prog("hook_usdt", ("-idirafter", "/usr/include/x86_64-linux-gnu"))
    with corebpf.load(path) as o:
        with link.attach_usdt(o.programs["on_tick"], target, "corebpf", "tick", cookie=99):
            subprocess.run([target, "5"], capture_output=True, check=True)
        v = o.variables
        assert v["calls"] == 5
        assert v["last_arg"] == 4 + 7
        assert v["arg_count"] == 1
        assert v["cookie"] == 99


def test_uprobe_legacy_tracefs(obj, hits, target, monkeypatch, no_fd_leak):
    # kernels without the uprobe PMU: a uprobe_events entry in tracefs + a tracepoint
    import corebpf.link.uprobe as U
    monkeypatch.setattr(U, "_pmu_type", lambda: -1)
    root = link._kernel.tracefs()
    with link.attach_uprobe(obj.programs["on_add"], target, "add") as ln:
        with open(f"{root}/uprobe_events") as f:
            assert f"corebpf_{os.getpid()}_" in f.read()
        assert ln.info().perf_event_type in ("uprobe", "unspec")  # it sees through it
        subprocess.run([target, "2"], capture_output=True, check=True)
        assert hits[1] == 2
    with open(f"{root}/uprobe_events") as f:
        assert f"corebpf_{os.getpid()}_" not in f.read()   # removed with the link
