# The two commands: `make run` and `make test`. Both build .venv from the pinned lock files.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo reset test tools lint bench fmt clean

$(STAMP): requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

## run: the whole platform on embedded defaults (SQLite, an embedded Tansu broker); a process
##      that dies is started again (with backoff); Ctrl-C stops them all
run: $(STAMP)
	$(BIN)/python -m tools.run

## demo: beside `make run`, seed a realistic organisation through the public API and play a few weeks of check-ins
demo: $(STAMP)
	$(BIN)/python -m tools.demo $(DEMO_ARGS)

## reset: with `make run` stopped, delete the local data (the SQLite databases in .okr-data/ and
##        what `make demo` recorded) after a confirmation; the admin token stays
reset: $(STAMP)
	$(BIN)/python -m tools.run --reset $(RESET_ARGS)

## test: the whole suite, on SQLite and PostgreSQL, against real Tansu brokers started by the fixtures,
##       in TEST_WORKERS processes (pytest-xdist; most tests wait on brokers and servers, so more
##       processes than cores pay); TEST_WORKERS=0 runs it in this one process
TEST_WORKERS ?= 4
test: $(STAMP) tools
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

## tools: the real components the suite needs beside Python (Prometheus, promtool, docker-compose, Chromium)
tools:
	@bash tests/support/install-tools.sh

## lint: type checker and linter
lint: $(STAMP)
	$(BIN)/ruff check shared services tools tests bench
	$(BIN)/mypy

## bench: the benchmarks, each reported as a ratio against a baseline measured in the same run
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

fmt: $(STAMP)
	$(BIN)/ruff check --fix shared services tools tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
