/* Differential-test oracle on the system libbpf (1.1).
 *
 * Usage:
 *   oracle load OBJ [PROG...]   load OBJ with libbpf: all programs at once if that works,
 *                               else one program at a time (autoload only that program);
 *                               dump each program that loaded; programs that failed get
 *                               an "error" line. With PROG names: only those, one by one.
 *   oracle load-all OBJ         load every program of OBJ at once and dump them.
 *   oracle pinned PATH...       dump programs pinned at PATH (e.g. by `corebpf load`).
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

/* Hooks for tests/oracle_realworld/oracle.c, which #includes this file and defines them
 * first: after an object is opened, after it loaded (pin_dir NULL unless "pin"), and extra
 * commands in main(). No-ops here. */
#ifndef ORACLE_AFTER_OPEN
#define ORACLE_AFTER_OPEN(obj) ((void)0)
#endif
#ifndef ORACLE_AFTER_LOAD
#define ORACLE_AFTER_LOAD(obj, pin_dir) ((void)0)
#endif
#ifndef ORACLE_COMMANDS
#define ORACLE_COMMANDS(cmd, argc, argv)
#endif

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
	ORACLE_AFTER_OPEN(obj);
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
	ORACLE_AFTER_LOAD(obj, pin_dir);
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
	ORACLE_AFTER_OPEN(obj);
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
	ORACLE_COMMANDS(cmd, argc, argv);
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
