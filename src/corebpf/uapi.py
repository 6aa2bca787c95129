"""uapi enums shared by every module: program types, attach types, map types, flags.

Plain ints and name dicts (no IntEnum: import time matters). Values follow
include/uapi/linux/bpf.h up to Linux 6.18; the system header here (6.1) stops earlier,
so the newer values are spelled out by hand.
"""
from __future__ import annotations

# enum bpf_prog_type
PROG_TYPE_NAMES: dict[int, str] = dict(enumerate((
    "unspec", "socket_filter", "kprobe", "sched_cls", "sched_act", "tracepoint", "xdp",
    "perf_event", "cgroup_skb", "cgroup_sock", "lwt_in", "lwt_out", "lwt_xmit", "sock_ops",
    "sk_skb", "cgroup_device", "sk_msg", "raw_tracepoint", "cgroup_sock_addr",
    "lwt_seg6local", "lirc_mode2", "sk_reuseport", "flow_dissector", "cgroup_sysctl",
    "raw_tracepoint_writable", "cgroup_sockopt", "tracing", "struct_ops", "ext", "lsm",
    "sk_lookup", "syscall", "netfilter",
)))
(PROG_TYPE_UNSPEC, PROG_TYPE_SOCKET_FILTER, PROG_TYPE_KPROBE, PROG_TYPE_SCHED_CLS,
 PROG_TYPE_SCHED_ACT, PROG_TYPE_TRACEPOINT, PROG_TYPE_XDP, PROG_TYPE_PERF_EVENT,
 PROG_TYPE_CGROUP_SKB, PROG_TYPE_CGROUP_SOCK, PROG_TYPE_LWT_IN, PROG_TYPE_LWT_OUT,
 PROG_TYPE_LWT_XMIT, PROG_TYPE_SOCK_OPS, PROG_TYPE_SK_SKB, PROG_TYPE_CGROUP_DEVICE,
 PROG_TYPE_SK_MSG, PROG_TYPE_RAW_TRACEPOINT, PROG_TYPE_CGROUP_SOCK_ADDR,
 PROG_TYPE_LWT_SEG6LOCAL, PROG_TYPE_LIRC_MODE2, PROG_TYPE_SK_REUSEPORT,
 PROG_TYPE_FLOW_DISSECTOR, PROG_TYPE_CGROUP_SYSCTL, PROG_TYPE_RAW_TRACEPOINT_WRITABLE,
 PROG_TYPE_CGROUP_SOCKOPT, PROG_TYPE_TRACING, PROG_TYPE_STRUCT_OPS, PROG_TYPE_EXT,
 PROG_TYPE_LSM, PROG_TYPE_SK_LOOKUP, PROG_TYPE_SYSCALL, PROG_TYPE_NETFILTER) = range(33)

# enum bpf_attach_type
ATTACH_TYPE_NAMES: dict[int, str] = dict(enumerate((
    "cgroup_inet_ingress", "cgroup_inet_egress", "cgroup_inet_sock_create", "cgroup_sock_ops",
    "sk_skb_stream_parser", "sk_skb_stream_verdict", "cgroup_device", "sk_msg_verdict",
    "cgroup_inet4_bind", "cgroup_inet6_bind", "cgroup_inet4_connect", "cgroup_inet6_connect",
    "cgroup_inet4_post_bind", "cgroup_inet6_post_bind", "cgroup_udp4_sendmsg",
    "cgroup_udp6_sendmsg", "lirc_mode2", "flow_dissector", "cgroup_sysctl",
    "cgroup_udp4_recvmsg", "cgroup_udp6_recvmsg", "cgroup_getsockopt", "cgroup_setsockopt",
    "trace_raw_tp", "trace_fentry", "trace_fexit", "modify_return", "lsm_mac", "trace_iter",
    "cgroup_inet4_getpeername", "cgroup_inet6_getpeername", "cgroup_inet4_getsockname",
    "cgroup_inet6_getsockname", "xdp_devmap", "cgroup_inet_sock_release", "xdp_cpumap",
    "sk_lookup", "xdp", "sk_skb_verdict", "sk_reuseport_select",
    "sk_reuseport_select_or_migrate", "perf_event", "trace_kprobe_multi", "lsm_cgroup",
    "struct_ops", "netfilter", "tcx_ingress", "tcx_egress", "trace_uprobe_multi",
    "cgroup_unix_connect", "cgroup_unix_sendmsg", "cgroup_unix_recvmsg",
    "cgroup_unix_getpeername", "cgroup_unix_getsockname", "netkit_primary", "netkit_peer",
    "trace_kprobe_session", "trace_uprobe_session",
)))
(CGROUP_INET_INGRESS, CGROUP_INET_EGRESS, CGROUP_INET_SOCK_CREATE, CGROUP_SOCK_OPS,
 SK_SKB_STREAM_PARSER, SK_SKB_STREAM_VERDICT, CGROUP_DEVICE, SK_MSG_VERDICT,
 CGROUP_INET4_BIND, CGROUP_INET6_BIND, CGROUP_INET4_CONNECT, CGROUP_INET6_CONNECT,
 CGROUP_INET4_POST_BIND, CGROUP_INET6_POST_BIND, CGROUP_UDP4_SENDMSG, CGROUP_UDP6_SENDMSG,
 LIRC_MODE2, FLOW_DISSECTOR, CGROUP_SYSCTL, CGROUP_UDP4_RECVMSG, CGROUP_UDP6_RECVMSG,
 CGROUP_GETSOCKOPT, CGROUP_SETSOCKOPT, TRACE_RAW_TP, TRACE_FENTRY, TRACE_FEXIT,
 MODIFY_RETURN, LSM_MAC, TRACE_ITER, CGROUP_INET4_GETPEERNAME, CGROUP_INET6_GETPEERNAME,
 CGROUP_INET4_GETSOCKNAME, CGROUP_INET6_GETSOCKNAME, XDP_DEVMAP, CGROUP_INET_SOCK_RELEASE,
 XDP_CPUMAP, SK_LOOKUP, XDP, SK_SKB_VERDICT, SK_REUSEPORT_SELECT,
 SK_REUSEPORT_SELECT_OR_MIGRATE, PERF_EVENT, TRACE_KPROBE_MULTI, LSM_CGROUP, STRUCT_OPS,
 NETFILTER, TCX_INGRESS, TCX_EGRESS, TRACE_UPROBE_MULTI, CGROUP_UNIX_CONNECT,
 CGROUP_UNIX_SENDMSG, CGROUP_UNIX_RECVMSG, CGROUP_UNIX_GETPEERNAME, CGROUP_UNIX_GETSOCKNAME,
 NETKIT_PRIMARY, NETKIT_PEER, TRACE_KPROBE_SESSION, TRACE_UPROBE_SESSION) = range(58)

