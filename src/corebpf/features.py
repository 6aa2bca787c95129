"""Cached kernel feature probes: program/map types, helpers, attach types, BTF kinds.

Each probe loads a tiny hand-built program (8-byte instructions packed with ``struct``) or a
tiny hand-built BTF blob and looks at how the kernel answers. Results are cached for the
life of the process. ``probe_all()`` gathers everything for ``corebpf feature probe``.
"""
from __future__ import annotations

import errno as _errno
import os
import struct
TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs ~3 ms of start-up
    from typing import Any, Iterable

from . import _sys
from .errors import Error, KernelError, VerifierError
from .uapi import MAP_TYPE_NAMES, PROG_TYPE_NAMES  # the shared tables (plain ints + names)

# --------------------------------------------------------------------------- uapi tables

PROG_TYPES: dict[str, int] = {v: k for k, v in PROG_TYPE_NAMES.items()}

# enum bpf_func_id as of Linux 6.18 (index = helper id)
HELPER_NAMES: tuple[str, ...] = tuple("""
unspec map_lookup_elem map_update_elem map_delete_elem probe_read ktime_get_ns 
trace_printk get_prandom_u32 get_smp_processor_id skb_store_bytes l3_csum_replace 
l4_csum_replace tail_call clone_redirect get_current_pid_tgid get_current_uid_gid 
get_current_comm get_cgroup_classid skb_vlan_push skb_vlan_pop skb_get_tunnel_key 
skb_set_tunnel_key perf_event_read redirect get_route_realm perf_event_output 
skb_load_bytes get_stackid csum_diff skb_get_tunnel_opt skb_set_tunnel_opt 
skb_change_proto skb_change_type skb_under_cgroup get_hash_recalc get_current_task 
probe_write_user current_task_under_cgroup skb_change_tail skb_pull_data csum_update 
set_hash_invalid get_numa_node_id skb_change_head xdp_adjust_head probe_read_str 
get_socket_cookie get_socket_uid set_hash setsockopt skb_adjust_room redirect_map 
sk_redirect_map sock_map_update xdp_adjust_meta perf_event_read_value 
perf_prog_read_value getsockopt override_return sock_ops_cb_flags_set msg_redirect_map 
msg_apply_bytes msg_cork_bytes msg_pull_data bind xdp_adjust_tail skb_get_xfrm_state 
get_stack skb_load_bytes_relative fib_lookup sock_hash_update msg_redirect_hash 
sk_redirect_hash lwt_push_encap lwt_seg6_store_bytes lwt_seg6_adjust_srh 
lwt_seg6_action rc_repeat rc_keydown skb_cgroup_id get_current_cgroup_id 
get_local_storage sk_select_reuseport skb_ancestor_cgroup_id sk_lookup_tcp 
sk_lookup_udp sk_release map_push_elem map_pop_elem map_peek_elem msg_push_data 
msg_pop_data rc_pointer_rel spin_lock spin_unlock sk_fullsock tcp_sock skb_ecn_set_ce 
get_listener_sock skc_lookup_tcp tcp_check_syncookie sysctl_get_name 
sysctl_get_current_value sysctl_get_new_value sysctl_set_new_value strtol strtoul 
sk_storage_get sk_storage_delete send_signal tcp_gen_syncookie skb_output 
probe_read_user probe_read_kernel probe_read_user_str probe_read_kernel_str 
tcp_send_ack send_signal_thread jiffies64 read_branch_records get_ns_current_pid_tgid 
xdp_output get_netns_cookie get_current_ancestor_cgroup_id sk_assign ktime_get_boot_ns 
seq_printf seq_write sk_cgroup_id sk_ancestor_cgroup_id ringbuf_output ringbuf_reserve 
ringbuf_submit ringbuf_discard ringbuf_query csum_level skc_to_tcp6_sock 
skc_to_tcp_sock skc_to_tcp_timewait_sock skc_to_tcp_request_sock skc_to_udp6_sock 
get_task_stack load_hdr_opt store_hdr_opt reserve_hdr_opt inode_storage_get 
inode_storage_delete d_path copy_from_user snprintf_btf seq_printf_btf 
skb_cgroup_classid redirect_neigh per_cpu_ptr this_cpu_ptr redirect_peer 
task_storage_get task_storage_delete get_current_task_btf bprm_opts_set 
ktime_get_coarse_ns ima_inode_hash sock_from_file check_mtu for_each_map_elem snprintf 
sys_bpf btf_find_by_name_kind sys_close timer_init timer_set_callback timer_start 
timer_cancel get_func_ip get_attach_cookie task_pt_regs get_branch_snapshot 
trace_vprintk skc_to_unix_sock kallsyms_lookup_name find_vma loop strncmp get_func_arg 
get_func_ret get_func_arg_cnt get_retval set_retval xdp_get_buff_len xdp_load_bytes 
xdp_store_bytes copy_from_user_task skb_set_tstamp ima_file_hash kptr_xchg 
map_lookup_percpu_elem skc_to_mptcp_sock dynptr_from_mem ringbuf_reserve_dynptr 
ringbuf_submit_dynptr ringbuf_discard_dynptr dynptr_read dynptr_write dynptr_data 
tcp_raw_gen_syncookie_ipv4 tcp_raw_gen_syncookie_ipv6 tcp_raw_check_syncookie_ipv4 
tcp_raw_check_syncookie_ipv6 ktime_get_tai_ns user_ringbuf_drain cgrp_storage_get 
cgrp_storage_delete """.split())
HELPERS: dict[str, int] = {n: i for i, n in enumerate(HELPER_NAMES)}

