// Load-pipeline test object: a loop the verifier cannot bound, so it gives up after
// processing its 1M-instruction budget. The refusal (a log of tens of MB at log level 1)
// must come back quickly and still name the failing instruction and its C line.
// Kept out of tests/progs: every object there is also loaded by libbpf in the differential
// suites, and libbpf doubles its log from 16 MiB until this one's ~100 MB fit (≈15 s each).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("socket")
int too_long(struct __sk_buff *skb)
{
	volatile struct __sk_buff *c = skb;
	__u64 i = 0, sum = 0;

	do {
		i++;
		sum += c->len;
	} while (i < 0x100000000ULL);
	return sum;
}
