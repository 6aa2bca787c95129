"""``__arg_ctx`` on kernels whose verifier ignores the ``arg:ctx`` decl tag (before 6.8,
e.g. Debian's 6.1): like libbpf ≥ 1.4, the loader appends to the object BTF a clone of each
tagged global FUNC + FUNC_PROTO whose parameter points to the program type's context struct,
and points that program's func_info at the clone. On newer kernels nothing changes."""
from __future__ import annotations

import os
import struct

import pytest

import corebpf
from corebpf import _sys, features
from corebpf import object as objmod
from corebpf.btf import BTF, marshal
from corebpf.btf import types as T
from corebpf.uapi import PROG_TYPE_NAMES

PKT = bytes(64)
SOCKET, XDP, KPROBE, PERF_EVENT, RAW_TP = 1, 6, 2, 7, 17

KVER = tuple(int("".join(c for c in x if c.isdigit()) or 0)
             for x in os.uname().release.split("-")[0].split(".")[:2])


def _spec(bpf_prog):
    return corebpf.open_object(str(bpf_prog("argctx_tags")))


def _param_struct(btf: BTF, fn: int, idx: int) -> str:
    """The name of the struct parameter ``idx`` of FUNC ``fn`` points to ('' if none)."""
    p = btf[btf[fn].type].params[idx]
    ptr = btf.skip_mods(p.type)
    if btf.kind_of(ptr) != T.PTR:
        return ""
    tgt = btf.skip_mods(btf[ptr].type)
    return btf.name_of(tgt) if tgt and btf.kind_of(tgt) == T.STRUCT else ""


def test_ctx_table_uses_uapi_numbers():
    names = {1: "socket_filter", 2: "kprobe", 6: "xdp", 7: "perf_event",
             17: "raw_tracepoint", 24: "raw_tracepoint_writable", 32: "netfilter",
             30: "sk_lookup", 25: "cgroup_sockopt"}
    for num, name in names.items():
        assert PROG_TYPE_NAMES[num].lower().removeprefix("bpf_prog_type_") == name
        assert num in marshal.ARG_CTX_STRUCTS
    # program types without a named context struct get nothing
    for t in (5, 26, 27, 28, 29, 31):  # tracepoint, tracing, struct_ops, ext, lsm, syscall
        assert t not in marshal.ARG_CTX_STRUCTS


def test_clones_as_data(bpf_prog):
    """The rewrite alone, on the object's bytes: what a kernel without arg:ctx gets."""
    spec = _spec(bpf_prog)
    btf = spec.btf
    fid = {n: f.btf_func_id for n, f in spec.functions.items()}
    data, ids = marshal.arg_ctx_clones(btf.raw, {SOCKET, XDP, 5}, arch="x86_64")
    assert set(ids) == {SOCKET, XDP}  # tracepoint: no named context, left alone
    new = BTF.from_bytes(data)
    assert len(new) > len(btf)
    # existing ids and names unchanged
    for tid in btf:
        assert new.kind_of(tid) == btf.kind_of(tid) and new.name_of(tid) == btf.name_of(tid)
    # socket filter: `void *ctx` -> `struct __sk_buff *`, the int stays; a parameter that
    # already is `struct __sk_buff *` needs no clone
    c = ids[SOCKET][fid["skb_len_of"]]
    assert new.kind_of(c) == T.FUNC and new.name_of(c) == "skb_len_of"
    assert new[c].linkage == T.LINKAGE_GLOBAL and c >= len(btf)
    assert _param_struct(new, c, 0) == "__sk_buff"
    orig = btf[btf[fid["skb_len_of"]].type]
    proto = new[new[c].type]
    assert [p.name for p in proto.params] == [p.name for p in orig.params] == ["ctx", "extra"]
    assert proto.params[1].type == orig.params[1].type
    assert proto.return_type == orig.return_type
    assert fid["skb_mark_of"] not in ids[SOCKET]
    # xdp: `void *` -> `struct xdp_md *`; `struct __sk_buff *` under XDP is wrong, left for
    # the verifier to refuse (as libbpf)
    cx = ids[XDP][fid["xdp_len_of"]]
    assert _param_struct(new, cx, 0) == "xdp_md"
    assert fid["skb_mark_of"] not in ids[XDP]
    # the clones carry the tag too; the context struct is an empty STRUCT
    tags = [new[t] for t in marshal.ids_of_kind(new, T.DECL_TAG) if t >= len(btf)]
    assert {(t.type, t.component_idx) for t in tags} >= {(c, 0), (cx, 0)}
    sk = new.skip_mods(new[new.skip_mods(new[new[c].type].params[0].type)].type)
    assert new[sk].size == 0 and new[sk].members == []
    # one clone per (function, context): asking twice gives the same bytes
    assert marshal.arg_ctx_clones(btf.raw, {SOCKET, XDP}, arch="x86_64") == (data, ids)
    # without decl tags in the kernel, no tag clones
    data2, ids2 = marshal.arg_ctx_clones(btf.raw, {SOCKET}, decl_tags=False)
    new2 = BTF.from_bytes(data2)
    assert not [t for t in marshal.ids_of_kind(new2, T.DECL_TAG) if t >= len(btf)]
    assert _param_struct(new2, ids2[SOCKET][fid["skb_len_of"]], 0) == "__sk_buff"


