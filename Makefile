# The two commands of the README: `make demo` (the main job) and `make test`.
# Every install comes from a committed lock: uv.lock (the project's venv),
# stack/locks/label-studio.txt (Label Studio's venv) and stack/locks/uv.txt (uv itself).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
# Extra arguments for `make lock`, e.g. LOCK_ARGS="--upgrade-package prefect" or "--upgrade".
LOCK_ARGS ?=

# uv builds the venv on this machine's Python and never downloads one.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup demo test lock up down status

# uv, the one package pip installs (hash-checked, the version uv.lock pins).
$(UV): stack/locks/uv.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r stack/locks/uv.txt
	touch $@

# The project's venv: exactly uv.lock (packages not in it are removed); the lock must
# match pyproject.toml, or this fails instead of resolving anew. Bytecode is compiled at
# install, so no process (serve, a flow run, a test) compiles Prefect on its first import.
$(BIN)/labelloop: pyproject.toml uv.lock $(UV)
	$(UV) sync --locked --extra dev --compile-bytecode
	touch $@

## setup: the project venv and Label Studio's own venv, both from their locks
setup: $(BIN)/labelloop
	$(BIN)/labelloop stack install

## demo: set up, bring the local stack up, run the loop on local defaults
demo: setup
	$(BIN)/labelloop demo

## test: set up and run the whole test suite against the real servers
test: setup
	$(BIN)/python -m pytest

## lock: re-resolve both locks on purpose (then `make test` before committing them)
lock: $(UV)
	$(UV) lock $(LOCK_ARGS)
	$(UV) pip compile --quiet --python-version 3.11 --generate-hashes $(LOCK_ARGS) \
		stack/locks/label-studio.in -o stack/locks/label-studio.txt
	$(UV) pip compile --quiet --python-version 3.11 --generate-hashes $(LOCK_ARGS) \
		stack/locks/uv.in -o stack/locks/uv.txt

up: setup
	$(BIN)/labelloop stack up

down:
	$(BIN)/labelloop stack down

status:
	$(BIN)/labelloop stack status
