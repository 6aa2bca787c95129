// Reference for bench_startup.py: what `corebpf run OBJ --duration 0` does, on the system
// libbpf (1.1): open the object, load it (CO-RE against the running kernel's BTF, maps,
// programs), attach every program, detach, close. Exit status 0 on success.
// usage: startup_libbpf OBJ
#include <stdio.h>
#include <bpf/libbpf.h>

#define MAX_LINKS 64

int main(int argc, char **argv)
{
	struct bpf_link *links[MAX_LINKS];
	struct bpf_program *prog;
	struct bpf_object *obj;
	int n = 0, err = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OBJ\n", argv[0]);
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (libbpf_get_error(obj)) {
		fprintf(stderr, "open %s failed\n", argv[1]);
		return 1;
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "load %s failed\n", argv[1]);
		bpf_object__close(obj);
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		struct bpf_link *l;

		if (!bpf_program__autoload(prog) || n == MAX_LINKS)
			continue;
		l = bpf_program__attach(prog);
		if (libbpf_get_error(l)) {
			fprintf(stderr, "attach %s failed\n", bpf_program__name(prog));
			err = 1;
			break;
		}
		links[n++] = l;
	}
	while (n--)
		bpf_link__destroy(links[n]);
	bpf_object__close(obj);
	return err;
}
