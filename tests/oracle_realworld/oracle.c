/* Real-world corpus oracle on the system libbpf (1.1): tests/oracle/oracle.c (engineer F's,
 * #included below, usage there) plus, through its ORACLE_* hooks:
 *   oracle pinned-maps PATH...  dump maps pinned at PATH.
 * After each successful load (but "pin"), every map of the object is dumped as
 *   {"map": "kernel name", "type": N, "key_size": N, "value_size": N, "max_entries": N,
 *    "flags": N, "map_extra": N, "btf_key": "type name", "btf_value": "type name"}.
 * Before each load, map sizes are fixed up as real-world tools do (see fixup_maps).
 */
struct bpf_object;
static void fixup_maps(struct bpf_object *obj);
static void dump_maps(struct bpf_object *obj);
static int pinned_maps(int argc, char **argv);

#define ORACLE_AFTER_OPEN(obj) fixup_maps(obj)
#define ORACLE_AFTER_LOAD(obj, pin_dir) do { if (!(pin_dir)) dump_maps(obj); } while (0)
#define ORACLE_COMMANDS(cmd, argc, argv) \
	do { if (!strcmp((cmd), "pinned-maps")) return pinned_maps((argc), (argv)); } while (0)
#include "../oracle/oracle.c"

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

static void dump_maps(struct bpf_object *obj)
{
	struct bpf_map *map;
	bpf_object__for_each_map(map, obj) {
		if (bpf_map__fd(map) >= 0)
			dump_map(bpf_map__fd(map), bpf_map__name(map));
	}
}

static int pinned_maps(int argc, char **argv)
{
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