# enum bpf_map_type
MAP_TYPE_NAMES: dict[int, str] = dict(enumerate((
    "unspec", "hash", "array", "prog_array", "perf_event_array", "percpu_hash",
    "percpu_array", "stack_trace", "cgroup_array", "lru_hash", "lru_percpu_hash",
    "lpm_trie", "array_of_maps", "hash_of_maps", "devmap", "sockmap", "cpumap", "xskmap",
    "sockhash", "cgroup_storage", "reuseport_sockarray", "percpu_cgroup_storage", "queue",
    "stack", "sk_storage", "devmap_hash", "struct_ops", "ringbuf", "inode_storage",
    "task_storage", "bloom_filter", "user_ringbuf", "cgrp_storage", "arena",
)))
(MAP_TYPE_UNSPEC, MAP_TYPE_HASH, MAP_TYPE_ARRAY, MAP_TYPE_PROG_ARRAY,
 MAP_TYPE_PERF_EVENT_ARRAY, MAP_TYPE_PERCPU_HASH, MAP_TYPE_PERCPU_ARRAY,
 MAP_TYPE_STACK_TRACE, MAP_TYPE_CGROUP_ARRAY, MAP_TYPE_LRU_HASH, MAP_TYPE_LRU_PERCPU_HASH,
 MAP_TYPE_LPM_TRIE, MAP_TYPE_ARRAY_OF_MAPS, MAP_TYPE_HASH_OF_MAPS, MAP_TYPE_DEVMAP,
 MAP_TYPE_SOCKMAP, MAP_TYPE_CPUMAP, MAP_TYPE_XSKMAP, MAP_TYPE_SOCKHASH,
 MAP_TYPE_CGROUP_STORAGE, MAP_TYPE_REUSEPORT_SOCKARRAY, MAP_TYPE_PERCPU_CGROUP_STORAGE,
 MAP_TYPE_QUEUE, MAP_TYPE_STACK, MAP_TYPE_SK_STORAGE, MAP_TYPE_DEVMAP_HASH,
 MAP_TYPE_STRUCT_OPS, MAP_TYPE_RINGBUF, MAP_TYPE_INODE_STORAGE, MAP_TYPE_TASK_STORAGE,
 MAP_TYPE_BLOOM_FILTER, MAP_TYPE_USER_RINGBUF, MAP_TYPE_CGRP_STORAGE,
 MAP_TYPE_ARENA) = range(34)

# map_flags (BPF_F_* for BPF_MAP_CREATE)
F_NO_PREALLOC = 1 << 0
F_NO_COMMON_LRU = 1 << 1
F_NUMA_NODE = 1 << 2
F_RDONLY = 1 << 3
F_WRONLY = 1 << 4
F_STACK_BUILD_ID = 1 << 5
F_ZERO_SEED = 1 << 6
F_RDONLY_PROG = 1 << 7
F_WRONLY_PROG = 1 << 8
F_CLONE = 1 << 9
F_MMAPABLE = 1 << 10
F_PRESERVE_ELEMS = 1 << 11
F_INNER_MAP = 1 << 12
F_LINK = 1 << 13
F_PATH_FD = 1 << 14

# prog_flags (BPF_PROG_LOAD)
F_STRICT_ALIGNMENT = 1 << 0
F_ANY_ALIGNMENT = 1 << 1
F_TEST_RND_HI32 = 1 << 2
F_TEST_STATE_FREQ = 1 << 3
F_SLEEPABLE = 1 << 4
F_XDP_HAS_FRAGS = 1 << 5
F_XDP_DEV_BOUND_ONLY = 1 << 6

# pinning in BTF-defined maps (enum libbpf_pin_type)
PIN_NONE, PIN_BY_NAME = 0, 1

# instruction pseudo sources (src_reg of ld_imm64 / call)
PSEUDO_MAP_FD = 1
PSEUDO_MAP_VALUE = 2
PSEUDO_BTF_ID = 3
PSEUDO_FUNC = 4
PSEUDO_MAP_IDX = 5
PSEUDO_MAP_IDX_VALUE = 6
PSEUDO_CALL = 1
PSEUDO_KFUNC_CALL = 2

OBJ_NAME_LEN = 16


def prog_type_name(t: int) -> str:
    return PROG_TYPE_NAMES.get(t, str(t))


def attach_type_name(t: int | None) -> str:
    if t is None:
        return ""
    return ATTACH_TYPE_NAMES.get(t, str(t))


def map_type_name(t: int) -> str:
    return MAP_TYPE_NAMES.get(t, str(t))
