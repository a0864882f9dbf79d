"""The ``manifest.json`` beside every report: what ran, on what, with which outcome.

Written when the run starts (status ``running``), at every step (``step``) and when it ends
(``succeeded``, ``failed`` with ``failed_step`` and ``error``, or ``interrupted`` when a later run
finds it abandoned). Every write is atomic, so a reader never sees half a file. Delivery,
``creditlab runs``, the batch index and ``creditlab approve`` read it through :func:`read_manifest`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from pathlib import Path
from typing import Any

from creditlab.errors import ConfigError
from creditlab.provenance import git_sha, versions
from creditlab.run.folder import MANIFEST_FILE

__all__ = ["new_manifest", "read_manifest", "utcnow", "write_manifest"]


def utcnow() -> str:
    """The current UTC time, to the second, ISO formatted."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def new_manifest(run_id: str, report: str, params: Any) -> dict[str, Any]:
    """The manifest of a run that is starting (``params``: its :class:`RunParams`)."""
    return {
        "run_id": run_id,
        "report": report,
        "status": "running",
        "step": "prepare",
        "started_at": utcnow(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "params_file": str(params.source),
        "params_sha256": params.sha256,
        "params": params.to_dict(),
        "versions": versions(),
        "git_sha": git_sha(),
        "timings_s": {},
        "warnings": [],
        "outputs": {},
    }


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` as JSON atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    tmp.replace(path)


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The manifest of the run folder ``run_dir``.

    Raises
    ------
    ConfigError
        ``run_dir`` holds no (readable) manifest: it is not a run folder.
    """
    path = Path(run_dir) / MANIFEST_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{run_dir}: not a run folder (no readable {MANIFEST_FILE})") from exc
