// SPDX-License-Identifier: GPL-2.0
/* Reads a field whose target candidates disagree (tests/progs/core_targets/target_ambig.c). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct corex_amb {
	int y;
} __attribute__((preserve_access_index));

SEC("raw_tp/sys_enter")
int core_ambig(struct bpf_raw_tracepoint_args *ctx)
{
	struct corex_amb *a = (void *)ctx->args[0];

	return BPF_CORE_READ(a, y);
}

char LICENSE[] SEC("license") = "GPL";
