// Load-pipeline test object: a CO-RE tracepoint program (also used by bench_load.py).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

const volatile __u32 target_tgid = 0;

/* a field this kernel does not have: guarded, so the poisoned relocation is dead code */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

__u64 old_state_seen = 0;

SEC("tp/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u32 tgid = BPF_CORE_READ(t, tgid);
	__u32 ppid = BPF_CORE_READ(t, real_parent, tgid);
	__u64 v = ppid;

	if (target_tgid && tgid != target_tgid)
		return 0;
	if (bpf_core_field_exists(((struct task_struct___old *)t)->state))
		old_state_seen = BPF_CORE_READ((struct task_struct___old *)t, state);
	bpf_map_update_elem(&seen, &tgid, &v, BPF_ANY);
	return 0;
}
