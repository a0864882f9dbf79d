"""Run provenance: package versions, git sha, and the ``manifest.json`` beside every report."""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["git_sha", "versions", "write_manifest"]

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


def write_manifest(path: Path, manifest: dict) -> None:
    """Write ``manifest`` as JSON atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    tmp.replace(path)
