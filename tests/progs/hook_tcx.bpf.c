// tcx links (Linux 6.6+) attached by section name: tcx/ingress and tcx/egress.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

/* 0 ingress, 1 egress */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} tcx_count SEC(".maps");

static __always_inline void count(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&tcx_count, &i);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("tcx/ingress")
int tcx_in(struct __sk_buff *skb)
{
	count(0);
	return 1; /* TCX_PASS */
}

SEC("tcx/egress")
int tcx_out(struct __sk_buff *skb)
{
	count(1);
	return 1; /* TCX_PASS */
}
