/* Real-world corpus oracle on the system libbpf (1.1): tests/oracle/oracle.c (engineer F's)
 * plus map definitions (every map of the object, with BTF key/value type names).
 *
 * Usage:
 *   oracle load OBJ [PROG...]   load OBJ with libbpf: all programs at once if that works,
 *                               else one program at a time (autoload only that program);
 *                               dump each program that loaded; programs that failed get
 *                               an "error" line. With PROG names: only those, one by one.
 *   oracle load-all OBJ         load every program of OBJ at once and dump them.
 *   oracle pinned PATH...       dump programs pinned at PATH (e.g. by `corebpf load`).
 *   oracle pinned-maps PATH...  dump maps pinned at PATH.
 * After each successful load, every map of the object is dumped as
 *   {"map": "kernel name", "type": N, "key_size": N, "value_size": N, "max_entries": N,
 *    "flags": N, "map_extra": N, "btf_key": "type name", "btf_value": "type name"}.
 *   oracle pin OBJ DIR          load OBJ at once and pin each program at DIR/<name>.
 *
 * One JSON object per program on stdout:
 *   {"name": ..., "type": N, "attach_btf_id": N, "gpl": 0|1, "insns": "hex of xlated insns",
 *    "maps": {"<id>": ["name", type, key_size, value_size, max_entries]},
 *    "line_info": [[insn_off, "file", line, col, "source line"]...],
 *    "func_info": [[insn_off, "func name"]...]}
 * or {"name": ..., "error": "..."}.
 * Both loaders are measured through the same code: the kernel's view of each program.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

static int verbose;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (!verbose && level != LIBBPF_WARN)
		return 0;
	if (!verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			printf("\\n");
		else if (c == '\t')
			printf("\\t");
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void dump_error(const char *name, const char *msg, int err)
{
	printf("{\"name\": ");
	json_str(name);
	printf(", \"error\": ");
	char buf[256];
	snprintf(buf, sizeof(buf), "%s: %s", msg, strerror(err < 0 ? -err : err));
	json_str(buf);
	printf("}\n");
	fflush(stdout);
}

/* Dump the kernel's view of one loaded program. */
static int dump_prog(int fd, const char *label)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int err;

	memset(&info, 0, sizeof(info));
	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (err) {
		dump_error(label, "get info", errno);
		return -1;
	}
	__u32 xlen = info.xlated_prog_len, nmaps = info.nr_map_ids;
	__u32 nline = info.nr_line_info, nfunc = info.nr_func_info;
	__u32 lrec = info.line_info_rec_size, frec = info.func_info_rec_size;
	__u32 ptype = info.type, btf_id = info.btf_id;
	__u32 attach_btf_id = info.attach_btf_id, gpl = info.gpl_compatible;
	char name[BPF_OBJ_NAME_LEN + 1];
	memcpy(name, info.name, BPF_OBJ_NAME_LEN);
	name[BPF_OBJ_NAME_LEN] = 0;

	unsigned char *insns = calloc(1, xlen + 8);
	__u32 *map_ids = calloc(nmaps + 1, sizeof(__u32));
	unsigned char *lines = calloc(nline + 1, lrec ? lrec : sizeof(struct bpf_line_info));
	unsigned char *funcs = calloc(nfunc + 1, frec ? frec : sizeof(struct bpf_func_info));

	memset(&info, 0, sizeof(info));
	info.xlated_prog_len = xlen;
	info.xlated_prog_insns = (__u64)(unsigned long)insns;
	info.nr_map_ids = nmaps;
	info.map_ids = (__u64)(unsigned long)map_ids;
	info.nr_line_info = nline;
	info.line_info_rec_size = lrec ? lrec : sizeof(struct bpf_line_info);
	info.line_info = (__u64)(unsigned long)lines;
	info.nr_func_info = nfunc;
	info.func_info_rec_size = frec ? frec : sizeof(struct bpf_func_info);
	info.func_info = (__u64)(unsigned long)funcs;
	len = sizeof(info);
	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (err) {
		dump_error(label, "get info (2)", errno);
		goto out;
	}

	printf("{\"name\": ");
	json_str(label ? label : name);
	printf(", \"kname\": ");
	json_str(name);
	printf(", \"type\": %u, \"attach_btf_id\": %u, \"gpl\": %u, \"insns\": \"", ptype,
	       attach_btf_id, gpl);
	for (__u32 i = 0; i < xlen; i++)
		printf("%02x", insns[i]);
	printf("\", \"maps\": {");
	for (__u32 i = 0; i < nmaps; i++) {
		struct bpf_map_info minfo;
		__u32 mlen = sizeof(minfo);
		memset(&minfo, 0, sizeof(minfo));
		int mfd = bpf_map_get_fd_by_id(map_ids[i]);
		if (mfd >= 0) {
			bpf_obj_get_info_by_fd(mfd, &minfo, &mlen);
			close(mfd);
		}
		char mname[BPF_OBJ_NAME_LEN + 1];
		memcpy(mname, minfo.name, BPF_OBJ_NAME_LEN);
		mname[BPF_OBJ_NAME_LEN] = 0;
		printf("%s\"%u\": [", i ? ", " : "", map_ids[i]);
		json_str(mname);
		printf(", %u, %u, %u, %u, %u]", minfo.type, minfo.key_size, minfo.value_size,
		       minfo.max_entries, minfo.map_flags);
	}
	printf("}, \"line_info\": [");
	struct btf *btf = NULL;
	if (btf_id)
		btf = btf__load_from_kernel_by_id(btf_id);
	if (btf && libbpf_get_error(btf))
		btf = NULL;
	for (__u32 i = 0; i < nline; i++) {
		struct bpf_line_info *li = (void *)(lines + i * info.line_info_rec_size);
		const char *file = btf ? btf__name_by_offset(btf, li->file_name_off) : NULL;
		const char *text = btf ? btf__name_by_offset(btf, li->line_off) : NULL;
		printf("%s[%u, ", i ? ", " : "", li->insn_off);
		json_str(file ? file : "?");
		printf(", %u, %u, ", BPF_LINE_INFO_LINE_NUM(li->line_col),
		       BPF_LINE_INFO_LINE_COL(li->line_col));
		json_str(text ? text : "?");
		printf("]");
	}
	printf("], \"func_info\": [");
	for (__u32 i = 0; i < nfunc; i++) {
		struct bpf_func_info *fi = (void *)(funcs + i * info.func_info_rec_size);
		const char *fname = NULL;
		if (btf) {
			const struct btf_type *t = btf__type_by_id(btf, fi->type_id);
			if (t)
				fname = btf__name_by_offset(btf, t->name_off);
		}
		printf("%s[%u, ", i ? ", " : "", fi->insn_off);
		json_str(fname ? fname : "?");
		printf("]");
	}
	printf("]}\n");
	fflush(stdout);
	btf__free(btf);
