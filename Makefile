# One command to set up and run the pipeline on demo data, one to set up and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install demo-data dev bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

data/truth.csv: | $(STAMP)
	$(BIN)/customer360 generate

demo-data: data/truth.csv

run: $(STAMP) data/truth.csv
	$(BIN)/customer360 run

test: $(STAMP)
	$(BIN)/pytest

dev: $(STAMP)
	$(BIN)/dagster dev -h 127.0.0.1

clean:
	rm -rf data/raw data/truth*.csv data/warehouse.duckdb* data/artefacts
