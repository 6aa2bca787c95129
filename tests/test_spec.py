"""ObjectSpec: programs, maps, variables, externs and relocations read without a kernel."""
from __future__ import annotations

import copy
import struct

import pytest

from corebpf import uapi as U
from corebpf.errors import ObjectError
from corebpf.spec import (RELO_CALL, RELO_DATA, RELO_FUNC_PTR, RELO_KCONFIG, RELO_KSYM,
                          RELO_MAP, ObjectSpec, internal_map_name)


@pytest.fixture(scope="module")
def maps_spec(bpf_prog):
    return ObjectSpec.from_file(bpf_prog("spec_maps"))


@pytest.fixture(scope="module")
def funcs_spec(bpf_prog):
    return ObjectSpec.from_file(bpf_prog("spec_funcs"))


@pytest.fixture(scope="module")
def data_spec(bpf_prog):
    return ObjectSpec.from_file(bpf_prog("spec_data"))


def kinds(prog):
    return [(r.insn, r.kind, r.target, r.offset) for r in prog.relocations]


def test_programs_and_subprograms(funcs_spec):
    s = funcs_spec
    assert sorted(s.programs) == ["first_in_section", "second_in_section", "sock_filter",
                                  "xdp_pass"]
    assert set(s.functions) == set(s.programs) | {"twice", "thrice", "global_bump", "loop_cb",
                                                  "loop_cb2"}
    first, second = s.programs["first_in_section"], s.programs["second_in_section"]
    assert first.section == second.section == "tp/syscalls/sys_enter_getpid"
    assert first.type == U.PROG_TYPE_TRACEPOINT and first.attach_to == "syscalls/sys_enter_getpid"
    assert first.section_offset == 0 and second.section_offset == first.insn_count
    assert s.programs["xdp_pass"].expected_attach_type == U.XDP
    assert s.functions["twice"].is_subprog and not s.functions["twice"].global_func
    assert s.functions["global_bump"].is_subprog and s.functions["global_bump"].global_func
    for p in s.functions.values():
        assert len(p.insns) == p.insn_count * 8 and p.license == "GPL"


def test_calls_and_callbacks(funcs_spec):
    s = funcs_spec
    k = {r.kind: r for r in s.programs["first_in_section"].relocations}
    assert k[RELO_FUNC_PTR].target == "loop_cb" and k[RELO_FUNC_PTR].offset == 0
    assert k[RELO_CALL].target == "global_bump"
    # static call inside .text (thrice -> twice) is recorded even though the ELF may not
    # carry a relocation for it
    assert [(r.kind, r.target) for r in s.functions["thrice"].relocations] == [
        (RELO_CALL, "twice")]
    calls = [r for r in s.programs["second_in_section"].relocations if r.kind == RELO_CALL]
    assert {r.target for r in calls} == {"global_bump", "twice"}
    # each call's instruction really is a pseudo call
    for p in s.functions.values():
        for r in p.relocations:
            code, regs = p.insns[r.insn * 8], p.insns[r.insn * 8 + 1]
            if r.kind == RELO_CALL:
                assert code == 0x85 and regs >> 4 == U.PSEUDO_CALL
            else:
                assert code == 0x18


def test_func_and_line_info_are_per_function(funcs_spec):
    for p in funcs_spec.functions.values():
        if funcs_spec.btf_ext is None:
            pytest.skip("btf.ext not available")
        assert p.func_info and p.func_info[0][0] == 0
        assert funcs_spec.btf[p.func_info[0][1]].name == p.name == funcs_spec.btf[p.btf_func_id].name
        assert p.line_info and all(0 <= li.insn_off < p.insn_count for li in p.line_info)


def test_btf_maps(maps_spec):
    m = maps_spec.maps
    flows = m["flows"]
    assert (flows.type, flows.key_size, flows.value_size, flows.max_entries, flows.flags) == (
        U.MAP_TYPE_HASH, 4, 32, 1024, U.F_NO_PREALLOC)
    assert maps_spec.btf[flows.value_type].name == "value_t"
    assert maps_spec.btf.type_name(flows.key_type) == "__u32"
    raw = m["raw_sizes"]
    assert (raw.key_size, raw.value_size, raw.key_type, raw.value_type) == (4, 24, 0, 0)
    ev = m["events"]
    assert ev.type == U.MAP_TYPE_PERF_EVENT_ARRAY and ev.max_entries == 0
    assert ev.max_entries_default_cpus
    assert m["rb"].max_entries == 1 << 16
    assert m["pinned_lru"].pinning == U.PIN_BY_NAME
    assert m["bloom"].map_extra == 3 and m["bloom"].key_size == 0
    assert m["lpm"].key_size == 8
    assert m["queue"].type == U.MAP_TYPE_QUEUE