# enum bpf_attach_type values we need for probes
_ATTACH_CGROUP_INET_SOCK_CREATE = 2
_ATTACH_CGROUP_INET4_CONNECT = 10
_ATTACH_LIRC_MODE2 = 16
_ATTACH_CGROUP_GETSOCKOPT = 21
_ATTACH_TRACE_FENTRY = 24
_ATTACH_LSM_MAC = 27
_ATTACH_SK_LOOKUP = 36
_ATTACH_NETFILTER = 45

_MAP_TYPES: dict[str, int] = {v: k for k, v in MAP_TYPE_NAMES.items()}

# --------------------------------------------------------------------------- instructions

def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One raw ``struct bpf_insn`` (little-endian)."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


MOV64_R0_0 = insn(0xB7)            # r0 = 0
EXIT = insn(0x95)                  # exit
RET0 = MOV64_R0_0 + EXIT


def call(helper: int) -> bytes:
    return insn(0x85, imm=helper)


# --------------------------------------------------------------------------- BTF blobs

BTF_KIND_INT, BTF_KIND_PTR, BTF_KIND_ARRAY, BTF_KIND_STRUCT = 1, 2, 3, 4
BTF_KIND_FUNC, BTF_KIND_FUNC_PROTO, BTF_KIND_VAR, BTF_KIND_DATASEC = 12, 13, 14, 15
BTF_KIND_FLOAT, BTF_KIND_DECL_TAG, BTF_KIND_TYPE_TAG, BTF_KIND_ENUM64 = 16, 17, 18, 19


def btf_type(name_off: int, kind: int, vlen: int = 0, size_or_type: int = 0,
             kind_flag: bool = False) -> bytes:
    return struct.pack("<III", name_off, (kind << 24) | (vlen & 0xFFFF) |
                       (0x80000000 if kind_flag else 0), size_or_type)


def btf_int(name_off: int, size: int, signed: bool = False) -> bytes:
    return btf_type(name_off, BTF_KIND_INT, 0, size) + \
        struct.pack("<I", ((1 if signed else 0) << 24) | (size * 8))


def btf_array(elem_type: int, index_type: int, nelems: int) -> bytes:
    return btf_type(0, BTF_KIND_ARRAY, 0, 0) + struct.pack("<III", elem_type, index_type,
                                                             nelems)


def btf_struct(name_off: int, size: int, members: list[tuple[int, int, int]]) -> bytes:
    """members: (name_off, type_id, bit offset)."""
    return btf_type(name_off, BTF_KIND_STRUCT, len(members), size) + b"".join(
        struct.pack("<III", *m) for m in members)


def btf_blob(types: list[bytes], strings: list[bytes]) -> bytes:
    """Assemble a BTF blob from encoded types and the string table entries (in order,
    the first being the empty string; name offsets are the caller's business)."""
    tsec = b"".join(types)
    ssec = b"".join(s + b"\0" for s in strings)
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(tsec), len(tsec), len(ssec))
    return hdr + tsec + ssec


def _str_table(*names: str) -> tuple[list[bytes], dict[str, int]]:
    strs = [b""]
    offs = {"": 0}
    pos = 1
    for n in names:
        strs.append(n.encode())
        offs[n] = pos
        pos += len(n) + 1
    return strs, offs


