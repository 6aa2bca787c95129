// Load-pipeline test object: a weak kfunc this kernel lacks, called once behind a
// bpf_ksym_exists-style guard (loads: the call is dead code) and once without (refused:
// the error must name the kfunc).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern int bpf_corebpf_no_such_kfunc(int x) __ksym __weak;
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym __weak;

SEC("tc")
int guarded(struct __sk_buff *skb)
{
	if (bpf_corebpf_no_such_kfunc)
		return bpf_corebpf_no_such_kfunc(1);
	return 7;
}

SEC("tc")
int unguarded(struct __sk_buff *skb)
{
	return bpf_corebpf_no_such_kfunc(2);
}

// the address of a kfunc as a test of its existence (bpf_ksym_exists): an ld_imm64 of the
// kernel FUNC's BTF id when present, 0 when absent
SEC("tc")
int exists(struct __sk_buff *skb)
{
	int r = 0;

	if (bpf_task_acquire)
		r |= 1;
	if (bpf_corebpf_no_such_kfunc)
		r |= 2;
	return r;
}
