/* kprobe.multi attached by the system libbpf (1.1), for tests/test_link_multi.py: which
 * kernel functions does libbpf attach a glob to? The kernel's answer is read back from the
 * link (Linux 6.6+ reports the addresses), so both loaders are compared through the same
 * kernel view.
 *
 *   kmulti_oracle OBJ PROG PATTERN   ->  one hex address per line (sorted), or "error: ..."
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return 0;
}

/* bpf_link_info as of 6.6: type, id, prog_id, then kprobe_multi { addrs, count, flags }.
 * Spelled out: this libbpf's uapi header predates that member. */
struct kmulti_info {
	__u32 type, id, prog_id, pad;
	__u64 addrs;
	__u32 count, flags;
	__u8 rest[256];
};

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog, *p;
	struct bpf_link *link;
	struct kmulti_info info;
	__u32 len = sizeof(info);
	__u64 *addrs;

	if (argc != 4) {
		fprintf(stderr, "usage: %s OBJ PROG PATTERN\n", argv[0]);
		return 2;
	}
	libbpf_set_print(quiet);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		printf("error: open: %s\n", strerror(errno));
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, argv[2]);
	if (!prog) {
		printf("error: no program %s\n", argv[2]);
		return 1;
	}
	bpf_object__for_each_program(p, obj)
		bpf_program__set_autoload(p, p == prog);
	if (bpf_object__load(obj)) {
		printf("error: load: %s\n", strerror(errno));
		return 1;
	}
	link = bpf_program__attach_kprobe_multi_opts(prog, argv[3], NULL);
	if (!link) {
		printf("error: attach: %s\n", strerror(errno));
		return 1;
	}
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len) || info.count == 0) {
		printf("error: link info: %s (count %u)\n", strerror(errno), info.count);
		return 1;
	}
	addrs = calloc(info.count, sizeof(*addrs));
	info.addrs = (unsigned long)addrs;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len)) {
		printf("error: link info: %s\n", strerror(errno));
		return 1;
	}
	for (__u32 i = 0; i < info.count; i++)
		printf("%llx\n", (unsigned long long)addrs[i]);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