def test_map_in_map_and_prog_array(maps_spec):
    outer = maps_spec.maps["outer"]
    assert outer.type == U.MAP_TYPE_ARRAY_OF_MAPS and outer.value_size == 4
    assert outer.inner is not None and outer.inner.type == U.MAP_TYPE_ARRAY
    assert (outer.inner.key_size, outer.inner.value_size, outer.inner.max_entries) == (4, 8, 2)
    assert outer.init_slots == {0: "inner_a", 2: "inner_b"}
    oh = maps_spec.maps["outer_hash"]
    assert oh.inner.type == U.MAP_TYPE_HASH and oh.init_slots == {}
    jumps = maps_spec.maps["jumps"]
    assert jumps.type == U.MAP_TYPE_PROG_ARRAY and jumps.init_slots == {1: "tail_one",
                                                                        2: "tail_two"}
    use = maps_spec.programs["use_maps"]
    assert {r.target for r in use.relocations if r.kind == RELO_MAP} >= {
        "flows", "raw_sizes", "events", "rb", "outer", "jumps"}


def test_internal_maps(data_spec):
    s = data_spec
    assert s.license == "GPL" and s.kern_version == 0x060c00
    ro = s.maps[".rodata"]
    assert ro.internal == "rodata" and ro.freeze and ro.type == U.MAP_TYPE_ARRAY
    assert ro.flags == U.F_RDONLY_PROG | U.F_MMAPABLE
    assert ro.kernel_name == "spec_dat.rodata" and (ro.key_size, ro.max_entries) == (4, 1)
    assert s.btf[ro.value_type].name == ".rodata"
    assert s.maps[".bss"].contents == bytearray(s.maps[".bss"].value_size)
    assert s.maps[".data.custom"].kernel_name == ".data.custom"
    assert s.maps[".rodata.custom"].flags & U.F_RDONLY_PROG
    assert s.maps[".bss.custom"].internal == "bss"
    assert s.datasec_sizes[".data"] == s.maps[".data"].value_size


def test_variables(data_spec):
    v = data_spec.variables
    assert struct.unpack("<I", v["ro_u32"].value)[0] == 7
    assert struct.unpack("<Q", v["ro_u64"].value)[0] == 0x1122334455667788
    assert v["ro_name"].value.rstrip(b"\0") == b"hello" and v["ro_name"].readonly
    assert struct.unpack("<3I", v["data_arr"].value) == (1, 2, 3)
    assert v["bss_arr"].value == bytes(20) and v["bss_arr"].section == ".bss"
    assert v["static_counter"].global_var is False
    assert struct.unpack("<Q", v["static_counter"].value)[0] == 9
    assert v["custom_ro"].section == ".rodata.custom"
    offsets = {(x.section, x.offset) for x in v.values()}
    assert len(offsets) == len(v)  # clang's offset-0 globals were placed from the symbols
    assert data_spec.btf.type_name(v["ro_u64"].type_id) == "const volatile __u64"


def test_variable_set_and_copy(data_spec):
    s = data_spec.copy()
    s.variables["ro_u32"].value = 99
    assert struct.unpack_from("<I", s.maps[".rodata"].contents, 0)[0] == 99
    # the original is untouched
    assert struct.unpack("<I", data_spec.variables["ro_u32"].value)[0] == 7
    with pytest.raises(ObjectError, match="4 bytes"):
        s.variables["ro_u32"].value = b"\1\2"
    s2 = copy.deepcopy(s)
    s2.maps[".rodata"].max_entries = 5
    s2.programs["use_data"].insns[0] = 0
    assert s.maps[".rodata"].max_entries == 1 and s.programs["use_data"].insns[0] != 0
    assert s2.variables["ro_u32"].map is s2.maps[".rodata"]