def _btf_probe_blob(name: str) -> bytes:
    strs, o = _str_table("int", "x", "f", ".data", "tag", "float", "e", "v", "?.data")
    i32 = btf_int(o["int"], 4, signed=True)                           # [1]
    if name == "btf":
        return btf_blob([i32], strs)
    if name in ("func", "func_global"):
        proto = btf_type(0, BTF_KIND_FUNC_PROTO, 1, 1) + struct.pack("<II", o["x"], 1)
        func = btf_type(o["f"], BTF_KIND_FUNC, 1 if name == "func_global" else 0, 2)
        return btf_blob([i32, proto, func], strs)
    if name == "var":
        var = btf_type(o["x"], BTF_KIND_VAR, 0, 1) + struct.pack("<I", 1)
        return btf_blob([i32, var], strs)
    if name in ("datasec", "qmark_datasec"):
        # qmark: section names with '?' (clang's ".data?..." style) are accepted
        var = btf_type(o["x"], BTF_KIND_VAR, 0, 1) + struct.pack("<I", 1)
        sec = btf_type(o[".data" if name == "datasec" else "?.data"], BTF_KIND_DATASEC, 1,
                       4) + struct.pack("<III", 2, 0, 4)
        return btf_blob([i32, var, sec], strs)
    if name == "float":
        return btf_blob([btf_type(o["float"], BTF_KIND_FLOAT, 0, 4)], strs)
    if name == "decl_tag":
        var = btf_type(o["x"], BTF_KIND_VAR, 0, 1) + struct.pack("<I", 1)
        tag = btf_type(o["tag"], BTF_KIND_DECL_TAG, 0, 2) + struct.pack("<i", -1)
        return btf_blob([i32, var, tag], strs)
    if name == "type_tag":
        tag = btf_type(o["tag"], BTF_KIND_TYPE_TAG, 0, 1)
        ptr = btf_type(0, BTF_KIND_PTR, 0, 2)
        return btf_blob([i32, tag, ptr], strs)
    if name == "enum64":
        e = btf_type(o["e"], BTF_KIND_ENUM64, 1, 8) + struct.pack("<III", o["v"], 0, 1)
        return btf_blob([e], strs)
    raise KeyError(name)


BTF_FEATURES = ("btf", "func", "func_global", "var", "datasec", "qmark_datasec", "float",
                "decl_tag", "type_tag", "enum64")

# --------------------------------------------------------------------------- cache

_cache: dict[tuple, Any] = {}


def clear_cache() -> None:
    """Forget every probe result (tests, or after the kernel changed under us)."""
    _cache.clear()


def _cached(key: tuple, fn: Any) -> Any:
    try:
        return _cache[key]
    except KeyError:
        v = _cache[key] = fn()
        return v


def has_btf_feature(name: str) -> bool:
    """Whether the kernel accepts BTF of this kind: "btf", "func", "func_global", "var",
    "datasec", "qmark_datasec" (a DATASEC name with '?'), "float", "decl_tag",
    "type_tag", "enum64"."""
    if name not in BTF_FEATURES:
        raise _sys.ArgumentError(f"unknown BTF feature {name!r}; known: "
                                 f"{', '.join(BTF_FEATURES)}")

    def probe() -> bool:
        try:
            _sys.btf_load(_btf_probe_blob(name), retry_log=False).close()
            return True
        except KernelError:
            return False
    return _cached(("btf", name), probe)


def btf_kinds() -> dict[str, bool]:
    """Every BTF feature name -> supported."""
    return {n: has_btf_feature(n) for n in BTF_FEATURES}


# --------------------------------------------------------------------------- programs

def _ptype(t: int | str) -> int:
    if isinstance(t, str):
        v = PROG_TYPES.get(t.lower().removeprefix("bpf_prog_type_"))
        if v is None:
            raise _sys.ArgumentError(f"unknown program type {t!r}")
        return v
    return t


def _kernel_version_code() -> int:
    rel = os.uname().release
    parts = []
    for p in rel.split("-")[0].split(".")[:3]:
        digits = "".join(c for c in p if c.isdigit())
        parts.append(int(digits or 0))
    while len(parts) < 3:
        parts.append(0)
    return (parts[0] << 16) + (parts[1] << 8) + min(parts[2], 255)


