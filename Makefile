# Two commands do everything on a fresh machine:  make run  and  make test  (system packages included:
# scripts/system-packages.sh installs them with apt when it can, or names the command to run).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test lint bench clean-venv i18n-extract i18n-compile

# The dashboard's message catalogues (Babel): one .po per language, compiled into the .mo the app reads.
LOCALES := dashboard/i18n/locale
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard $(LOCALES)/*/LC_MESSAGES/messages.po))

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

%.mo: %.po $(VENV)/.installed
	$(VENV)/bin/pybabel compile -i $< -o $@ --statistics

i18n-compile: $(CATALOGUES)

# Collects every _() and N_() message into the template and merges it into each language's catalogue:
# new messages arrive untranslated (the catalogue test names them), removed ones are dropped.
i18n-extract: $(VENV)/.installed
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --omit-header --width 120 \
	    -o dashboard/i18n/messages.pot core dashboard
	$(VENV)/bin/pybabel update -i dashboard/i18n/messages.pot -d $(LOCALES) -D messages \
	    --no-fuzzy-matching --ignore-obsolete --width 120

# Serves the dashboard; the default model is converted (first run only) and warmed while it starts.
run: $(VENV)/.installed $(CATALOGUES)
	@bash scripts/system-packages.sh --optional
	$(PY) -m dashboard --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: $(VENV)/.dev-installed $(CATALOGUES)
	@bash scripts/system-packages.sh
	$(PY) -m ruff check core dashboard tests bench
	$(PY) -m pytest -n 2 --dist loadfile

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check core dashboard tests bench

bench: $(VENV)/.dev-installed
	$(PY) -m bench.bench_explain
	$(PY) -m bench.bench_train
	$(PY) -m bench.bench_trust

clean-venv:
	rm -rf $(VENV)
