// Perf event array producer for tests and benchmarks, run with BPF_PROG_TEST_RUN.
// ctx (raw_tp args): [0] number of samples, [1] first sequence number,
// [2] sample size (8..256; 64 gives struct event), [3] 1 = vary the size per sample.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct event {
	__u64 seq;
	__u32 kind;
	__u32 len;
	__u8 data[48];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[256]);
} scratch SEC(".maps");

struct loop_ctx {
	void *ctx;
	__u64 seq;
	__u64 size;
	__u64 vary;
	__u64 failed;
};

__u64 failed = 0;
struct event *event_type_anchor __attribute__((unused));

static long one(__u32 i, void *arg)
{
	struct loop_ctx *c = arg;
	__u32 zero = 0;
	__u8 *buf = bpf_map_lookup_elem(&scratch, &zero);
	__u64 seq = c->seq + i;
	__u64 n = c->size;

	if (!buf)
		return 1;
	if (c->vary)
		n = 8 + seq % (c->size - 7 > 0 ? c->size - 7 : 1);
	n &= 0x1ff;
	if (n < 8)
		n = 8;
	if (n > 256)
		n = 256;
	((struct event *)buf)->seq = seq;
	((struct event *)buf)->kind = 2;
	((struct event *)buf)->len = n;
	if (bpf_perf_event_output(c->ctx, &events, BPF_F_CURRENT_CPU, buf, n))
		c->failed++;
	return 0;
}

SEC("raw_tp")
int emit(__u64 *ctx)
{
	struct loop_ctx c = {};

	c.ctx = ctx;
	c.seq = ctx[1];
	c.size = ctx[2];
	c.vary = ctx[3];
	if (c.size < 8)
		c.size = 8;
	if (c.size > 256)
		c.size = 256;
	bpf_loop(ctx[0], one, &c, 0);
	failed += c.failed;
	return 0;
}
