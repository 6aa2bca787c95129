// Reference consumer for bench_ringbuf.py: libbpf's ring_buffer__consume / perf_buffer
// draining a pinned, pre-filled map.
// Prints "<records> <wall seconds> <cpu seconds>" (cpu: this thread's CPU time, which
// is what to compare on a machine shared with other work).
// usage: ringbuf_consume ring PIN | ringbuf_consume ringcopy PIN | ringbuf_consume perf PIN
// "ringcopy" is what a C consumer that keeps the records does: the callback copies each
// one into a preallocated (and touched) array, the job of corebpf's copying bulk paths.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned long long count;
static char *keep;
static size_t keep_size, keep_used;

static int on_ring(void *ctx, void *data, size_t len)
{
	count++;
	return 0;
}

static int on_ring_copy(void *ctx, void *data, size_t len)
{
	if (keep_used + len > keep_size)
		return -1;
	memcpy(keep + keep_used, data, len);
	keep_used += len;
	count++;
	return 0;
}

static void on_perf(void *ctx, int cpu, void *data, __u32 len)
{
	count++;
}

static double now(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double t0, t1, c0, c1;
	int fd, err;

	if (argc != 3)
		return 2;
	fd = bpf_obj_get(argv[2]);
	if (fd < 0) {
		perror("bpf_obj_get");
		return 1;
	}
	if (!strcmp(argv[1], "ring") || !strcmp(argv[1], "ringcopy")) {
		int copy = !strcmp(argv[1], "ringcopy");
		struct bpf_map_info info = {};
		__u32 info_len = sizeof(info);
		struct ring_buffer *rb;

		if (copy) {
			/* records are smaller than the ring: one ring's worth is enough */
			if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
				return 1;
			keep_size = info.max_entries;
			keep = malloc(keep_size);
			if (!keep)
				return 1;
			memset(keep, 1, keep_size);
		}
		rb = ring_buffer__new(fd, copy ? on_ring_copy : on_ring, NULL, NULL);
		if (!rb)
			return 1;
		/* the harness fills the ring after we say we are ready */
		printf("ready\n");
		fflush(stdout);
		if (getchar() == EOF)
			return 1;
		c0 = now(CLOCK_THREAD_CPUTIME_ID);
		t0 = now(CLOCK_MONOTONIC);
		err = ring_buffer__consume(rb);
		t1 = now(CLOCK_MONOTONIC);
		c1 = now(CLOCK_THREAD_CPUTIME_ID);
		ring_buffer__free(rb);
	} else {
		struct perf_buffer *pb = perf_buffer__new(fd, 4096, on_perf, NULL, NULL, NULL);
		if (!pb)
			return 1;
		printf("ready\n");
		fflush(stdout);
		if (getchar() == EOF)
			return 1;
		c0 = now(CLOCK_THREAD_CPUTIME_ID);
		t0 = now(CLOCK_MONOTONIC);
		err = perf_buffer__consume(pb);
		t1 = now(CLOCK_MONOTONIC);
		c1 = now(CLOCK_THREAD_CPUTIME_ID);
		perf_buffer__free(pb);
	}
	if (err < 0)
		return 1;
	/* keep the copies observable */
	if (keep_used && keep[keep_used - 1] == 0x7f)
		fprintf(stderr, " ");
	printf("%llu %.9f %.9f\n", count, t1 - t0, c1 - c0);
	return 0;
}
