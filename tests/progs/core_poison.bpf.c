// SPDX-License-Identifier: GPL-2.0
/* A field this kernel's task_struct does not have, read without a bpf_core_field_exists
 * guard: CO-RE poisons the load and the verifier must refuse the program there. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___nope {
	int no_such_member;
} __attribute__((preserve_access_index));

SEC("raw_tp/sys_enter")
int core_poison(void *ctx)
{
	struct task_struct___nope *t = (void *)bpf_get_current_task();

	return BPF_CORE_READ(t, no_such_member);
}

char LICENSE[] SEC("license") = "GPL";
