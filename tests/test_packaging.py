"""Packaging: pyproject and environment.yml list the same dependencies; imports only go downward."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import yaml
from test_architecture import module_layers, package_modules

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "creditlab"
LAYERS = module_layers()  # ARCHITECTURE.md's module map is the layer map
_MODULES = set(package_modules())
CONDA_NAMES = {"duckdb": "python-duckdb"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = {CONDA_NAMES.get(_name(r), _name(r)) for r in project["dependencies"] + extras["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    assert wanted <= conda, f"missing from environment.yml: {wanted - conda}"
    assert conda - wanted == {"python", "quarto", "pip"}, conda - wanted


def _layer(module: str) -> int:
    """The layer of ``creditlab.<module>`` on ARCHITECTURE.md's module map: the module's own row,
    or for a package the highest layer of its modules (``creditlab`` itself: -1, the API)."""
    name = module.removeprefix("creditlab").removeprefix(".")
    if not name:
        return -1
    if name in LAYERS:
        return LAYERS[name]
    inside = [layer for listed, layer in LAYERS.items() if listed.startswith(name + ".")]
    assert inside, f"{module} is not on ARCHITECTURE.md's module map"
    return max(inside)


def _imported(node: ast.AST) -> list[str]:
    """The creditlab modules an import statement brings in (``from creditlab import kpi`` brings
    in ``creditlab.kpi``; ``from creditlab.ledger import Ledger`` the package ``creditlab.ledger``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "creditlab"]
    if (
        isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.split(".")[0] == "creditlab"
    ):
        subs = [f"{node.module}.{a.name}" for a in node.names]
        return [s for s in subs if s.removeprefix("creditlab.") in _MODULES] or [node.module]
    return []


def test_imports_only_go_downward():
    checked = 0
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue  # the public API re-exports every layer
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        own = _layer(".".join(p for p in rel.parts if p != "__init__"))
        for node in ast.walk(ast.parse(path.read_text())):
            for target in _imported(node):
                checked += 1
                assert _layer(target) <= own, (
                    f"{rel} (layer {own}) imports {target} (layer {_layer(target)})"
                )
    assert checked > 200


def test_an_upward_import_is_caught():
    # the check itself can fail: a report module is above the ledger, a CLI import above all
    assert _layer("creditlab.ledger.load") < _layer("creditlab.report.weekly")
    assert _layer("creditlab.cli") > _layer("creditlab.run.orchestrate") > _layer("creditlab.kpi")
    node = ast.parse("from creditlab import widgets").body[0]
    assert _imported(node) == ["creditlab.widgets"] and _layer("creditlab.widgets") == 5


def test_every_public_name_exists():
    import creditlab

    for name in creditlab.__all__:
        assert hasattr(creditlab, name), name
