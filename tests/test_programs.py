"""Program: low-level load, test_run, info, xlated, pins, ids, verifier errors."""
from __future__ import annotations

import os
import struct

import pytest

from corebpf.errors import Error, VerifierError
from corebpf.programs import Program, failing_instruction

XDP, SOCKET_FILTER = 6, 1


def ins(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, dst | (src << 4), off, imm)


def ret(v: int) -> bytes:
    return ins(0xB7, 0, imm=v) + ins(0x95)  # r0 = v; exit


@pytest.fixture
def bpffs_dir(tmp_path):
    from corebpf import _sys
    _sys.mount_bpffs("/sys/fs/bpf")
    d = f"/sys/fs/bpf/corebpf-test-programs-{os.getpid()}"
    os.makedirs(d, exist_ok=True)
    yield d
    for n in os.listdir(d):
        os.unlink(os.path.join(d, n))
    os.rmdir(d)


@pytest.mark.kernel
def test_load_info_test_run(no_fd_leak):
    with Program.load(XDP, ret(2), "GPL", name="cb_xdp_pass") as p:
        assert p.fd > 0 and p.type == XDP and p.name == "cb_xdp_pass"
        info = p.info()
        assert info.type == XDP and info.type_name == "xdp"
        assert info.name == "cb_xdp_pass"
        assert info.xlated_len == 16 and info.jited_len > 0
        assert len(info.tag) == 16 and info.id > 0 and info.map_ids == []
        assert p.xlated(raw=True) == ret(2)
        r = p.test_run(b"\xaa" * 64, repeat=10)
        assert r.retval == 2 and r.data_out == b"\xaa" * 64 and r.duration >= 0
        r = p.test_run(b"\x00" * 64, data_out=False)
        assert r.data_out is None
    assert p.closed
    with pytest.raises(ValueError):
        p.fd


@pytest.mark.kernel
def test_name_truncated_to_15_chars(no_fd_leak):
    with Program.load(XDP, ret(1), name="a_rather_long_program_name") as p:
        assert p.info().name == "a_rather_long_p"


@pytest.mark.kernel
def test_insns_as_instruction_objects(no_fd_leak):
    from corebpf import asm
    with Program.load(XDP, asm.decode(ret(3))) as p:
        assert p.test_run(b"\0" * 32).retval == 3


@pytest.mark.kernel
def test_verifier_error_has_log_and_instruction(no_fd_leak):
    # r0 is read before it is written: the verifier refuses at instruction 1
    bad = ins(0xB7, 1, imm=0) + ins(0x79, 2, 0, 0) + ins(0x95)
    with pytest.raises(VerifierError) as ei:
        Program.load(XDP, bad, name="bad_prog", source=lambda i: f"bad.c:{i + 10}: x = *p;")
    e = ei.value
    assert e.instruction == 1
    assert "R0 !read_ok" in e.log
    assert "bad.c:11: x = *p;" in str(e) and e.source == "bad.c:11: x = *p;"
    assert e.program == "bad_prog"
    assert failing_instruction(e.log) == 1


@pytest.mark.kernel
def test_log_level_keeps_log(no_fd_leak):
    with Program.load(XDP, ret(2), log_level=2) as p:
        assert "processed" in p.log


@pytest.mark.kernel
def test_pin_from_pin_from_id(bpffs_dir, no_fd_leak):
    path = os.path.join(bpffs_dir, "prog")
    with Program.load(SOCKET_FILTER, ret(0), name="cb_sock") as p:
        pid = p.info().id
        p.pin(path)
        assert p.pinned == path and os.path.exists(path)
        with Program.from_pin(path) as q:
            assert q.info().id == pid and q.name == "cb_sock" and q.type == SOCKET_FILTER
        with Program.from_id(pid) as q:
            assert q.info().id == pid
        with Program.from_fd(p.fd) as q:
            assert q.fd != p.fd and q.info().id == pid
        p.unpin()
        assert not os.path.exists(path) and p.pinned is None
    with pytest.raises(Error):
        Program.from_pin(path)


@pytest.mark.kernel
def test_run_stats_visible_in_info(no_fd_leak):
    from corebpf import _sys
    with _sys.enable_stats(), Program.load(XDP, ret(2)) as p:
        p.test_run(b"\0" * 64, repeat=5)
        assert p.info().run_cnt >= 5


def test_failing_instruction_scans_from_the_end():
    """The last `N: (op)` line wins; a rotated log may start mid-line; state lines and
    `from A to B` lines are not instructions."""
    from corebpf.programs import explain_verifier_error
    log = ("e_w=scalar()\n3: (61) r3 = *(u32 *)(r1 +0)\n4: (0f) r0 += r3\n"
           "from 4 to 3: R0=1\n3: R0=1\nBPF program is too large. Processed 1000001 insn\n"
           "processed 1000001 insns (limit 1000000)\n")
    assert failing_instruction(log) == 4
    assert failing_instruction("nothing here\n\n") is None and failing_instruction("") is None
    assert failing_instruction("12: (95) exit") == 12
    e = VerifierError("p", 7, log)
    e.log_truncated = "tail"
    got = explain_verifier_error(e, "p", lambda i: f"x.c:{i}: line")
    assert got.instruction == 4 and got.source == "x.c:4: line"
    assert "too large" in str(got) and "at 4: (0f) r0 += r3" in str(got)
    # a log cut at its end (kernels before 6.4 keep the start): its last instruction is
    # not the one refused, so none is named
    e = VerifierError("p", 7, "0: (b7) r0 = 0\n1: (05) goto pc-2\n")
    e.log_truncated = "head"
    got = explain_verifier_error(e, "p", lambda i: f"x.c:{i}: line")
    assert got.instruction is None and got.source is None
    assert "keeps its start" in str(got)



def test_last_log_line_scans_from_the_end():
    """The verdict is the last line before the statistics trailer, found from the log's end
    without splitting it (logs of 16 MiB): cheap in memory whatever the log's size."""
    import tracemalloc
    from corebpf.errors import _last_log_line
    trailer = ("processed 9 insns (limit 1000000) max_states_per_insn 0\n"
               "stack depth 8\nverification time 12 usec\n\n")
    assert _last_log_line("0: (b7) r0 = 0\nR0 !read_ok\n" + trailer) == "R0 !read_ok"
    assert _last_log_line("  R1 invalid mem access 'scalar'  \r\n\n") == \
        "R1 invalid mem access 'scalar'"
    assert _last_log_line(trailer) == "verification time 12 usec"   # only a trailer
    assert _last_log_line("") == "verifier refused the program"
    assert _last_log_line("\n \n\t\n") == "verifier refused the program"
    assert _last_log_line("one line") == "one line"
    big = "0: (b7) r0 = 0 ; R0_w=0\n" * (16 * 1024 * 1024 // 24) + "BPF program is too large\n"
    big += trailer
    tracemalloc.start()
    try:
        assert _last_log_line(big) == "BPF program is too large"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, peak               # splitting it took hundreds of MB
    e = VerifierError("p", 22, big)
    assert "BPF program is too large" in str(e)
