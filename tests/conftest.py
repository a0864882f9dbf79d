"""Shared fixtures: one small synthetic portfolio per session (fixed seed), real files on disk."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from helpers import creditlab  # noqa: E402

from creditlab.ledger.load import load_ledger  # noqa: E402
from creditlab.ledger.synth import SynthConfig, synthesize, write_portfolio  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CREDITLAB_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def portfolio():
    return synthesize(SynthConfig(customers=80, seed=3, years=3.0))


@pytest.fixture(scope="session")
def portfolio_dir(portfolio, tmp_path_factory) -> Path:
    return write_portfolio(portfolio, tmp_path_factory.mktemp("portfolio"))


@pytest.fixture(scope="session")
def ledger(portfolio_dir):
    return load_ledger(portfolio_dir, currency="EUR")


@pytest.fixture()
def ledger_copy(portfolio_dir, tmp_path) -> Path:
    """A writable copy of the portfolio's ledger files (no truth folder)."""
    out = tmp_path / "ledger"
    out.mkdir()
    for name in ("customers.csv", "invoices.csv", "events.csv"):
        shutil.copy(portfolio_dir / name, out / name)
    return out


@pytest.fixture(scope="session")
def ibm_ar_dir() -> Path:
    path = SHARED_DATA / "ibm_ar"
    if not (path / "WA_Fn-UseC_-Accounts-Receivable.csv").is_file():
        pytest.skip(f"real ledger not found at {path} (see shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def german_credit_csv() -> Path:
    path = SHARED_DATA / "german_credit" / "germancredit.csv"
    if not path.is_file():
        pytest.skip(f"real table not found at {path} (see shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def weekly_run(tmp_path_factory) -> Path:
    """One CI-sized weekly run (PD model, decisions, report) shared by the tests that read it."""
    out = tmp_path_factory.mktemp("runs")
    result = creditlab("run", "weekly", "--params", "params/ci.yaml", "--out", str(out))
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    assert run_dir.parent == out
    return run_dir
