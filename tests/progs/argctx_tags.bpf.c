// Global subprograms whose context parameter is a `void *` tagged __arg_ctx (libbpf ≥ 1.4's
// btf_decl_tag("arg:ctx")): 6.8+ verifiers take the tag, older ones (Debian's 6.1) need the
// loader to retype the parameter in a clone of the FUNC (tests/test_argctx.py).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#ifndef __arg_ctx
#define __arg_ctx __attribute__((btf_decl_tag("arg:ctx")))
#endif

char LICENSE[] SEC("license") = "GPL";

__noinline int skb_len_of(void *ctx __arg_ctx, int extra)
{
	struct __sk_buff *skb = ctx;

	return skb->len + extra;
}

__noinline int xdp_len_of(void *ctx __arg_ctx)
{
	struct xdp_md *xdp = ctx;

	return xdp->data_end - xdp->data;
}

/* already the context type: nothing to retype */
__noinline int skb_mark_of(struct __sk_buff *skb __arg_ctx)
{
	return skb->mark;
}

SEC("socket")
int argctx_socket(struct __sk_buff *skb)
{
	return skb_len_of(skb, 1) + skb_mark_of(skb);
}

SEC("xdp")
int argctx_xdp(struct xdp_md *ctx)
{
	return xdp_len_of(ctx) > 0 ? XDP_PASS : XDP_DROP;
}
