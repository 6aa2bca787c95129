"""Section-name conventions (sections.py) against libbpf's rules."""
from __future__ import annotations

import pytest

from corebpf import sections
from corebpf import uapi as U


@pytest.mark.parametrize("sec, ptype, atype, target", [
    ("socket", U.PROG_TYPE_SOCKET_FILTER, None, ""),
    ("kprobe/do_sys_open", U.PROG_TYPE_KPROBE, None, "do_sys_open"),
    ("kprobe", U.PROG_TYPE_KPROBE, None, ""),
    ("kretprobe/x", U.PROG_TYPE_KPROBE, None, "x"),
    ("uprobe//usr/lib/libc.so.6:malloc", U.PROG_TYPE_KPROBE, None, "/usr/lib/libc.so.6:malloc"),
    ("kprobe.multi/tcp_*", U.PROG_TYPE_KPROBE, U.TRACE_KPROBE_MULTI, "tcp_*"),
    ("kretprobe.multi/tcp_*", U.PROG_TYPE_KPROBE, U.TRACE_KPROBE_MULTI, "tcp_*"),
    ("kprobe.session/f", U.PROG_TYPE_KPROBE, U.TRACE_KPROBE_SESSION, "f"),
    ("uprobe.multi/b:f*", U.PROG_TYPE_KPROBE, U.TRACE_UPROBE_MULTI, "b:f*"),
    ("uprobe.session/b:f", U.PROG_TYPE_KPROBE, U.TRACE_UPROBE_SESSION, "b:f"),
    ("usdt/bin:prov:name", U.PROG_TYPE_KPROBE, None, "bin:prov:name"),
    ("tp/sched/sched_switch", U.PROG_TYPE_TRACEPOINT, None, "sched/sched_switch"),
    ("tracepoint/syscalls/sys_enter_openat", U.PROG_TYPE_TRACEPOINT, None,
     "syscalls/sys_enter_openat"),
    ("raw_tp/sys_enter", U.PROG_TYPE_RAW_TRACEPOINT, None, "sys_enter"),
    ("raw_tracepoint.w/x", U.PROG_TYPE_RAW_TRACEPOINT_WRITABLE, None, "x"),
    ("tp_btf/sched_switch", U.PROG_TYPE_TRACING, U.TRACE_RAW_TP, "sched_switch"),
    ("fentry/do_unlinkat", U.PROG_TYPE_TRACING, U.TRACE_FENTRY, "do_unlinkat"),
    ("fexit.s/f", U.PROG_TYPE_TRACING, U.TRACE_FEXIT, "f"),
    ("fmod_ret/f", U.PROG_TYPE_TRACING, U.MODIFY_RETURN, "f"),
    ("freplace/f", U.PROG_TYPE_EXT, None, "f"),
    ("lsm/file_open", U.PROG_TYPE_LSM, U.LSM_MAC, "file_open"),
    ("lsm_cgroup/socket_bind", U.PROG_TYPE_LSM, U.LSM_CGROUP, "socket_bind"),
    ("iter/bpf_map_elem", U.PROG_TYPE_TRACING, U.TRACE_ITER, "bpf_map_elem"),
    ("syscall", U.PROG_TYPE_SYSCALL, None, ""),
    ("xdp", U.PROG_TYPE_XDP, U.XDP, ""),
    ("xdp.frags", U.PROG_TYPE_XDP, U.XDP, ""),
    ("xdp/devmap", U.PROG_TYPE_XDP, U.XDP_DEVMAP, ""),
    ("xdp/cpumap", U.PROG_TYPE_XDP, U.XDP_CPUMAP, ""),
    ("xdp.frags/devmap", U.PROG_TYPE_XDP, U.XDP_DEVMAP, ""),
    ("tc", U.PROG_TYPE_SCHED_CLS, None, ""),
    ("tc/ingress", U.PROG_TYPE_SCHED_CLS, U.TCX_INGRESS, ""),
    ("tcx/egress", U.PROG_TYPE_SCHED_CLS, U.TCX_EGRESS, ""),
    ("netkit/primary", U.PROG_TYPE_SCHED_CLS, U.NETKIT_PRIMARY, ""),
    ("classifier", U.PROG_TYPE_SCHED_CLS, None, ""),
    ("action", U.PROG_TYPE_SCHED_ACT, None, ""),
    ("cgroup_skb/ingress", U.PROG_TYPE_CGROUP_SKB, U.CGROUP_INET_INGRESS, ""),
    ("cgroup/skb", U.PROG_TYPE_CGROUP_SKB, None, ""),
    ("cgroup/sock", U.PROG_TYPE_CGROUP_SOCK, U.CGROUP_INET_SOCK_CREATE, ""),
    ("cgroup/connect_unix", U.PROG_TYPE_CGROUP_SOCK_ADDR, U.CGROUP_UNIX_CONNECT, ""),
    ("cgroup/getsockname_unix", U.PROG_TYPE_CGROUP_SOCK_ADDR, U.CGROUP_UNIX_GETSOCKNAME, ""),
    ("cgroup/sysctl", U.PROG_TYPE_CGROUP_SYSCTL, U.CGROUP_SYSCTL, ""),
    ("cgroup/dev", U.PROG_TYPE_CGROUP_DEVICE, U.CGROUP_DEVICE, ""),
    ("sockops", U.PROG_TYPE_SOCK_OPS, U.CGROUP_SOCK_OPS, ""),
    ("sk_skb/stream_parser", U.PROG_TYPE_SK_SKB, U.SK_SKB_STREAM_PARSER, ""),
    ("sk_skb/verdict", U.PROG_TYPE_SK_SKB, U.SK_SKB_VERDICT, ""),
    ("sk_skb", U.PROG_TYPE_SK_SKB, None, ""),
    ("sk_msg", U.PROG_TYPE_SK_MSG, U.SK_MSG_VERDICT, ""),
    ("sk_lookup", U.PROG_TYPE_SK_LOOKUP, U.SK_LOOKUP, ""),
    ("sk_reuseport/migrate", U.PROG_TYPE_SK_REUSEPORT, U.SK_REUSEPORT_SELECT_OR_MIGRATE, ""),
    ("sk_reuseport", U.PROG_TYPE_SK_REUSEPORT, U.SK_REUSEPORT_SELECT, ""),
    ("lwt_seg6local", U.PROG_TYPE_LWT_SEG6LOCAL, None, ""),
    ("flow_dissector", U.PROG_TYPE_FLOW_DISSECTOR, U.FLOW_DISSECTOR, ""),
    ("perf_event", U.PROG_TYPE_PERF_EVENT, None, ""),
    ("lirc_mode2", U.PROG_TYPE_LIRC_MODE2, U.LIRC_MODE2, ""),
    ("struct_ops/init", U.PROG_TYPE_STRUCT_OPS, None, "init"),
    ("struct_ops.s/init", U.PROG_TYPE_STRUCT_OPS, None, "init"),
    ("netfilter", U.PROG_TYPE_NETFILTER, U.NETFILTER, ""),
])
def test_known_sections(sec, ptype, atype, target):
    sd, tgt = sections.describe(sec)
    assert sd is not None, sec
    assert (sd.prog_type, sd.attach_type, tgt) == (ptype, atype, target)


