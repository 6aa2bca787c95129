// SPDX-License-Identifier: GPL-2.0
/* CO-RE against the running kernel: vmlinux.h types, flavors of task_struct that some
 * kernels had, kernel bitfields and enums. Loads and runs on this kernel. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* pre-5.14 kernels had a long `state`; this one has `__state` */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

struct task_struct___new {
	unsigned int __state;
	int no_such_field_here;
} __attribute__((preserve_access_index));

enum bpf_map_type___local {
	BPF_MAP_TYPE_RINGBUF___local = 99,
	BPF_MAP_TYPE_NOT_IN_KERNEL___local = 98,
};

struct core_kernel_missing {
	int x;
} __attribute__((preserve_access_index));

__u64 out[16];

SEC("raw_tp/sys_enter")
int core_kernel(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct task_struct___old *o = (void *)t;
	struct task_struct___new *n = (void *)t;

	out[0] = BPF_CORE_READ(t, tgid);
	out[1] = BPF_CORE_READ(t, real_parent, tgid);
	if (bpf_core_field_exists(o->state))
		out[2] = BPF_CORE_READ(o, state);
	else
		out[2] = BPF_CORE_READ(n, __state);
	if (bpf_core_field_exists(n->no_such_field_here))
		out[3] = BPF_CORE_READ(n, no_such_field_here);
	out[4] = BPF_CORE_READ_BITFIELD_PROBED(t, sched_reset_on_fork);
	out[5] = bpf_core_enum_value(enum bpf_map_type___local, BPF_MAP_TYPE_RINGBUF___local);
	out[6] = bpf_core_enum_value_exists(enum bpf_map_type___local,
					    BPF_MAP_TYPE_NOT_IN_KERNEL___local);
	out[7] = bpf_core_type_exists(struct core_kernel_missing);
	out[8] = bpf_core_type_size(struct task_struct);
	out[9] = bpf_core_type_id_kernel(struct task_struct);
	out[10] = bpf_core_field_offset(t->pid);
	out[11] = bpf_core_field_size(t->comm);
	BPF_CORE_READ_STR_INTO(&out[12], t, comm);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