out:
	free(insns);
	free(map_ids);
	free(lines);
	free(funcs);
	return err;
}

/* Name of BTF type `id` in the kernel BTF object `btf_id` ("" for none). */
static void btf_type_name(__u32 btf_id, __u32 id, char *out, size_t n)
{
	out[0] = 0;
	if (!btf_id || !id)
		return;
	struct btf *btf = btf__load_from_kernel_by_id(btf_id);
	if (!btf || libbpf_get_error(btf))
		return;
	const struct btf_type *t = btf__type_by_id(btf, id);
	/* skip typedef/modifiers only when anonymous: name what the map says */
	if (t) {
		const char *nm = btf__name_by_offset(btf, t->name_off);
		snprintf(out, n, "%u:%s", BTF_INFO_KIND(t->info), nm ? nm : "");
	}
	btf__free(btf);
}

static void dump_map(int fd, const char *label)
{
	struct bpf_map_info minfo;
	__u32 mlen = sizeof(minfo);
	memset(&minfo, 0, sizeof(minfo));
	if (bpf_obj_get_info_by_fd(fd, &minfo, &mlen)) {
		dump_error(label, "map info", errno);
		return;
	}
	char mname[BPF_OBJ_NAME_LEN + 1], kname[256], vname[256];
	memcpy(mname, minfo.name, BPF_OBJ_NAME_LEN);
	mname[BPF_OBJ_NAME_LEN] = 0;
	btf_type_name(minfo.btf_id, minfo.btf_key_type_id, kname, sizeof(kname));
	btf_type_name(minfo.btf_id, minfo.btf_value_type_id, vname, sizeof(vname));
	printf("{\"map\": ");
	json_str(mname);
	printf(", \"type\": %u, \"key_size\": %u, \"value_size\": %u, \"max_entries\": %u, "
	       "\"flags\": %u, \"map_extra\": %llu, \"btf\": %d, \"btf_vmlinux_value\": %u, "
	       "\"btf_key\": ", minfo.type, minfo.key_size, minfo.value_size, minfo.max_entries,
	       minfo.map_flags, (unsigned long long)minfo.map_extra, minfo.btf_id != 0,
	       minfo.btf_vmlinux_value_type_id);
	json_str(kname);
	printf(", \"btf_value\": ");
	json_str(vname);
	printf("}\n");
	fflush(stdout);
}

