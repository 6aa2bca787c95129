// Spec test object: several programs per section, static/global subprograms, callbacks.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} acc SEC(".maps");

static __noinline __u64 twice(__u64 x)
{
	return x * 2 + 1;
}

static __noinline __u64 thrice(__u64 x)
{
	return twice(x) + x;
}

__noinline int global_bump(__u32 idx)
{
	__u64 *p = bpf_map_lookup_elem(&acc, &idx);
	if (!p)
		return 0;
	*p += thrice(idx);
	return 1;
}

static int loop_cb(__u32 idx, void *ctx)
{
	__u64 *sum = ctx;
	*sum += twice(idx);
	return 0;
}

static int loop_cb2(__u32 idx, void *ctx)
{
	__u64 *sum = ctx;
	*sum += idx;
	return 0;
}

SEC("tp/syscalls/sys_enter_getpid")
int first_in_section(void *ctx)
{
	__u64 sum = 0;
	bpf_loop(4, loop_cb, &sum, 0);
	return global_bump(0) + (int)sum;
}

SEC("tp/syscalls/sys_enter_getpid")
int second_in_section(void *ctx)
{
	__u64 sum = 0;
	bpf_loop(8, loop_cb2, &sum, 0);
	return global_bump(1) + twice(sum);
}

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return global_bump(2) ? XDP_PASS : XDP_DROP;
}

SEC("socket")
int sock_filter(struct __sk_buff *skb)
{
	return thrice(skb->len);
}
