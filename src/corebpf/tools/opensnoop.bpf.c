// SPDX-License-Identifier: GPL-2.0
/* opensnoop: one event per open()/openat() with the file name and the result. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tools.bpf.h"

#define NAME_MAX 255

struct args_t {
	const char *fname;
	__s32 flags;
};

struct event {
	__u32 pid;
	__u32 uid;
	__s32 ret;
	__s32 flags;
	char comm[TASK_COMM_LEN];
	char fname[NAME_MAX + 1];
};

const volatile __u32 targ_pid = 0;
const volatile __u32 targ_uid = (__u32)-1;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct args_t);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static __always_inline bool wanted(void)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (targ_pid && targ_pid != (id >> 32))
		return false;
	if (targ_uid != (__u32)-1 && targ_uid != (__u32)bpf_get_current_uid_gid())
		return false;
	return true;
}

static __always_inline int enter(const char *fname, int flags)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct args_t a = {.fname = fname, .flags = flags};

	if (!wanted())
		return 0;
	bpf_map_update_elem(&start, &tid, &a, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int on_open_enter(struct trace_event_raw_sys_enter *ctx)
{
	return enter((const char *)ctx->args[0], (int)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int on_openat_enter(struct trace_event_raw_sys_enter *ctx)
{
	return enter((const char *)ctx->args[1], (int)ctx->args[2]);
}

static __always_inline int leave(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct args_t *a;
	struct event *e;

	a = bpf_map_lookup_elem(&start, &tid);
	if (!a)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		e->pid = id >> 32;
		e->uid = (__u32)bpf_get_current_uid_gid();
		e->ret = ctx->ret;
		e->flags = a->flags;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		bpf_probe_read_user_str(e->fname, sizeof(e->fname), a->fname);
		bpf_ringbuf_submit(e, 0);
	}
	bpf_map_delete_elem(&start, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int on_open_exit(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int on_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx);
}

char LICENSE[] SEC("license") = "GPL";
