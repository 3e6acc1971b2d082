# make run     the server on localhost:5000 (make run PORT=5001 HOST=0.0.0.0 to change)
# make test    the test suite, in a virtual environment made or refreshed as needed
# make test-all  the test suite on every CPython 3.8-3.13 found on this machine
# make bench   the benchmarks against an asyncio server of the same protocol (a few minutes)
# make chart   the scaling charts of docs/performance.md (needs matplotlib, installed here)
# make clean   remove the virtual environments and caches

PYTHON ?= python3
VENV ?= .venv
HOST ?= localhost
PORT ?= 5000
PYTEST_ARGS ?=
VERSIONS ?= 3.8 3.9 3.10 3.11 3.12 3.13

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-all bench chart clean

run: $(STAMP)
	$(BIN)/chat-server --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The environment is made again whenever the package's metadata changes.
$(STAMP): setup.cfg setup.py pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

test-all:
	@./tools/test-all $(VERSIONS)

bench: $(STAMP)
	$(BIN)/python bench/run.py

chart: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/chart.py --sweep --out docs/performance

clean:
	rm -rf .venv .venv-* build dist *.egg-info .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