/* Sizes real-world tools set before load (from the CPU count, a command-line option):
 * maps left at max_entries 0 (but PERF_EVENT_ARRAY, which libbpf sizes, and local storages,
 * which must keep 0) get FIXUP_ENTRIES,
 * stack-trace maps without a value size get FIXUP_STACK_VALUE. test_realworld.py does the
 * same to corebpf's specs. */
#define FIXUP_ENTRIES 64
#define FIXUP_STACK_VALUE (127 * 8)
static void fixup_maps(struct bpf_object *obj)
{
	struct bpf_map *map;
	bpf_object__for_each_map(map, obj) {
		enum bpf_map_type t = bpf_map__type(map);
		/* local storages must keep 0; libbpf sizes perf event arrays itself */
		if (bpf_map__max_entries(map) == 0 && t != BPF_MAP_TYPE_PERF_EVENT_ARRAY &&
		    t != BPF_MAP_TYPE_SK_STORAGE && t != BPF_MAP_TYPE_INODE_STORAGE &&
		    t != BPF_MAP_TYPE_TASK_STORAGE && t != 32 /* CGRP_STORAGE */)
			bpf_map__set_max_entries(map, FIXUP_ENTRIES);
		if (bpf_map__type(map) == BPF_MAP_TYPE_STACK_TRACE && bpf_map__value_size(map) == 0)
			bpf_map__set_value_size(map, FIXUP_STACK_VALUE);
	}
}

/* Load OBJ with only `only` autoloaded (or all when NULL); dump or pin loaded programs. */
static int load_obj(const char *path, const char *only, const char *pin_dir)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog;
	int err;

	if (!obj || libbpf_get_error(obj)) {
		dump_error(only ? only : path, "open", errno ? errno : EINVAL);
		return 1;
	}
	fixup_maps(obj);
	if (only) {
		int found = 0;
		bpf_object__for_each_program(prog, obj) {
			int on = strcmp(bpf_program__name(prog), only) == 0;
			found |= on;
			bpf_program__set_autoload(prog, on);
		}
		if (!found) {
			dump_error(only, "no such program", ENOENT);
			bpf_object__close(obj);
			return 1;
		}
	}
	err = bpf_object__load(obj);
	if (err) {
		dump_error(only ? only : path, "load", err);
		bpf_object__close(obj);
		return 1;
	}
	if (!pin_dir) {
		struct bpf_map *map;
		bpf_object__for_each_map(map, obj) {
			if (bpf_map__fd(map) >= 0)
				dump_map(bpf_map__fd(map), bpf_map__name(map));
		}
	}
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__autoload(prog))
			continue;
		if (pin_dir) {
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s", pin_dir, bpf_program__name(prog));
			if (bpf_program__pin(prog, p))
				dump_error(bpf_program__name(prog), "pin", errno);
		} else {
			dump_prog(bpf_program__fd(prog), bpf_program__name(prog));
		}
	}
	bpf_object__close(obj);
	return 0;
}

