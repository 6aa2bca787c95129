/* Layouts the C dumper must reproduce: packed and over-aligned members, bitfields across
 * storage units, anonymous unions/structs/enums, function pointers, arrays of them,
 * flexible arrays, forward-declared and self-referencing structs, enum64, duplicate
 * names (the dumper renames the second one ___2). Compiled with -g to get BTF; the test
 * checks sizeof/offsetof through the dumped header. */
typedef unsigned long long u64;

struct shp_fwd_only;

struct shp_list {
	struct shp_list *next, *prev;
};

struct shp_packed {
	char c;
	int i;
	u64 l;
} __attribute__((packed));

struct shp_inner_packed {
	char a;
	struct shp_packed p;
	short s;
};

struct shp_bits {
	unsigned int a:3;
	unsigned int b:29;
	unsigned long long c:40;
	int d:7;
	char e;
	unsigned int f:1;
	long long :0;
	unsigned char g:2;
};

struct shp_aligned {
	char c;
	int x __attribute__((aligned(16)));
	char tail;
};

enum shp_neg { SHP_NEG = -3, SHP_POS = 5 };
enum shp_big { SHP_BIG = 0x1ffffffffULL };

typedef int (*shp_cb_t)(struct shp_list *, void *, ...);

struct shp_all {
	union {
		struct {
			int x, y;
		};
		long pair;
	};
	enum { SHP_ANON_A, SHP_ANON_B } anon_e;
	shp_cb_t cb;
	void (*handlers[4])(int, const char *);
	int (*(*fp_ret_arr)(void))[3];
	const volatile int cv;
	char *const *restrict rp;
	struct shp_fwd_only *fwd;
	struct shp_inner_packed ip;
	struct shp_bits bits;
	struct shp_aligned al;
	enum shp_neg neg;
	enum shp_big big;
	int matrix[2][3];
	unsigned char flex[];
};

struct shp_all g_all;
struct shp_list g_list;

struct shp_dup {
	int only_here;
};

void shp_use(struct shp_all *a, struct shp_dup *d)
{
}
