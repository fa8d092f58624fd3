# Two entry points for a fresh machine: `make run` (the main job) and `make test`.
# Both create the virtual environment when it is missing. torch is installed first
# from the pinned CPU build so nothing pulls a multi-GB CUDA wheel.
# `make test` and `make test-fast` lint (ruff), type-check (mypy: the files listed under
# [tool.mypy] in pyproject.toml) and then run pytest.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.lowbase-installed

.PHONY: venv run test test-fast lint perf clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

# The main job: generate (cached), train DEC and every baseline, evaluate, analyse, log
# to MLflow (sqlite:///mlflow.db here unless MLFLOW_TRACKING_URI says otherwise), print the
# headline table and write the report under lowbase-work/reports/.
run: venv
	$(VENV)/bin/lowbase run --preset quick --seed 0

# Every test on every core (pytest-xdist): about 6 minutes on two cores, 10 in one process.
test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -q -n auto

# The edit-test loop: everything but the end-to-end tests marked `slow`, on every core
# (pytest-xdist; about two minutes on two cores).
test-fast: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -q -m "not slow" -n auto

lint: venv
	$(VENV)/bin/ruff check .

perf: venv
	$(PY) bench/perf/generate.py
	$(PY) bench/perf/run.py --preset quick

clean:
	rm -rf data lowbase-work reports mlflow.db .mlflow.db.lock .pytest_cache .ruff_cache
