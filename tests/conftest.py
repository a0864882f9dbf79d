"""Shared fixtures: one small synthetic portfolio per session (fixed seed), real files on disk, and
one CI-sized weekly run that every test which only reads a run shares (made once per session, by
whichever pytest-xdist worker needs it first).

A test that uses a fixture costing a whole run (``weekly_run`` and what builds on it) is marked
``slow`` here, so ``make test-fast`` (``-m "not slow"``) never starts one."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

from helpers import creditlab  # noqa: E402

from creditlab import kpi  # noqa: E402
from creditlab.ledger.load import load_ledger  # noqa: E402
from creditlab.ledger.synth import SynthConfig, synthesize  # noqa: E402
from creditlab.ledger.synth_files import write_portfolio  # noqa: E402
from creditlab.run.params import load_params  # noqa: E402

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
def highradius_dir() -> Path:
    path = SHARED_DATA / "highradius_ar"
    if not (path / "invoices.csv").is_file():
        pytest.skip(f"real ledger not found at {path} (see shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def german_credit_csv() -> Path:
    path = SHARED_DATA / "german_credit" / "germancredit.csv"
    if not path.is_file():
        pytest.skip(f"real table not found at {path} (see shared/data/README.md)")
    return path


RUN_FIXTURES = {"weekly_run", "ci_ledger"}  # fixtures that cost a whole run (or feed one)
HOSTILE_NAME = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


# the longest tests start first (one on each worker: pytest-xdist hands out its first tests in
# turn), so neither is left running alone at the end of the suite
LONGEST = (
    "test_demo_prints_the_html_path_last",
    "test_notebooks_with_their_defaults_pass_nbval_lax",
)


# module-scoped fixtures that cost a fit, a generated portfolio or a server: every test using one
# runs on the same pytest-xdist worker (`--dist loadgroup`), so the fixture is made once, not once
# on each worker that happens to get one of its tests
MODULE_FIXTURES = ("synthetic_backtest", "ledger_backtest", "fitted", "synthetic", "big")
MODULE_FIXTURES += ("bench", "lab")  # the workbench's widgets and its JupyterLab server


def pytest_collection_modifyitems(items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if RUN_FIXTURES & used:
            item.add_marker(pytest.mark.slow)
        for name in MODULE_FIXTURES:
            if name in used:
                item.add_marker(pytest.mark.xdist_group(f"{item.module.__name__}.{name}"))
                break
    items.sort(key=lambda item: LONGEST.index(item.name) if item.name in LONGEST else len(LONGEST))


@contextlib.contextmanager
def _exclusive(path: Path):
    """Hold an exclusive lock on ``path`` (the pytest-xdist workers of one session take turns)."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def ci_ledger(tmp_path_factory) -> tuple[Path, str]:
    """The CI params' synthetic portfolio written as a ledger folder, with a hostile name (script
    and image tags) on the customer with the largest open AR; returns the folder and that id."""
    params = load_params(ROOT / "params" / "ci.yaml")
    folder = write_portfolio(
        synthesize(params.synth_config()), tmp_path_factory.mktemp("ci_ledger")
    )
    led = load_ledger(folder, currency=params.currency)
    exposure = kpi.customer_exposure(led.customers, led.invoices, params.as_of)
    target = str(exposure.nlargest(1, kpi.OPEN_AR)["customer_id"].iloc[0])
    customers = pd.read_csv(folder / "customers.csv", dtype=str, keep_default_na=False)
    customers.loc[customers["customer_id"] == target, "name"] = HOSTILE_NAME
    customers.to_csv(folder / "customers.csv", index=False)
    return folder, target


@pytest.fixture(scope="session")
def weekly_run(ci_ledger, tmp_path_factory, worker_id) -> Path:
    """One CI-sized weekly run (KPIs, PD and payment models, decisions, the weekly, validation and
    one review report) on the CI portfolio with a hostile customer name, shared by every test that
    only reads a run (tests that change it work on a copy). Made once per session: the first
    pytest-xdist worker that needs it makes it, the other waits for it and reads the same folder."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # this session's folder either way
    with _exclusive(shared / "weekly_run.lock"):
        made = shared / "weekly_run.txt"
        if made.is_file():
            return Path(made.read_text())
        out = shared / "shared_runs"
        result = creditlab(
            "run", "weekly", "--params", "params/ci.yaml", "--data", str(ci_ledger[0]),
            "--out", str(out),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        run_dir = Path(result.stdout.strip().splitlines()[-1])
        assert run_dir.parent == out
        made.write_text(str(run_dir))
        return run_dir
