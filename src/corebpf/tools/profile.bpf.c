// SPDX-License-Identifier: GPL-2.0
/* profile: sample kernel and user stacks on a perf event (CPU clock) and count them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tools.bpf.h"

#define MAX_STACK_DEPTH 64

struct key_t {
	__u32 pid;
	__s32 user_stack_id;
	__s32 kern_stack_id;
	char comm[TASK_COMM_LEN];
};

const volatile __u32 targ_pid = 0;
const volatile bool skip_idle = true;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, 16384);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct key_t);
	__type(value, __u64);
} counts SEC(".maps");

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct key_t key = {};
	__u64 one = 1, *v;

	if (skip_idle && pid == 0)
		return 0;
	if (targ_pid && pid != targ_pid)
		return 0;
	key.pid = pid;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	key.kern_stack_id = bpf_get_stackid(ctx, &stacks, 0);
	key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
