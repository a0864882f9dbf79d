"""Cached fits: a model fitted on the same data, as-of date and settings is reused from the store.

The PD and payment stages share this: look the fit up by its cache key, or fit and save it into
the run folder (with its provenance) and into the store's cache.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from creditlab.ledger.store import load_fit, save_fit
from creditlab.provenance import git_sha, versions
from creditlab.run.prepare import Run

__all__ = ["cached_fit", "save_fit_of_run"]

log = logging.getLogger(__name__)


def cached_fit(store: Path | None, key: str, load: Callable[[Path], Any], what: str) -> Any:
    """A fitted model from the store's cache (``load`` reads its NetCDF file), or None."""
    content = load_fit(store, key)
    if content is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fit.nc"
        path.write_bytes(content)
        model = load(path)
    log.info(
        "reusing the cached %s fit %s… from %s (same data, as-of date and settings)",
        what,
        key[:12],
        store,
    )
    return model


def save_fit_of_run(run: Run, model: Any, name: str, key: str, cache: bool, reused: bool) -> None:
    """Save a fitted model into the run folder with its provenance, and into the store's cache."""
    provenance = {
        "data_hash": run.ledger.data_hash,
        "params_sha256": run.params.sha256,
        "as_of": run.as_of.isoformat(),
        "cache_key": key,
        "git_sha": git_sha(),
        "versions": versions(),
    }
    model.save(run.run_dir / name, provenance)
    if cache and run.params.store is not None and not reused:
        save_fit(run.params.store, key, (run.run_dir / name).read_bytes())
