// SPDX-License-Identifier: GPL-2.0
/* execsnoop: one event per execve(), with parent pid read through CO-RE. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "tools.bpf.h"

#define ARGSIZE 256

struct event {
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__s32 retval;
	__u32 args_size;
	char comm[TASK_COMM_LEN];
	char args[ARGSIZE];	/* NUL-separated argv, truncated at ARGSIZE */
};

/* Filters the front end may set before loading. */
const volatile __u32 targ_uid = (__u32)-1;
const volatile __u8 ignore_failed = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct event);
} execs SEC(".maps");

/* exec() calls per user id, successful or not */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} execs_by_uid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static const struct event empty_event = {};

SEC("tracepoint/syscalls/sys_enter_execve")
int on_execve_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	struct task_struct *task;
	struct event *e;
	const char **argv;
	__u64 off = 0;
	int i;

	if (targ_uid != (__u32)-1 && targ_uid != uid)
		return 0;
	if (bpf_map_update_elem(&execs, &tid, &empty_event, BPF_NOEXIST))
		return 0;
	e = bpf_map_lookup_elem(&execs, &tid);
	if (!e)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	e->pid = id >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = uid;
	argv = (const char **)ctx->args[1];
#pragma unroll
	for (i = 0; i < 8; i++) {
		const char *arg = NULL;
		int n;

		/* keep the verifier sure that args[off .. off+32) stays in the value */
		if (off > ARGSIZE - 32)
			break;
		asm volatile("" : "+r"(off));
		off &= ARGSIZE - 1;
		bpf_probe_read_user(&arg, sizeof(arg), &argv[i]);
		if (!arg)
			break;
		n = bpf_probe_read_user_str(&e->args[off], 32, arg);
		if (n <= 0)
			break;
		off += (__u32)n;
	}
	e->args_size = off;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int on_execve_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct event *e, *out;
	__u64 one = 1, *n;

	e = bpf_map_lookup_elem(&execs, &tid);
	if (!e)
		return 0;
	e->retval = ctx->ret;
	n = bpf_map_lookup_elem(&execs_by_uid, &e->uid);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&execs_by_uid, &e->uid, &one, BPF_NOEXIST);
	if (ignore_failed && ctx->ret < 0)
		goto cleanup;
	out = bpf_ringbuf_reserve(&events, sizeof(*out), 0);
	if (!out)
		goto cleanup;
	__builtin_memcpy(out, e, sizeof(*out));
	bpf_get_current_comm(out->comm, sizeof(out->comm));
	bpf_ringbuf_submit(out, 0);
cleanup:
	bpf_map_delete_elem(&execs, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
