# make run         the server on localhost:5000, its web page on localhost:5001, keeping the
#                  lesson in chat.db (make run PORT=6000 HOST=0.0.0.0 DB=class.db to change:
#                  the page is then on PORT + 1)
# make client      chat-client, the window, connecting to HOST and PORT (needs tkinter)
# make test        the test suite, then again on an interpreter made to look like Windows'
#                  (in JOBS processes, three a CPU: make test JOBS=0 for one)
# make test-all    the test suite on every CPython 3.8-3.15 found on this machine
# make lint        ruff check . with the rules in pyproject.toml (ruff pinned in setup.cfg)
# make coverage    the test suite once under coverage.py: chat/'s branch coverage, and a floor
# make bench       the benchmarks against asyncio servers of the same protocol (about 10 minutes)
# make chart       the scaling charts of docs/performance.md (needs matplotlib, installed here)
# make screenshot  docs/client.png, chat-client's window on a virtual display (needs xvfb-run),
#                  and docs/web.png, docs/web-phone.png, the page in headless Chromium
# make clean       remove the virtual environments and caches

PYTHON ?= python3
VENV ?= .venv
HOST ?= localhost
PORT ?= 5000
DB ?= chat.db
PYTEST_ARGS ?=
# The suite waits on sockets and timers about as much as it computes: three processes a
# CPU, up to 12 (each imports and collects the whole suite). On 2 CPUs, make test's two
# halves took 90 + 47 s in 4 processes, 81 + 34 s in 6, 77 + 41 s in 8.
JOBS ?= $(shell $(PYTHON) -c 'import os; print(min(12, 3 * (os.cpu_count() or 1)))')
VERSIONS ?= 3.8 3.9 3.10 3.11 3.12 3.13 3.14 3.15

BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet --quiet
INSTALLED := $(VENV)/.installed
TESTABLE := $(VENV)/.testable
LINTABLE := $(VENV)/.lintable
COVERABLE := $(VENV)/.coverable

.PHONY: run client test test-all lint coverage bench chart screenshot clean

# Where the standard library has asyncore (Python 3.8-3.11) the server runs
# straight from the checkout, with nothing to install and no network; on
# 3.12+ a virtual environment gets the package and its two backports, no more.
run:
	@if $(PYTHON) -c 'import asyncore, asynchat' 2>/dev/null; then \
		exec $(PYTHON) -m chat --host $(HOST) --port $(PORT) --db $(DB); \
	else \
		$(MAKE) --no-print-directory $(INSTALLED) && \
		exec $(BIN)/chat-server --host $(HOST) --port $(PORT) --db $(DB); \
	fi

# The client needs nothing but tkinter, on any Python: straight from the checkout.
client:
	$(PYTHON) -m chat.client $(HOST) $(PORT)

# The second half leaves out the tests whose subject no platform changes: the page in
# Chromium (its server side runs there through test_web, test_events and test_resume),
# the benchmarks' scripts (on epoll) and the docs. chat/'s lines and branches covered under
# the Windows-like interpreter are the same with them and without (coverage.py's json
# report of each, compared, 2026-12-07); that half took 75 s with them, 48 s without.
SAME_EVERYWHERE := tests/test_browser.py tests/test_bench.py tests/test_bench_ws.py \
	tests/test_docs.py

# Each half in JOBS processes at once (pytest-xdist), three a CPU unless told:
# make test JOBS=0 runs the suite in one process, as pytest alone does.
test: $(TESTABLE)
	$(BIN)/python -m pytest -n $(JOBS) $(PYTEST_ARGS)
	@echo '=== the suite again, on an interpreter that looks like Windows (tests/winlike)'
	PYTHONPATH=tests/winlike $(BIN)/python -m pytest -n $(JOBS) \
		$(addprefix --ignore=,$(SAME_EVERYWHERE)) $(PYTEST_ARGS) \
		|| [ $$? -eq 5 ]    # 5: PYTEST_ARGS chose only tests it leaves out

# The environments are made again whenever the package's metadata changes.
$(INSTALLED): setup.cfg setup.py pyproject.toml
	@echo 'making $(VENV): a virtual environment with the package in it'
	@rm -rf $(VENV)
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install -e .
	@touch $@

$(TESTABLE): $(INSTALLED)
	$(PIP) install --upgrade pip
	$(PIP) install -e '.[test]'
	touch $@

test-all:
	@./tools/test-all $(VERSIONS)

lint: $(LINTABLE)
	$(BIN)/ruff check .

$(LINTABLE): $(INSTALLED)
	$(PIP) install -e '.[lint]'
	touch $@

# The suite once, as the first half of make test: the Windows-like second half would
# double the time, and test_platforms.py runs servers on that interpreter anyway. The
# server's processes and the test processes are measured too (the subprocess patch in
# pyproject.toml), each into a data file of its own, combined before the report, which
# fails below fail_under.
coverage: $(COVERABLE)
	$(BIN)/python -m coverage erase
	$(BIN)/python -m coverage run -m pytest -n $(JOBS) $(PYTEST_ARGS)
	$(BIN)/python -m coverage combine --quiet
	$(BIN)/python -m coverage report

# Checked here, since pip's refusal of a pinned coverage.py for an older Python says little.
$(COVERABLE): $(TESTABLE)
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo 'make coverage needs Python 3.11+, as coverage.py 7.18 does: PYTHON=python3.13'; \
		exit 1; }
	$(PIP) install -e '.[coverage]'
	touch $@

bench: $(INSTALLED)
	$(PIP) install -e '.[bench]'
	$(BIN)/python bench/run.py --runs 5
	$(BIN)/python bench/limits.py
	$(BIN)/python bench/attack.py
	$(BIN)/python bench/dbwrite.py

chart: $(INSTALLED)
	$(PIP) install -e '.[bench]'
	$(BIN)/python bench/chart.py --sweep --runs 3 --out docs/performance

screenshot: $(INSTALLED)
	$(PIP) install -e '.[screenshot]'
	xvfb-run -a -s '-screen 0 1024x768x24' $(BIN)/python tools/screenshot.py docs/client.png
	$(BIN)/python tools/web_screenshot.py docs/web.png docs/web-phone.png

clean:
	rm -rf .venv .venv-* build dist *.egg-info .pytest_cache .hypothesis .ruff_cache
	rm -f .coverage .coverage.*
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
