/* Small helpers shared by the corebpf tools' BPF programs. */
#ifndef COREBPF_TOOLS_BPF_H
#define COREBPF_TOOLS_BPF_H

#define TASK_COMM_LEN 16
#define MAX_SLOTS 32

/* floor(log2(v)) for v >= 1, 0 for v == 0: the slot of a log2 histogram. */
static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xFFFFFFFFULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

#endif
