// kprobe.multi / kretprobe.multi (Linux 5.18+, CONFIG_FPROBE) and uprobe.multi /
// uretprobe.multi (6.6+) with cookies. The host has no kprobes (tests/test_link_multi.py
// checks the refusal there and runs the uprobe.multi ones); tests/vm/ runs all of them
// under Debian 6.1 (no FPROBE, no uprobe.multi: refusals) and 6.12.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* kprobe side: [cookie] for k_cookie (1..7); 8 k_unlink (section symbol), 9 kr_unlink,
 * 10 k_glob (section glob), 11 last kr_getppid return value, 12 kr_getppid calls.
 * uprobe side: [16 + cookie] for u_cookie; 24 ur_getppid calls, 25 its last return value,
 * 26 u_section (section PATH:GLOB) */
__u64 hits[32] = {};
const volatile int target_pid = 0;

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_pid;
}

SEC("kprobe.multi")
int k_cookie(struct pt_regs *ctx)
{
	__u64 c = bpf_get_attach_cookie(ctx);

	if (mine() && c < 8)
		__sync_fetch_and_add(&hits[c], 1);
	return 0;
}

SEC("kprobe.multi/do_unlinkat")
int k_unlink(struct pt_regs *ctx)
{
	if (mine())
		__sync_fetch_and_add(&hits[8], 1);
	return 0;
}

SEC("kretprobe.multi/do_unlinkat")
int kr_unlink(struct pt_regs *ctx)
{
	if (mine())
		__sync_fetch_and_add(&hits[9], 1);
	return 0;
}

SEC("kprobe.multi/do_unlinka?")
int k_glob(struct pt_regs *ctx)
{
	if (mine())
		__sync_fetch_and_add(&hits[10], 1);
	return 0;
}

SEC("kretprobe.multi/__x64_sys_getppid")
int BPF_KRETPROBE(kr_getppid, long ret)
{
	if (mine()) {
		hits[11] = ret;
		__sync_fetch_and_add(&hits[12], 1);
	}
	return 0;
}

SEC("uprobe.multi")
int u_cookie(struct pt_regs *ctx)
{
	__u64 c = bpf_get_attach_cookie(ctx);

	if (mine() && c < 8)
		__sync_fetch_and_add(&hits[16 + c], 1);
	return 0;
}

SEC("uretprobe.multi")
int BPF_KRETPROBE(ur_getppid, int ret)
{
	if (mine()) {
		__sync_fetch_and_add(&hits[24], 1);
		hits[25] = ret;
	}
	return 0;
}

SEC("uprobe.multi/libc.so.6:getpp?d")
int u_section(struct pt_regs *ctx)
{
	if (mine())
		__sync_fetch_and_add(&hits[26], 1);
	return 0;
}
