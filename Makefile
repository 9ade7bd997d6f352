# The two commands a newcomer needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit install i18n clean browser-deps postgres-deps kafka-deps bench

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m agencybus.i18n.catalogue compile
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/agencybus demo

# The message catalogue: extract every message and code label, merge into vi/en .po, compile
# the .mo files, and list what is untranslated (docs/i18n.md).
i18n: $(STAMP)
	$(BIN)/python -m agencybus.i18n.catalogue update

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

browser-deps: $(STAMP)
	bash scripts/install-browser.sh

# PostgreSQL on 127.0.0.1:5432 (installed and started when none answers there).
postgres-deps:
	bash scripts/install-postgres.sh

# Java, Maven and Apache Kafka's jars for the local 3-node cluster of the `kafka` tests.
kafka-deps: $(STAMP)
	bash scripts/install-kafka.sh

# Every check: lint, types, then all tests (unit, integration against the
# embedded broker and PostgreSQL, end-to-end, browser, the local Kafka cluster).
test: $(STAMP) browser-deps postgres-deps kafka-deps lint typecheck
	$(BIN)/pytest -q -ra

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .agencybus .pytest_cache .mypy_cache .ruff_cache
