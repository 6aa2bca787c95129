"""libbpf's section-name conventions: section name -> program type, attach type, flags.

A program's ELF section (``SEC("...")``) decides its BPF program type, the expected attach
type passed to BPF_PROG_LOAD, load flags (sleepable, XDP frags) and how it can be attached
automatically. The table follows libbpf's ``section_defs`` (libbpf ≤ 1.6, Linux ≤ 6.18):

- ``"name+"``: the section is exactly ``name`` or ``name/<target>``;
- ``"name/"``: the section starts with ``name/``;
- otherwise the section must equal the pattern exactly.

The first entry that matches wins, as in libbpf.
"""
from __future__ import annotations

from . import uapi as U

# SectionDef.flags (same meaning as libbpf's SEC_* cookies)
SEC_NONE = 0
SEC_EXP_ATTACH_OPT = 1      # expected_attach_type may be dropped on kernels that lack it
SEC_ATTACHABLE = 2          # BPF_PROG_ATTACH-able with this expected attach type
SEC_ATTACHABLE_OPT = SEC_ATTACHABLE | SEC_EXP_ATTACH_OPT
SEC_ATTACH_BTF = 4          # attach target is a BTF id found from the section suffix
SEC_SLEEPABLE = 8           # BPF_F_SLEEPABLE
SEC_XDP_FRAGS = 16          # BPF_F_XDP_HAS_FRAGS
SEC_USDT = 32               # USDT probe (uprobe + spec lookup)


def _flag(bit: int) -> property:
    """A read-only bool property: is ``bit`` set in ``flags``."""
    return property(lambda self: bool(self.flags & bit))


class SectionDef:
    """One convention: ``pattern``, ``prog_type``, ``attach_type`` (None = unset),
    ``flags`` (SEC_*), ``auto_attach`` (attach kind string, None if not auto-attachable)."""

    __slots__ = ("pattern", "prog_type", "attach_type", "flags", "auto_attach", "prefix",
                 "mode")

    def __init__(self, pattern: str, prog_type: int, attach_type: int | None, flags: int,
                 auto_attach: str | None = None) -> None:
        self.pattern = pattern
        self.prog_type = prog_type
        self.attach_type = attach_type
        self.flags = flags
        self.auto_attach = auto_attach
        if pattern.endswith("+"):
            self.prefix, self.mode = pattern[:-1], "+"
        elif pattern.endswith("/"):
            self.prefix, self.mode = pattern, "/"
        else:
            self.prefix, self.mode = pattern, "="

    def matches(self, section: str) -> bool:
        if self.mode == "=":
            return section == self.prefix
        if self.mode == "/":
            return section.startswith(self.prefix)
        p = self.prefix
        return section == p or (section.startswith(p) and section[len(p)] == "/")

    def attach_to(self, section: str) -> str:
        """The target written after the prefix: ``tp/sched/sched_switch`` -> ``sched/sched_switch``."""
        if self.mode == "+":
            return section[len(self.prefix) + 1:]
        if self.mode == "/":
            return section[len(self.prefix):]
        return ""

    sleepable = _flag(SEC_SLEEPABLE)
    attach_btf = _flag(SEC_ATTACH_BTF)
    attach_optional = _flag(SEC_EXP_ATTACH_OPT)
    attachable = _flag(SEC_ATTACHABLE)
    xdp_frags = _flag(SEC_XDP_FRAGS)
    usdt = _flag(SEC_USDT)

    def prog_flags(self) -> int:
        """prog_flags libbpf passes to BPF_PROG_LOAD for this convention."""
        f = 0
        if self.flags & SEC_SLEEPABLE:
            f |= U.F_SLEEPABLE
        if self.flags & SEC_XDP_FRAGS and self.prog_type == U.PROG_TYPE_XDP:
            f |= U.F_XDP_HAS_FRAGS
        return f

    def __repr__(self) -> str:
        return (f"<SectionDef {self.pattern!r} {U.prog_type_name(self.prog_type)} "
                f"{U.attach_type_name(self.attach_type) or '-'} flags {self.flags:#x}>")