def _hand_btf() -> bytes:
    """Global FUNCs f_<n>(<type> *ctx __arg_ctx) for the kinds of stand-in parameter."""
    ty: list[T.Type] = [
        T.Int(1, "int", 4, T.INT_SIGNED),
        T.Int(2, "unsigned long long", 8),
        T.Composite(3, T.STRUCT, "pt_regs", 0, []),
        T.Composite(4, T.STRUCT, "user_pt_regs", 0, []),
        T.Ref(5, T.PTR, "", 0),           # void *
        T.Ref(6, T.PTR, "", 2),           # u64 *
        T.Ref(7, T.PTR, "", 3),           # struct pt_regs *
        T.Ref(8, T.PTR, "", 4),           # struct user_pt_regs *
        T.Ref(9, T.CONST, "", 5),         # void *const
    ]
    nid = 10
    for name, ptype in (("void", 9), ("u64", 6), ("pt_regs", 7), ("user_pt_regs", 8),
                        ("int", 1)):
        ty.append(T.FuncProto(nid, 1, [T.Param("ctx", ptype)]))
        ty.append(T.Func(nid + 1, f"f_{name}", nid, T.LINKAGE_GLOBAL))
        ty.append(T.DeclTag(nid + 2, "arg:ctx", nid + 1, 0))
        nid += 3
    # a static function's tag is ignored (the verifier checks static ones in context)
    ty.append(T.FuncProto(nid, 1, [T.Param("ctx", 5)]))
    ty.append(T.Func(nid + 1, "f_static", nid, T.LINKAGE_STATIC))
    ty.append(T.DeclTag(nid + 2, "arg:ctx", nid + 1, 0))
    return marshal.marshal_btf(ty)


@pytest.mark.parametrize("prog_type,arch,want", [
    (KPROBE, "x86_64", {"void": "bpf_user_pt_regs_t", "pt_regs": "bpf_user_pt_regs_t"}),
    (PERF_EVENT, "x86_64", {"void": "bpf_perf_event_data", "pt_regs": "bpf_perf_event_data"}),
    (PERF_EVENT, "aarch64", {"void": "bpf_perf_event_data",
                             "user_pt_regs": "bpf_perf_event_data"}),
    (RAW_TP, "x86_64", {"void": "bpf_raw_tracepoint_args", "u64": "bpf_raw_tracepoint_args"}),
    (SOCKET, "x86_64", {"void": "__sk_buff"}),
])
def test_which_parameters_are_retyped(prog_type, arch, want):
    data = _hand_btf()
    btf = BTF.from_bytes(data)
    out, ids = marshal.arg_ctx_clones(data, [prog_type], arch=arch)
    new = BTF.from_bytes(out)
    got = {new.name_of(fn).removeprefix("f_"): _param_struct(new, clone, 0)
           for fn, clone in ids.get(prog_type, {}).items()}
    assert got == want
    assert all(btf.name_of(fn) == new.name_of(c) for fn, c in ids[prog_type].items())


def test_nothing_tagged_is_untouched(bpf_prog):
    btf = corebpf.open_object(str(bpf_prog("load_basic"))).btf
    assert marshal.arg_ctx_clones(btf.raw, {SOCKET, XDP}) == (btf.raw, {})


def _func_info_ids(prog) -> list[int]:
    raw = _sys.prog_info(prog.fd, func_info=True)["func_info"]
    return [tid for _, tid in struct.iter_unpack("<II", raw)]


