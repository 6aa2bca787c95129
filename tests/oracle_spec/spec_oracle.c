// Differential oracle for corebpf.spec: what libbpf sees when it *opens* an object
// (no kernel needed). Prints one JSON document on stdout:
//   {"programs": [{name, section, type, expected_attach_type, insns, autoload}],
//    "maps": [{name, type, key_size, value_size, max_entries, flags, numa_node,
//              map_extra, btf_key_type_id, btf_value_type_id, internal, initial_size,
//              initial_fnv, pin_path, autocreate, inner}]}
// Build: gcc -O1 -o spec_oracle spec_oracle.c -lbpf
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <bpf/libbpf.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

/* FNV-1a 64 of the raw instructions: compared with corebpf's bytes */
static unsigned long long fnv1a(const void *p, size_t n)
{
	const unsigned char *b = p;
	unsigned long long h = 0xcbf29ce484222325ULL;

	while (n--) {
		h ^= *b++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void jstr(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *map, *inner;
	int first = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OBJECT\n", argv[0]);
		return 2;
	}
	libbpf_set_print(quiet);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		printf("{\"error\": %d}\n", errno);
		return 1;
	}
	printf("{\"name\": ");
	jstr(bpf_object__name(obj));
	printf(", \"programs\": [");
	bpf_object__for_each_program(prog, obj) {
		printf("%s{\"name\": ", first ? "" : ", ");
		first = 0;
		jstr(bpf_program__name(prog));
		printf(", \"section\": ");
		jstr(bpf_program__section_name(prog));
		printf(", \"type\": %d, \"expected_attach_type\": %d, \"insns\": %zu, \"autoload\": %d, "
		       "\"insns_fnv\": \"%016llx\"}",
		       bpf_program__type(prog), bpf_program__expected_attach_type(prog),
		       bpf_program__insn_cnt(prog), bpf_program__autoload(prog),
		       fnv1a(bpf_program__insns(prog), bpf_program__insn_cnt(prog) * 8));
	}
	printf("], \"maps\": [");
	first = 1;
	bpf_object__for_each_map(map, obj) {
		size_t sz = 0;
		const void *init = bpf_map__initial_value(map, &sz);

		printf("%s{\"name\": ", first ? "" : ", ");
		first = 0;
		jstr(bpf_map__name(map));
		printf(", \"type\": %d, \"key_size\": %u, \"value_size\": %u, \"max_entries\": %u, "
		       "\"flags\": %u, \"numa_node\": %u, \"map_extra\": %llu, "
		       "\"btf_key_type_id\": %u, \"btf_value_type_id\": %u, \"internal\": %d, "
		       "\"initial_size\": %zd",
		       bpf_map__type(map), bpf_map__key_size(map), bpf_map__value_size(map),
		       bpf_map__max_entries(map), bpf_map__map_flags(map), bpf_map__numa_node(map),
		       (unsigned long long)bpf_map__map_extra(map), bpf_map__btf_key_type_id(map),
		       bpf_map__btf_value_type_id(map), bpf_map__is_internal(map),
		       init ? (ssize_t)sz : (ssize_t)-1);
		printf(", \"initial_fnv\": \"%016llx\", \"pin_path\": ",
		       init ? fnv1a(init, sz) : 0ULL);
		jstr(bpf_map__pin_path(map));
		printf(", \"autocreate\": %d", bpf_map__autocreate(map));
		inner = bpf_map__inner_map(map);
		if (inner)
			printf(", \"inner\": {\"type\": %d, \"key_size\": %u, \"value_size\": %u, "
			       "\"max_entries\": %u, \"flags\": %u}",
			       bpf_map__type(inner), bpf_map__key_size(inner),
			       bpf_map__value_size(inner), bpf_map__max_entries(inner),
			       bpf_map__map_flags(inner));
		printf("}");
	}
	printf("]}\n");
	bpf_object__close(obj);
	return 0;
}
