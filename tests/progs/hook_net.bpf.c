// Network hooks: XDP, TC (tcx and clsact), cgroup_skb, socket filter. Each counts packets.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

/* 0 xdp, 1 tc ingress, 2 tc egress, 3 cgroup ingress, 4 cgroup egress, 5 socket */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} pkt_count SEC(".maps");

static __always_inline void count(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&pkt_count, &i);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	count(0);
	return XDP_PASS;
}

SEC("tc")
int tc_count_in(struct __sk_buff *skb)
{
	count(1);
	return 0; /* TC_ACT_OK */
}

SEC("tc")
int tc_count_out(struct __sk_buff *skb)
{
	count(2);
	return 0; /* TC_ACT_OK */
}

SEC("cgroup_skb/ingress")
int cg_in(struct __sk_buff *skb)
{
	count(3);
	return 1;
}

SEC("cgroup_skb/egress")
int cg_out(struct __sk_buff *skb)
{
	count(4);
	return 1;
}

SEC("socket")
int sock_count(struct __sk_buff *skb)
{
	count(5);
	return skb->len;
}
