# Every target builds .venv first when it is missing, so each works on a fresh machine by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test lint format demo run bench clean

$(BIN)/coursebot: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/coursebot

test: $(BIN)/coursebot
	$(BIN)/python -m pytest -n 3

lint: $(BIN)/coursebot
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/coursebot
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: $(BIN)/coursebot
	$(BIN)/coursebot console

run: $(BIN)/coursebot
	$(BIN)/coursebot run

clean:
	rm -rf $(VENV) data/*.db
