"""`corebpf link ...` against a link we create, compared with what bpftool reports."""
from __future__ import annotations

import json
import subprocess

import pytest

from corebpf import _sys, asm
from corebpf.cli.main import main
from corebpf.errors import Error

RAW_TRACEPOINT = 17


def cli(capsys, *argv: str) -> str:
    rc = main(list(argv))
    outerr = capsys.readouterr()
    assert rc == 0, outerr.err
    return outerr.out


def bpftool_json(*argv: str):
    r = subprocess.run(["bpftool", "-j", *argv], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


@pytest.fixture
def rawtp_link():
    insns = asm.encode([asm.mov64_imm(0, 0), asm.exit_()])
    prog = _sys.prog_load(RAW_TRACEPOINT, insns, "GPL", prog_name="h_cli_rawtp")
    link = _sys.raw_tracepoint_open(prog, "sched_process_exit")
    yield link, prog
    link.close()
    prog.close()


@pytest.mark.kernel
def test_link_show_matches_bpftool(capsys, rawtp_link, bpftool, no_fd_leak):
    link, prog = rawtp_link
    lid = _sys.link_info(link)["id"]
    mine = json.loads(cli(capsys, "link", "show", str(lid), "-j"))
    ref = bpftool_json("link", "show", "id", str(lid))
    for k in ("id", "type", "prog_id", "tp_name"):
        assert mine[k] == ref[k], k
    assert mine["prog_id"] == _sys.prog_info(prog)["id"]
    assert mine["tp_name"] == "sched_process_exit"
    human = cli(capsys, "link", "show", str(lid))
    assert human.startswith(f"{lid}: raw_tracepoint  prog {mine['prog_id']}")


@pytest.mark.kernel
def test_link_list_matches_bpftool(capsys, rawtp_link, bpftool):
    mine = {r["id"]: (r["type"], r["prog_id"]) for r in json.loads(cli(capsys, "link", "list", "-j"))}
    ref = {r["id"]: (r["type"], r["prog_id"]) for r in bpftool_json("link", "list")}
    common = set(mine) & set(ref)
    assert _sys.link_info(rawtp_link[0])["id"] in common
    assert all(mine[i] == ref[i] for i in common)


@pytest.mark.kernel
def test_link_detach_unsupported(capsys, rawtp_link):
    lid = _sys.link_info(rawtp_link[0])["id"]
    assert main(["link", "detach", str(lid)]) == 1
    assert "cannot detach raw_tracepoint links" in capsys.readouterr().err


@pytest.fixture
def cgroup_link(tmp_path):
    import os
    root = next((p for p in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")
                 if os.path.exists(os.path.join(p, "cgroup.procs"))), None)
    if root is None:
        pytest.skip("no cgroup2 mount")
    cg = os.path.join(root, f"h_cli_link_{os.getpid()}")
    os.makedirs(cg, exist_ok=True)
    insns = asm.encode([asm.mov64_imm(0, 1), asm.exit_()])
    prog = _sys.prog_load(8, insns, "GPL", prog_name="h_cli_cgskb",  # cgroup_skb
                          expected_attach_type=0)
    cgfd = os.open(cg, os.O_RDONLY | os.O_DIRECTORY)
    try:
        link = _sys.link_create(prog, cgfd, 0)  # BPF_CGROUP_INET_INGRESS
    except Error:
        os.close(cgfd)
        prog.close()
        os.rmdir(cg)
        raise
    yield link, prog
    link.close()
    prog.close()
    os.close(cgfd)
    os.rmdir(cg)


@pytest.mark.kernel
def test_link_detach(capsys, cgroup_link, bpftool):
    link, prog = cgroup_link
    lid = _sys.link_info(link)["id"]
    mine = json.loads(cli(capsys, "link", "show", str(lid), "-j"))
    ref = bpftool_json("link", "show", "id", str(lid))
    assert (mine["type"], mine["prog_id"], mine["attach_type"]) == \
        (ref["type"], ref["prog_id"], ref["attach_type"])
    assert mine["cgroup_id"] == ref["cgroup_id"] != 0
    cli(capsys, "link", "detach", str(lid))
    # the link object lives on (we hold its fd) but no longer points at the cgroup
    assert _sys.link_info(link)["cgroup_id"] == 0


@pytest.mark.kernel
def test_link_errors(capsys):
    assert main(["link", "show", "999999999"]) == 1
    assert "no such link" in capsys.readouterr().err
    assert main(["link", "show", "some_name"]) == 1
    assert "link id or a pinned path" in capsys.readouterr().err