def test_data_relocations(data_spec):
    s = data_spec
    p = s.programs["use_data"]
    data = [(r.target, r.offset) for r in p.relocations if r.kind == RELO_DATA]
    v = s.variables
    for name in ("ro_u64", "data_u64", "ro_u32", "data_arr", "bss_u64", "ro_name",
                 "custom_data", "custom_ro", "custom_bss", "static_counter"):
        assert (v[name].section, v[name].offset) in data, name
    ks = {(r.kind, r.target) for r in p.relocations if r.kind in (RELO_KCONFIG, RELO_KSYM)}
    assert ks == {(RELO_KCONFIG, "LINUX_KERNEL_VERSION"), (RELO_KCONFIG, "CONFIG_BPF_SYSCALL"),
                  (RELO_KCONFIG, "CONFIG_HZ"), (RELO_KCONFIG, "CONFIG_BPF_JIT"),
                  (RELO_KCONFIG, "CONFIG_LOCALVERSION"), (RELO_KSYM, "bpf_prog_active"),
                  (RELO_KSYM, "bpf_task_acquire_missing")}


def test_externs_and_kconfig_layout(data_spec):
    e = data_spec.externs
    assert e["LINUX_KERNEL_VERSION"].kind == "kconfig" and not e["LINUX_KERNEL_VERSION"].weak
    assert e["CONFIG_BPF_SYSCALL"].kconfig_type == "bool" and e["CONFIG_BPF_SYSCALL"].weak
    assert e["CONFIG_BPF_JIT"].kconfig_type == "tristate"
    assert e["CONFIG_LOCALVERSION"].kconfig_type == "char_array"
    assert e["CONFIG_HZ"].kconfig_type == "int" and e["CONFIG_HZ"].signed
    assert e["bpf_prog_active"].kind == "ksym" and not e["bpf_prog_active"].typeless
    assert e["bpf_task_acquire_missing"].typeless and e["bpf_task_acquire_missing"].weak
    # libbpf's layout: alignment descending, then size, then name
    order = sorted((x.offset, x.name) for x in e.values() if x.kind == "kconfig")
    assert [n for _, n in order] == ["CONFIG_BPF_JIT", "CONFIG_HZ", "LINUX_KERNEL_VERSION",
                                     "CONFIG_BPF_SYSCALL", "CONFIG_LOCALVERSION"]
    k = data_spec.maps[".kconfig"]
    assert k.value_size == 29 and k.freeze and k.internal == "kconfig"
    lay = data_spec.datasec_layout(".kconfig")
    assert [off for _, off, _ in lay] == [0, 4, 8, 12, 13]


def test_datasec_layout_matches_variables(data_spec):
    for sec in (".data", ".rodata", ".bss"):
        lay = data_spec.datasec_layout(sec)
        names = [data_spec.btf[t].name for t, _, _ in lay]
        assert [o for _, o, _ in lay] == sorted(o for _, o, _ in lay)
        for n, (_, off, size) in zip(names, lay):
            assert data_spec.variables[n].offset == off and data_spec.variables[n].size == size


def test_sections_object(bpf_prog):
    s = ObjectSpec.from_file(bpf_prog("spec_sections"))
    p = s.programs
    assert p["s_optional"].autoload is False and p["s_optional"].section == "tp/sched/sched_wakeup"
    assert p["s_unknown"].type == U.PROG_TYPE_UNSPEC and p["s_unknown"].sec_def is None
    assert p["s_xdp_frags"].flags == U.F_XDP_HAS_FRAGS
    assert p["s_lsm_s"].sleepable and p["s_fentry_s"].sleepable and p["s_iter_s"].sleepable
    assert p["s_uretprobe_s"].sleepable and p["s_uretprobe_s"].attach_to == "/bin/true:main"
    assert p["s_tcx_in"].expected_attach_type == U.TCX_INGRESS
    assert p["s_netkit_peer"].expected_attach_type == U.NETKIT_PEER
    assert p["s_kprobe_session"].expected_attach_type == U.TRACE_KPROBE_SESSION
    assert p["s_fentry"].sec_def.attach_btf and p["s_fentry"].attach_to == "do_unlinkat"
    assert p["s_netfilter"].type == U.PROG_TYPE_NETFILTER
    assert p["s_syscall"].sleepable


