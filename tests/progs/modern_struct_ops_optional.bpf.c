// SEC("?.struct_ops.link"): a struct_ops map libbpf >= 1.4 does not create unless asked;
// a struct_ops program only it uses is not loaded either (libbpf 1.5
// bpf_object_adjust_struct_ops_autoload), while the always-created map's programs are.
// For tests/test_modern.py (libbpf 1.1 does not know "?.struct_ops": left out of its tests).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
char LICENSE[] SEC("license") = "GPL";
SEC("struct_ops/oi_init")
void BPF_PROG(oi_init, struct sock *sk) { }
SEC("struct_ops/oi_ssthresh")
__u32 BPF_PROG(oi_ssthresh, struct sock *sk) { return 2; }
SEC("struct_ops/oi_undo")
__u32 BPF_PROG(oi_undo, struct sock *sk) { return 2; }
SEC("struct_ops/oi_avoid")
void BPF_PROG(oi_avoid, struct sock *sk, __u32 ack, __u32 acked) { }
SEC("struct_ops/opt_only")
void BPF_PROG(opt_only, struct sock *sk) { }
SEC(".struct_ops.link")
struct tcp_congestion_ops always_ca = {
	.init = (void *)oi_init, .ssthresh = (void *)oi_ssthresh, .cong_avoid = (void *)oi_avoid, .undo_cwnd = (void *)oi_undo,
	.name = "corebpf_alw",
};
SEC("?.struct_ops.link")
struct tcp_congestion_ops optional_ca = {
	.init = (void *)opt_only, .ssthresh = (void *)oi_ssthresh, .cong_avoid = (void *)oi_avoid, .undo_cwnd = (void *)oi_undo,
	.name = "corebpf_opt",
};
