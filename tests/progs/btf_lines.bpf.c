// A self-contained socket filter with a static subprogram: its .BTF.ext func/line info is
// loaded by corebpf's BTF tests without any map or relocation.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

static __attribute__((noinline)) int btf_lines_twice(int x)
{
	return x * 2;
}

SEC("socket")
int btf_lines_prog(struct __sk_buff *skb)
{
	int v = skb->len;

	v = btf_lines_twice(v);
	return v > 100 ? 0 : 1;
}
