// struct_ops registered through links (SEC(".struct_ops.link"), Linux 6.4+): a minimal TCP
// congestion control (Reno-like: enough for tcp_register_congestion_control), counting
// the calls it gets. corebpf_sl2 carries the same algorithm name with other programs: the
// replacement for BPF_LINK_UPDATE, which tcp_update_congestion_control only accepts for the
// same name. tests/test_link_struct_ops.py (host) and tests/vm/ (6.1, 6.12) use it.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* 0 init, 1 cong_avoid, 2 ssthresh, 3 undo_cwnd of corebpf_sl; 4..7 the same for corebpf_sl2 */
__u64 calls[8] = {};

#define CC(pfx, base)								\
SEC("struct_ops/" #pfx "_init")							\
void BPF_PROG(pfx##_init, struct sock *sk)					\
{										\
	__sync_fetch_and_add(&calls[base + 0], 1);				\
}										\
SEC("struct_ops/" #pfx "_cong_avoid")						\
void BPF_PROG(pfx##_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)	\
{										\
	__sync_fetch_and_add(&calls[base + 1], 1);				\
}										\
SEC("struct_ops/" #pfx "_ssthresh")						\
__u32 BPF_PROG(pfx##_ssthresh, struct sock *sk)					\
{										\
	__sync_fetch_and_add(&calls[base + 2], 1);				\
	return 10;								\
}										\
SEC("struct_ops/" #pfx "_undo")							\
__u32 BPF_PROG(pfx##_undo, struct sock *sk)					\
{										\
	__sync_fetch_and_add(&calls[base + 3], 1);				\
	return 10;								\
}

CC(sl, 0)
CC(sl2, 4)

SEC(".struct_ops.link")
struct tcp_congestion_ops corebpf_sl = {
	.init = (void *)sl_init,
	.cong_avoid = (void *)sl_cong_avoid,
	.ssthresh = (void *)sl_ssthresh,
	.undo_cwnd = (void *)sl_undo,
	.name = "corebpf_sl",
};

SEC(".struct_ops.link")
struct tcp_congestion_ops corebpf_sl2 = {
	.init = (void *)sl2_init,
	.cong_avoid = (void *)sl2_cong_avoid,
	.ssthresh = (void *)sl2_ssthresh,
	.undo_cwnd = (void *)sl2_undo,
	.name = "corebpf_sl",
};
