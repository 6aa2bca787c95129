// SPDX-License-Identifier: GPL-2.0
/* A hash map with struct key and value, for `corebpf map` BTF formatting tests. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct cli_key {
	__u32 pid;
	char comm[16];
};

struct cli_val {
	__u64 calls;
	__s32 last_ret;
	__u8 flags[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct cli_key);
	__type(value, struct cli_val);
} stats SEC(".maps");

SEC("tp/syscalls/sys_enter_getppid")
int count_getppid(void *ctx)
{
	struct cli_key k = {};
	struct cli_val *v;

	k.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	v = bpf_map_lookup_elem(&stats, &k);
	if (v)
		v->calls++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
