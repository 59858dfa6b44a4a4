# The targets CI runs are the ones the README tells you to run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install frontend static run demo test test-sqlite lint typecheck pytest bench-import bench-bill-run bench-reminders bench-api-load bench-photos bench-page-weight bench-pg-settings messages clean

$(STAMP): pyproject.toml requirements.lock requirements-spid-sp-test.lock
	bash scripts/install-system-deps.sh
	bash scripts/install-frontend.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
	# spid-sp-test, the SPID/CIE validator the tests run, in a virtualenv of its own.
	test -x $(VENV)/spid-sp-test/bin/python || $(PYTHON) -m venv $(VENV)/spid-sp-test
	$(VENV)/spid-sp-test/bin/pip install --quiet -r requirements-spid-sp-test.lock
	touch $(STAMP)

install: $(STAMP)

## The portal's front-end files again when a template or source they are cut from changed.
frontend: install
	bash scripts/install-frontend.sh

## The static files as production serves them: hashed names, Brotli and gzip, in var/static.
static: frontend
	$(BIN)/autolettura collectstatic --no-input

## One command: install, create the SQLite database, load the demo data, serve on :8000.
run: static
	$(BIN)/autolettura migrate --no-input
	$(BIN)/autolettura demo
	$(BIN)/autolettura runserver 127.0.0.1:8000

demo: install
	$(BIN)/autolettura migrate --no-input
	$(BIN)/autolettura demo

## One command: install everything, then lint, type-check and run the whole suite.
test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

pytest: frontend
	$(BIN)/autolettura makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

## The same suite on the embedded SQLite database, whatever DATABASE_URL says.
test-sqlite: frontend
	DATABASE_URL= $(BIN)/pytest $(PYTEST_ARGS)

## Benchmarks (PostgreSQL): `make bench-import ROWS=1000000`.
ROWS ?= 100000
REPEAT ?= 1
bench-import: install
	$(BIN)/python -m benchmarks.import_readings --rows $(ROWS) --repeat $(REPEAT)

SUPPLIES ?= 100000
bench-bill-run: install
	$(BIN)/python -m benchmarks.bill_run --supplies $(SUPPLIES)

bench-reminders: install
	$(BIN)/python -m benchmarks.reminders --supplies $(SUPPLIES)

## The submission API under load, against /livez, on gunicorn (about a minute).
LOAD_SECONDS ?= 10
bench-api-load: install
	$(BIN)/python -m benchmarks.api_load --seconds $(LOAD_SECONDS)

## The four benchmarks above at Debian's PostgreSQL defaults and at the settings of
## docs/deploy.md 2.1 (scaled to this machine), side by side, each on a private throw-away
## cluster (never the machine's server): `make bench-pg-settings ROWS=1000000`.
PG_BENCHMARKS ?= api-load,import,bill-run,reminders
bench-pg-settings: install
	$(BIN)/python -m benchmarks.pg_settings --benchmarks $(PG_BENCHMARKS) --rows $(ROWS) \
		--supplies $(SUPPLIES) --seconds $(LOAD_SECONDS)

## The portal's first page on a phone's first visit, in Chromium: bytes transferred (aim 150 KB).
bench-page-weight: frontend
	$(BIN)/python -m benchmarks.page_weight

## Reading the register from labelled photos (../shared/meter-photos and N rendered), one core.
SYNTHETIC ?= 60
bench-photos: install
	$(BIN)/python -m benchmarks.photo_reading --synthetic $(SYNTHETIC)

## Compile the translations after editing a .po file.
messages: install
	$(BIN)/python scripts/compile_messages.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
