# The README's two commands:  make figures  (set up, then regenerate the figures)
#                             make test     (set up, then lint and run the test suite)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= quick

.PHONY: setup figures test lint notebooks lab lock clean

$(VENV)/.installed: requirements.txt pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e . --config-settings editable_mode=compat
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

setup: $(VENV)/.installed

figures: setup
	$(PY) -m anchor.reproduce --profile $(PROFILE)

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

notebooks: setup
	$(PY) -m anchor.reproduce --refresh-committed

lint: setup
	$(VENV)/bin/ruff check anchor tests notebooks benchmarks
	$(VENV)/bin/ruff format --check anchor tests notebooks benchmarks

# The notebook checks run twice: with the kernels torch picks on this CPU, then with its portable
# ones (ATEN_CPU_CAPABILITY=default, MKL limited to SSE4.2), as another machine's CPU would. Cells
# whose output comes from training carry the tag nbval-ignore-output (README, "Notebook checks").
# Both passes run in TEST_WORKERS pytest-xdist processes, one torch thread each; a notebook's cells
# stay together in one process (--dist loadfile).
TEST_WORKERS ?= 2
PYTEST := OMP_NUM_THREADS=1 $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --nbval --nbval-current-env -p no:cacheprovider
test: lint
	$(PYTEST) tests notebooks
	@echo "notebook checks again with the portable CPU kernels (ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2):"
	ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 $(PYTEST) notebooks

# requirements.txt: every package the set-up installs, exact and hashed, compiled from pyproject.toml
# (whose own dependencies stay loose). Keeps the current pins; `make lock UPGRADE=--upgrade` moves them.
lock:
	$(PYTHON) -m venv .lock-tools
	.lock-tools/bin/pip install --quiet pip-tools==7.7.0
	.lock-tools/bin/pip-compile --quiet --extra dev --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links $(UPGRADE) -o requirements.txt pyproject.toml
	sed -i -e '/^anchor-mi @ /,/^    # via anchor-mi/d' -e '/^# WARNING: pip install will require/d' \
		-e '/^# Consider using a hashable URL/d' requirements.txt

clean:
	rm -rf $(VENV)
