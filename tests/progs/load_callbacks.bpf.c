// Load-pipeline test object: callbacks passed by address (bpf_timer, bpf_for_each_map_elem,
// bpf_loop) shared by several programs, a global function taking the context, and
// program types that need no attach target to load (kprobe, perf_event).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define CLOCK_MONOTONIC 1

struct elem {
	struct bpf_timer t;
	__u64 fired;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct elem);
} timers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

__u64 sum = 0;

static int timer_cb(void *map, int *key, struct elem *e)
{
	e->fired++;
	return 0;
}

static __u64 add_elem(struct bpf_map *map, __u32 *key, __u64 *val, __u64 *acc)
{
	*acc += *val;
	return 0;
}

static int loop_step(__u32 i, __u64 *acc)
{
	*acc += i;
	return 0;
}

__noinline int global_with_ctx(struct xdp_md *ctx)
{
	if (!ctx)
		return 0;
	return ctx->ingress_ifindex > 0;
}

SEC("xdp")
int arm_timer(struct xdp_md *ctx)
{
	__u32 k = 0;
	struct elem *e = bpf_map_lookup_elem(&timers, &k);

	if (!e)
		return 1;
	bpf_timer_init(&e->t, &timers, CLOCK_MONOTONIC);
	bpf_timer_set_callback(&e->t, timer_cb);
	bpf_timer_start(&e->t, 1000, 0);
	return 2 + global_with_ctx(ctx) * 0;
}

SEC("xdp")
int sum_values(struct xdp_md *ctx)
{
	__u64 acc = 0;

	bpf_for_each_map_elem(&values, add_elem, &acc, 0);
	bpf_loop(3, loop_step, &acc, 0);
	sum = acc;
	return 2;
}

SEC("tp/syscalls/sys_enter_getsid")
int tp_sum(void *ctx)
{
	__u64 acc = 0;

	bpf_loop(5, loop_step, &acc, 0);
	bpf_for_each_map_elem(&values, add_elem, &acc, 0);
	sum = acc;
	return 0;
}

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(kp_nanosleep, struct hrtimer_sleeper *t)
{
	sum++;
	return 0;
}

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	sum += ctx->sample_period;
	return 0;
}
