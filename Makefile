# The two commands of the README: `make demo` and `make test`.
# Both create .venv, install torch FIRST (the CPU wheel pinned below), then this package.
# GPU users: `make demo TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124"`
# (or install your own torch into .venv before running make; pip then keeps it).

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DEMO_OUT ?= runs/demo

.PHONY: install demo test test-fast tutorials tutorials-check benchmarks clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install $(TORCH_SPEC)
	$(PIP) install -e '.[test]'
	touch $@

demo: install
	$(VENV)/bin/bior2 demo --out $(DEMO_OUT)

test: install
	$(PY) -m ruff check bioR2 tests benchmarks data_recipes tutorials
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m ruff check bioR2 tests benchmarks data_recipes tutorials
	$(PY) -m pytest -q -m "not slow"

# Rebuild the tutorial notebooks from their Jupytext sources (executed, outputs stored), one after
# the other; `make tutorials ONLY="03 06"` for some. tutorials-check executes nothing.
tutorials: install
	$(PY) tutorials/build.py $(ONLY)

tutorials-check: install
	$(PY) tutorials/build.py --check

clean:
	rm -rf $(VENV) runs .pytest_cache
