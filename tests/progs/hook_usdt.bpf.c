// A USDT program written against libbpf's <bpf/usdt.bpf.h>: corebpf must fill the spec
// maps in the layout that header reads.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

char LICENSE[] SEC("license") = "GPL";

__u64 calls = 0;
long last_arg = 0;
long arg_count = 0;
__u64 cookie = 0;

SEC("usdt")
int BPF_USDT(on_tick, int x)
{
	calls++;
	last_arg = x;
	arg_count = bpf_usdt_arg_cnt(ctx);
	cookie = bpf_usdt_cookie(ctx);
	return 0;
}