def test_from_bytes_names_internal_maps(bpf_prog):
    data = bpf_prog("spec_data").read_bytes()
    s = ObjectSpec.from_bytes(data, "a_very_long_object_name")
    assert s.name == "a_very_long_obj"
    assert s.maps[".rodata"].kernel_name == "a_very_l.rodata"
    assert s.maps[".kconfig"].kernel_name == "a_very_.kconfig"
    assert s.maps[".bss"].kernel_name == "a_very_l.bss"


@pytest.mark.parametrize("obj, sec, want", [
    ("prog", ".rodata", "prog.rodata"), ("my_object_name", ".rodata", "my_objec.rodata"),
    ("my_object_name", ".bss", "my_objec.bss"), ("o", ".data.foo", ".data.foo"),
    ("o-x", ".data", "o_x.data"), ("x", ".rodata.a_very_long_suffix", ".rodata.a_very_"),
    ("my_object_name", ".kconfig", "my_obje.kconfig"),
])
def test_internal_map_name(obj, sec, want):
    assert internal_map_name(obj, sec) == want


def test_spec_has_no_heavy_imports(bpf_prog):
    import subprocess
    import sys
    code = ("import sys; from corebpf.spec import ObjectSpec; "
            f"ObjectSpec.from_file({str(bpf_prog('spec_maps'))!r}); "
            "bad = [m for m in ('numpy', 'elftools', 'rich', 'pyroute2') if m in sys.modules]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_legacy_maps(bpf_prog):
    s = ObjectSpec.from_file(bpf_prog("spec_legacy"))
    h, a = s.maps["old_hash"], s.maps["old_array"]
    assert (h.type, h.key_size, h.value_size, h.max_entries, h.flags) == (
        U.MAP_TYPE_HASH, 4, 8, 32, 1)
    assert (a.type, a.value_size, a.max_entries) == (U.MAP_TYPE_ARRAY, 16, 4)
    assert h.section == "maps"
    assert [(r.kind, r.target) for r in s.programs["legacy_user"].relocations] == [
        (RELO_MAP, "old_hash"), (RELO_MAP, "old_array")]


def test_kfuncs(bpf_prog):
    s = ObjectSpec.from_file(bpf_prog("spec_kfunc"))
    e = s.externs
    assert e["bpf_task_acquire"].kind == "kfunc" and not e["bpf_task_acquire"].weak
    assert e["bpf_no_such_kfunc"].kind == "kfunc" and e["bpf_no_such_kfunc"].weak
    assert s.btf[e["bpf_task_release"].type_id].name == "bpf_task_release"
    p = s.programs["on_newtask"]
    assert p.type == U.PROG_TYPE_TRACING and p.expected_attach_type == U.TRACE_RAW_TP
    got = [(r.kind, r.target) for r in p.relocations]
    assert ("kfunc", "bpf_task_acquire") in got and ("kfunc", "bpf_task_release") in got
    assert ("kfunc", "bpf_no_such_kfunc") in got      # the call
    assert (RELO_KSYM, "bpf_no_such_kfunc") in got    # bpf_ksym_exists-style address test
    assert (RELO_CALL, "count") in got


def test_core_relos_are_sliced_per_function(bpf_prog):
    import subprocess
    try:
        s = ObjectSpec.from_file(bpf_prog("core_fields"))
    except (FileNotFoundError, subprocess.CalledProcessError):
        pytest.skip("core_fields.bpf.c (BTF/CO-RE area) is not there or does not build")
    if s.btf_ext is None:
        pytest.skip("btf.ext reader not available")
    total = sum(len(v) for v in s.btf_ext.core_relos.values())
    assert total and total == sum(len(p.core_relos) for p in s.functions.values())
    for p in s.functions.values():
        for r in p.core_relos:
            assert 0 <= r.insn_off < p.insn_count


def _compile(tmp_path, src: str):
    import subprocess
    from conftest import CLANG_FLAGS, INCLUDE, vmlinux_h
    vmlinux_h()
    c = tmp_path / "t.bpf.c"
    c.write_text(src)
    o = tmp_path / "t.bpf.o"
    subprocess.run(["clang", *CLANG_FLAGS, "-I", str(INCLUDE), "-c", str(c), "-o", str(o)],
                   check=True)
    return o


HEAD = '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\nchar L[] SEC("license") = "GPL";\n'


def test_unknown_map_field(tmp_path):
    o = _compile(tmp_path, HEAD + """
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int);
         __type(value, int); __uint(bogus, 3); } m SEC(".maps");
SEC("socket") int f(void *ctx) { return bpf_map_lookup_elem(&m, &(int){0}) != 0; }
""")
    with pytest.raises(ObjectError, match="unknown map definition field 'bogus'") as ei:
        ObjectSpec.from_file(o)
    assert ei.value.symbol == "m" and ei.value.section == ".maps"


def test_conflicting_key_size(tmp_path):
    o = _compile(tmp_path, HEAD + """
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1); __type(key, long);
         __uint(key_size, 4); __type(value, int); } m SEC(".maps");
SEC("socket") int f(void *ctx) { return bpf_map_lookup_elem(&m, &(long){0}) != 0; }
""")
    with pytest.raises(ObjectError, match="key_size 4 conflicts"):
        ObjectSpec.from_file(o)


def test_static_entry_program_refused(tmp_path):
    o = _compile(tmp_path, HEAD + 'SEC("socket") static int f(void *ctx) { return 0; }\n'
                 'SEC("socket") int g(void *ctx) { return 1; }\n')
    with pytest.raises(ObjectError, match="static entry programs") as ei:
        ObjectSpec.from_file(o)
    assert ei.value.symbol == "f" and ei.value.section == "socket"


def test_object_without_btf(tmp_path):
    import subprocess
    from conftest import INCLUDE, vmlinux_h
    vmlinux_h()
    c = tmp_path / "nobtf.bpf.c"
    c.write_text(HEAD + "int counter = 3;\nconst volatile int limit = 5;\n"
                 'SEC("socket") int f(void *ctx) { return counter + limit; }\n')
    o = tmp_path / "nobtf.bpf.o"
    subprocess.run(["clang", "-O2", "-target", "bpf", "-I", str(INCLUDE), "-c", str(c),
                    "-o", str(o)], check=True)
    s = ObjectSpec.from_file(o)
    assert s.btf is None and s.programs["f"].type == U.PROG_TYPE_SOCKET_FILTER
    assert struct.unpack("<i", s.variables["counter"].value)[0] == 3
    assert s.variables["limit"].section == ".rodata" and s.maps[".rodata"].freeze
    assert {r.target for r in s.programs["f"].relocations} == {".data", ".rodata"}


def test_statically_linked_object_with_same_static_names(tmp_path, bpftool):
    import subprocess
    a = _compile(tmp_path, HEAD + """
static __noinline int helper(int x) { return x + 1; }
SEC("socket") int prog_a(void *ctx) { return helper(bpf_get_prandom_u32()); }
""")
    a2 = tmp_path / "a.bpf.o"
    a.rename(a2)
    b = _compile(tmp_path, '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n' + """
static __noinline int helper(int x) { return x * 3; }
SEC("socket") int prog_b(void *ctx) { return helper(bpf_get_prandom_u32()); }
""")
    out = tmp_path / "linked.bpf.o"
    subprocess.run([bpftool, "gen", "object", str(out), str(a2), str(b)], check=True,
                   capture_output=True)
    s = ObjectSpec.from_file(out)
    helpers = sorted(n for n in s.functions if n.startswith("helper"))
    assert len(helpers) == 2 and helpers[0] == "helper"
    ta = [r.target for r in s.programs["prog_a"].relocations if r.kind == RELO_CALL]
    tb = [r.target for r in s.programs["prog_b"].relocations if r.kind == RELO_CALL]
    assert len(ta) == len(tb) == 1 and {ta[0], tb[0]} == set(helpers)
    # each program calls the helper from its own source file
    assert s.functions[ta[0]].section_offset < s.functions[tb[0]].section_offset


def test_struct_ops(bpf_prog):
    s = ObjectSpec.from_file(bpf_prog("spec_structops"))
    m, ml = s.maps["corebpf_cc"], s.maps["corebpf_cc_link"]
    assert m.type == U.MAP_TYPE_STRUCT_OPS and m.internal == "struct_ops"
    assert (m.key_size, m.max_entries, m.flags) == (4, 1, 0) and ml.flags == U.F_LINK
    assert s.btf[m.value_type].name == "tcp_congestion_ops"
    assert m.value_size == s.btf.size_of(m.value_type) == len(m.contents)
    assert m.struct_ops_progs == {"init": "cc_init", "ssthresh": "cc_ssthresh",
                                  "undo_cwnd": "cc_undo", "cong_avoid": "cc_cong_avoid"}
    st = s.btf[m.value_type]
    name_m = st.member("name")
    assert bytes(m.contents[name_m.byte_offset:]).startswith(b"corebpf_cc\0")
    members = [x.name for x in st.members]
    assert s.programs["cc_init"].expected_attach_type == members.index("init")
    assert s.programs["cc_init"].type == U.PROG_TYPE_STRUCT_OPS


def test_exception_callback_decl_tag(tmp_path):
    """__exception_cb(cb) on a program (BTF decl tag exception_callback:cb on its global
    FUNC) names the callback in ProgramSpec.exception_cb; a tag naming no global subprogram
    is an ObjectError naming it."""
    import shutil
    import subprocess
    from corebpf.errors import ObjectError
    from corebpf.spec import ObjectSpec
    if not shutil.which("clang"):
        pytest.skip("needs clang")
    src = ('#define SEC(s) __attribute__((section(s), used))\n'
           '#define EXC(n) __attribute__((btf_decl_tag("exception_callback:" #n)))\n'
           'char LICENSE[] SEC("license") = "GPL";\n'
           '__attribute__((noinline)) int cb(unsigned long long c) { return c + 1; }\n'
           'SEC("tc") EXC(CB) int prog(void *ctx) { return ctx != 0; }\n'
           'SEC("tc") int other(void *ctx) { return 0; }\n')
    for cb, ok in (("cb", True), ("missing", False)):
        c = tmp_path / f"exc_{cb}.bpf.c"
        c.write_text(src.replace("(CB)", f"({cb})"))
        o = c.with_suffix(".o")
        subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-c", str(c), "-o", str(o)],
                       check=True, capture_output=True)
        if ok:
            spec = ObjectSpec.from_file(str(o))
            assert spec.programs["prog"].exception_cb == "cb"
            assert spec.programs["other"].exception_cb is None
        else:
            with pytest.raises(ObjectError, match="missing"):
                ObjectSpec.from_file(str(o))


