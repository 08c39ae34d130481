# The two commands of the README: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test up down status

# The project's venv; reinstalled when pyproject.toml changes.
$(BIN)/labelloop: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## setup: the project venv and Label Studio's own venv
setup: $(BIN)/labelloop
	$(BIN)/labelloop stack install

## demo: set up, bring the local stack up, run the loop on local defaults
demo: setup
	$(BIN)/labelloop demo

## test: set up and run the whole test suite against the real servers
test: setup
	$(BIN)/python -m pytest

up: setup
	$(BIN)/labelloop stack up

down:
	$(BIN)/labelloop stack down

status:
	$(BIN)/labelloop stack status
