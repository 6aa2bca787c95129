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
    # modern_*.bpf.c need clang >= 18: tests/test_modern.py compares them with libbpf 1.5
    return sorted(p.name[:-len(".bpf.c")] for p in PROGS.glob("*.bpf.c")
                  if not p.name.startswith("modern_"))


def _libbpf_view(oracle: Path, obj: Path) -> dict:
    r = subprocess.run([str(oracle), str(obj)], capture_output=True, text=True, timeout=60)
    return json.loads(r.stdout)


def _fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _libbpf_map_name(m) -> str:
    # bpf_map__name(): custom .data.*/.rodata.* maps by their section name, other internal
    # maps by their kernel name ("obj.bss"; ".bss.MASK_NESTED" -> ".bss.MASK_NESTE")
    if m.internal in ("data", "rodata") and m.name not in (".data", ".rodata"):
        return m.name
    if m.internal and m.internal != "struct_ops":
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


def compare(spec_oracle: Path, path: Path, name: str, *, libbpf: str = "1.1") -> None:
    """corebpf's spec of ``path`` against the oracle's libbpf (``libbpf`` "1.1", the
    system's, with allowances for conventions newer than it, or "1.5": strict)."""
    old = libbpf == "1.1"
    want = _libbpf_view(spec_oracle, path)
    if "error" in want:
        # libbpf refuses it: corebpf may read it (e.g. legacy maps) or refuse it cleanly
        try:
            ObjectSpec.from_file(path)
        except Error:
            pass
        pytest.skip(f"libbpf {libbpf} cannot open {name} (errno {want['error']})")
    spec = ObjectSpec.from_file(path)
    assert spec.name == want["name"]
    # programs only a .struct_ops.link map uses: libbpf 1.1 ignores that section, so it
    # sets no member index as their expected attach type
    link_only = {prog for m in spec.maps.values() if m.section.startswith(".struct_ops.link")
                 for prog in (getattr(m, "struct_ops_progs", None) or {}).values()}
    st_ops_users = {prog for m in spec.maps.values()
                    for prog in (getattr(m, "struct_ops_progs", None) or {}).values()}

    got_progs = {p.name: p for p in spec.programs.values()}
    assert sorted(got_progs) == sorted(p["name"] for p in want["programs"])
    for w in want["programs"]:
        p = got_progs[w["name"]]
        assert p.section == w["section"]
        assert p.insn_count == w["insns"], p.name
        if not (p.type == U.PROG_TYPE_STRUCT_OPS and p.name not in st_ops_users
                and not p.autoload and not old):
            # (libbpf >= 1.4 turns autoload off at load for struct_ops programs only
            # "?.struct_ops" maps use; corebpf's spec says so already)
            assert int(p.autoload) == w["autoload"], p.name
        assert f"{_fnv1a(p.insns):016x}" == w["insns_fnv"], p.name
        if old and w["type"] == 0 and p.section.lstrip("?").startswith(NEWER_THAN_ORACLE):
            continue  # a convention newer than the system libbpf
        assert p.type == w["type"], (p.name, p.section)
        if old and p.name in link_only and w["expected_attach_type"] == 0:
            continue
        if not old and p.type == U.PROG_TYPE_STRUCT_OPS and w["expected_attach_type"] == 0:
            # libbpf >= 1.3 sets a struct_ops program's member index at load (from the
            # kernel struct); corebpf keeps the local index in the spec, as 1.1 did at open
            continue
        assert (p.expected_attach_type or 0) == w["expected_attach_type"], (p.name, p.section)

    # .struct_ops.link is newer than libbpf 1.1 (it ignores the section)
    got_maps = {_libbpf_map_name(m): m for m in spec.maps.values()
                if not (old and m.section.startswith(".struct_ops.link"))}
    # SEC("?.struct_ops[.link]"): struct_ops maps libbpf >= 1.4 lists but does not create
    # unless asked; corebpf leaves such sections out (it has no "autocreate" yet)
    want["maps"] = [m for m in want["maps"] if m.get("autocreate", 1)]
    assert sorted(got_maps) == sorted(m["name"] for m in want["maps"])
    for w in want["maps"]:
        m = got_maps[w["name"]]
        assert m.type == w["type"], m.name
        assert m.key_size == w["key_size"], m.name
        assert m.value_size == w["value_size"], m.name
        assert m.max_entries == w["max_entries"], m.name
        # libbpf 1.1 makes every internal map mmapable; newer libbpf (and corebpf) only
        # those with a global variable
        mask = ~U.F_MMAPABLE if m.internal and old else ~0
        assert m.flags & mask == w["flags"] & mask, m.name
        assert m.numa_node == w["numa_node"], m.name
        assert m.map_extra == w["map_extra"], m.name
        if m.internal == "struct_ops":
            # libbpf 1.1 keeps no object BTF type for struct_ops maps (1.5 does: the
            # struct's) and does not count them as internal; corebpf records the struct
            assert m.type == U.MAP_TYPE_STRUCT_OPS
            assert w["btf_value_type_id"] == (0 if old else m.value_type), m.name
            continue
        assert m.key_type == w["btf_key_type_id"], m.name
        assert m.value_type == w["btf_value_type_id"], m.name
        assert bool(m.internal) == bool(w["internal"]), m.name
        if m.internal or (not old and m.type == U.MAP_TYPE_ARENA and m.contents):
            # (libbpf >= 1.4 shows the __arena globals as an ARENA map's initial value)
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
