// Socket-level and namespace hooks: sk_lookup, flow dissector, sk_msg/sk_skb on a sockmap,
// netfilter, cgroup sock_addr. Each counts its runs and lets traffic through.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

/* 0 sk_lookup, 1 flow_dissector, 2 sk_msg, 3 sk_skb verdict, 4 netfilter, 5 connect4 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} runs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} socks SEC(".maps");

static __always_inline void count(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&runs, &i);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("sk_lookup")
int lookup(struct bpf_sk_lookup *ctx)
{
	count(0);
	return SK_PASS;
}

SEC("flow_dissector")
int dissect(struct __sk_buff *skb)
{
	count(1);
	return BPF_FLOW_DISSECTOR_CONTINUE;
}

SEC("sk_msg")
int msg(struct sk_msg_md *m)
{
	count(2);
	return SK_PASS;
}

SEC("sk_skb/stream_verdict")
int verdict(struct __sk_buff *skb)
{
	count(3);
	return SK_PASS;
}

SEC("netfilter")
int nf(struct bpf_nf_ctx *ctx)
{
	count(4);
	return 1; /* NF_ACCEPT */
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	count(5);
	return 1;
}