def test_libbpf_1_5_map_views(tmp_path):
    """As libbpf (>= 1.2) sees maps at open: a data section holding only __hidden or static
    variables is not mmapable (one exported variable makes it so), and a ring buffer
    declared without a size keeps max_entries 0 (the kernel refuses it, as with libbpf).
    ("?.struct_ops" maps: tests/progs/modern_struct_ops_optional.bpf.c, test_modern.py.)"""
    import shutil
    import subprocess
    from pathlib import Path
    from corebpf import uapi as U
    from corebpf.spec import ObjectSpec
    if not shutil.which("clang") or not Path("/usr/include/bpf/bpf_helpers.h").exists():
        pytest.skip("needs clang and libbpf-dev")
    c = tmp_path / "views.bpf.c"
    c.write_text('#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n'
                 'char LICENSE[] SEC("license") = "GPL";\n'
                 '__hidden int hid;\n'
                 'static int st SEC(".data.priv") = 1;\n'
                 'int pub SEC(".data.pub") = 1;\n'
                 'struct { __uint(type, BPF_MAP_TYPE_RINGBUF); } rb0 SEC(".maps");\n'
                 'SEC("xdp") int f(void *ctx) { return hid + st + pub; }\n')
    o = tmp_path / "views.bpf.o"
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-idirafter",
                    "/usr/include/x86_64-linux-gnu", "-c", str(c), "-o", str(o)],
                   check=True, capture_output=True)
    spec = ObjectSpec.from_file(str(o))
    assert not spec.maps[".bss"].flags & U.F_MMAPABLE
    assert not spec.maps[".data.priv"].flags & U.F_MMAPABLE
    assert spec.maps[".data.pub"].flags & U.F_MMAPABLE
    assert spec.maps["rb0"].max_entries == 0
