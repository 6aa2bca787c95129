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

# The kernel-touching tests under Debian's 6.1 and 6.12 kernels in qemu (fentry, LSM, kprobes).
test-kernels: setup
	$(PY) -m corebpf.testing.vmrun --kernels 6.1,6.12 -- $(abspath $(PY)) -m pytest -q -p no:cacheprovider -m kernel tests

clean:
	rm -rf $(VENV) build dist tests/.build src/*.egg-info
