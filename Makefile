# Two entry points: `make demo` and `make test`. Both set up first.
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast bench fuzz test-kernels clean

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: pyproject.toml scripts/setup-system.sh
	bash scripts/setup-system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

demo: setup
	$(PY) -m corebpf.demo

test: setup
	COREBPF_REQUIRE_KERNEL=1 $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests

bench: setup
	$(PY) bench/run_all.py

fuzz: setup
	$(PY) -m corebpf.testing.fuzz --cases 100000

# The kernel-touching tests under Debian's 6.1 and 6.12 kernels in qemu (fentry, LSM, kprobes):
# both VMs at once with one vCPU each, test programs compiled on the host first, the hooks
# the host refuses first and the long libbpf comparisons last; docs/kernel-matrix.md has the
# time it takes and what skips where.
KERNEL_TESTS_FIRST := tests/vm tests/test_link_tracing.py tests/test_link_misc.py \
	tests/test_link_uprobe.py tests/test_link_net.py tests/test_load.py tests/test_features.py
KERNEL_TESTS_LAST := tests/test_demo.py tests/test_differential.py tests/test_realworld.py
# test_modern.py builds its 121 objects at collection against the running kernel's vmlinux.h
# with clang-22: under emulation that alone takes hours
KERNEL_TESTS_NOT := tests/test_modern.py
KERNEL_TESTS := $(KERNEL_TESTS_FIRST) $(filter-out $(KERNEL_TESTS_FIRST) $(KERNEL_TESTS_LAST) \
	$(KERNEL_TESTS_NOT),$(sort $(wildcard tests/test_*.py))) $(KERNEL_TESTS_LAST)
KERNEL_PYTEST := -m pytest -p no:cacheprovider -m 'kernel and not qemu' $(KERNEL_TESTS)
test-kernels: setup
	@# collected on the host first: caches (objects, bytecode) the guest would build slowly
	-env -u PYTHONDONTWRITEBYTECODE $(PY) $(KERNEL_PYTEST) -q --collect-only >/dev/null 2>&1
	$(PY) -m corebpf.testing.vmrun --kernels 6.1,6.12 --jobs 2 --prebuild --summary --timeout 10800 -- \
		$(abspath $(PY)) $(KERNEL_PYTEST) -v -rfEs --timeout=1200 --continue-on-collection-errors

clean:
	rm -rf $(VENV) build dist tests/.build src/*.egg-info
