// fentry/fexit/LSM: refused by this kernel (lockdown); used to check the error messages,
// and to attach for real on kernels that allow them (the qemu kernel matrix).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* 0 fentry, 1 fexit, 2 lsm */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

static __always_inline void count(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&calls, &i);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("fentry/do_unlinkat")
int BPF_PROG(on_fentry, int dfd, struct filename *name)
{
	count(0);
	return 0;
}

SEC("fexit/do_unlinkat")
int BPF_PROG(on_fexit, int dfd, struct filename *name, long ret)
{
	count(1);
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(on_lsm, struct file *file)
{
	count(2);
	return 0;
}
