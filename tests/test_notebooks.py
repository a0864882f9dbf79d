"""Committed notebooks: no outputs, Quarto front matter first, one typed and commented parameters
cell that papermill can read."""

from __future__ import annotations

import ast
import inspect
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


@pytest.mark.slow
def test_all_notebooks_pass_nbval_lax_with_ci_params(tmp_path):
    """Every notebook (reports and explore) runs top to bottom with its defaults (CI params)."""
    for folder in ("notebooks", "params"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    ci = yaml.safe_load((tmp_path / "params" / "ci.yaml").read_text())
    ci["store"] = "../reports/nbval.duckdb"  # notebooks after the first reuse the cached PD fit
    (tmp_path / "params" / "ci.yaml").write_text(yaml.safe_dump(ci))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider", "notebooks"],
        cwd=tmp_path, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    cells = sum(
        c.cell_type == "code" for path in NOTEBOOKS for c in nbformat.read(path, as_version=4).cells
    )
    assert f"{cells} passed" in result.stdout, result.stdout[-2000:]  # every code cell ran
    assert len(list((tmp_path / "reports").glob("*"))) >= 2  # run folders landed beside the copy