def _load_kw(prog_type: int) -> dict:
    kw: dict[str, Any] = {}
    if prog_type == 18:    # cgroup_sock_addr
        kw["expected_attach_type"] = _ATTACH_CGROUP_INET4_CONNECT
    elif prog_type == 25:  # cgroup_sockopt
        kw["expected_attach_type"] = _ATTACH_CGROUP_GETSOCKOPT
    elif prog_type == 30:  # sk_lookup
        kw["expected_attach_type"] = _ATTACH_SK_LOOKUP
    elif prog_type == 20:  # lirc_mode2
        kw["expected_attach_type"] = _ATTACH_LIRC_MODE2
    elif prog_type == 32:  # netfilter
        kw["expected_attach_type"] = _ATTACH_NETFILTER
    elif prog_type == 31:  # syscall programs must be sleepable
        kw["prog_flags"] = _sys.BPF_F_SLEEPABLE
    elif prog_type == 2:   # kprobe: old kernels check kern_version
        kw["kern_version"] = _kernel_version_code()
    elif prog_type == 26:  # tracing
        kw["expected_attach_type"] = _ATTACH_TRACE_FENTRY
        kw["attach_btf_id"] = 1
    elif prog_type == 29:  # lsm
        kw["expected_attach_type"] = _ATTACH_LSM_MAC
        kw["attach_btf_id"] = 1
    elif prog_type in (27, 28):  # struct_ops, ext
        kw["attach_btf_id"] = 1
    return kw


# Types that cannot load without a real BTF target: the kernel knows the type if it gets
# far enough to complain about attach_btf_id (a log, or an error other than EINVAL).
_NEEDS_TARGET = frozenset({26, 27, 28, 29})


def prog_type_status(prog_type: int | str) -> str:
    """"yes", "no", or "refused" (the kernel knows it but will not load it for us:
    EPERM from lockdown or missing capabilities)."""
    t = _ptype(prog_type)

    def probe() -> str:
        kw = _load_kw(t)
        try:
            fd, _ = _sys.prog_load_with_log(t, RET0, "GPL", log_level=1, log_size=4096,
                                            retry_log=False, **kw)
            fd.close()
            return "yes"
        except VerifierError as e:
            if t in _NEEDS_TARGET:
                return "yes" if e.log.strip() else "no"
            return "no" if e.errno == _errno.EINVAL else "yes"
        except KernelError as e:
            if e.errno in (_errno.EPERM, _errno.EACCES):
                return "refused"
            if t in _NEEDS_TARGET and e.errno != _errno.EINVAL:
                return "yes"
            return "no"
    return _cached(("prog", t), probe)


def has_prog_type(prog_type: int | str) -> bool:
    """Whether programs of this type load on this kernel (for us, now)."""
    return prog_type_status(prog_type) == "yes"


def has_helper(prog_type: int | str, helper: int | str) -> bool:
    """Whether ``helper`` (id or name, e.g. "ringbuf_output") may be called from
    programs of ``prog_type``."""
    t = _ptype(prog_type)
    if isinstance(helper, str):
        h = HELPERS.get(helper.removeprefix("bpf_"))
        if h is None:
            raise _sys.ArgumentError(f"unknown helper {helper!r}")
    else:
        h = helper

    def probe() -> bool:
        if t in _NEEDS_TARGET:
            return False  # cannot load a probe program without a real target
        try:
            fd, _ = _sys.prog_load_with_log(t, call(h) + RET0, "GPL", log_level=1,
                                            log_size=1 << 16, retry_log=False, **_load_kw(t))
            fd.close()
            return True
        except VerifierError as e:
            log = e.log
            return not ("invalid func " in log or "unknown func " in log
                        or "cannot use helper" in log)
        except KernelError:
            return False
    return _cached(("helper", t, h), probe)


def has_attach_type(prog_type: int | str, attach_type: int) -> bool:
    """Whether the kernel accepts ``expected_attach_type`` for ``prog_type`` at load."""
    t = _ptype(prog_type)

    def probe() -> bool:
        kw = _load_kw(t)
        kw["expected_attach_type"] = attach_type
        try:
            fd, _ = _sys.prog_load_with_log(t, RET0, "GPL", log_level=1, log_size=1 << 14,
                                            retry_log=False, **kw)
            fd.close()
            return True
        except VerifierError as e:
            # Some hooks want another return value (e.g. R0 in [1, 1] for recvmsg and
            # getpeername hooks): the kernel knew the attach type to tell us so.
            return "R0" in e.log and "should have been in" in e.log
        except KernelError:
            return False
    return _cached(("attach", t, attach_type), probe)


