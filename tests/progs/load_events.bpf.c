// Load-pipeline test object: events through a ring buffer, decoded by type name.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct event {
	__u32 pid;
	__u32 seq;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

/* keeps struct event in the object's BTF for user space (local types are not emitted) */
struct event *unused_event __attribute__((unused));

const volatile __u32 only_tgid = 0;
__u32 seq = 0;

SEC("tp/syscalls/sys_enter_getppid")
int emit(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct event *e;

	if (only_tgid && tgid != only_tgid)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = tgid;
	e->seq = ++seq;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
