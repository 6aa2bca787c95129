// Load-pipeline test object: a struct_ops map whose local struct (a "___" flavor of
// tcp_congestion_ops, as an object built against other kernel headers would have) orders
// its members differently from the running kernel's: each program's expected attach type
// must be its member's index in the KERNEL struct, found by name.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct tcp_congestion_ops___reordered {
	char name[16];
	__u32 (*undo_cwnd)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*ssthresh)(struct sock *sk);
	void (*init)(struct sock *sk);
};

SEC("struct_ops/or_init")
void BPF_PROG(or_init, struct sock *sk)
{
}

SEC("struct_ops/or_ssthresh")
__u32 BPF_PROG(or_ssthresh, struct sock *sk)
{
	return 10;
}

SEC("struct_ops/or_undo")
__u32 BPF_PROG(or_undo, struct sock *sk)
{
	return 10;
}

SEC("struct_ops/or_cong_avoid")
void BPF_PROG(or_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC(".struct_ops")
struct tcp_congestion_ops___reordered corebpf_or = {
	.init = (void *)or_init,
	.ssthresh = (void *)or_ssthresh,
	.undo_cwnd = (void *)or_undo,
	.cong_avoid = (void *)or_cong_avoid,
	.name = "corebpf_or",
};
