# The README's two commands:  make figures  (set up, then regenerate the figures)
#                             make test     (set up, then lint and run the test suite)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= quick

.PHONY: setup figures test lint notebooks clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

setup: $(VENV)/.installed

figures: setup
	$(PY) -m anchor.reproduce --profile $(PROFILE)

notebooks: setup
	$(PY) -m anchor.reproduce --refresh-committed

lint: setup
	$(VENV)/bin/ruff check anchor tests notebooks benchmarks
	$(VENV)/bin/ruff format --check anchor tests notebooks benchmarks

test: lint
	$(PY) -m pytest --nbval --nbval-current-env -p no:cacheprovider tests notebooks

clean:
	rm -rf $(VENV)