def _run(obj) -> tuple[int, int]:
    return (obj.programs["argctx_socket"].test_run(PKT).retval,
            obj.programs["argctx_xdp"].test_run(PKT).retval)


@pytest.fixture(scope="module")
def kernel_btf():
    """The process-wide cached kernel BTF (an mmap kept open), opened before fd counting."""
    return BTF.kernel()


@pytest.fixture
def calls(monkeypatch, kernel_btf):
    seen: list = []
    real = marshal.arg_ctx_clones

    def record(*a, **kw):
        r = real(*a, **kw)
        seen.append(r[1])
        return r
    monkeypatch.setattr(marshal, "arg_ctx_clones", record)
    return seen


@pytest.mark.kernel
def test_probe_matches_kernel():
    assert features.has_feature("arg_ctx_tag") == (KVER >= (6, 8))


@pytest.mark.kernel
def test_loads_on_this_kernel(bpf_prog, calls, no_fd_leak):
    """The object loads and runs here; the BTF is retyped exactly when the probe says the
    verifier ignores arg:ctx (the host: never; Debian's 6.1 under tests/vm: always)."""
    spec = _spec(bpf_prog)
    native = features.has_feature("arg_ctx_tag")
    with corebpf.load(spec) as obj:
        assert _run(obj) == (51, 2)
        fi = _func_info_ids(obj.programs["argctx_socket"])
    fid = {n: f.btf_func_id for n, f in spec.functions.items()}
    if native:
        assert calls == []
        assert fid["skb_len_of"] in fi
    else:
        assert len(calls) == 1 and fid["skb_len_of"] in calls[0][SOCKET]
        assert calls[0][SOCKET][fid["skb_len_of"]] in fi and fid["skb_len_of"] not in fi
        assert fid["skb_mark_of"] in fi


@pytest.mark.kernel
def test_rewrite_path_on_this_kernel(bpf_prog, calls, no_fd_leak):
    """The rewrite itself against a real verifier: with the probe's answer forced to "no",
    the retyped clones load and the programs' func_info name them."""
    spec = _spec(bpf_prog)
    fid = {n: f.btf_func_id for n, f in spec.functions.items()}
    key = ("misc", "arg_ctx_tag")
    old = features._cache.get(key, None)
    features._cache[key] = False
    try:
        with corebpf.load(spec) as obj:
            assert _run(obj) == (51, 2)
            fi_sock = _func_info_ids(obj.programs["argctx_socket"])
            fi_xdp = _func_info_ids(obj.programs["argctx_xdp"])
            kbtf = BTF.from_kernel_id(obj.programs["argctx_socket"].info().btf_id) \
                if hasattr(obj.programs["argctx_socket"].info(), "btf_id") else None
    finally:
        if old is None:
            features._cache.pop(key, None)
        else:
            features._cache[key] = old
    assert len(calls) == 1
    ids = calls[0]
    sock, xdp = ids[SOCKET][fid["skb_len_of"]], ids[XDP][fid["xdp_len_of"]]
    assert fi_sock[0] == fid["argctx_socket"] and sock in fi_sock
    assert fid["skb_mark_of"] in fi_sock  # already `struct __sk_buff *`
    assert xdp in fi_xdp and fid["xdp_len_of"] not in fi_xdp
    if kbtf is not None:
        assert _param_struct(kbtf, sock, 0) == "__sk_buff"
        assert _param_struct(kbtf, xdp, 0) == "xdp_md"


@pytest.mark.kernel
def test_without_rewrite(bpf_prog, calls, no_fd_leak):
    """What the rewrite is for: with it skipped, a verifier that honours arg:ctx loads the
    object and an older one refuses the `void *` parameter (Debian's 6.1 under tests/vm)."""
    from corebpf.errors import VerifierError
    native = features.has_feature("arg_ctx_tag")
    key = ("misc", "arg_ctx_tag")
    features._cache[key] = True
    try:
        if native:
            with corebpf.load(_spec(bpf_prog)) as obj:
                assert _run(obj) == (51, 2)
        else:
            with pytest.raises(VerifierError) as ei:
                corebpf.load(_spec(bpf_prog))
            assert "arg#0" in str(ei.value)
    finally:
        features._cache[key] = native
    assert calls == []
