"""Provenance stamped on every artifact: package versions and the git sha of the creditlab source."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["git_sha", "json_default", "versions"]

_PACKAGES = (
    "creditlab",
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "matplotlib",
    "papermill",
    "nbconvert",
    "nbformat",
    "ipykernel",
    "pyyaml",
    "pymc",
    "pytensor",
    "arviz",
    "nutpie",
    "numpyro",
    "jax",
    "scikit-learn",
)


def versions() -> dict[str, str]:
    """Python and the versions of the packages a run depends on."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_sha() -> str | None:
    """The commit of the creditlab source tree, with ``-dirty`` when it has local changes."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def json_default(value):
    """``json.dumps(default=...)`` for summaries: NumPy scalars as numbers, the rest as text."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    return str(value)
