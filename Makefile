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

.PHONY: install test lint demo bench clean

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet "uv==0.13.9"

install: $(UV)
	$(UV) sync --frozen --all-extras

test: install
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadgroup

lint: install
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

demo: install
	$(VENV)/bin/mlship demo

bench: install
	bash bench/run.sh

clean:
	rm -rf .venv .venv-bench .tools .mlship .pytest_cache .mypy_cache .ruff_cache