# --------------------------------------------------------------------------- maps

# type -> (key_size, value_size, max_entries, flags) that each type accepts
_MAP_PROBE = {
    1: (4, 8, 1, 0), 2: (4, 8, 1, 0), 3: (4, 4, 1, 0), 4: (4, 4, 1, 0), 5: (4, 8, 1, 0),
    6: (4, 8, 1, 0), 7: (4, 8, 1, 0), 8: (4, 4, 1, 0), 9: (4, 8, 1, 0), 10: (4, 8, 1, 0),
    11: (8, 8, 1, 1), 12: (4, 4, 1, 0), 13: (4, 4, 1, 0), 14: (4, 4, 1, 0), 15: (4, 4, 1, 0),
    16: (4, 4, 1, 0), 17: (4, 4, 1, 0), 18: (4, 4, 1, 0), 19: (16, 8, 0, 0),
    20: (4, 4, 1, 0), 21: (16, 8, 0, 0), 22: (0, 8, 1, 0), 23: (0, 8, 1, 0),
    24: (4, 8, 0, 1), 25: (4, 4, 1, 0), 26: (4, 256, 1, 0), 27: (0, 0, 4096, 0),
    28: (4, 8, 0, 1), 29: (4, 8, 0, 1), 30: (0, 8, 1, 0), 31: (0, 0, 4096, 0),
    32: (4, 8, 0, 1), 33: (0, 0, 1, 1 << 10),
}
_STORAGE = frozenset({24, 28, 29, 32})


def map_type_status(map_type: int | str) -> str:
    """"yes", "no" or "refused" (EPERM: known but not allowed for us)."""
    if isinstance(map_type, str):
        name = map_type.lower().removeprefix("bpf_map_type_")
        t = _MAP_TYPES.get(name)
        if t is None:
            raise _sys.ArgumentError(f"unknown map type {map_type!r}")
    else:
        t = map_type

    def probe() -> str:
        if t not in _MAP_PROBE:
            return "no"
        ks, vs, me, fl = _MAP_PROBE[t]
        keep: list = []
        kw: dict[str, Any] = {}
        try:
            if t in _STORAGE or t == 26:
                strs, o = _str_table("int", "v", "a")
                blob = btf_blob([btf_int(o["int"], 4, True),
                                 btf_struct(o["v"], 8, [(o["a"], 1, 0)])], strs)
                btf = _sys.btf_load(blob, retry_log=False)
                keep.append(btf)
                kw["btf_fd"] = btf
                if t == 26:
                    # no real struct_ops value type: the kernel tells an unknown map type
                    # (EINVAL) apart from a bad vmlinux type (ENOTSUPP / ENOENT ...)
                    kw["btf_vmlinux_value_type_id"] = 1
                else:
                    kw["btf_key_type_id"], kw["btf_value_type_id"] = 1, 2
            if t in (12, 13):
                inner = _sys.map_create(2, 4, 4, 1)
                keep.append(inner)
                kw["inner_map_fd"] = inner
            _sys.map_create(t, ks, vs, me, fl, **kw).close()
            return "yes"
        except KernelError as e:
            if e.errno in (_errno.EPERM, _errno.EACCES):
                return "refused"
            if t == 26 and e.errno != _errno.EINVAL:
                return "yes"
            return "no"
        finally:
            for k in keep:
                k.close()
    return _cached(("map", t), probe)


def has_map_type(map_type: int | str) -> bool:
    """Whether maps of this type can be created here."""
    return map_type_status(map_type) == "yes"


# --------------------------------------------------------------------------- misc

def _probe_global_data() -> bool:
    try:
        with _sys.map_create(2, 4, 8, 1) as m:
            ld = insn(0x18, 1, 2, 0, m.fd) + insn(0, imm=0)   # r1 = &map value
            st = insn(0x7A, 1, 0, 0, 42)                     # *(u64 *)(r1 + 0) = 42
            _sys.prog_load(1, ld + st + RET0, retry_log=False).close()
        return True
    except KernelError:
        return False


def _probe_array_mmap() -> bool:
    try:
        _sys.map_create(2, 4, 8, 1, 1 << 10).close()
        return True
    except KernelError:
        return False


