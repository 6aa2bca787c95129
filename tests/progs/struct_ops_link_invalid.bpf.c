// A SEC(".struct_ops.link") TCP congestion control the kernel's check refuses: no
// cong_avoid nor cong_control (tcp_validate_congestion_control). libbpf loads its programs
// and its map (it writes the value only at attach); so does corebpf, whose attach then
// names the map. tests/test_link_struct_ops.py.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("struct_ops/inv_init")
void BPF_PROG(inv_init, struct sock *sk)
{
}

SEC("struct_ops/inv_ssthresh")
__u32 BPF_PROG(inv_ssthresh, struct sock *sk)
{
	return 10;
}

SEC("struct_ops/inv_undo")
__u32 BPF_PROG(inv_undo, struct sock *sk)
{
	return 10;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops corebpf_inv = {
	.init = (void *)inv_init,
	.ssthresh = (void *)inv_ssthresh,
	.undo_cwnd = (void *)inv_undo,
	.name = "corebpf_inv",
};