def _d(pattern: str, ptype: int, atype: int | None, flags: int = SEC_NONE,
       auto: str | None = None) -> SectionDef:
    return SectionDef(pattern, ptype, atype, flags, auto)


P = U
SECTION_DEFS: tuple[SectionDef, ...] = (
    _d("socket", P.PROG_TYPE_SOCKET_FILTER, None),
    _d("sk_reuseport/migrate", P.PROG_TYPE_SK_REUSEPORT, P.SK_REUSEPORT_SELECT_OR_MIGRATE,
       SEC_ATTACHABLE),
    _d("sk_reuseport", P.PROG_TYPE_SK_REUSEPORT, P.SK_REUSEPORT_SELECT, SEC_ATTACHABLE),
    _d("kprobe+", P.PROG_TYPE_KPROBE, None, SEC_NONE, "kprobe"),
    _d("uprobe+", P.PROG_TYPE_KPROBE, None, SEC_NONE, "uprobe"),
    _d("uprobe.s+", P.PROG_TYPE_KPROBE, None, SEC_SLEEPABLE, "uprobe"),
    _d("kretprobe+", P.PROG_TYPE_KPROBE, None, SEC_NONE, "kprobe"),
    _d("uretprobe+", P.PROG_TYPE_KPROBE, None, SEC_NONE, "uprobe"),
    _d("uretprobe.s+", P.PROG_TYPE_KPROBE, None, SEC_SLEEPABLE, "uprobe"),
    _d("kprobe.multi+", P.PROG_TYPE_KPROBE, P.TRACE_KPROBE_MULTI, SEC_NONE, "kprobe_multi"),
    _d("kretprobe.multi+", P.PROG_TYPE_KPROBE, P.TRACE_KPROBE_MULTI, SEC_NONE,
       "kprobe_multi"),
    _d("kprobe.session+", P.PROG_TYPE_KPROBE, P.TRACE_KPROBE_SESSION, SEC_NONE,
       "kprobe_session"),
    _d("uprobe.multi+", P.PROG_TYPE_KPROBE, P.TRACE_UPROBE_MULTI, SEC_NONE, "uprobe_multi"),
    _d("uretprobe.multi+", P.PROG_TYPE_KPROBE, P.TRACE_UPROBE_MULTI, SEC_NONE,
       "uprobe_multi"),
    _d("uprobe.session+", P.PROG_TYPE_KPROBE, P.TRACE_UPROBE_SESSION, SEC_NONE,
       "uprobe_session"),
    _d("uprobe.multi.s+", P.PROG_TYPE_KPROBE, P.TRACE_UPROBE_MULTI, SEC_SLEEPABLE,
       "uprobe_multi"),
    _d("uretprobe.multi.s+", P.PROG_TYPE_KPROBE, P.TRACE_UPROBE_MULTI, SEC_SLEEPABLE,
       "uprobe_multi"),
    _d("uprobe.session.s+", P.PROG_TYPE_KPROBE, P.TRACE_UPROBE_SESSION, SEC_SLEEPABLE,
       "uprobe_session"),
    _d("ksyscall+", P.PROG_TYPE_KPROBE, None, SEC_NONE, "ksyscall"),
    _d("kretsyscall+", P.PROG_TYPE_KPROBE, None, SEC_NONE, "ksyscall"),
    _d("usdt+", P.PROG_TYPE_KPROBE, None, SEC_USDT, "usdt"),
    _d("usdt.s+", P.PROG_TYPE_KPROBE, None, SEC_USDT | SEC_SLEEPABLE, "usdt"),
    _d("tc/ingress", P.PROG_TYPE_SCHED_CLS, P.TCX_INGRESS),   # alias of tcx/ingress
    _d("tc/egress", P.PROG_TYPE_SCHED_CLS, P.TCX_EGRESS),     # alias of tcx/egress
    _d("tcx/ingress", P.PROG_TYPE_SCHED_CLS, P.TCX_INGRESS),
    _d("tcx/egress", P.PROG_TYPE_SCHED_CLS, P.TCX_EGRESS),
    _d("tc", P.PROG_TYPE_SCHED_CLS, None),                    # legacy cls_bpf
    _d("classifier", P.PROG_TYPE_SCHED_CLS, None),            # legacy cls_bpf
    _d("action", P.PROG_TYPE_SCHED_ACT, None),                # legacy act_bpf
    _d("netkit/primary", P.PROG_TYPE_SCHED_CLS, P.NETKIT_PRIMARY),
    _d("netkit/peer", P.PROG_TYPE_SCHED_CLS, P.NETKIT_PEER),
    _d("tracepoint+", P.PROG_TYPE_TRACEPOINT, None, SEC_NONE, "tp"),
    _d("tp+", P.PROG_TYPE_TRACEPOINT, None, SEC_NONE, "tp"),
    _d("raw_tracepoint+", P.PROG_TYPE_RAW_TRACEPOINT, None, SEC_NONE, "raw_tp"),
    _d("raw_tp+", P.PROG_TYPE_RAW_TRACEPOINT, None, SEC_NONE, "raw_tp"),
    _d("raw_tracepoint.w+", P.PROG_TYPE_RAW_TRACEPOINT_WRITABLE, None, SEC_NONE, "raw_tp"),
    _d("raw_tp.w+", P.PROG_TYPE_RAW_TRACEPOINT_WRITABLE, None, SEC_NONE, "raw_tp"),
    _d("tp_btf+", P.PROG_TYPE_TRACING, P.TRACE_RAW_TP, SEC_ATTACH_BTF, "trace"),
    _d("fentry+", P.PROG_TYPE_TRACING, P.TRACE_FENTRY, SEC_ATTACH_BTF, "trace"),
    _d("fmod_ret+", P.PROG_TYPE_TRACING, P.MODIFY_RETURN, SEC_ATTACH_BTF, "trace"),
    _d("fexit+", P.PROG_TYPE_TRACING, P.TRACE_FEXIT, SEC_ATTACH_BTF, "trace"),
    _d("fentry.s+", P.PROG_TYPE_TRACING, P.TRACE_FENTRY, SEC_ATTACH_BTF | SEC_SLEEPABLE,
       "trace"),
    _d("fmod_ret.s+", P.PROG_TYPE_TRACING, P.MODIFY_RETURN, SEC_ATTACH_BTF | SEC_SLEEPABLE,
       "trace"),
    _d("fexit.s+", P.PROG_TYPE_TRACING, P.TRACE_FEXIT, SEC_ATTACH_BTF | SEC_SLEEPABLE,
       "trace"),
    _d("freplace+", P.PROG_TYPE_EXT, None, SEC_ATTACH_BTF, "trace"),
    _d("lsm+", P.PROG_TYPE_LSM, P.LSM_MAC, SEC_ATTACH_BTF, "lsm"),
    _d("lsm.s+", P.PROG_TYPE_LSM, P.LSM_MAC, SEC_ATTACH_BTF | SEC_SLEEPABLE, "lsm"),
    _d("lsm_cgroup+", P.PROG_TYPE_LSM, P.LSM_CGROUP, SEC_ATTACH_BTF),
    _d("iter+", P.PROG_TYPE_TRACING, P.TRACE_ITER, SEC_ATTACH_BTF, "iter"),
    _d("iter.s+", P.PROG_TYPE_TRACING, P.TRACE_ITER, SEC_ATTACH_BTF | SEC_SLEEPABLE, "iter"),
    _d("syscall", P.PROG_TYPE_SYSCALL, None, SEC_SLEEPABLE),
    _d("xdp.frags/devmap", P.PROG_TYPE_XDP, P.XDP_DEVMAP, SEC_XDP_FRAGS),
    _d("xdp/devmap", P.PROG_TYPE_XDP, P.XDP_DEVMAP, SEC_ATTACHABLE),
    _d("xdp.frags/cpumap", P.PROG_TYPE_XDP, P.XDP_CPUMAP, SEC_XDP_FRAGS),
    _d("xdp/cpumap", P.PROG_TYPE_XDP, P.XDP_CPUMAP, SEC_ATTACHABLE),
    _d("xdp.frags", P.PROG_TYPE_XDP, P.XDP, SEC_XDP_FRAGS),
    _d("xdp", P.PROG_TYPE_XDP, P.XDP, SEC_ATTACHABLE_OPT),
    _d("perf_event", P.PROG_TYPE_PERF_EVENT, None),
    _d("lwt_in", P.PROG_TYPE_LWT_IN, None),
    _d("lwt_out", P.PROG_TYPE_LWT_OUT, None),
    _d("lwt_xmit", P.PROG_TYPE_LWT_XMIT, None),
    _d("lwt_seg6local", P.PROG_TYPE_LWT_SEG6LOCAL, None),
    _d("sockops", P.PROG_TYPE_SOCK_OPS, P.CGROUP_SOCK_OPS, SEC_ATTACHABLE_OPT),
    _d("sk_skb/stream_parser", P.PROG_TYPE_SK_SKB, P.SK_SKB_STREAM_PARSER, SEC_ATTACHABLE_OPT),
    _d("sk_skb/stream_verdict", P.PROG_TYPE_SK_SKB, P.SK_SKB_STREAM_VERDICT,
       SEC_ATTACHABLE_OPT),
    _d("sk_skb/verdict", P.PROG_TYPE_SK_SKB, P.SK_SKB_VERDICT, SEC_ATTACHABLE_OPT),
    _d("sk_skb", P.PROG_TYPE_SK_SKB, None),
    _d("sk_msg", P.PROG_TYPE_SK_MSG, P.SK_MSG_VERDICT, SEC_ATTACHABLE_OPT),
    _d("lirc_mode2", P.PROG_TYPE_LIRC_MODE2, P.LIRC_MODE2, SEC_ATTACHABLE_OPT),
    _d("flow_dissector", P.PROG_TYPE_FLOW_DISSECTOR, P.FLOW_DISSECTOR, SEC_ATTACHABLE_OPT),
    _d("cgroup_skb/ingress", P.PROG_TYPE_CGROUP_SKB, P.CGROUP_INET_INGRESS, SEC_ATTACHABLE_OPT),
    _d("cgroup_skb/egress", P.PROG_TYPE_CGROUP_SKB, P.CGROUP_INET_EGRESS, SEC_ATTACHABLE_OPT),
    _d("cgroup/skb", P.PROG_TYPE_CGROUP_SKB, None),
    _d("cgroup/sock_create", P.PROG_TYPE_CGROUP_SOCK, P.CGROUP_INET_SOCK_CREATE,
       SEC_ATTACHABLE),
    _d("cgroup/sock_release", P.PROG_TYPE_CGROUP_SOCK, P.CGROUP_INET_SOCK_RELEASE,
       SEC_ATTACHABLE),
    _d("cgroup/sock", P.PROG_TYPE_CGROUP_SOCK, P.CGROUP_INET_SOCK_CREATE, SEC_ATTACHABLE_OPT),
    _d("cgroup/post_bind4", P.PROG_TYPE_CGROUP_SOCK, P.CGROUP_INET4_POST_BIND, SEC_ATTACHABLE),
    _d("cgroup/post_bind6", P.PROG_TYPE_CGROUP_SOCK, P.CGROUP_INET6_POST_BIND, SEC_ATTACHABLE),
    _d("cgroup/bind4", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_INET4_BIND, SEC_ATTACHABLE),
    _d("cgroup/bind6", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_INET6_BIND, SEC_ATTACHABLE),
    _d("cgroup/connect4", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_INET4_CONNECT, SEC_ATTACHABLE),
    _d("cgroup/connect6", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_INET6_CONNECT, SEC_ATTACHABLE),
    _d("cgroup/connect_unix", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_UNIX_CONNECT,
       SEC_ATTACHABLE),
    _d("cgroup/sendmsg4", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_UDP4_SENDMSG, SEC_ATTACHABLE),
    _d("cgroup/sendmsg6", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_UDP6_SENDMSG, SEC_ATTACHABLE),
    _d("cgroup/sendmsg_unix", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_UNIX_SENDMSG,
       SEC_ATTACHABLE),
    _d("cgroup/recvmsg4", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_UDP4_RECVMSG, SEC_ATTACHABLE),
    _d("cgroup/recvmsg6", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_UDP6_RECVMSG, SEC_ATTACHABLE),
    _d("cgroup/recvmsg_unix", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_UNIX_RECVMSG,
       SEC_ATTACHABLE),
    _d("cgroup/getpeername4", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_INET4_GETPEERNAME,
       SEC_ATTACHABLE),
    _d("cgroup/getpeername6", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_INET6_GETPEERNAME,
       SEC_ATTACHABLE),
    _d("cgroup/getpeername_unix", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_UNIX_GETPEERNAME,
       SEC_ATTACHABLE),
    _d("cgroup/getsockname4", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_INET4_GETSOCKNAME,
       SEC_ATTACHABLE),
    _d("cgroup/getsockname6", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_INET6_GETSOCKNAME,
       SEC_ATTACHABLE),
    _d("cgroup/getsockname_unix", P.PROG_TYPE_CGROUP_SOCK_ADDR, P.CGROUP_UNIX_GETSOCKNAME,
       SEC_ATTACHABLE),
    _d("cgroup/sysctl", P.PROG_TYPE_CGROUP_SYSCTL, P.CGROUP_SYSCTL, SEC_ATTACHABLE),
    _d("cgroup/getsockopt", P.PROG_TYPE_CGROUP_SOCKOPT, P.CGROUP_GETSOCKOPT, SEC_ATTACHABLE),
    _d("cgroup/setsockopt", P.PROG_TYPE_CGROUP_SOCKOPT, P.CGROUP_SETSOCKOPT, SEC_ATTACHABLE),
    _d("cgroup/dev", P.PROG_TYPE_CGROUP_DEVICE, P.CGROUP_DEVICE, SEC_ATTACHABLE_OPT),
    _d("struct_ops+", P.PROG_TYPE_STRUCT_OPS, None),
    _d("struct_ops.s+", P.PROG_TYPE_STRUCT_OPS, None, SEC_SLEEPABLE),
    _d("sk_lookup", P.PROG_TYPE_SK_LOOKUP, P.SK_LOOKUP, SEC_ATTACHABLE),
    _d("netfilter", P.PROG_TYPE_NETFILTER, P.NETFILTER),
)
del P

