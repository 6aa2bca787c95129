// Spec test object: global data of every section kind, kconfig and ksym externs.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0x060c00;

const volatile __u32 ro_u32 = 7;
const volatile __u64 ro_u64 = 0x1122334455667788ULL;
const volatile char ro_name[12] = "hello";
__u64 data_u64 = 42;
__u32 data_arr[3] = {1, 2, 3};
__u64 bss_u64;
__u32 bss_arr[5];
static __u64 static_counter = 9;
__u64 custom_data SEC(".data.custom") = 5;
const volatile __u32 custom_ro SEC(".rodata.custom") = 6;
__u32 custom_bss SEC(".bss.custom");

extern __u32 LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig __weak;
extern int CONFIG_HZ __kconfig __weak;
extern char CONFIG_LOCALVERSION[16] __kconfig __weak;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig __weak;

extern const int bpf_prog_active __ksym;
extern const void bpf_task_acquire_missing __ksym __weak;

SEC("raw_tp/sys_enter")
int use_data(void *ctx)
{
	static_counter++;
	bss_u64 += ro_u64 + data_u64 + ro_u32 + data_arr[1] + bss_arr[2];
	custom_data += custom_ro + custom_bss;
	if (ro_name[0] == 'h' && CONFIG_BPF_SYSCALL)
		bss_arr[0] = LINUX_KERNEL_VERSION + CONFIG_HZ + CONFIG_BPF_JIT + CONFIG_LOCALVERSION[0];
	if (&bpf_task_acquire_missing)
		bss_arr[1] = 1;
	int *active = bpf_this_cpu_ptr(&bpf_prog_active);
	bss_arr[3] = *active + static_counter;
	bpf_printk("hello %d", bss_arr[3]);
	return 0;
}
