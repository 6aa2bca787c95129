// Drains a user ring buffer (user space is the producer) when test-run: each record is a
// u64; sums them and counts records and bytes into globals.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096);
} urb SEC(".maps");

__u64 total = 0;
__u64 count = 0;
long last_ret = 0;

static long on_record(struct bpf_dynptr *dynptr, void *ctx)
{
	__u64 v = 0;

	if (bpf_dynptr_read(&v, sizeof(v), dynptr, 0, 0))
		return 0;
	total += v;
	count++;
	return 0;
}

SEC("raw_tp")
int drain(void *ctx)
{
	last_ret = bpf_user_ringbuf_drain(&urb, on_record, NULL, 0);
	return 0;
}
