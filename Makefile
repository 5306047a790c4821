# The two commands of the Quick start: `make serve` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config/hotline.toml

.PHONY: serve test venv test-venv lint bench clean

$(BIN)/python:
	scripts/ensure-python-venv.sh $(PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

venv: $(BIN)/python
	$(BIN)/pip install --quiet -e .

test-venv: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

## Run the server on embedded defaults: example config, SQLite file, demo data.
serve: venv
	$(BIN)/hotline init-db --config $(CONFIG) --demo
	$(BIN)/hotline serve --config $(CONFIG)

## Install everything the tests need (Debian packages when missing), then run them.
test:
	scripts/install-test-deps.sh
	$(MAKE) test-venv
	$(BIN)/ruff check hotline tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -p no:cacheprovider -ra $(PYTEST_ARGS)

lint: test-venv
	$(BIN)/ruff check hotline tests bench
	$(BIN)/mypy

bench: test-venv
	$(BIN)/python bench/store.py

clean:
	rm -rf $(VENV) var build *.egg-info
