/* Differential oracle for corebpf's CO-RE engine: open an object with the system libbpf,
 * optionally against a custom target BTF, load it (CO-RE relocation happens before the
 * kernel sees the programs, so a failing program load still leaves relocated code), and
 * print every program's instructions as hex plus libbpf's CO-RE debug lines.
 *
 * usage: core_oracle OBJ [TARGET_BTF]
 * stdout: "PROG <name> <section> <insn_cnt>" then one "INSN <16 hex digits>" per insn,
 *         "LOAD <err>" at the end; libbpf's debug lines go to stdout prefixed "LOG ".
 */
#include <stdio.h>
#include <stdarg.h>
#include <string.h>
#include <bpf/libbpf.h>

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (strstr(buf, "relo #") || strstr(buf, "CO-RE"))
		printf("LOG %s", buf);
	return 0;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct bpf_object *obj;
	struct bpf_program *prog;
	int err, i;

	if (argc < 2)
		return 2;
	if (argc > 2 && strcmp(argv[2], "-"))
		opts.btf_custom_path = argv[2];
	libbpf_set_print(print_fn);
	setvbuf(stdout, NULL, _IOLBF, 0);
	obj = bpf_object__open_file(argv[1], &opts);
	if (!obj) {
		printf("OPEN failed\n");
		return 1;
	}
	err = bpf_object__load(obj);
	bpf_object__for_each_program(prog, obj) {
		const struct bpf_insn *insns = bpf_program__insns(prog);
		size_t cnt = bpf_program__insn_cnt(prog);

		printf("PROG %s %s %zu\n", bpf_program__name(prog),
		       bpf_program__section_name(prog), cnt);
		for (i = 0; insns && i < (int)cnt; i++) {
			const unsigned char *p = (const unsigned char *)&insns[i];
			printf("INSN %02x%02x%02x%02x%02x%02x%02x%02x\n",
			       p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
		}
	}
	printf("LOAD %d\n", err);
	bpf_object__close(obj);
	return 0;
}
