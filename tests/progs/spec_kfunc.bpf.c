// Spec test object: kfunc calls (strong and weak), bpf_ksym_exists, a static subprogram.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern void bpf_no_such_kfunc(void) __ksym __weak;

__u64 seen;

static __noinline int count(int x)
{
	seen += x;
	return 0;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(on_newtask, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *t = bpf_task_acquire(task);
	if (!t)
		return 0;
	bpf_task_release(t);
	if (bpf_no_such_kfunc)
		bpf_no_such_kfunc();
	return count(1);
}
