// Load-pipeline test object: an ARENA map. The verifier refuses any program using an arena
// whose user address is not set yet ("arena's user address must be set via map_extra or
// mmap()"): the loader mmaps the arena right after creating it, as libbpf does. Written for
// clang 14 (no __arena pointers): the program only allocates a page and says if it got one.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, 33);			/* BPF_MAP_TYPE_ARENA (Linux 6.9; older vmlinux.h lack it) */
	__uint(map_flags, 1 << 10);		/* BPF_F_MMAPABLE, required */
	__uint(max_entries, 4);			/* pages */
} arena SEC(".maps");

extern void *bpf_arena_alloc_pages(void *map, void *addr, __u32 page_cnt, int node_id,
				   __u64 flags) __ksym __weak;

SEC("syscall")
int arena_alloc(void *ctx)
{
	void *p;

	if (!bpf_arena_alloc_pages)
		return -1;
	p = bpf_arena_alloc_pages(&arena, (void *)0, 1, -1, 0);
	return p ? 1 : 0;
}
