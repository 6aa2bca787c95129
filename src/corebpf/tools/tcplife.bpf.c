// SPDX-License-Identifier: GPL-2.0
/* tcplife: one event per TCP session when it closes: who, where, how long, bytes. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "tools.bpf.h"

#define AF_INET 2
#define IPPROTO_TCP 6

struct ident {
	__u64 start_ns;
	__u32 pid;
	char comm[TASK_COMM_LEN];
};

struct event {
	__u8 saddr[16];
	__u8 daddr[16];
	__u64 span_us;
	__u64 rx_bytes;
	__u64 tx_bytes;
	__u32 pid;
	__u16 family;
	__u16 sport;
	__u16 dport;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, const void *);
	__type(value, struct ident);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int on_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	const void *sk = ctx->skaddr;
	struct ident *id, fresh = {};
	struct tcp_sock *tp;
	struct event *e;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (ctx->newstate < TCP_FIN_WAIT1) {
		/* First time we see the socket: remember when, and who (for active opens the
		   current task is the one connecting). */
		if (bpf_map_lookup_elem(&socks, &sk))
			return 0;
		fresh.start_ns = bpf_ktime_get_ns();
		fresh.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
		bpf_map_update_elem(&socks, &sk, &fresh, BPF_ANY);
		return 0;
	}
	if (ctx->newstate != TCP_CLOSE)
		return 0;
	id = bpf_map_lookup_elem(&socks, &sk);
	if (!id)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		goto out;
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	if (ctx->family == AF_INET) {
		/* copied with a helper: the verifier refuses loads through derived ctx pointers */
		bpf_probe_read_kernel(e->saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(e->daddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(e->saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(e->daddr, 16, ctx->daddr_v6);
	}
	/* Byte counters live in struct tcp_sock; CO-RE finds them on any kernel. */
	tp = (struct tcp_sock *)sk;
	e->rx_bytes = BPF_CORE_READ(tp, bytes_received);
	e->tx_bytes = BPF_CORE_READ(tp, bytes_acked);
	e->span_us = (bpf_ktime_get_ns() - id->start_ns) / 1000;
	e->pid = id->pid;
	__builtin_memcpy(e->comm, id->comm, sizeof(e->comm));
	e->family = ctx->family;
	e->sport = ctx->sport;
	e->dport = ctx->dport;
	bpf_ringbuf_submit(e, 0);
out:
	bpf_map_delete_elem(&socks, &sk);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
