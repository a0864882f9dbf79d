"""Helpers the tests share (not fixtures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def creditlab(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run the console script in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "creditlab.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