/* Does OBJ load with every program at once? (Nothing printed.) */
static int load_obj_quiet_ok(const char *path)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog;
	int err, n = 0;

	if (!obj || libbpf_get_error(obj))
		return 0;
	fixup_maps(obj);
	bpf_object__for_each_program(prog, obj) n += bpf_program__autoload(prog);
	err = bpf_object__load(obj);
	bpf_object__close(obj);
	return !err && n > 0;
}

/* Names of the programs libbpf sees in OBJ (entry programs only; with only_manual,
 * those not loaded by default). */
static int list_progs(const char *path, char ***names, int only_manual)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog;
	int n = 0;

	if (!obj || libbpf_get_error(obj))
		return -1;
	bpf_object__for_each_program(prog, obj) n++;
	*names = calloc(n + 1, sizeof(char *));
	n = 0;
	bpf_object__for_each_program(prog, obj) {
		if (only_manual && bpf_program__autoload(prog))
			continue;
		(*names)[n++] = strdup(bpf_program__name(prog));
	}
	bpf_object__close(obj);
	return n;
}

int main(int argc, char **argv)
{
	if (getenv("ORACLE_VERBOSE"))
		verbose = 1;
	libbpf_set_print(print_fn);
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	if (argc < 3) {
		fprintf(stderr, "usage: oracle load|load-all|pinned|pin ...\n");
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "load")) {
		const char *path = argv[2];
		if (argc > 3) {
			for (int i = 3; i < argc; i++)
				load_obj(path, argv[i], NULL);
			return 0;
		}
		/* everything at once first (prog-array slots need their programs loaded);
		 * one program at a time only if that fails */
		int all = load_obj_quiet_ok(path);
		if (all)
			load_obj(path, NULL, NULL);
		char **names;
		int n = list_progs(path, &names, all);
		if (n < 0) {
			dump_error(path, "open", errno ? errno : EINVAL);
			return 1;
		}
		/* one by one: every program, or (after a full load) those SEC("?...") kept out */
		for (int i = 0; i < n; i++)
			load_obj(path, names[i], NULL);
		return 0;
	}
	if (!strcmp(cmd, "load-all"))
		return load_obj(argv[2], NULL, NULL);
	if (!strcmp(cmd, "pin") && argc == 4)
		return load_obj(argv[2], NULL, argv[3]);
	if (!strcmp(cmd, "pinned-maps")) {
		for (int i = 2; i < argc; i++) {
			int fd = bpf_obj_get(argv[i]);
			if (fd < 0) {
				dump_error(argv[i], "bpf_obj_get", errno);
				continue;
			}
			dump_map(fd, argv[i]);
			close(fd);
		}
		return 0;
	}
	if (!strcmp(cmd, "pinned")) {
		int rc = 0;
		for (int i = 2; i < argc; i++) {
			int fd = bpf_obj_get(argv[i]);
			const char *base = strrchr(argv[i], '/');
			base = base ? base + 1 : argv[i];
			if (fd < 0) {
				dump_error(base, "bpf_obj_get", errno);
				rc = 1;
				continue;
			}
			dump_prog(fd, base);
			close(fd);
		}
		return rc;
	}
	fprintf(stderr, "unknown command %s\n", cmd);
	return 2;
}
