# Two commands for a fresh clone (see README):  make run   |   make test
# Both create a local virtual environment in .venv with the pinned requirements.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501

.PHONY: run test lint bench clean

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Segmentation Studio needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.run-deps: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-deps: requirements.txt requirements-test.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

## run: install the app's requirements and serve it on http://localhost:$(PORT), opened on a bundled sample
run: $(VENV)/.run-deps
	$(PY) -m streamlit run app.py --server.port $(PORT)

## test: install the test requirements, run the linter (ruff, configured in pyproject.toml) and the whole suite
## (browser tests need Chromium; see README)
test: $(VENV)/.test-deps
	$(PY) -m ruff check .
	$(PY) -m pytest

## lint: the linter alone
lint: $(VENV)/.test-deps
	$(PY) -m ruff check .

## bench: library overhead, browser latency and memory benchmarks (writes benchmarks/results/)
bench: $(VENV)/.test-deps
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache
