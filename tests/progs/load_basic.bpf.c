// Load-pipeline test object: maps, global data, subprograms, callbacks.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} results SEC(".maps");

const volatile __u32 ret_code = 2;      /* .rodata, set before load */
const volatile __u64 multiplier = 3;
__u64 hits = 0;                         /* .bss */
__u64 seed = 7;                         /* .data */
char tag[8] = "basic";

static __noinline __u64 mix(__u64 x)
{
	return x * multiplier + seed;
}

__noinline int global_add(__u64 v)
{
	__u32 k = 1;
	__u64 *p = bpf_map_lookup_elem(&results, &k);
	if (!p)
		return 0;
	*p += v;
	return 1;
}

static int loop_cb(__u32 idx, void *ctx)
{
	__u64 *acc = ctx;
	*acc += mix(idx);
	return 0;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 one = 1, *v;
	__u64 acc = 0;

	hits++;
	v = bpf_map_lookup_elem(&counts, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&counts, &k, &one, BPF_ANY);
	bpf_loop(4, loop_cb, &acc, 0);
	bpf_map_update_elem(&results, &k, &acc, BPF_ANY);
	global_add(mix(1));
	return ret_code;
}

SEC("tp/syscalls/sys_enter_getpid")
int tp_getpid(void *ctx)
{
	__u32 k = 2;
	__u64 v = mix(hits) + tag[0];
	bpf_map_update_elem(&results, &k, &v, BPF_ANY);
	return 0;
}

SEC("socket")
int sock_filter(struct __sk_buff *skb)
{
	return skb->len > 10 ? 0 : -1;
}
