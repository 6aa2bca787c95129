// For `corebpf run` tests: a CO-RE exec tracer with a ring buffer, a counter map, a log2
// histogram and a global variable set with --set.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct event {
	__u32 pid;
	__u32 ppid;
	__u32 marker;
	char comm[16];
};

struct hist {
	__u32 slots[20];
};

/* puts struct event into the object's BTF so that `corebpf run` can decode records */
struct event *unused_event __attribute__((unused));

const volatile __u32 marker = 0;
const volatile __u32 only_comm_len = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} exec_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hist);
} comm_len_hist SEC(".maps");

SEC("tp/sched/sched_process_exec")
int handle_exec(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 zero = 0, len = 0, slot = 0;
	struct event *e;
	struct hist *h;
	__u64 *cnt;
	char comm[16];

	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < 16; i++) {
		if (!comm[i])
			break;
		len++;
	}
	if (only_comm_len && len != only_comm_len)
		return 0;
	cnt = bpf_map_lookup_elem(&exec_count, &zero);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	while (slot < 19 && (1u << (slot + 1)) <= len)
		slot++;
	h = bpf_map_lookup_elem(&comm_len_hist, &zero);
	if (h && slot < 20)
		__sync_fetch_and_add(&h->slots[slot], 1);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->marker = marker;
	__builtin_memcpy(e->comm, comm, sizeof(comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
