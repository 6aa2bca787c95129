// Load-pipeline test object: a CO-RE relocation this kernel cannot satisfy, reached
// unguarded, so the verifier refuses the poisoned instruction; a second program is fine.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct task_struct___gone {
	int corebpf_no_such_field;
} __attribute__((preserve_access_index));

int seen = 0;

SEC("tp/syscalls/sys_enter_getppid")
int reads_missing_field(void *ctx)
{
	struct task_struct___gone *t = (void *)bpf_get_current_task();
	seen = BPF_CORE_READ(t, corebpf_no_such_field);
	return 0;
}

SEC("tp/syscalls/sys_enter_getppid")
int fine(void *ctx)
{
	seen++;
	return 0;
}
