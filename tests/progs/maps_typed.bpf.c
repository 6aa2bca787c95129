// Typed maps for tests/test_maps.py: loaded by bpftool (the oracle), maps pinned, then
// opened by corebpf through their pins; keys/values decode through the map's BTF.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

enum flow_proto { PROTO_TCP = 6, PROTO_UDP = 17 };

struct flow_key {
	__u32 addr;
	__u16 port;
	__u8 proto;     /* 1 byte of padding follows: encoders must zero it */
};

struct flow_val {
	__u64 packets;
	enum flow_proto proto;
	char comm[16];
	__u32 hist[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct flow_key);
	__type(value, struct flow_val);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

/* A value with a spin lock: user space may update/lookup it with BPF_F_LOCK. */
struct locked_val {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 n;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct locked_val);
} locked SEC(".maps");

/* Count runs in hits[0] and pcpu[0] so that a test run shows the kernel side writing. */
SEC("socket")
int count(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&hits, &zero);
	if (v)
		__sync_fetch_and_add(v, 1);
	v = bpf_map_lookup_elem(&pcpu, &zero);
	if (v)
		*v += 1;
	struct flow_key k = { .addr = 0x0100007f, .port = 80, .proto = PROTO_TCP };
	struct flow_val *fv = bpf_map_lookup_elem(&flows, &k);
	if (fv)
		fv->packets += 1;
	return 0;
}