def _probe_prog_name() -> bool:
    try:
        _sys.prog_load(1, RET0, prog_name="probe", retry_log=False).close()
        return True
    except KernelError:
        return False


def _probe_prog_bind_map() -> bool:
    try:
        with _sys.map_create(2, 4, 8, 1) as m, \
                _sys.prog_load(1, RET0, retry_log=False) as p:
            _sys.prog_bind_map(p, m)
        return True
    except KernelError:
        return False


_SYSCALL_PREFIX = {"x86_64": "x64", "aarch64": "arm64", "arm64": "arm64",
                   "s390x": "s390x", "riscv64": "riscv", "i686": "ia32", "i386": "ia32",
                   "ppc64le": "powerpc", "ppc64": "powerpc", "loongarch64": "loongarch"}


def _probe_syscall_wrapper() -> bool:
    """LINUX_HAS_SYSCALL_WRAPPER as libbpf decides it: a kprobe on ``__<arch>_sys_bpf``
    can be created (kprobe PMU, else a legacy tracefs kprobe). Looking the symbol up in
    kallsyms is not the same: a kernel without kprobes has the wrapper but libbpf says no,
    and BPF_KSYSCALL code must be built the way libbpf builds it."""
    import platform
    pfx = _SYSCALL_PREFIX.get(platform.machine())
    if pfx is None:
        return False
    name = f"__{pfx}_sys_bpf"
    try:
        with open("/sys/bus/event_source/devices/kprobe/type") as f:
            pmu = int(f.read().strip())
    except (OSError, ValueError):
        pmu = -1
    if pmu >= 0:
        import ctypes
        sym = ctypes.create_string_buffer(name.encode())
        try:
            # config1 = symbol name pointer, config2 = offset 0 (the kprobe PMU's format)
            fd = _sys.perf_event_open(pmu, 0, config1=ctypes.addressof(sym), config2=0,
                                      pid=os.getpid(), cpu=-1)
        except (Error, OSError):
            return False
        fd.close()
        return True
    tracefs = _sys.tracefs_path()
    if tracefs is None:
        return False
    events = os.path.join(tracefs, "kprobe_events")
    event = f"corebpf_sysw_{os.getpid()}"
    try:
        with open(events, "a") as f:
            f.write(f"p:kprobes/{event} {name}\n")
    except OSError:
        return False
    try:  # remove it again: the probe was only a question
        with open(events, "a") as f:
            f.write(f"-:kprobes/{event}\n")
    except OSError:
        pass
    return True


def _probe_arg_ctx_tag() -> bool:
    """The verifier honours the ``arg:ctx`` decl tag on a global subprogram (6.8+): a
    kprobe whose global subprogram takes a ``void *`` tagged arg:ctx and passes it to
    bpf_get_func_ip, which wants the context. Without it the loader retypes such
    parameters itself (``btf.marshal.arg_ctx_clones``), as libbpf does."""
    strs, o = _str_table("a", "b", "arg:ctx")
    i32 = btf_int(o["a"], 4, signed=True)                                     # [1]
    ptr = btf_type(0, BTF_KIND_PTR, 0, 0)                                     # [2] void *
    proto_a = btf_type(0, BTF_KIND_FUNC_PROTO, 1, 1) + struct.pack("<II", o["a"], 2)  # [3]
    func_a = btf_type(o["a"], BTF_KIND_FUNC, 1, 3)                            # [4] global
    proto_b = btf_type(0, BTF_KIND_FUNC_PROTO, 1, 1) + struct.pack("<II", o["b"], 2)  # [5]
    func_b = btf_type(o["b"], BTF_KIND_FUNC, 1, 5)                            # [6] global
    tag = btf_type(o["arg:ctx"], BTF_KIND_DECL_TAG, 0, 6) + struct.pack("<i", 0)  # [7]
    blob = btf_blob([i32, ptr, proto_a, func_a, proto_b, func_b, tag], strs)
    insns = (insn(0x85, src=1, imm=1) + EXIT          # main: call the subprogram
             + call(HELPERS["get_func_ip"]) + EXIT)   # subprogram: r1 must be the ctx
    func_info = struct.pack("<IIII", 0, 4, 2, 6)
    try:
        with _sys.btf_load(blob, retry_log=False) as btf_fd, \
                _sys.prog_load(2, insns, "GPL", prog_btf_fd=btf_fd, func_info=func_info,
                               retry_log=False):
            return True
    except KernelError:
        return False


