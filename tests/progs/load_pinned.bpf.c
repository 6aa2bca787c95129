// Load-pipeline test object: a map pinned by name (LIBBPF_PIN_BY_NAME), shared between
// loads, and a map-in-map / prog-array with initial values.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared_counts SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [0] = &inner_a, [2] = &inner_b },
};

int tail_target(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} jumps SEC(".maps") = {
	.values = { [1] = (void *)&tail_target },
};

SEC("xdp")
int tail_target(struct xdp_md *ctx)
{
	return 3;
}

SEC("xdp")
int pinned_user(struct xdp_md *ctx)
{
	__u32 k = 0, z = 0;
	__u64 *v = bpf_map_lookup_elem(&shared_counts, &k);
	void *in = bpf_map_lookup_elem(&outer, &z);

	if (v)
		__sync_fetch_and_add(v, 1);
	if (in) {
		__u32 *x = bpf_map_lookup_elem(in, &z);
		if (x)
			*x += 1;
	}
	bpf_tail_call(ctx, &jumps, 1);
	return 2;
}
