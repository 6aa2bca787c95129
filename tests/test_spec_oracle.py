"""Differential test: corebpf's ObjectSpec against libbpf's open-time view of each object.

tests/oracle_spec/spec_oracle.c opens an object with the system libbpf (1.1 here) and prints
its programs and maps; every object in tests/progs must read the same in corebpf.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import PROGS, build_prog
from oracle_build import build_oracle
from corebpf import uapi as U
from corebpf.errors import Error
from corebpf.spec import ObjectSpec

ORACLE_SRC = Path(__file__).parent / "oracle_spec" / "spec_oracle.c"

# Section families that libbpf 1.1 does not know yet (it reports type 0 for them).
NEWER_THAN_ORACLE = ("tcx/", "tc/ingress", "tc/egress", "netkit/", "kprobe.session",
                     "uprobe.session", "uprobe.multi", "uretprobe.multi", "sk_skb/verdict",
                     "cgroup/connect_unix", "cgroup/sendmsg_unix", "cgroup/recvmsg_unix",
                     "cgroup/getpeername_unix", "cgroup/getsockname_unix", "netfilter")


@pytest.fixture(scope="session")
def spec_oracle() -> Path:
    return build_oracle(ORACLE_SRC, "spec_oracle", pytest.skip)


def _objects() -> list[str]:
    return sorted(p.name[:-len(".bpf.c")] for p in PROGS.glob("*.bpf.c"))


def _libbpf_view(oracle: Path, obj: Path) -> dict:
    r = subprocess.run([str(oracle), str(obj)], capture_output=True, text=True, timeout=60)
    return json.loads(r.stdout)


def _fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _libbpf_map_name(m) -> str:
    # libbpf shows .data/.rodata/.bss/.kconfig by their kernel name, custom sections by theirs
    if m.internal and m.name in (".data", ".rodata", ".bss", ".kconfig"):
        return m.kernel_name
    return m.name


TOOLS = Path(__file__).resolve().parent.parent / "src" / "corebpf" / "tools"


@pytest.mark.parametrize("name", _objects())
def test_spec_matches_libbpf(name, spec_oracle):
    try:
        path = build_prog(name)
    except subprocess.CalledProcessError:
        pytest.skip(f"{name}.bpf.c does not compile (another area's work in progress)")
    compare(spec_oracle, path, name)


@pytest.mark.parametrize("name", sorted(p.name for p in TOOLS.glob("*.bpf.o")))
def test_prebuilt_tool_objects_match_libbpf(name, spec_oracle):
    compare(spec_oracle, TOOLS / name, name)


def compare(spec_oracle: Path, path: Path, name: str) -> None:
    want = _libbpf_view(spec_oracle, path)
    if "error" in want:
        # libbpf refuses it: corebpf may read it (e.g. legacy maps) or refuse it cleanly
        try:
            ObjectSpec.from_file(path)
        except Error:
            pass
        pytest.skip(f"libbpf 1.1 cannot open {name} (errno {want['error']})")
    spec = ObjectSpec.from_file(path)
    assert spec.name == want["name"]

    got_progs = {p.name: p for p in spec.programs.values()}
    assert sorted(got_progs) == sorted(p["name"] for p in want["programs"])
    for w in want["programs"]:
        p = got_progs[w["name"]]
        assert p.section == w["section"]
        assert p.insn_count == w["insns"], p.name
        assert int(p.autoload) == w["autoload"], p.name
        assert f"{_fnv1a(p.insns):016x}" == w["insns_fnv"], p.name
        if w["type"] == 0 and p.section.lstrip("?").startswith(NEWER_THAN_ORACLE):
            continue  # a convention newer than the system libbpf
        assert p.type == w["type"], (p.name, p.section)
        assert (p.expected_attach_type or 0) == w["expected_attach_type"], (p.name, p.section)

    # .struct_ops.link is newer than libbpf 1.1 (it ignores the section)
    got_maps = {_libbpf_map_name(m): m for m in spec.maps.values()
                if not m.section.startswith(".struct_ops.link")}
    assert sorted(got_maps) == sorted(m["name"] for m in want["maps"])
    for w in want["maps"]:
        m = got_maps[w["name"]]
        assert m.type == w["type"], m.name
        assert m.key_size == w["key_size"], m.name
        assert m.value_size == w["value_size"], m.name
        assert m.max_entries == w["max_entries"], m.name
        # libbpf 1.1 makes every internal map mmapable; newer libbpf (and corebpf) only
        # those with a global variable
        mask = ~U.F_MMAPABLE if m.internal else ~0
        assert m.flags & mask == w["flags"] & mask, m.name
        assert m.numa_node == w["numa_node"], m.name
        assert m.map_extra == w["map_extra"], m.name
        if m.internal == "struct_ops":
            # libbpf keeps no object BTF type for struct_ops maps and does not count them
            # as internal; corebpf records the struct's type for the loader
            assert m.type == U.MAP_TYPE_STRUCT_OPS and w["btf_value_type_id"] == 0
            continue
        assert m.key_type == w["btf_key_type_id"], m.name
        assert m.value_type == w["btf_value_type_id"], m.name
        assert bool(m.internal) == bool(w["internal"]), m.name
        if m.internal:
            assert len(m.contents) == w["initial_size"], m.name
            assert f"{_fnv1a(m.contents):016x}" == w["initial_fnv"], m.name
        if m.pinning:
            assert w["pin_path"] == f"/sys/fs/bpf/{m.name}", m.name
        else:
            assert w["pin_path"] == "", m.name
        if "inner" in w:
            i = m.inner
            assert i is not None, m.name
            assert (i.type, i.key_size, i.value_size, i.max_entries, i.flags) == (
                w["inner"]["type"], w["inner"]["key_size"], w["inner"]["value_size"],
                w["inner"]["max_entries"], w["inner"]["flags"]), m.name
        else:
            assert m.inner is None, m.name
