// Newer libbpf (≥ 1.3) and clang (≥ 18) conventions in one object, for the clang-22 +
// libbpf 1.5 differential test (tests/test_modern.py; clang 14 cannot build it, so the
// libbpf 1.1 tests leave it out): open-coded iterators, may_goto, exception callbacks,
// global subprograms with __arg_ctx/__arg_nonnull, weak kfuncs probed with bpf_ksym_exists,
// bpf_core_type_matches, custom .data.<name>/.rodata.<name> sections, merged strings,
// preserve_static_offset, __kconfig/LINUX_KERNEL_VERSION, static subprograms called from
// several sections, callbacks, SEC("?...") and cpuv4 instructions (with -mcpu=v4).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

extern int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig __weak;
extern void bpf_rcu_read_lock(void) __ksym __weak;
extern void bpf_rcu_read_unlock(void) __ksym __weak;
extern int bpf_corebpf_surely_missing_kfunc(int x) __ksym __weak;
extern void bpf_throw(u64 cookie) __ksym;

#define __exception_cb(name) __attribute__((btf_decl_tag("exception_callback:" #name)))
/* may_goto through asm goto, as the kernel selftests' can_loop does */
#define modern_can_loop                                         \
	({ __label__ l_break, l_continue;                       \
	   bool ret = true;                                     \
	   asm volatile goto("may_goto %l[l_break]" :::: l_break); \
	   goto l_continue;                                     \
	l_break: ret = false;                                   \
	l_continue:;                                            \
	   ret; })

/* custom data sections: one internal map each */
int hits SEC(".data.hits") = 1;
const volatile int scale SEC(".rodata.scale") = 3;
const volatile long limit = 10;
long total;
char names[4][8] SEC(".data.names") = { "a", "bb", "ccc" };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct __attribute__((preserve_static_offset)) pinned_layout {
	int a;
	int b;
};

struct task_struct___shape {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

__noinline int global_ctx_user(void *ctx __arg_ctx, int *out __arg_nonnull)
{
	*out += 1;
	return ctx != 0;
}

static __noinline int shared_static(int x)
{
	return x * scale + hits;
}

static int count_cb(__u64 i, void *data)
{
	long *sum = data;

	*sum += i;
	return 0;
}

__noinline int global_exc_cb(u64 cookie)
{
	return cookie + 1;
}

__noinline int check_and_throw(int v)
{
	if (v > 1000)
		bpf_throw(v);
	return v;
}

SEC("tp/syscalls/sys_enter_getppid")
__exception_cb(global_exc_cb)
int modern_main(void *ctx)
{
	int out = 0, i;
	long sum = 0;
	__s64 sv = total;
	__s32 narrow;
	__u32 key = 0;
	__u64 *c;

	bpf_for(i, 0, 5)
		sum += i;
	bpf_repeat(3)
		sum++;
	/* a start the verifier does not know (.bss), so loop states converge */
	for (i = total; i < limit && modern_can_loop; i++)
		sum += i;
	bpf_loop(4, count_cb, &sum, 0);
	global_ctx_user(ctx, &out);
	sum += shared_static(out);
	/* cpuv4: signed division and modulo, sign extension, byte swap */
	sum += sv / -3 + sv % -7;
	narrow = (__s32)(__s8)sum;
	sum += narrow + __builtin_bswap32((__u32)sum);
	if (bpf_ksym_exists(bpf_rcu_read_lock)) {
		bpf_rcu_read_lock();
		bpf_rcu_read_unlock();
	}
	if (bpf_ksym_exists(bpf_corebpf_surely_missing_kfunc))
		sum += bpf_corebpf_surely_missing_kfunc(1);
	if (bpf_core_type_matches(struct task_struct___shape))
		sum += 2;
	if (LINUX_KERNEL_VERSION > KERNEL_VERSION(5, 0, 0) && CONFIG_BPF_SYSCALL)
		sum += 1;
	sum += check_and_throw(sum);
	c = bpf_map_lookup_elem(&counts, &key);
	if (c)
		__sync_fetch_and_add(c, 1);
	total = sum + names[1][0];
	bpf_printk("modern sum %ld of %s", sum, names[2]);
	return 0;
}

SEC("raw_tp/sys_enter")
int modern_other_section(struct bpf_raw_tracepoint_args *ctx)
{
	struct pinned_layout *p = (void *)ctx;
	int out = 0;

	char first = 0;

	/* a string literal used by address lands in .rodata.str1.1 (a map of its own) */
	bpf_probe_read_kernel(&first, 1, "merged-string literal");
	global_ctx_user(ctx, &out);
	return first + shared_static(out) + (ctx->args[1] == 39 ? 1 : 0) + (p ? 0 : 1);
}

SEC("?tp_btf/sched_switch")
int BPF_PROG(modern_autoload_off, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return prev->pid + next->pid > 0 ? 0 : 1;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(modern_tp_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__s16 small = (__s16)old_pid;

	return small + (int)(bprm->file != 0);
}
