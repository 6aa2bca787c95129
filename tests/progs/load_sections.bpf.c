// Load-pipeline test object: several global-data sections (.rodata, .rodata.str1.1 from
// string literals, custom .data.*/.rodata.* sections), a static subprogram used by two
// programs, and programs loaded only on request (SEC("?...")).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile int verbose = 1;
const volatile char greeting[8] SEC(".rodata.custom") = "hello";
int counter SEC(".data.custom") = 5;
__u64 total = 0;

static __noinline int bump(int by)
{
	counter += by;
	total += counter;
	return counter;
}

SEC("tp/syscalls/sys_enter_getpgid")
int printer(void *ctx)
{
	if (verbose)
		bpf_printk("getpgid %d %s", bump(1), greeting);
	return 0;
}

SEC("raw_tp/sys_enter")
int raw_counter(struct bpf_raw_tracepoint_args *ctx)
{
	bump(2);
	return 0;
}

SEC("?xdp")
int optional_xdp(struct xdp_md *ctx)
{
	return bump(3) > 0 ? 2 : 1;
}
