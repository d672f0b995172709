# labelbay — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
# rapidocr-onnxruntime is only the carrier of the PP-OCRv4 ONNX files; its own dependencies
# (opencv-python with GUI libraries) would clash with opencv-python-headless, so it goes in alone.
OCR_WEIGHTS := rapidocr-onnxruntime==1.4.4

.PHONY: install install-dev run test lint format bench clean

$(RUNTIME_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps $(OCR_WEIGHTS)
	touch $@

$(DEV_STAMP): $(RUNTIME_STAMP)
	$(BIN)/pip install -q -e '.[dev,torch]'
	touch $@

install: $(RUNTIME_STAMP)

install-dev: $(DEV_STAMP)

## Serve labelbay on http://127.0.0.1:8000 with the embedded defaults (SQLite + ./data).
run: install
	$(BIN)/labelbay serve

## Lint, type-check and run every test (needs PostgreSQL on 127.0.0.1:5432; see .ci/run).
test: install-dev lint
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

## Benchmarks: each figure printed beside its reference, measured in the same run.
bench: install-dev
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
