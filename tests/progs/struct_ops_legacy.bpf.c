// struct_ops registered by the map update (SEC(".struct_ops"), Linux 5.6+): a minimal TCP
// congestion control counting the calls it gets. tests/test_link_struct_ops.py (host) and
// tests/vm/ (6.1, 6.12) use it.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* 0 init, 1 cong_avoid, 2 ssthresh, 3 undo_cwnd */
__u64 calls[4] = {};

SEC("struct_ops/so_init")
void BPF_PROG(so_init, struct sock *sk)
{
	__sync_fetch_and_add(&calls[0], 1);
}

SEC("struct_ops/so_cong_avoid")
void BPF_PROG(so_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	__sync_fetch_and_add(&calls[1], 1);
}

SEC("struct_ops/so_ssthresh")
__u32 BPF_PROG(so_ssthresh, struct sock *sk)
{
	__sync_fetch_and_add(&calls[2], 1);
	return 10;
}

SEC("struct_ops/so_undo")
__u32 BPF_PROG(so_undo, struct sock *sk)
{
	__sync_fetch_and_add(&calls[3], 1);
	return 10;
}

SEC(".struct_ops")
struct tcp_congestion_ops corebpf_so = {
	.init = (void *)so_init,
	.cong_avoid = (void *)so_cong_avoid,
	.ssthresh = (void *)so_ssthresh,
	.undo_cwnd = (void *)so_undo,
	.name = "corebpf_so",
};
