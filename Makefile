# The two commands a newcomer needs: `make run` and `make test` (see README.md).
# Both build the same environment first and are safe to repeat.

# Django 6 needs Python 3.12+. Take the newest interpreter that really runs (a pyenv shim for a
# version that is not enabled exits non-zero, so it is passed over).
PYTHON ?= $(shell for c in python3.14 python3.13 python3.12 \
	$$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9] 2>/dev/null | sort -rV) python3; do \
	$$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { echo $$c; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py

.PHONY: run test setup lint messages bench clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is needed and none was found." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Migrations, the compiled Arabic catalogue (pure Python, no gettext needed) and static files.
setup: $(VENV)/.installed
	$(MANAGE) migrate --noinput
	$(MANAGE) compiletranslations
	$(MANAGE) collectstatic --noinput --verbosity 0

run: export DEBUG ?= 1
run: setup
	$(MANAGE) seed_demo --if-empty
	$(MANAGE) seed_reference_data
	$(MANAGE) seed_market_data
	$(MANAGE) seed_demo_trades --if-empty
	$(MANAGE) seed_demo_risk --if-empty
	$(MANAGE) runserver 127.0.0.1:8000

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DEBUG=1 $(MANAGE) makemigrations --check --dry-run

test: export DEBUG ?= 1
test: setup lint
	$(BIN)/pytest $(PYTEST_ARGS)

# Re-extract the Arabic catalogue after adding strings (needs gettext's xgettext).
messages: $(VENV)/.installed
	$(MANAGE) makemessages --locale ar --no-obsolete --no-location --ignore '.venv/*' --ignore 'staticfiles/*'

# Benchmarks: the database ones need PostgreSQL in DATABASE_URL and make and drop their own
# scratch database; the engines' (matching, risk) need none; web_load also needs wrk.
bench: setup
	$(BIN)/python bench/audit_append.py
	$(BIN)/python bench/booking.py
	$(BIN)/python bench/pnl.py
	$(BIN)/python bench/matching.py
	$(BIN)/python bench/risk.py
	$(BIN)/python bench/risk_eod.py
	$(BIN)/python bench/web_load.py

clean:
	rm -rf $(VENV) staticfiles db.sqlite3