@pytest.mark.parametrize("sec", ["kprobex", "kprobe_foo", "tpx/a", "xdp/foo", "socketx",
                                 "cgroup/unknown", "tc/foo", "", "/", ".text", "tcx"])
def test_unknown_sections(sec):
    assert sections.match(sec) is None


def test_flags():
    assert sections.match("uprobe.s/b:f").sleepable
    assert sections.match("lsm.s/file_open").prog_flags() == U.F_SLEEPABLE
    assert sections.match("xdp.frags").prog_flags() == U.F_XDP_HAS_FRAGS
    assert sections.match("xdp.frags/cpumap").xdp_frags
    assert not sections.match("xdp").prog_flags()
    assert sections.match("xdp").attach_optional and sections.match("xdp").attachable
    assert sections.match("cgroup/bind4").attachable
    assert not sections.match("cgroup/bind4").attach_optional
    assert sections.match("iter/task").attach_btf and not sections.match("kprobe/x").attach_btf
    assert sections.match("usdt").usdt
    assert sections.match("tp/a/b").auto_attach == "tp"
    assert sections.match("cgroup_skb/ingress").auto_attach is None
    assert sections.is_retprobe("kretprobe/x") and sections.is_retprobe("uretprobe.s/b:f")
    assert not sections.is_retprobe("kprobe/x")


def test_every_def_matches_its_own_pattern():
    for sd in sections.SECTION_DEFS:
        name = sd.prefix + ("/target" if sd.mode == "+" else "")
        got = sections.match(name)
        assert got is not None and got.prog_type == sd.prog_type, sd


def test_uapi_names_cover_values():
    assert U.PROG_TYPE_NAMES[U.PROG_TYPE_NETFILTER] == "netfilter"
    assert U.ATTACH_TYPE_NAMES[U.TRACE_UPROBE_SESSION] == "trace_uprobe_session"
    assert U.MAP_TYPE_NAMES[U.MAP_TYPE_ARENA] == "arena"
    assert len(U.ATTACH_TYPE_NAMES) == 58 and len(U.PROG_TYPE_NAMES) == 33


def _header_enum(name: str) -> list[str]:
    import re
    from pathlib import Path
    text = Path("/usr/include/linux/bpf.h").read_text()
    body = text[text.index(f"enum {name} {{"):]
    body = body[:body.index("};")]
    return re.findall(r"^\s*(BPF_\w+)", body, re.M)


@pytest.mark.parametrize("enum, table, prefix", [
    ("bpf_prog_type", U.PROG_TYPE_NAMES, "BPF_PROG_TYPE_"),
    ("bpf_attach_type", U.ATTACH_TYPE_NAMES, "BPF_"),
    ("bpf_map_type", U.MAP_TYPE_NAMES, "BPF_MAP_TYPE_"),
])
def test_uapi_matches_system_header(enum, table, prefix):
    from pathlib import Path
    if not Path("/usr/include/linux/bpf.h").exists():
        pytest.skip("no uapi header")
    names = [n for n in _header_enum(enum) if not n.startswith("__MAX")]
    for i, n in enumerate(names):
        n = n[len(prefix):].lower()
        if n == "cgroup_storage_deprecated":
            n = "cgroup_storage"
        assert table[i] == n, (i, n)


def test_fast_match_equals_first_match():
    names = [sd.prefix for sd in sections.SECTION_DEFS]
    names += [n + "/x" for n in names] + [n + "/a/b" for n in names] + [n + "x" for n in names]
    names += ["", "/", "//", "tc/", "kprobe/", "xdp.frags/", "?tp/x"]
    for n in names:
        assert sections.match(n) is sections._match_slow(n), n
