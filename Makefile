# Two commands for a newcomer: `make run` (the bot on its embedded defaults, with a demo community)
# and `make test` (installs what the tests need, including Dovecot, then runs the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test install install-test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	bash scripts/install-system-deps.sh
	$(BIN)/pip install -q -e '.[test]'

run: install
	$(BIN)/mailbot run

test: install-test
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check mailbot tests bench
	$(BIN)/mypy mailbot

bench: install-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) mailbot-data .pytest_cache .mypy_cache .ruff_cache
