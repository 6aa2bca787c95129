// Load-pipeline test object: .kconfig externs of every kind, weak and strong.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig;
extern int CONFIG_HZ __kconfig;
extern unsigned long long CONFIG_NR_CPUS __kconfig;
extern char CONFIG_DEFAULT_HOSTNAME[16] __kconfig;
extern bool CONFIG_COREBPF_SURELY_MISSING __kconfig __weak;
extern int CONFIG_COREBPF_MISSING_INT __kconfig __weak;

struct kcfg_out {
	__u32 version;
	__u32 bpf_syscall;
	__u32 bpf_jit;
	__s32 hz;
	__u64 nr_cpus;
	char hostname[16];
	__u32 missing_bool;
	__s32 missing_int;
};

struct kcfg_out out = {};

SEC("xdp")
int read_kconfig(struct xdp_md *ctx)
{
	out.version = LINUX_KERNEL_VERSION;
	out.bpf_syscall = CONFIG_BPF_SYSCALL;
	out.bpf_jit = CONFIG_BPF_JIT;
	out.hz = CONFIG_HZ;
	out.nr_cpus = CONFIG_NR_CPUS;
	__builtin_memcpy(out.hostname, CONFIG_DEFAULT_HOSTNAME, 16);
	out.missing_bool = CONFIG_COREBPF_SURELY_MISSING;
	out.missing_int = CONFIG_COREBPF_MISSING_INT;
	return 2;
}
