// Patterns common in real-world CO-RE tools (BCC libbpf-tools and others) that the
// differential tests must see: ringbuf-or-perfbuf chosen with bpf_core_type_exists, weak
// kfuncs tested with bpf_ksym_exists, BPF_KPROBE/BPF_KSYSCALL
// argument access, bpf_strncmp against .rodata, bpf_get_func_ip, flavored local types.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#ifndef bpf_ksym_exists /* libbpf >= 1.2 has it */
#define bpf_ksym_exists(sym) (!!(sym))
#endif

#define EVENT_SIZE 64

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, EVENT_SIZE);
} heap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, u64);
} starts SEC(".maps");

const volatile pid_t targ_tgid = 0;
const volatile char targ_comm[16] = "bash";

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;

/* an older kernel's layout: only the fields we use, flavor suffix dropped by CO-RE */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

static __always_inline void *reserve_buf(__u64 size)
{
	static const int zero = 0;

	if (bpf_core_type_exists(struct bpf_ringbuf))
		return bpf_ringbuf_reserve(&events, size, 0);
	return bpf_map_lookup_elem(&heap, &zero);
}

static __always_inline void submit_buf(void *buf)
{
	if (bpf_core_type_exists(struct bpf_ringbuf))
		bpf_ringbuf_submit(buf, 0);
}

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___old *)t, state);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(rw_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	u32 pid = BPF_CORE_READ(next, pid);
	u64 ts = bpf_ktime_get_ns();

	if (targ_tgid && BPF_CORE_READ(next, tgid) != targ_tgid)
		return 0;
	if (task_state(prev) == 0)
		bpf_map_update_elem(&starts, &pid, &ts, 0);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int rw_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	char comm[16];
	char *e;

	bpf_get_current_comm(comm, sizeof(comm));
	if (bpf_strncmp(comm, sizeof(comm), (const char *)targ_comm) != 0)
		return 0;
	e = reserve_buf(EVENT_SIZE);
	if (!e)
		return 0;
	__builtin_memcpy(e, comm, sizeof(comm));
	submit_buf(e);
	return 0;
}

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(rw_kprobe, struct hrtimer_sleeper *t, int mode)
{
	u32 pid = bpf_get_current_pid_tgid();
	u64 ip = bpf_get_func_ip(ctx);

	bpf_map_update_elem(&starts, &pid, &ip, BPF_ANY);
	return mode;
}

SEC("ksyscall/nanosleep")
int BPF_KSYSCALL(rw_ksyscall, struct __kernel_timespec *req)
{
	long sec = 0;

	bpf_probe_read_user(&sec, sizeof(sec), &req->tv_sec);
	return sec > 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(rw_fork, struct task_struct *parent, struct task_struct *child)
{
	struct task_struct *t;

	if (!bpf_ksym_exists(bpf_task_acquire))
		return 0;
	t = bpf_task_acquire(child);
	if (t)
		bpf_task_release(t);
	return 0;
}
