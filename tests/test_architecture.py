"""ARCHITECTURE.md stays true: every module and every run-folder file is on it, and its module map
is the layer map the import test enforces (tests/test_packaging.py)."""

from __future__ import annotations

import re
from pathlib import Path

from creditlab.run.folder import FILES

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "creditlab"
DOC = ROOT / "ARCHITECTURE.md"


def module_layers() -> dict[str, int]:
    """The module map of ARCHITECTURE.md: dotted module name (without ``creditlab.``) -> layer."""
    layers: dict[str, int] = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"^\|\s*(\d)\s*\|([^|]*)\|", line)
        if match:
            for name in re.findall(r"`([a-z_.]+)`", match.group(2)):
                layers[name] = int(match.group(1))
    return layers


def package_modules() -> list[str]:
    """Every module of the package as a dotted name without ``creditlab.`` (packages by name)."""
    names = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            names.append(".".join(parts))
    return sorted(names)


def test_every_module_is_on_the_module_map():
    layers = module_layers()
    assert len(layers) > 40  # the table parsed
    missing = [
        name
        for name in package_modules()
        if name not in layers and not any(listed.startswith(name + ".") for listed in layers)
    ]
    assert not missing, f"modules missing from ARCHITECTURE.md's module map: {missing}"
    stale = [name for name in layers if name not in package_modules()]
    assert not stale, f"ARCHITECTURE.md lists modules that do not exist: {stale}"


def test_every_run_folder_file_is_documented():
    text = DOC.read_text()
    missing = [f.name for f in FILES if f"`{f.name}`" not in text]
    assert not missing, f"run-folder files missing from ARCHITECTURE.md: {missing}"