# Lookup indexes keeping libbpf's "first entry wins" order: table position by exact name,
# by "+" prefix, and the (rare) "/" prefix entries scanned in order.
_EQ: dict[str, int] = {}
_PLUS: dict[str, int] = {}
_SLASH: list[int] = []
for _i, _sd in enumerate(SECTION_DEFS):
    if _sd.mode == "=":
        _EQ.setdefault(_sd.prefix, _i)
    elif _sd.mode == "+":
        _PLUS.setdefault(_sd.prefix, _i)
    else:
        _SLASH.append(_i)
del _i, _sd
_CACHE: dict[str, SectionDef | None] = {}


def match(section: str) -> SectionDef | None:
    """The convention libbpf applies to ``section``; None if it knows none."""
    try:
        return _CACHE[section]
    except KeyError:
        pass
    best = len(SECTION_DEFS)
    for i in (_EQ.get(section), _PLUS.get(section), _PLUS.get(section.split("/", 1)[0])
              if "/" in section else None):
        if i is not None and i < best:
            best = i
    for i in _SLASH:
        if i < best and SECTION_DEFS[i].matches(section):
            best = i
            break
    sd = SECTION_DEFS[best] if best < len(SECTION_DEFS) else None
    if len(_CACHE) < 4096:
        _CACHE[section] = sd
    return sd


def _match_slow(section: str) -> SectionDef | None:
    """Reference implementation: the first entry that matches (used by tests)."""
    for sd in SECTION_DEFS:
        if sd.matches(section):
            return sd
    return None


def describe(section: str) -> tuple[SectionDef | None, str]:
    """``(SectionDef or None, attach target)`` for ``section``."""
    sd = match(section)
    return sd, (sd.attach_to(section) if sd is not None else "")


def is_retprobe(section: str) -> bool:
    """kretprobe/uretprobe/kretsyscall families (return probes)."""
    head = section.split("/", 1)[0]
    return head.startswith(("kretprobe", "uretprobe", "kretsyscall"))
