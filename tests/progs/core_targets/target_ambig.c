/* Two flavors of one struct that put the field the program reads at different offsets:
 * CO-RE cannot choose and must fail (libbpf: "field offset ambiguity"). */
struct corex_amb___a {
	int x;
	int y;
};

struct corex_amb___b {
	int y;
};

struct bpf_raw_tracepoint_args {
	unsigned long long args[0];
};

struct corex_amb___a g_a;
struct corex_amb___b g_b;
struct bpf_raw_tracepoint_args g_args;
