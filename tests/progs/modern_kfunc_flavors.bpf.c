// Load-pipeline test object: kfunc flavours. `bpf_task_acquire___one` is resolved by its
// essential name `bpf_task_acquire` and kept (same prototype); `___two` and `___three`
// have other prototypes, so (being __weak) they are absent, as with libbpf >= 1.2.
// modern_*: compared with libbpf 1.5 (tests/test_modern.py), not 1.1, which has no flavours.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern struct task_struct *bpf_task_acquire___one(struct task_struct *task) __ksym __weak;
extern struct task_struct *bpf_task_acquire___two(struct task_struct *p, void *ctx) __ksym __weak;
extern struct task_struct *bpf_task_acquire___three(void *ctx) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;

#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) (!!(sym))
#endif

SEC("tc")
int flavors(struct __sk_buff *skb)
{
	int r = 0;

	if (bpf_ksym_exists(bpf_task_acquire___one))
		r |= 1;
	if (bpf_ksym_exists(bpf_task_acquire___two))
		r |= 2;
	if (bpf_ksym_exists(bpf_task_acquire___three))
		r |= 4;
	return r;
}

// the compatible flavour called for real: the call must reach the kernel's kfunc
SEC("tp_btf/task_newtask")
int flavor_call(u64 *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0], *t;

	if (!bpf_ksym_exists(bpf_task_acquire___one) || !bpf_ksym_exists(bpf_task_release))
		return 0;
	t = bpf_task_acquire___one(task);
	if (t)
		bpf_task_release(t);
	return 0;
}
