# mlship developer commands. Everything installs into .venv from uv.lock; uv itself is installed
# into .tools with pip when it is not on PATH.
SHELL := /bin/bash
PYTHON ?= python3.11
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
VENV := $(CURDIR)/.venv
export UV_PYTHON := $(PYTHON)
# The machine sets PYTHONDONTWRITEBYTECODE: compile at install time or every import is slow.
export UV_COMPILE_BYTECODE := 1
PYTEST_WORKERS ?= 4

.PHONY: install system-packages test lint demo bench clean

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet "uv==0.13.9"

install: $(UV)
	$(UV) sync --frozen --all-extras

# checkov (tests/integration/test_build_k8s.py) pins versions that conflict with uv.lock, so it
# gets a venv of its own, installed from tests/tools/checkov.txt.
CHECKOV := $(CURDIR)/.tools/checkov/bin/checkov
$(CHECKOV): tests/tools/checkov.txt | $(UV)
	$(UV) venv --allow-existing --quiet $(CURDIR)/.tools/checkov
	VIRTUAL_ENV=$(CURDIR)/.tools/checkov $(UV) pip sync --quiet tests/tools/checkov.txt
	touch $@

# PostgreSQL running, Debian's chromium and nginx installed (when this machine lets us), or a
# plain list of what is missing: a newcomer's run is CI's run.
system-packages:
	bash tests/tools/system-packages.sh

# One BLAS/OpenMP thread per test process: 4 workers on 2 cores with default pools oversubscribe
# the CPU, and OpenMP's spin-waits then make a 1 ms predict take seconds.
test: install system-packages $(CHECKOV)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=15 -m "not load"

lint: install
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

# The life cycle end to end in a temporary store (about a minute); e.g.
# make demo DEMO_ARGS=--keep-serving to keep the server and its dashboard up afterwards.
demo: install
	$(VENV)/bin/mlship demo $(DEMO_ARGS)

bench: install
	OMP_NUM_THREADS=1 $(VENV)/bin/pytest -m load -p no:cacheprovider
	bash bench/run.sh

clean:
	rm -rf .venv .venv-bench .tools .mlship .pytest_cache .mypy_cache .ruff_cache
