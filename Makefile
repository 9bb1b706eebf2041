# Two commands on a fresh clone: `make demo` and `make test`. Each creates .venv when missing
# and installs only when pyproject.toml or constraints.txt changed since the last install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test test-neurogym lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[dev,rl,bench]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/fastweights compare

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest -q src tests
	$(MAKE) test-neurogym

# neurogym pins numpy 2.2, matplotlib 3.10 and gymnasium 0.29, so its extra gets its own venv;
# `make test` runs the tests that need it there, so CI exercises the extra's install
NGYM := .venv-neurogym
$(NGYM)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(NGYM)
	$(NGYM)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		-e '.[neurogym]' 'pytest>=7'
	touch $@

test-neurogym: $(NGYM)/.installed
	$(NGYM)/bin/python -m pytest -q -p no:cacheprovider -k neurogym \
		tests/tasks/test_neurogym.py tests/train/test_experiment.py

clean:
	rm -rf $(VENV) .venv-neurogym runs
