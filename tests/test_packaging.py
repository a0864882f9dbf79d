"""Packaging: pyproject and environment.yml list the same dependencies; imports only go downward."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "creditlab"
CONDA_NAMES = {"duckdb": "python-duckdb"}
LAYERS = {
    "errors": 0,
    "provenance": 0,
    "config": 0,
    "ledger": 1,
    "kpi": 2,
    "features": 2,
    "features_sql": 2,
    "models": 2,
    "segments": 3,
    "decisions": 3,
    "pipeline": 4,
    "scoring": 4,
    "decision_stage": 4,
    "payment_stage": 4,
    "portfolios": 5,
    "report": 5,
    "deliver": 5,
    "schedule": 5,
    "widgets": 5,
    "cli": 6,
}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = {
        CONDA_NAMES.get(_name(r), _name(r))
        for r in project["dependencies"] + extras["dev"] + extras["jax"]
    }
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    assert wanted <= conda, f"missing from environment.yml: {wanted - conda}"
    assert conda - wanted == {"python", "quarto", "pip"}, conda - wanted


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 and parts[1] in LAYERS else -1


def test_imports_only_go_downward():
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue  # the public API re-exports every layer
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        own = _layer(".".join(rel.parts))
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("creditlab")
            ):
                target = _layer(node.module)
                assert target <= own, f"{rel} (layer {own}) imports {node.module} (layer {target})"


def test_every_public_name_exists():
    import creditlab

    for name in creditlab.__all__:
        assert hasattr(creditlab, name), name
