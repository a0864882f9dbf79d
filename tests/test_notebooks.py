"""Committed notebooks: no outputs, Quarto front matter first, one typed and commented parameters
cell that papermill can read."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
# notebooks that work on many runs or on a database, not on one run folder (no run_dir parameter)
NOT_ONE_RUN = {"portfolios.ipynb", "large_ledger.ipynb"}


def test_there_are_notebooks():
    assert ROOT / "notebooks" / "reports" / "weekly_portfolio.ipynb" in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_have_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, path


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_front_matter_and_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "raw" and nb.cells[0].source.startswith("---")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and nb.cells.index(tagged[0]) == 1
    for statement in ast.parse(tagged[0].source).body:
        assert isinstance(statement, ast.AnnAssign), "parameters are typed literals"
        assert isinstance(statement.value, ast.Constant), "nothing derived in the parameters cell"
    for line in tagged[0].source.splitlines():
        assert "  # " in line, f"parameter without a comment: {line}"
    documented = papermill.inspect_notebook(str(path))
    assert all(p["help"] for p in documented.values())
    assert ("run_dir" in documented) == (path.name not in NOT_ONE_RUN)


def test_no_logic_in_report_notebooks():
    for path in (ROOT / "notebooks" / "reports").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            tree = ast.parse(cell.source) if cell.cell_type == "code" else None
            if tree is not None:
                assert not any(
                    isinstance(n, ast.FunctionDef | ast.ClassDef) for n in ast.walk(tree)
                )


REPORT_PARAMETERS = {
    # what `creditlab run` injects, and what `open_or_prepare` takes for interactive use
    "weekly_portfolio": {"run_dir", "params_file", "data_dir", "as_of", "out_dir"},
    "model_validation": {"run_dir", "params_file", "data_dir", "as_of", "out_dir"},
    "customer_review": {"run_dir", "params_file", "data_dir", "as_of", "out_dir", "customer_id"},
}


def test_report_notebook_parameters_match_what_runs_can_set():
    from creditlab.cli import build_parser
    from creditlab.run.folder import REPORTS
    from creditlab.run.orchestrate import open_or_prepare

    assert set(REPORT_PARAMETERS) == set(REPORTS)
    interactive = set(
        inspect.signature(open_or_prepare).parameters
    )  # run_dir, params_file, data, as_of, out
    run_options = {
        a.dest for a in build_parser()._subparsers._group_actions[0].choices["run"]._actions
    }
    for report, expected in REPORT_PARAMETERS.items():
        documented = papermill.inspect_notebook(
            str(ROOT / "notebooks" / "reports" / f"{report}.ipynb")
        )
        assert set(documented) == expected, report
        for name in documented:
            # every parameter is something a run or an analyst can set: an open_or_prepare
            # argument (data_dir -> data, out_dir -> out) or an option of `creditlab run`
            base = name.removesuffix("_dir") if name in {"data_dir", "out_dir"} else name
            assert base in interactive | run_options | {"customer_id", "customer"}, (report, name)
            assert documented[name]["help"], (report, name)
    assert "customer" in run_options and "as_of" in run_options and "data" in run_options


# run with their defaults, as an analyst opens them: the weekly report prepares its own run from the
# CI params (the interactive path every report and explore notebook shares), data_quality
# validates a ledger, large_ledger works on a database
WITH_DEFAULTS = {"weekly_portfolio.ipynb", "data_quality.ipynb", "large_ledger.ipynb"}


@pytest.mark.slow
def test_notebooks_with_their_defaults_pass_nbval_lax(tmp_path):
    """These notebooks run top to bottom with their defaults (CI params) under nbval."""
    for folder in ("notebooks", "params"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    paths = [str(p.relative_to(ROOT)) for p in NOTEBOOKS if p.name in WITH_DEFAULTS]
    assert len(paths) == len(WITH_DEFAULTS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider", *paths],
        cwd=tmp_path, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    cells = sum(
        c.cell_type == "code"
        for path in NOTEBOOKS
        if path.name in WITH_DEFAULTS
        for c in nbformat.read(path, as_version=4).cells
    )
    assert f"{cells} passed" in result.stdout, result.stdout[-2000:]  # every code cell ran
    assert len(list((tmp_path / "reports").glob("*"))) >= 2  # run folders landed beside the copy


@pytest.mark.slow
def test_the_batch_notebook_runs_a_batch(tmp_path):
    """The batch notebook on a light portfolio, in sequence (no models, no Dask start-up: the
    batch on a real Dask cluster is tests/test_run_batch.py's)."""
    params = yaml.safe_load((ROOT / "params" / "ci.yaml").read_text())
    params.update(pd_model=None, payment_model=None, reports={})
    (tmp_path / "light.yaml").write_text(yaml.safe_dump(params))
    path = ROOT / "notebooks" / "explore" / "portfolios.ipynb"
    out = tmp_path / "executed.ipynb"
    papermill.execute_notebook(
        str(path), str(out), parameters={"params": str(tmp_path / "light.yaml"), "workers": 0,
                                         "out_dir": str(tmp_path / "batch")},
        cwd=str(path.parent), progress_bar=False, kernel_name="python3",
    )  # fmt: skip
    index = json.loads((tmp_path / "batch" / "index.json").read_text())
    assert [p["status"] for p in index["portfolios"]] == ["succeeded"]


# the workbench notebooks run in JupyterLab in a real browser (tests/test_workbench_browser.py)
# wherever it can run: here only where it cannot
IN_BROWSER = (
    {"whatif.ipynb", "customer_360.ipynb"}
    if shutil.which("chromium") and importlib.util.find_spec("playwright")
    else set()
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    [p for p in NOTEBOOKS if p.name not in {*WITH_DEFAULTS, "portfolios.ipynb", *IN_BROWSER}],
    ids=lambda p: p.name,
)
def test_notebooks_run_on_a_finished_run(path, weekly_run, ci_ledger, tmp_path):
    """Every other notebook runs top to bottom on the shared run folder (``run_dir`` set, as an
    analyst does for a run the schedule made)."""
    extra = {"customer_id": ci_ledger[1]} if path.name == "customer_review.ipynb" else {}
    run_dir = tmp_path / weekly_run.name
    shutil.copytree(weekly_run, run_dir)  # a notebook may render into it (customer 360)
    out = tmp_path / "executed.ipynb"
    papermill.execute_notebook(
        str(path), str(out), parameters={"run_dir": str(run_dir), **extra},
        cwd=str(path.parent), progress_bar=False, kernel_name="python3",
    )  # fmt: skip
    nb = nbformat.read(out, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code)  # every code cell ran
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
