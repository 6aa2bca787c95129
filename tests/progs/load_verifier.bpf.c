// Load-pipeline test object: one program the verifier refuses, two it accepts.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} vals SEC(".maps");

SEC("xdp")
int good_first(struct xdp_md *ctx)
{
	return 2;
}

SEC("xdp")
int bad_deref(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&vals, &k);
	return *v == 7 ? 1 : 2; /* no NULL check: refused */
}

SEC("xdp")
int good_last(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&vals, &k);
	if (!v)
		return 0;
	return *v == 7 ? 1 : 2;
}
