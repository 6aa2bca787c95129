// SPDX-License-Identifier: GPL-2.0
/* biolatency: log2 histogram of block I/O latency (issue to completion), in microseconds. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "tools.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct request *);
	__type(value, __u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

static __always_inline int record_issue(struct request *rq)
{
	__u64 ts = bpf_ktime_get_ns();

	bpf_map_update_elem(&start, &rq, &ts, BPF_ANY);
	return 0;
}

static __always_inline int record_complete(struct request *rq)
{
	__u64 *tsp, delta, *count;
	__u32 slot;

	tsp = bpf_map_lookup_elem(&start, &rq);
	if (!tsp)
		return 0;
	delta = (bpf_ktime_get_ns() - *tsp) / 1000;
	bpf_map_delete_elem(&start, &rq);
	slot = log2_u64(delta);
	if (slot >= MAX_SLOTS)
		slot = MAX_SLOTS - 1;
	count = bpf_map_lookup_elem(&hist, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(on_issue, struct request *rq)
{
	return record_issue(rq);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(on_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	return record_complete(rq);
}

/* Raw-tracepoint twins, for kernels where tp_btf is missing or refused. */
SEC("raw_tp/block_rq_issue")
int BPF_PROG(on_issue_raw, struct request *rq)
{
	return record_issue(rq);
}

SEC("raw_tp/block_rq_complete")
int BPF_PROG(on_complete_raw, struct request *rq, int error, unsigned int nr_bytes)
{
	return record_complete(rq);
}

char LICENSE[] SEC("license") = "GPL";
