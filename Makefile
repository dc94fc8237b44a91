# scenecolor: two commands do all the set-up on a fresh machine.
#   make run   - create .venv, install the pinned dependencies, run the workbook (profile sample)
#   make test  - same set-up, then ruff (format + lint) and the whole test suite (unit, data, model, nbval, end-to-end)
#   make lab   - same set-up, then JupyterLab on the notebooks with the `scenecolor` kernel
#                (LAB_ARGS="--no-browser --port=8899" for a server without a browser; tests/e2e/test_make_lab.py)

PYTHON  ?= $(shell command -v python3.11 || command -v python3)
VENV    := .venv
PY      := $(VENV)/bin/python
PROFILE ?= sample
LAB_ARGS ?=
# The install is redone only when the pins change: the stamp's name is a hash of them.
PIN_HASH := $(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
STAMP   := $(VENV)/.installed-$(PIN_HASH)

.PHONY: setup run test lab clean-reports

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name scenecolor --display-name "scenecolor (.venv)"
	@rm -f $(VENV)/.installed-*
	@touch $@

run: setup
	$(VENV)/bin/scenecolor run --profile $(PROFILE)

test: setup
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n 2 --no-loadscope-reorder

lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(LAB_ARGS)

clean-reports:
	rm -rf reports/[0-9]* reports/latest reports/.cache reports/notebooks-default
