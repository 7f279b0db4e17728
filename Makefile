# The two commands of the README: `make demo` and `make test`. Each creates .venv
# when missing and installs what it needs, so each works alone on a fresh clone.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# CPU-only torch lies on this machine's disk; install it first so nothing pulls a CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: demo test lint bench clean system-deps

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; redvec's embedded Redis needs CPython 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev,local,serve,recommend,bench,langchain,mcp]'
	@touch $@

demo: $(STAMP)
	$(BIN)/python examples/quickstart.py

# The Node.js example's dependencies (node-redis), from its lock file; its tests run
# inside the Python suite against the same Redis and service.
NODE_DEPS := examples/node/node_modules/.package-lock.json

$(NODE_DEPS): examples/node/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix examples/node --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the Node example's test will be skipped"; fi

# The programs some tests drive: Debian's chromium (the search page), stunnel4 and openssl
# (TLS), redis-cli (the cluster check); and wrk, the load generator of
# benchmarks/http_search.py. Installed with apt-get where this runs as root on Debian;
# elsewhere those tests skip and name the command that brings them back.
SYSTEM_DEPS := chromium:chromium stunnel4:stunnel4 openssl:openssl redis-cli:redis-tools wrk:wrk

system-deps:
	@missing=""; for pair in $(SYSTEM_DEPS); do \
	    cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	    command -v $$cmd >/dev/null || missing="$$missing $$pkg"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing (apt-get)"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; } \
	    || echo "warning: could not install$$missing; the tests that need them will be skipped" >&2; \
	else echo "note:$$missing not installed (needs root and apt-get: sudo apt-get install$$missing); the tests that need them will be skipped" >&2; fi

test: $(STAMP) $(NODE_DEPS) system-deps
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
