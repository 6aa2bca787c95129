// Iterator, perf_event sampling, uprobes, kprobe (refused here), USDT.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

/* 0 perf_event, 1 uprobe, 2 uretprobe, 3 kprobe, 4 usdt; 5 last uprobe arg; 6 last ret;
 * 7 last usdt arg; 8 uprobe.multi */
static __always_inline void bump(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &i);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline void put(__u32 i, __u64 val)
{
	bpf_map_update_elem(&hits, &i, &val, BPF_ANY);
}

SEC("iter/task")
int dump_tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (!task)
		return 0;
	if (task->pid == task->tgid)
		BPF_SEQ_PRINTF(seq, "%d %s\n", task->tgid, task->comm);
	return 0;
}

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	bump(0);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_add, int a, int b)
{
	bump(1);
	put(5, (__u64)(a + b));
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(on_add_ret, int ret)
{
	bump(2);
	put(6, (__u64)ret);
	return 0;
}

SEC("uprobe.multi")
int on_multi(struct pt_regs *ctx)
{
	bump(8);
	return 0;
}

SEC("kprobe/do_unlinkat")
int on_unlink(void *ctx)
{
	bump(3);
	return 0;
}

/* A USDT probe reading its first argument the way usdt.bpf.h lays out specs:
 * spec id = BPF cookie; args[0] in __bpf_usdt_specs. Kept self-contained so it does not
 * depend on the LINUX_HAS_BPF_COOKIE kconfig extern. */
struct usdt_arg { __u64 val_off; __u32 arg_type; short reg_off; char arg_signed; char arg_bitshift; };
struct usdt_spec { struct usdt_arg args[12]; __u64 usdt_cookie; short arg_cnt; };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, int);
	__type(value, struct usdt_spec);
} __bpf_usdt_specs SEC(".maps");

SEC("usdt")
int on_usdt(struct pt_regs *ctx)
{
	int id = bpf_get_attach_cookie(ctx);
	struct usdt_spec *spec = bpf_map_lookup_elem(&__bpf_usdt_specs, &id);
	unsigned long val = 0;

	bump(4);
	if (!spec || spec->arg_cnt < 1)
		return 0;
	if (spec->args[0].arg_type == 0) {
		val = spec->args[0].val_off;
	} else {
		bpf_probe_read_kernel(&val, sizeof(val), (void *)ctx + (spec->args[0].reg_off & 0xff));
		if (spec->args[0].arg_type == 2)
			bpf_probe_read_user(&val, sizeof(val), (void *)val + spec->args[0].val_off);
	}
	val <<= spec->args[0].arg_bitshift & 63;
	val >>= spec->args[0].arg_bitshift & 63;
	put(7, val);
	return 0;
}
