// Tracepoint family hooks: tp, raw_tp and tp_btf on sched_process_exec.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct event {
	__u32 pid;
	__u32 ppid;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} events SEC(".maps");

/* pid -> bitmask of the hooks that saw its exec (1 tp, 2 raw_tp, 4 tp_btf) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

static __always_inline void mark(__u64 bit)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 zero = 0, *v;

	v = bpf_map_lookup_elem(&seen, &pid);
	if (!v) {
		bpf_map_update_elem(&seen, &pid, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&seen, &pid);
	}
	if (v)
		__sync_fetch_and_add(v, bit);
}

SEC("tp/sched/sched_process_exec")
int on_exec_tp(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct event *e;

	mark(1);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("raw_tp/sched_process_exec")
int on_exec_raw(void *ctx)
{
	mark(2);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	mark(4);
	return 0;
}
