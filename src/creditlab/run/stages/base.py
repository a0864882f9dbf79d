"""What every stage of a run is, and the one place that runs them.

A stage (KPIs, PD model, payment model, decisions) has settings that were parsed and checked when
the params loaded, a ``check`` that looks at the prepared ledger before any stage runs (labels that
must exist in the data, say), and a ``compute`` that writes the stage's artifacts into the run
folder and returns its summary. :func:`run_stage` writes the summary JSON once for every stage;
:func:`run_stages` checks them all, then runs them in order, timing each and recording its step,
timing and summary in the manifest as it goes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from creditlab.models.diagnostics import GateResult
from creditlab.models.sampling import SamplerConfig
from creditlab.run.folder import RunFolder
from creditlab.run.prepare import Run

__all__ = ["Stage", "extend_until_converged", "run_stage", "run_stages", "timed"]

Fitted = TypeVar("Fitted")

log = logging.getLogger(__name__)


class Stage(Protocol):
    """One stage of a run."""

    name: str  # its step in the manifest and its timing's name ("model", "decide", ...)
    section: str  # the manifest key of its summary ("pd_model", "decisions", ...)
    summary_file: str | None  # the JSON file its summary goes to (when it is enabled)
    manifest_keys: tuple[str, ...] | None  # what the manifest keeps of the summary (None: all)

    def check(self, run: Run) -> None:
        """Raise :class:`~creditlab.errors.ConfigError` when the settings do not fit the data."""

    def compute(self, run: Run) -> dict[str, Any]:
        """Write the stage's artifacts into the run folder; return its summary."""


def extend_until_converged(
    fit: Callable[[SamplerConfig], Fitted],
    check: Callable[[Fitted], GateResult],
    sampler: SamplerConfig,
    rounds: int,
    what: str,
) -> tuple[Fitted, int, GateResult]:
    """``fit(sampler)``, then ``check`` the fit against the gate (without raising); while it fails
    and ``rounds`` allow, fit again with tuning and draws doubled. Returns the last fit, how many
    times it was extended and its gate (the caller applies the params' ``fatal``)."""
    model = fit(sampler)
    gate = check(model)
    extended = 0
    while not gate.passed and extended < rounds:
        extended += 1
        sampler = dataclasses.replace(sampler, tune=sampler.tune * 2, draws=sampler.draws * 2)
        log.warning(
            "%s: %s; fitting again with %d tuning steps and %d draws per chain "
            "(extension %d of %d)",
            what,
            "; ".join(gate.failures),
            sampler.tune,
            sampler.draws,
            extended,
            rounds,
        )
        model = fit(sampler)
        gate = check(model)
    return model, extended, gate


@contextlib.contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record the seconds the ``with`` block takes as ``timings[name]`` (milliseconds kept)."""
    t0 = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - t0, 3)


def run_stage(stage: Stage, run: Run) -> dict[str, Any]:
    """Run one stage and write its summary JSON (when the stage is enabled); returns the summary."""
    summary = stage.compute(run)
    if stage.summary_file and summary.get("enabled", True):
        RunFolder(run.run_dir).write_json(stage.summary_file, summary)
    return summary


def run_stages(
    run: Run,
    stages: Sequence[Stage],
    manifest: dict[str, Any],
    save: Callable[[], None],
) -> None:
    """Check every stage, then run each in order; ``manifest`` gets each stage's step, timing and
    summary, and ``save`` writes it after every change (a crash leaves the step it died in)."""
    for stage in stages:
        stage.check(run)
    for stage in stages:
        manifest["step"] = stage.name
        save()
        with timed(manifest["timings_s"], stage.name):
            summary = run_stage(stage, run)
        keys = stage.manifest_keys
        manifest[stage.section] = summary if keys is None else {k: summary.get(k) for k in keys}
        log.info("stage %s done in %.1f s", stage.name, manifest["timings_s"][stage.name])
    save()
