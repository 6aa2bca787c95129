// SPDX-License-Identifier: GPL-2.0
/* syscount: count system calls by number (and optionally by process). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tools.bpf.h"

const volatile __u32 targ_pid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);	/* syscall number */
	__type(value, __u64);	/* calls */
} counts SEC(".maps");

struct comm_key {
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct comm_key);
	__type(value, __u64);
} by_comm SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int on_sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	long id = ctx->id;	/* read the context once: the verifier refuses derived pointers */
	__u32 nr = (__u32)id;
	struct comm_key ck = {};
	__u64 one = 1, *v;

	if (targ_pid && targ_pid != (bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (id < 0)
		return 0;
	v = bpf_map_lookup_elem(&counts, &nr);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&counts, &nr, &one, BPF_NOEXIST);
	bpf_get_current_comm(ck.comm, sizeof(ck.comm));
	v = bpf_map_lookup_elem(&by_comm, &ck);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&by_comm, &ck, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
