// Load-pipeline test object: a weak kfunc this kernel lacks, called once behind a
// bpf_ksym_exists-style guard (loads: the call is dead code) and once without (refused:
// the error must name the kfunc).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern int bpf_corebpf_no_such_kfunc(int x) __ksym __weak;

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
