# Two commands do everything on a fresh machine:  make run  and  make test  (system packages included:
# scripts/system-packages.sh installs them with apt when it can, or names the command to run).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test lint bench clean-venv

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Serves the dashboard; the default model is converted (first run only) and warmed while it starts.
run: $(VENV)/.installed
	@bash scripts/system-packages.sh --optional
	$(PY) -m dashboard --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: $(VENV)/.dev-installed
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
