// Load-pipeline test object: kfunc calls (typed per-CPU ksyms need data symbols in
// kallsyms, which this kernel lacks: the linker's unit tests cover them).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
void bpf_task_release(struct task_struct *p) __ksym;

__u64 cpu_seen = 0;
__u32 pid_seen = 0;

SEC("tp_btf/sys_enter")
int BPF_PROG(ksym_user, struct pt_regs *regs, long id)
{
	struct task_struct *t;

	cpu_seen = bpf_get_smp_processor_id();
	t = bpf_task_from_pid(1);
	if (t) {
		pid_seen = t->pid;
		bpf_task_release(t);
	}
	return 0;
}
