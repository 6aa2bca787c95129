"""Attaching programs to hooks: ``Link`` and one module per hook family.

``attach(program, **opts)`` attaches by the program's section name, following libbpf's
conventions::

    tp/sched/sched_process_exec        tracepoint            (tracepoint.py)
    raw_tp/sched_switch                raw tracepoint         (raw_tp.py)
    tp_btf/… fentry/… fexit/… lsm/…    BTF tracing            (tracing.py)
    kprobe/FUNC[+OFF] kretprobe/… ksyscall/… kprobe.multi/…   (kprobe.py)
    uprobe/PATH:FUNC[+OFF] uretprobe/… uprobe.multi/PATH:GLOB (uprobe.py)
    usdt/PATH:PROVIDER:NAME            USDT                   (usdt.py)
    xdp                                iface=                 (xdp.py)
    tc, tc/ingress, tcx/egress …       iface=, direction=     (tc.py)
    cgroup_skb/…, cgroup/…, sockops    cgroup=                (cgroup.py)
    socket, sk_msg, sk_skb/…, sk_lookup, flow_dissector       (socket.py)
    perf_event                         sample_freq=/period=   (perf_event.py)
    iter/…                             map=, cgroup=          (iter.py)
    netfilter                          pf=, hook=, priority=  (netfilter.py)

The explicit functions (``attach_tracepoint``, ``attach_uprobe``, ``attach_xdp`` …) take
the same options by name. Every function returns a ``Link`` that the caller closes.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs ≈3 ms of start-up; type checkers take this as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import AttachError
from .base import HookUnavailable, Link, LinkInfo, link_info

# function name -> module (imported on first use: keep ``import corebpf.link`` cheap)
_LAZY = {
    "attach_tracepoint": "tracepoint", "tracepoint_id": "tracepoint",
    "attach_raw_tracepoint": "raw_tp",
    "attach_tracing": "tracing", "attach_tp_btf": "tracing", "attach_fentry": "tracing",
    "attach_fexit": "tracing", "attach_fmod_ret": "tracing", "attach_lsm": "tracing",
    "attach_freplace": "tracing",
    "attach_kprobe": "kprobe", "attach_kretprobe": "kprobe", "attach_ksyscall": "kprobe",
    "attach_kprobe_multi": "kprobe", "kprobes_available": "kprobe",
    "attach_uprobe": "uprobe", "attach_uretprobe": "uprobe",
    "attach_uprobe_multi": "uprobe", "symbol_offset": "uprobe",
    "attach_usdt": "usdt", "read_notes": "usdt",
    "attach_xdp": "xdp",
    "attach_tc": "tc", "attach_tcx": "tc", "attach_clsact": "tc", "remove_clsact": "tc",
    "attach_cgroup": "cgroup",
    "attach_socket_filter": "socket", "attach_reuseport": "socket",
    "attach_sockmap": "socket", "attach_sk_lookup": "socket",
    "attach_flow_dissector": "socket",
    "attach_perf_event": "perf_event",
    "attach_iter": "iter", "IterLink": "iter",
    "attach_netfilter": "netfilter",
    "attach_struct_ops": "struct_ops",
}


_MODULES = ("base", "tracepoint", "raw_tp", "tracing", "kprobe", "uprobe", "usdt", "xdp",
            "tc", "cgroup", "socket", "perf_event", "iter", "netfilter", "struct_ops")


def __getattr__(name: str) -> Any:
    import importlib
    if name in _MODULES:   # corebpf.link.tracing etc. without importing them explicitly
        return importlib.import_module(f".{name}", __name__)
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'corebpf.link' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


# prog types (uapi) used when a program has no section
_PT_SOCKET_FILTER, _PT_KPROBE, _PT_SCHED_CLS, _PT_TRACEPOINT, _PT_XDP, _PT_PERF_EVENT = \
    1, 2, 3, 5, 6, 7
_PT_CGROUP = (8, 9, 13, 15, 18, 23, 25)  # skb, sock, sock_ops, device, sock_addr, sysctl, sockopt
_PT_RAW_TP, _PT_TRACING, _PT_EXT, _PT_LSM = 17, 26, 28, 29


def _split_section(program: Any) -> tuple[str, str]:
    sec = str(getattr(program, "section", "") or "")
    head, _, rest = sec.partition("/")
    return head, rest


def _need(opts: dict[str, Any], key: str, hook: str, what: str, *alts: str) -> Any:
    for k in (key, *alts):
        if opts.get(k) is not None:
            return opts.pop(k)
    raise AttachError(f"needs {what}: pass {key}=", hook=hook)


def _pop(opts: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: opts.pop(k) for k in keys if k in opts}


def _no_more(opts: dict[str, Any], hook: str) -> None:
    if opts:
        raise AttachError(f"unexpected options {', '.join(sorted(opts))}", hook=hook)


def attach(program: Any, **opts: Any) -> Link:
    """Attach ``program`` to the hook its section names (libbpf conventions).

    Hooks that the section cannot fully name take options: ``iface`` (xdp, tc),
    ``direction`` (tc), ``cgroup`` (cgroup programs), ``sock`` (socket filters), ``map``
    (sk_msg/sk_skb, map iterators), ``binary``/``func``/``pid`` (uprobes), ``sample_freq``
    (perf_event), ``pf``/``hook``/``priority`` (netfilter). Returns a Link; close it to
    detach. Raises ``AttachError`` (``HookUnavailable`` where the kernel lacks the hook).
    """
    try:
        return _attach(program, dict(opts))
    except TypeError as e:
        if "unexpected keyword argument" not in str(e):
            raise
        head, _ = _split_section(program)
        bad = str(e).rpartition("argument ")[2]
        raise AttachError(f"unexpected option {bad}", hook=head or "attach") from None


def _attach(program: Any, opts: dict[str, Any]) -> Link:
    head, rest = _split_section(program)
    base = head.removesuffix(".s").removesuffix(".w")
    ptype = getattr(program, "type", None)

    if base in ("tp", "tracepoint") or (not head and ptype == _PT_TRACEPOINT):
        from .tracepoint import attach_tracepoint
        target = rest or opts.pop("tracepoint", None) or opts.pop("target", None)
        if not target:
            raise AttachError("needs CATEGORY/NAME (section tp/CATEGORY/NAME or "
                              "tracepoint=)", hook="tracepoint")
        kw = _pop(opts, "cookie", "use_link")
        _no_more(opts, "tracepoint")
        return attach_tracepoint(program, target, **kw)

    if base in ("raw_tp", "raw_tracepoint") or (not head and ptype in (_PT_RAW_TP, 24)):
        from .raw_tp import attach_raw_tracepoint
        name = rest or opts.pop("tracepoint", None) or opts.pop("name", None)
        if not name:
            raise AttachError("needs a tracepoint name (section raw_tp/NAME or name=)",
                              hook="raw_tp")
        kw = _pop(opts, "cookie")
        _no_more(opts, "raw_tp")
        return attach_raw_tracepoint(program, name, **kw)

    if base in ("tp_btf", "fentry", "fexit", "fmod_ret", "freplace", "lsm") or \
            (not head and ptype in (_PT_TRACING, _PT_EXT, _PT_LSM) and
             getattr(program, "expected_attach_type", None) != 28):
        from .tracing import attach_tracing
        kw = _pop(opts, "cookie", "target_program")
        _no_more(opts, base or "tracing")
        return attach_tracing(program, **kw)

    if base == "lsm_cgroup":
        from .cgroup import attach_cgroup
        cg = _need(opts, "cgroup", "lsm_cgroup", "a cgroup path")
        return attach_cgroup(program, cg, **opts)

    if base in ("kprobe", "kretprobe"):
        from .kprobe import attach_kprobe
        target = rest or opts.pop("func", None)
        if not target:
            raise AttachError("needs a function (section kprobe/FUNC or func=)", hook=base)
        func, _, off = target.partition("+")
        try:
            offset = int(off, 0) if off else opts.pop("offset", 0)
        except ValueError:
            raise AttachError(f"bad offset {off!r}", hook=base, target=target) from None
        kw = _pop(opts, "cookie")
        _no_more(opts, base)
        return attach_kprobe(program, func, offset, retprobe=base == "kretprobe", **kw)

    if base in ("ksyscall", "kretsyscall"):
        from .kprobe import attach_ksyscall
        name = rest or opts.pop("syscall", None)
        if not name:
            raise AttachError("needs a syscall name (ksyscall/NAME)", hook=base)
        return attach_ksyscall(program, name, retprobe=base == "kretsyscall", **opts)

    if base in ("kprobe.multi", "kretprobe.multi"):
        from .kprobe import attach_kprobe_multi
        pattern = rest or opts.pop("symbols", None)
        if not pattern and not opts.get("addresses"):
            raise AttachError("needs a pattern (kprobe.multi/GLOB, symbols= or addresses=)",
                              hook=base)
        return attach_kprobe_multi(program, pattern, retprobe=base.startswith("kret"),
                                   **opts)

    if base in ("uprobe", "uretprobe") or (not head and ptype == _PT_KPROBE
                                          and "binary" in opts):
        from .uprobe import attach_uprobe
        retprobe = base == "uretprobe" or bool(opts.pop("retprobe", False))
        binary, func = opts.pop("binary", None), opts.pop("func", None)
        if rest:
            path, sep, f = rest.rpartition(":")
            if not sep:
                raise AttachError("section must be uprobe/PATH:FUNC[+OFFSET]",
                                  hook=base, target=rest)
            binary, func = binary or path, func or f
        if not binary:
            raise AttachError("needs a binary and function (uprobe/PATH:FUNC or "
                              "binary=, func=)", hook=base or "uprobe")
        return attach_uprobe(program, binary, func, retprobe=retprobe, **opts)

    if base in ("uprobe.multi", "uretprobe.multi"):
        from .uprobe import attach_uprobe_multi
        binary, funcs = opts.pop("binary", None), opts.pop("funcs", None)
        if rest:
            path, _, pat = rest.rpartition(":")
            binary, funcs = binary or path, funcs or pat
        if not binary or not (funcs or opts.get("offsets")):
            raise AttachError("needs uprobe.multi/PATH:PATTERN or binary= with funcs= or "
                              "offsets=", hook=base)
        return attach_uprobe_multi(program, binary, funcs, retprobe=base.startswith("uret"),
                                   **opts)

    if base == "usdt":
        from .usdt import attach_usdt
        binary, provider, name = (opts.pop("binary", None), opts.pop("provider", None),
                                  opts.pop("name", None))
        if rest:
            parts = rest.rsplit(":", 2)
            if len(parts) != 3:
                raise AttachError("section must be usdt/PATH:PROVIDER:NAME", hook="usdt",
                                  target=rest)
            binary, provider, name = parts
        if not (binary and provider and name):
            raise AttachError("needs usdt/PATH:PROVIDER:NAME or binary=, provider=, name=",
                              hook="usdt")
        return attach_usdt(program, binary, provider, name, **opts)

    if base in ("xdp", "xdp.frags") or (not head and ptype == _PT_XDP):
        if rest in ("devmap", "cpumap"):
            raise AttachError(f"xdp/{rest} programs are attached through {rest} entries, "
                              "not to an interface", hook="xdp")
        from .xdp import attach_xdp
        iface = _need(opts, "iface", "xdp", "an interface", "ifindex", "interface")
        kw = _pop(opts, "mode", "use_link")
        _no_more(opts, "xdp")
        return attach_xdp(program, iface, **kw)

    if base == "action":
        raise AttachError("act_bpf actions run from a tc action list (tc filter ... action "
                          "bpf); corebpf attaches classifiers: use a 'tc' section",
                          hook="action")

    if base in ("tc", "tcx", "classifier") or (not head and ptype == _PT_SCHED_CLS):
        from .tc import attach_clsact, attach_tc, attach_tcx
        iface = _need(opts, "iface", "tc", "an interface", "ifindex", "interface")
        direction = opts.pop("direction", None) or rest or "ingress"
        if base == "tcx":
            return attach_tcx(program, iface, direction, **opts)
        if base == "classifier" or (base == "tc" and not rest
                                                 and opts.get("mode") is None):
            opts.pop("mode", None)
            return attach_clsact(program, iface, direction, **opts)
        return attach_tc(program, iface, direction, **opts)

    if base in ("cgroup_skb", "cgroup", "sockops") or (not head and ptype in _PT_CGROUP):
        from .cgroup import attach_cgroup
        cg = _need(opts, "cgroup", base or "cgroup", "a cgroup v2 directory", "path")
        return attach_cgroup(program, cg, **opts)

    if base == "socket" or (not head and ptype == _PT_SOCKET_FILTER):
        from .socket import attach_socket_filter
        sock = _need(opts, "sock", "socket", "a socket", "socket", "fd")
        return attach_socket_filter(program, sock)

    if base in ("sk_msg", "sk_skb"):
        from .socket import attach_sockmap
        m = _need(opts, "map", base, "a sockmap/sockhash map", "sockmap")
        return attach_sockmap(program, m, opts.pop("kind", None))

    if base == "sk_lookup":
        from .socket import attach_sk_lookup
        return attach_sk_lookup(program, opts.pop("netns", None))

    if base == "flow_dissector":
        from .socket import attach_flow_dissector
        return attach_flow_dissector(program, opts.pop("netns", None))

    if base == "sk_reuseport":
        from .socket import attach_reuseport
        return attach_reuseport(program, _need(opts, "sock", base, "a socket", "socket"))

    if base == "perf_event" or (not head and ptype == _PT_PERF_EVENT):
        from .perf_event import attach_perf_event
        if not any(k in opts for k in ("sample_freq", "sample_period", "event")):
            raise AttachError("needs sampling options, e.g. attach(prog, sample_freq=99) "
                              "or event='page-faults', sample_period=1", hook="perf_event")
        return attach_perf_event(program, **opts)

    if base == "iter" or (not head and getattr(program, "expected_attach_type", None) == 28):
        from .iter import attach_iter
        return attach_iter(program, **opts)

    if base == "netfilter":
        from .netfilter import attach_netfilter
        if "hook" not in opts:
            raise AttachError("needs pf=, hook= and priority= (e.g. pf='ipv4', "
                              "hook='input', priority=-128)", hook="netfilter")
        return attach_netfilter(program, **opts)

    if base == "struct_ops":
        raise AttachError("struct_ops programs are registered through their struct_ops "
                          "map: attach_struct_ops(obj.maps[NAME])", hook="struct_ops")
    if base == "syscall":
        raise AttachError("syscall programs are not attached: run them with test_run()",
                          hook="syscall")
    sec = getattr(program, "section", "") or f"prog type {ptype}"
    raise AttachError(f"no known hook for section {sec!r}; use an explicit attach_* "
                      "function", hook="attach")


def auto_attachable(program: Any, **opts: Any) -> bool:
    """True if ``attach(program, **opts)`` has all it needs (section or options)."""
    head, rest = _split_section(program)
    base = head.removesuffix(".s").removesuffix(".w")
    if base in ("tp", "tracepoint", "raw_tp", "raw_tracepoint", "kprobe", "kretprobe",
                "ksyscall", "kretsyscall", "kprobe.multi", "kretprobe.multi"):
        return bool(rest)
    if base == "iter":   # map iterators need a map
        return rest not in ("bpf_map_elem", "bpf_sk_storage_map", "sockmap") or \
            opts.get("map") is not None
    if base in ("tp_btf", "fentry", "fexit", "fmod_ret", "lsm"):
        return True
    if base in ("uprobe", "uretprobe", "uprobe.multi", "uretprobe.multi", "usdt"):
        return ":" in rest
    if base in ("xdp", "xdp.frags"):
        return rest not in ("devmap", "cpumap") and bool(opts.get("iface"))
    if base in ("tc", "tcx", "classifier"):
        return bool(opts.get("iface"))
    if base in ("cgroup_skb", "cgroup", "sockops", "lsm_cgroup"):
        return bool(opts.get("cgroup"))
    if base in ("sk_lookup", "flow_dissector"):
        return True
    if base == "perf_event":
        return any(k in opts for k in ("sample_freq", "sample_period"))
    return False


__all__ = ["Link", "LinkInfo", "HookUnavailable", "link_info", "attach", "auto_attachable",
           *_LAZY]
