// Hooks the host kernel refuses (fentry/fexit/fmod_ret/LSM: lockdown; kprobes: absent).
// tests/vm/ runs them for real under Debian's 6.1/6.12 kernels in qemu.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

__u64 hits[8] = {};
const volatile int target_pid = 0;

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_pid;
}

SEC("fentry/do_sys_openat2")
int BPF_PROG(fentry_open, int dfd, const char *filename)
{
	if (mine())
		__sync_fetch_and_add(&hits[0], 1);
	return 0;
}

SEC("fexit/do_sys_openat2")
int BPF_PROG(fexit_open, int dfd, const char *filename, struct open_how *how, long ret)
{
	if (mine())
		__sync_fetch_and_add(&hits[1], 1);
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(lsm_file_open, struct file *file)
{
	if (mine())
		__sync_fetch_and_add(&hits[2], 1);
	return 0;
}

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(kprobe_open, int dfd)
{
	if (mine())
		__sync_fetch_and_add(&hits[3], 1);
	return 0;
}

SEC("kretprobe/do_sys_openat2")
int BPF_KRETPROBE(kretprobe_open, long ret)
{
	if (mine())
		__sync_fetch_and_add(&hits[4], 1);
	return 0;
}

SEC("ksyscall/getppid")
int BPF_KSYSCALL(ksyscall_getppid)
{
	if (mine())
		__sync_fetch_and_add(&hits[5], 1);
	return 0;
}

SEC("fmod_ret/security_file_open")
int BPF_PROG(fmod_file_open, struct file *file, int ret)
{
	if (mine())
		__sync_fetch_and_add(&hits[6], 1);
	return 0;
}
