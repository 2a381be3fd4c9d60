# One command to set up and run the pipeline on demo data, one to set up and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install demo-data dev bench clean chromium

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

test: $(STAMP) chromium
	$(BIN)/pytest

# Debian's Chromium for the UI test (headless); skipped quietly where apt is not available.
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium not installed: the UI test will be skipped"

# The UI on 127.0.0.1 only, with a local instance (run history) and no telemetry or first-visit dialog.
dev: $(STAMP)
	mkdir -p .dagster_home
	test -f .dagster_home/dagster.yaml || printf 'nux:\n  enabled: false\ntelemetry:\n  enabled: false\n' > .dagster_home/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster dev -h 127.0.0.1

clean:
	rm -rf data/raw data/truth*.csv data/warehouse.duckdb* data/artefacts
