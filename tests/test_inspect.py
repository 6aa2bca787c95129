"""``corebpf inspect``: human and JSON views of an object, no kernel needed."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from corebpf.cli.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_json(capsys, bpf_prog):
    code, out, _ = run(capsys, "inspect", "--json", str(bpf_prog("spec_maps")))
    assert code == 0
    d = json.loads(out)
    progs = {p["name"]: p for p in d["programs"]}
    assert progs["use_maps"]["type"] == "raw_tracepoint"
    assert progs["use_maps"]["attach_to"] == "sys_enter"
    assert progs["use_maps"]["relocations"]["map"] == 11
    maps = {m["name"]: m for m in d["maps"]}
    assert maps["flows"]["value_type"] == "struct value_t" and maps["flows"]["key_size"] == 4
    assert maps["flows"]["flags"] == ["no_prealloc"]
    assert maps["outer"]["inner"]["type"] == "array"
    assert maps["jumps"]["initial_slots"] == {"1": "tail_one", "2": "tail_two"}
    assert maps["events"]["max_entries"] == "possible CPUs"
    assert maps["pinned_lru"]["pinning"] == "by_name"


def test_inspect_json_data(capsys, bpf_prog):
    code, out, _ = run(capsys, "inspect", "-j", str(bpf_prog("spec_data")))
    d = json.loads(out)
    vars_ = {v["name"]: v for v in d["variables"]}
    assert vars_["ro_u32"]["initial"] == "07000000" and vars_["ro_u32"]["section"] == ".rodata"
    assert {e["name"]: e["kind"] for e in d["externs"]}["bpf_prog_active"] == "ksym"
    assert d["relocations"]["kconfig"] == 5 and d["kern_version"] == 0x060c00


def test_inspect_text(capsys, bpf_prog):
    code, out, _ = run(capsys, "inspect", str(bpf_prog("spec_funcs")))
    assert code == 0
    assert "first_in_section" in out and "tp/syscalls/sys_enter_getpid" in out
    assert "subprograms (5)" in out and "global_bump" in out
    assert "relocations:" in out and "func_ptr=2" in out


def test_inspect_text_sections(capsys, bpf_prog):
    code, out, _ = run(capsys, "inspect", str(bpf_prog("spec_sections")))
    assert code == 0
    assert "unknown-section" in out and "noautoload" in out and "sleepable" in out


def test_inspect_corrupt(capsys, tmp_path, bpf_prog):
    bad = tmp_path / "bad.o"
    bad.write_bytes(bpf_prog("spec_funcs").read_bytes()[:200])
    code, out, err = run(capsys, "inspect", str(bad))
    assert code == 1 and "corebpf: error:" in err and "bad.o" in err
    code, out, err = run(capsys, "inspect", str(tmp_path / "missing.o"))
    assert code == 1 and "cannot read" in err


def test_inspect_command_line(bpf_prog):
    r = subprocess.run([sys.executable, "-m", "corebpf", "inspect", "--json",
                        str(bpf_prog("spec_funcs"))], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert {p["name"] for p in d["programs"]} >= {"xdp_pass", "sock_filter"}


def test_inspect_struct_ops(capsys, bpf_prog):
    code, out, _ = run(capsys, "inspect", "--json", str(bpf_prog("spec_structops")))
    d = json.loads(out)
    m = {x["name"]: x for x in d["maps"]}["corebpf_cc"]
    assert m["type"] == "struct_ops" and m["struct_ops"]["init"] == "cc_init"


def test_inspect_disasm(capsys, bpf_prog):
    code, out, _ = run(capsys, "inspect", "--disasm", "--program", "first_in_section",
                       str(bpf_prog("spec_funcs")))
    assert code == 0
    listing = out[out.index("first_in_section (tp/syscalls/sys_enter_getpid"):]
    assert "call bpf_loop" in listing and "; func_ptr loop_cb" in listing
    assert "; call global_bump" in listing and "spec_funcs.bpf.c:" in listing
    assert "(95) exit" in listing
    code, out, _ = run(capsys, "inspect", "-d", "-j", str(bpf_prog("spec_data")))
    d = json.loads(out)
    assert any("; data .rodata" in x for x in d["disasm"]["use_data"])
    code, _, err = run(capsys, "inspect", "-d", "--program", "nope", str(bpf_prog("spec_data")))
    assert code == 1 and "no function 'nope'" in err
