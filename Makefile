# One command to set up and run the pipeline on demo data, one to set up and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.installed-spark

.PHONY: run test lint install demo-data dev bench clean chromium java

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The tests also cover the Spark engine: pyspark (the [spark] extra). On a fresh clone one pip install takes both
# (a second one would resolve every dependency again); over an existing base install it adds pyspark.
$(SPARK_STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	test -f $(STAMP) || $(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,spark]'
	touch $(STAMP) $(SPARK_STAMP)

install: $(STAMP)

data/truth.csv: | $(STAMP)
	$(BIN)/customer360 generate

demo-data: data/truth.csv

run: $(STAMP) data/truth.csv
	$(BIN)/customer360 run

# Lint first (seconds), then the suite on two workers: each test file runs whole on one worker (--dist loadfile),
# so a module's fixtures are built once; files are handed out in the order tests/conftest.py sets (longest first),
# not by test count (--no-loadscope-reorder). Every session has its own DAGSTER_HOME (tests/conftest.py).
test: $(SPARK_STAMP) chromium java lint
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=15

# ruff (Python; rules in pyproject.toml) and sqlfluff (DuckDB dialect) on the .sql files, when there are any.
SQL_FILES = $(shell find pipeline assets bench -name '*.sql' 2>/dev/null)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(if $(strip $(SQL_FILES)),$(BIN)/sqlfluff lint $(SQL_FILES),@echo "sqlfluff: no .sql files to lint")

# A Java runtime for the Spark engine's tests (Debian's OpenJDK 17, headless); they are skipped without one.
java:
	@command -v java >/dev/null || (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null) || \
		echo "java not installed: the Spark engine tests will be skipped"

# Debian's Chromium for the UI test (headless); skipped quietly where apt is not available.
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium not installed: the UI test will be skipped"

# The UI and daemon on 127.0.0.1 only, on the instance `customer360 run` records its runs in (data/dagster_home/).
dev: $(STAMP)
	$(BIN)/customer360 dev

clean:
	rm -rf data/raw data/truth*.csv data/warehouse.duckdb* data/artefacts
