// Load-pipeline test object: a TCP congestion control in BPF (struct_ops), one map
// registered when loaded and one registered through a link.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("struct_ops/ld_init")
void BPF_PROG(ld_init, struct sock *sk)
{
}

SEC("struct_ops/ld_ssthresh")
__u32 BPF_PROG(ld_ssthresh, struct sock *sk)
{
	return 10;
}

SEC("struct_ops/ld_undo")
__u32 BPF_PROG(ld_undo, struct sock *sk)
{
	return 10;
}

SEC("struct_ops/ld_cong_avoid")
void BPF_PROG(ld_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC(".struct_ops")
struct tcp_congestion_ops corebpf_ld = {
	.init = (void *)ld_init,
	.ssthresh = (void *)ld_ssthresh,
	.undo_cwnd = (void *)ld_undo,
	.cong_avoid = (void *)ld_cong_avoid,
	.name = "corebpf_ld",
};

SEC(".struct_ops.link")
struct tcp_congestion_ops corebpf_ld_link = {
	.init = (void *)ld_init,
	.ssthresh = (void *)ld_ssthresh,
	.undo_cwnd = (void *)ld_undo,
	.cong_avoid = (void *)ld_cong_avoid,
	.name = "corebpf_ld2",
};
