// For `corebpf run`: a record struct whose name does not match its buffer, found by the
// size given to bpf_ringbuf_output (and a perf buffer's to bpf_perf_event_output); a
// second ring buffer with no matching struct (hex).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct gtest_exec_info {
	__u32 pid;
	__u32 flags;
	char comm[16];
};

struct gtest_exec_info *unused_info __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 14);
} records SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 14);
} raw SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_records SEC(".maps");

SEC("tp/sched/sched_process_exec")
int on_exec(void *ctx)
{
	struct gtest_exec_info info = {};
	__u64 blob[3] = {1, 2, 3};

	info.pid = bpf_get_current_pid_tgid() >> 32;
	info.flags = 5;
	bpf_get_current_comm(info.comm, sizeof(info.comm));
	bpf_ringbuf_output(&records, &info, sizeof(info), 0);
	bpf_ringbuf_output(&raw, blob, 20, 0);
	bpf_perf_event_output(ctx, &perf_records, BPF_F_CURRENT_CPU, &info, sizeof(info));
	return 0;
}

SEC("iter/task")
int list_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (task && task->pid == task->tgid)
		BPF_SEQ_PRINTF(ctx->meta->seq, "%d %s\n", task->tgid, task->comm);
	return 0;
}
