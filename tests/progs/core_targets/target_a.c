/* A made-up "kernel" whose types differ from what tests/progs/core_fields.bpf.c was
 * compiled against: moved, resized, renamed and missing fields, bitfields at other bits,
 * enums with other values, flavors. Compiled with `clang -g -target bpf -c`; its .BTF is
 * the CO-RE target. */
typedef struct {
	int tv;
	short tw;
} corex_tdef_t;

struct corex_inner {
	long pad;
	int x;
	long y;
};

struct corex_task {
	long long newfield;
	int tgid;
	int pid;
	struct {
		unsigned int flags;
		struct corex_inner inner;
	};
	int arr[8];
	unsigned int pad:1, bf2:9, bf1:3;
	int sbf:5;
	int narrow;
	unsigned int unarrow;
	unsigned long long wide:33;
	struct corex_task *parent;
	union {
		char u_pad[3];
		long u_long;
		int u_int;
	} un;
	int small[2];
	corex_tdef_t td[3][4];
	unsigned char tail[];
};

struct corex_old {
	int a;
};

struct corex_renamed___v2 {
	int first;
	int second;
};

struct corex_same___x {
	int a;
	int b;
};

struct corex_same___y {
	int a;
	long c;
};

enum corex_state {
	COREX_B = 20,
	COREX_A = 10,
};

enum corex_neg {
	COREX_NEG_P = 1,
	COREX_NEG_M = -5,
};

struct corex_match {
	int a;
	struct corex_inner *p;
};

struct corex_task g_task;
struct corex_old g_old;
struct corex_same___x g_same_x;
struct corex_same___y g_same_y;
struct corex_renamed___v2 g_ren;
enum corex_state g_state;
enum corex_neg g_neg;
corex_tdef_t g_tdef;
struct corex_match g_match;

/* the context type the programs read their argument from */
struct bpf_raw_tracepoint_args {
	unsigned long long args[0];
};

struct bpf_raw_tracepoint_args g_args;
