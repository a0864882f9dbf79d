# The two commands in README.md: `make demo` (the demo weekly run) and `make test` (the test suite).
# Each one creates the virtual environment and installs creditlab into it first when needed.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test test-demo test-fast lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

demo: $(VENV)/.installed
	$(BIN)/creditlab demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest -m "not demo"

# the demo's own test: `make demo`'s full-size run (about five minutes), checked; .ci/run runs it
# after `make test`
test-demo: $(VENV)/.installed
	$(BIN)/python -m pytest -m demo -n 0

# unit tests only: no whole runs, no sampling, no papermill (tests marked slow are left out)
test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -m "not slow" -n 0

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/pd_fit.py
	$(BIN)/python benchmarks/pd_recovery.py
	$(BIN)/python benchmarks/pd_tables.py
	$(BIN)/python benchmarks/credit_tables.py
	$(BIN)/python benchmarks/pd_hazard.py
	$(BIN)/python benchmarks/decisions.py
	$(BIN)/python benchmarks/whatif.py
	$(BIN)/python benchmarks/portfolio_loss.py
	$(BIN)/python benchmarks/portfolio_loss_german.py
	$(BIN)/python benchmarks/payment_validation.py
	$(BIN)/python benchmarks/payment_timing.py
	$(BIN)/python benchmarks/payment_scale.py
	$(BIN)/python benchmarks/large_ledger.py
	$(BIN)/python benchmarks/portfolios.py
	$(BIN)/python benchmarks/early_warning.py
	$(BIN)/python benchmarks/contact_effect.py
	$(BIN)/python benchmarks/bust_out.py

clean:
	rm -rf $(VENV)
