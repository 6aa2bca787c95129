// Ring buffer producers for tests and benchmarks, run with BPF_PROG_TEST_RUN.
// ctx (raw_tp args): [0] number of records, [1] mode, [2] first sequence number,
// [3] record size for mode 2 (<= 256), [4] flags for bpf_ringbuf_output.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct event {
	__u64 seq;
	__u32 kind;
	__u32 len;
	__u8 data[48];
};

#ifndef RB_SIZE
#define RB_SIZE (256 * 1024)
#endif

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RB_SIZE);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[256]);
} scratch SEC(".maps");

struct loop_ctx {
	__u64 seq;
	__u64 mode;
	__u64 size;
	__u64 flags;
	__u64 dropped;
};

// keeps struct event in the object's BTF for decoding tests
struct event *event_type_anchor __attribute__((unused));

// bumped by the callback so that tests can see how many records did not fit
__u64 dropped = 0;

static long one(__u32 i, void *arg)
{
	struct loop_ctx *c = arg;
	__u64 seq = c->seq + i;

	if (c->mode == 0) {
		struct event e = {};
		e.seq = seq;
		e.kind = 0;
		e.len = sizeof(e);
		if (bpf_ringbuf_output(&rb, &e, sizeof(e), c->flags))
			c->dropped++;
	} else if (c->mode == 1) {
		// reserve/submit; every third record is discarded
		struct event *e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
		if (!e) {
			c->dropped++;
			return 0;
		}
		e->seq = seq;
		e->kind = 1;
		e->len = sizeof(*e);
		if (seq % 3 == 2)
			bpf_ringbuf_discard(e, 0);
		else
			bpf_ringbuf_submit(e, 0);
	} else {
		// variable size: size = 8 + seq % (size - 7), at least 8 bytes
		__u32 zero = 0;
		__u8 *buf = bpf_map_lookup_elem(&scratch, &zero);
		__u64 n;
		if (!buf)
			return 1;
		n = 8 + seq % (c->size - 7 > 0 ? c->size - 7 : 1);
		n &= 0xff;
		if (n < 8)
			n = 8;
		*(__u64 *)buf = seq;
		if (bpf_ringbuf_output(&rb, buf, n, c->flags))
			c->dropped++;
	}
	return 0;
}

SEC("raw_tp")
int emit(__u64 *ctx)
{
	struct loop_ctx c = {};
	__u64 n = ctx[0];

	c.mode = ctx[1];
	c.seq = ctx[2];
	c.size = ctx[3];
	c.flags = ctx[4];
	if (c.size < 8)
		c.size = 8;
	if (c.size > 256)
		c.size = 256;
	bpf_loop(n, one, &c, 0);
	dropped += c.dropped;
	return 0;
}
