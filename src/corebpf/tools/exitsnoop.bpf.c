// SPDX-License-Identifier: GPL-2.0
/* exitsnoop: one event per process exit, with its exit code and age. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "tools.bpf.h"

struct event {
	__u64 start_ns;
	__u64 exit_ns;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__s32 exit_code;
	__u32 sig;
	char comm[TASK_COMM_LEN];
};

const volatile bool trace_threads = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tracepoint/sched/sched_process_exit")
int on_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct task_struct *task;
	struct event *e;
	int code;

	/* A process exits when its last thread does; only report the leader unless asked. */
	if (!trace_threads && pid != tid)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	code = BPF_CORE_READ(task, exit_code);
	e->start_ns = BPF_CORE_READ(task, start_time);
	e->exit_ns = bpf_ktime_get_ns();
	e->pid = pid;
	e->tid = tid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->exit_code = (code >> 8) & 0xff;
	e->sig = code & 0x7f;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
