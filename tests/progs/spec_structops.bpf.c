// Spec test object: a struct_ops map (.struct_ops and .struct_ops.link) and its programs.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("struct_ops/cc_init")
void BPF_PROG(cc_init, struct sock *sk)
{
}

SEC("struct_ops/cc_ssthresh")
__u32 BPF_PROG(cc_ssthresh, struct sock *sk)
{
	return 2;
}

SEC("struct_ops/cc_undo")
__u32 BPF_PROG(cc_undo, struct sock *sk)
{
	return 4;
}

SEC("struct_ops/cc_cong_avoid")
void BPF_PROG(cc_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC(".struct_ops")
struct tcp_congestion_ops corebpf_cc = {
	.init = (void *)cc_init,
	.ssthresh = (void *)cc_ssthresh,
	.undo_cwnd = (void *)cc_undo,
	.cong_avoid = (void *)cc_cong_avoid,
	.name = "corebpf_cc",
};

SEC(".struct_ops.link")
struct tcp_congestion_ops corebpf_cc_link = {
	.init = (void *)cc_init,
	.ssthresh = (void *)cc_ssthresh,
	.undo_cwnd = (void *)cc_undo,
	.cong_avoid = (void *)cc_cong_avoid,
	.name = "corebpf_cc2",
	.flags = 0,
};
