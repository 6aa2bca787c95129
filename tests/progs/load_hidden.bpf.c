// Load-pipeline test object: a __hidden global function (libbpf marks it static in BTF, so
// the verifier checks it in its caller's context: here it dereferences its pointer
// argument without a NULL check, which a separately verified global function may not) and a
// __hidden global variable.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

__hidden __u64 hidden_total = 0;

__hidden __noinline int add_to(__u64 *p, __u64 v)
{
	*p += v;
	return 0;
}

SEC("xdp")
int use_hidden(struct xdp_md *ctx)
{
	__u64 acc = 1;

	add_to(&acc, 41);
	hidden_total += acc;
	return acc == 42 ? 2 : 1;
}
