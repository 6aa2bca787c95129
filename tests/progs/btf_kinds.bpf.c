// Exercises many BTF kinds for corebpf's BTF reader/writer tests: bitfields, enums,
// unions, arrays, float, decl/type tags, globals in .data/.bss/.rodata, a global subprogram,
// .ksyms/.kconfig externs and CO-RE reads.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

enum btf_color { BTF_RED = 1, BTF_GREEN = 2, BTF_BLUE = -3 };

struct btf_bits {
	unsigned int a : 3;
	unsigned int b : 5;
	int c : 7;
	unsigned long long d : 40;
	char tail;
};

union btf_un {
	__u32 word;
	__u8 bytes[4];
};

struct btf_event {
	__u32 pid;
	__u32 ppid;
	char comm[16];
	__u64 ts;
	__s16 delta;
	_Bool flag;
	enum btf_color color;
	struct btf_bits bits;
	union btf_un un;
	float ratio;
	double big;
	int *ptr;
	__u32 matrix[2][3];
} __attribute__((btf_decl_tag("event_tag")));

#define __tagged __attribute__((btf_type_tag("user")))

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct btf_event);
} btf_events SEC(".maps");

__u64 btf_counter = 7;              /* .data */
__u32 btf_zeroes[4];                /* .bss */
const volatile __u32 btf_limit = 3; /* .rodata */
static __u32 btf_static_var = 5;    /* .data, static */

extern int LINUX_KERNEL_VERSION __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig __weak;
extern const void bpf_prog_active __ksym __weak;

__attribute__((noinline)) int btf_helper(struct btf_event *e __tagged, int x)
{
	if (!e)
		return 0;
	return e->pid + x;
}

SEC("tp/syscalls/sys_enter_getpid")
int btf_prog(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct btf_event ev = {};
	__u32 key = 0;

	ev.pid = BPF_CORE_READ(t, tgid);
	ev.ppid = BPF_CORE_READ(t, real_parent, tgid);
	ev.color = BTF_GREEN;
	ev.ratio = 0;
	ev.flag = bpf_core_field_exists(t->pid);
	ev.ts = LINUX_KERNEL_VERSION + CONFIG_BPF_SYSCALL + btf_limit + btf_static_var;
	btf_counter += btf_helper(&ev, 1) + (&bpf_prog_active != 0);
	btf_zeroes[1] = ev.pid;
	bpf_map_update_elem(&btf_events, &key, &ev, BPF_ANY);
	return 0;
}
