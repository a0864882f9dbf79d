"""The ``manifest.json`` beside every report, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["write_manifest"]


def write_manifest(path: Path, manifest: dict) -> None:
    """Write ``manifest`` as JSON atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    tmp.replace(path)
