# Two entry points for a fresh machine: `make run` (the main job) and `make test`.
# Both create the virtual environment when it is missing. torch is installed first
# from the pinned CPU build so nothing pulls a multi-GB CUDA wheel.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.lowbase-installed

.PHONY: venv run test lint perf clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

# The main job. Until `lowbase run` lands (issue 6) it generates the quick preset
# and prints its realism summary.
run: venv
	$(VENV)/bin/lowbase generate --scenario quick --seed 0 --out data/quick --overwrite --workers 2
	$(VENV)/bin/lowbase inspect data/quick

test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q

lint: venv
	$(VENV)/bin/ruff check .

perf: venv
	$(PY) bench/perf/generate.py

clean:
	rm -rf data .pytest_cache .ruff_cache