_MISC = {
    "prog_name": _probe_prog_name,
    "global_data": _probe_global_data,
    "array_mmap": _probe_array_mmap,
    "exp_attach_type": lambda: has_attach_type(9, _ATTACH_CGROUP_INET_SOCK_CREATE),
    "probe_read_kernel": lambda: has_helper(5, 113),
    "prog_bind_map": _probe_prog_bind_map,
    "bpf_cookie": lambda: has_helper(5, 174),
    "ringbuf": lambda: has_map_type(27),
    "btf": lambda: has_btf_feature("btf"),
    "kernel_btf": lambda: os.path.exists("/sys/kernel/btf/vmlinux"),
    "syscall_wrapper": _probe_syscall_wrapper,
    "arg_ctx_tag": _probe_arg_ctx_tag,
}


def has_feature(name: str) -> bool:
    """Misc loader features: prog_name, global_data, array_mmap, exp_attach_type,
    probe_read_kernel, prog_bind_map, bpf_cookie, ringbuf, btf, kernel_btf,
    syscall_wrapper, arg_ctx_tag (the verifier honours ``__arg_ctx``); or any BTF feature
    name."""
    if name in BTF_FEATURES:
        return has_btf_feature(name)
    fn = _MISC.get(name)
    if fn is None:
        raise _sys.ArgumentError(f"unknown feature {name!r}; known: {', '.join(_MISC)}")
    return _cached(("misc", name), lambda: bool(fn()))


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def system_info() -> dict[str, Any]:
    """Kernel release and the sysctls/securityfs files that decide what BPF may do."""
    lockdown = _read("/sys/kernel/security/lockdown")
    if lockdown and "[" in lockdown:
        lockdown = lockdown.split("[", 1)[1].split("]", 1)[0]
    return {
        "kernel_release": os.uname().release,
        "kernel_version_code": _kernel_version_code(),
        "bpf_jit_enable": _read("/proc/sys/net/core/bpf_jit_enable"),
        "bpf_jit_harden": _read("/proc/sys/net/core/bpf_jit_harden"),
        "bpf_jit_kallsyms": _read("/proc/sys/net/core/bpf_jit_kallsyms"),
        "unprivileged_bpf_disabled": _read("/proc/sys/kernel/unprivileged_bpf_disabled"),
        "lockdown": lockdown,
        "possible_cpus": _sys.possible_cpus(),
        "bpffs_mounted": _sys.is_bpffs("/sys/fs/bpf"),
    }


def probe_all(helpers: bool | Iterable[int | str] = False) -> dict[str, Any]:
    """Everything, as plain data for ``corebpf feature probe``:
    ``system``, ``prog_types`` {name: status}, ``map_types`` {name: status},
    ``btf`` {feature: bool}, ``misc`` {feature: bool} and, when ``helpers`` is true (or
    lists program types), ``helpers`` {prog type name: [helper names]} (slow: one load
    per helper and type)."""
    out: dict[str, Any] = {"system": system_info()}
    out["prog_types"] = {PROG_TYPE_NAMES[t]: prog_type_status(t)
                         for t in range(1, len(PROG_TYPE_NAMES))}
    out["map_types"] = {MAP_TYPE_NAMES[t]: map_type_status(t)
                        for t in range(1, len(MAP_TYPE_NAMES))}
    out["btf"] = btf_kinds()
    out["misc"] = {n: has_feature(n) for n in _MISC}
    if helpers:
        if helpers is True:
            types = [t for t in range(1, len(PROG_TYPE_NAMES))
                     if t not in _NEEDS_TARGET and out["prog_types"][PROG_TYPE_NAMES[t]]
                     == "yes"]
        else:
            types = [_ptype(t) for t in helpers]
        out["helpers"] = {PROG_TYPE_NAMES[t]: [HELPER_NAMES[h] for h in
                                              range(1, len(HELPER_NAMES))
                                              if has_helper(t, h)] for t in types}
    return out


__all__ = ["has_btf_feature", "btf_kinds", "has_prog_type", "prog_type_status",
           "has_map_type", "map_type_status", "has_helper", "has_attach_type",
           "has_feature", "probe_all", "system_info", "clear_cache", "btf_blob", "btf_int",
           "btf_array", "btf_struct", "btf_type", "insn", "PROG_TYPE_NAMES", "PROG_TYPES",
           "HELPER_NAMES", "HELPERS", "BTF_FEATURES"]
