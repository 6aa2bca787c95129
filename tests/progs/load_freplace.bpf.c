// Load-pipeline test object: an XDP program whose verdict comes from a global function,
// and a freplace program that replaces that function (loaded against the first one with
// attach_targets, as libbpf's bpf_program__set_attach_target).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

__noinline int verdict(struct xdp_md *ctx)
{
	return ctx ? XDP_DROP : XDP_ABORTED;
}

SEC("xdp")
int xdp_target(struct xdp_md *ctx)
{
	return verdict(ctx);
}

SEC("freplace/verdict")
int new_verdict(struct xdp_md *ctx)
{
	return XDP_PASS;
}
