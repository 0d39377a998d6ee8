# Two entry points, each doing its own set-up on a fresh machine:
#   make demo   -> creates .venv, installs edge-sdk[dev], runs `edge-sdk demo`
#   make test   -> same set-up, then ruff, mypy and pytest (this is what .ci/run calls)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

.PHONY: install demo test lint
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/edge-sdk demo

lint: $(STAMP)
	$(BIN)/ruff check edge_sdk converters runtimes samples tests tools
	$(BIN)/mypy edge_sdk converters runtimes tools
	$(BIN)/python tools/check_layers.py

test: lint
	$(BIN)/python -m pytest -q
