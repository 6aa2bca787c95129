// SPDX-License-Identifier: GPL-2.0
/* Local types that differ from tests/progs/core_targets/target_a.c: CO-RE must move
 * offsets, resize loads, fix bitfield shifts, enum values, type ids and sizes, and
 * poison what the target lacks. Not meant to pass the verifier against the real kernel:
 * the tests compare relocated instructions with libbpf's. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __pai __attribute__((preserve_access_index))

typedef struct {
	int tw;
	int tv;
} corex_tdef_t;

struct corex_inner {
	int x;
	long y;
} __pai;

struct corex_task {
	int pid;
	int tgid;
	unsigned int flags;
	struct corex_inner inner;
	int arr[4];
	unsigned int bf1:3, bf2:5;
	int sbf:7;
	unsigned long long gone;
	short narrow;
	unsigned short unarrow;
	unsigned long long wide:33;
	struct corex_task *parent;
	int small[10];
	union {
		int u_int;
		long u_long;
	} un;
	corex_tdef_t td[2][3];
	unsigned char tail[];
} __pai;

struct corex_task___old {
	int pid;
	long old_state;
} __pai;

struct corex_renamed {
	int second;
} __pai;

/* the target has two flavors, corex_same___x and corex_same___y: both match, and agree */
struct corex_same {
	int a;
	int b;
} __pai;

struct corex_missing {
	int nothing;
} __pai;

enum corex_state {
	COREX_A = 1,
	COREX_B = 2,
	COREX_GONE = 3,
};

enum corex_neg {
	COREX_NEG_M = -1,
	COREX_NEG_P = 1,
};

struct corex_match {
	int a;
	struct corex_inner *p;
};

struct corex_match___bad {
	long a;
};

SEC("raw_tp/sys_enter")
int core_reads(struct bpf_raw_tracepoint_args *ctx)
{
	struct corex_task *t = (void *)ctx->args[0];
	long acc = 0;

	acc += BPF_CORE_READ(t, pid);
	acc += BPF_CORE_READ(t, tgid);
	acc += BPF_CORE_READ(t, flags);
	acc += BPF_CORE_READ(t, inner.y);
	acc += BPF_CORE_READ(t, inner.x);
	acc += BPF_CORE_READ(t, arr[2]);
	acc += BPF_CORE_READ(t, parent, parent, pid);
	acc += BPF_CORE_READ_BITFIELD_PROBED(t, bf1);
	acc += BPF_CORE_READ_BITFIELD_PROBED(t, bf2);
	acc += BPF_CORE_READ_BITFIELD_PROBED(t, sbf);
	acc += BPF_CORE_READ_BITFIELD_PROBED(t, wide);
	acc += bpf_core_field_size(t->arr);
	acc += bpf_core_field_size(t->inner);
	acc += bpf_core_field_offset(t->tail);
	acc += BPF_CORE_READ(t, small[5]);          /* the target has only 2: poisoned */
	acc += BPF_CORE_READ(t, un.u_long);
	acc += BPF_CORE_READ(t, td[1][2].tv);
	acc += bpf_core_field_size(t->td[1]);
	return acc;
}

SEC("raw_tp/sys_exit")
int core_direct(struct bpf_raw_tracepoint_args *ctx)
{
	struct corex_task *t = (void *)ctx->args[0];
	long acc = 0;

	/* direct loads: the instruction's offset and size are relocated */
	acc += t->pid;
	acc += t->unarrow;           /* u16 -> u32: load widened */
	acc += t->narrow;            /* s16 -> s32: cannot resize, poisoned */
	acc += t->inner.x;
	acc += t->tail[3];
	acc += BPF_CORE_READ_BITFIELD(t, bf2);
	acc += BPF_CORE_READ_BITFIELD(t, sbf);
	return acc;
}

SEC("raw_tp/sched_switch")
int core_exists(struct bpf_raw_tracepoint_args *ctx)
{
	struct corex_task *t = (void *)ctx->args[0];
	struct corex_task___old *o = (void *)t;
	struct corex_renamed *r = (void *)t;
	long acc = 0;

	if (bpf_core_field_exists(t->gone))
		acc += BPF_CORE_READ(t, gone);
	if (bpf_core_field_exists(o->old_state))
		acc += BPF_CORE_READ(o, old_state);
	acc += bpf_core_field_exists(t->flags) * 100;
	acc += BPF_CORE_READ(r, second);
	acc += BPF_CORE_READ((struct corex_same *)t, a);
	acc += BPF_CORE_READ((struct corex_same *)t, b) * 3;
	acc += __builtin_preserve_field_info(t->sbf, BPF_FIELD_SIGNED);
	acc += __builtin_preserve_field_info(t->unarrow, BPF_FIELD_SIGNED) * 2;
	return acc;
}

SEC("raw_tp/sched_wakeup")
int core_types(struct bpf_raw_tracepoint_args *ctx)
{
	long acc = 0;

	acc += bpf_core_type_exists(struct corex_task);
	acc += bpf_core_type_exists(struct corex_missing) * 2;
	acc += bpf_core_type_size(struct corex_task);
	acc += bpf_core_type_size(struct corex_inner) * 3;
	acc += bpf_core_type_size(corex_tdef_t) * 5;
	acc += bpf_core_type_id_local(struct corex_task);
	acc += bpf_core_type_id_kernel(struct corex_inner);
	acc += bpf_core_type_id_kernel(struct corex_missing);
	acc += bpf_core_type_exists(struct corex_match) * 7;
	acc += bpf_core_type_exists(struct corex_match___bad) * 11;
	acc += bpf_core_type_exists(struct corex_missing) * 13;
	acc += bpf_core_type_exists(corex_tdef_t) * 17;
	return acc;
}

SEC("raw_tp/sched_process_exit")
int core_enums(struct bpf_raw_tracepoint_args *ctx)
{
	long acc = 0;

	acc += bpf_core_enum_value(enum corex_state, COREX_A);
	acc += bpf_core_enum_value(enum corex_state, COREX_B) * 2;
	acc += bpf_core_enum_value_exists(enum corex_state, COREX_GONE) * 3;
	acc += bpf_core_enum_value_exists(enum corex_state, COREX_B) * 5;
	if (bpf_core_enum_value_exists(enum corex_state, COREX_GONE))
		acc += bpf_core_enum_value(enum corex_state, COREX_GONE);
	acc += bpf_core_enum_value(enum corex_neg, COREX_NEG_M) * 7;
	return acc;
}

char LICENSE[] SEC("license") = "GPL";
