"""Bring your own table: fit and score the PD model on any table with a default column (bureau
extracts, application data), not only on a ledger. With ``shape="auto"`` (the default) a numeric
column with at least three distinct values enters the way a scorecard has it, when the defaults
are enough for the bins (:func:`~creditlab.models.pd_design.scorecard_columns`):
``SHAPE_BINS`` quantile bins (a bin per value up to twice as many values) whose effects follow a
smooth random walk, and a bin of its own for missing values, so effects may bend and missingness
may carry information; and up to ``SHAPE_PAIRS`` pairs of columns whose joint effect the main
effects miss (:func:`~creditlab.models.pd_design.screen_pairs`) get an effect per cell. Other
numeric columns (``shape="linear"``: all of them, and no pairs) are standardised predictors,
missing values imputed and flagged.
A text column with two values becomes a 0/1 predictor named ``"<column> = <value>"`` (a spread over
two levels is barely identified), and one with more values gets partially pooled offsets. The fit
writes a points table (:func:`~creditlab.models.pd_checks.points_table`) beside the model."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from creditlab.errors import ConfigError, SchemaError
from creditlab.models.diagnostics import GateConfig, GateResult, convergence_gate
from creditlab.models.pd import ModelConfig, PDModel, SamplerConfig
from creditlab.models.pd_checks import points_table
from creditlab.models.pd_design import scorecard_columns, screen_pairs

__all__ = [
    "POINTS_FILE",
    "POSITIVE_DEFAULTS",
    "SHAPES",
    "fit_table",
    "model_frame",
    "read_table",
    "save_fit",
    "score_table",
    "table_draws",
    "target_values",
]

log = logging.getLogger(__name__)

POSITIVE_DEFAULTS = ("1", "true", "yes", "bad", "default", "y", "t")
MODEL_FILE, SUMMARY_FILE, POINTS_FILE = "pd_model.nc", "fit_summary.json", "points.csv"
SHAPES = ("auto", "linear")
SHAPE_BINS = 8  # shape auto: the bins of a binned column
SHAPE_PAIRS = 3  # shape auto: at most this many pairwise interactions


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV, Parquet or ARFF (Weka, as UCI publishes tables) table; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: file not found")
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix.lower() == ".arff":
            frame = _read_arff(path)
        else:
            frame = pd.read_csv(path)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path}: not a readable CSV, Parquet or ARFF table ({exc})") from exc
    if frame.empty:
        raise SchemaError(f"{path}: the table has no rows")
    return frame


def _read_arff(path: Path) -> pd.DataFrame:
    """An ARFF file's ``@data`` rows with its ``@attribute`` names; ``?`` is a missing value."""
    text = path.read_text()
    head, sep, data = text.partition("\n@data")
    if not sep:
        head, sep, data = text.partition("\n@DATA")
    if not sep:
        raise ValueError("no @data section")
    names = [
        m.group(1) or m.group(2)
        for m in re.finditer(
            r"^@attribute\s+(?:'([^']*)'|(\S+))", head, re.IGNORECASE | re.MULTILINE
        )
    ]
    if not names:
        raise ValueError("no @attribute lines")
    seen: dict[str, int] = {}
    unique = []
    for name in names:  # a repeated name gets a number, so no column is lost
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    body = "\n".join(
        line for line in data.splitlines() if line.strip() and not line.startswith("%")
    )
    return pd.read_csv(io.StringIO(body), header=None, names=unique, na_values="?", quotechar="'")


def target_values(values: pd.Series, positive: str | None, where: str) -> np.ndarray:
    """Map a target column to 1 = default / 0 = not; ``positive`` names the default value."""
    text = values.astype(str).str.strip().str.lower()
    if values.isna().any():
        rows = (np.where(values.isna())[0][:5] + 2).tolist()
        raise SchemaError(f"{where}: the target has empty values (rows {rows}, header = row 1)")
    wanted = {positive.strip().lower()} if positive is not None else set(POSITIVE_DEFAULTS)
    seen = sorted(text.unique())
    hits = [v for v in seen if v in wanted]
    if len(seen) != 2 or len(hits) != 1:
        raise SchemaError(
            f"{where}: the target must have two values, one of them the default "
            f"({'/'.join(sorted(wanted))}); found {seen[:10]}. Use --positive VALUE."
        )
    return (text == hits[0]).to_numpy(dtype=np.int64)


def _columns(
    frame: pd.DataFrame, target: str, groups: Sequence[str]
) -> tuple[list[str], list[str]]:
    rest = [c for c in frame.columns if c != target and c not in groups]
    numeric = [
        c
        for c in rest
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]
    return numeric, [c for c in rest if c not in numeric]


def fit_table(
    frame: pd.DataFrame,
    target: str,
    *,
    groups: Sequence[str] = (),
    positive: str | None = None,
    sampler: SamplerConfig | None = None,
    gate: GateConfig | None = None,
    where: str = "table",
    shape: str = "auto",
) -> tuple[PDModel, GateResult]:
    """Fit the PD model to a table and check its convergence. The first of ``groups`` pools the intercepts; every other
    text column (and any further group) gets partially pooled offsets.

    Raises
    ------
    SchemaError
        The target or a group column is missing, or the target is not binary.
    ConfigError
        ``shape`` is not auto or linear.
    ConvergenceError
        The fit failed the convergence gate (when ``gate.fatal``).
    """
    if shape not in SHAPES:
        raise ConfigError(f"shape must be one of {list(SHAPES)}, got {shape!r}")
    missing = [c for c in (target, *groups) if c not in frame.columns]
    if missing:
        raise SchemaError(f"{where}: column(s) {missing} not found; columns: {list(frame.columns)}")
    data = frame.copy()
    data[target] = target_values(frame[target], positive, f"{where}, column {target!r}")
    numeric, text = _columns(data, target, groups)
    factors = []
    for col in (*groups, *text):
        data[col] = data[col].fillna("(missing)").astype(str)
        levels = sorted(data[col].unique())
        if col in text and len(levels) == 2:
            name = f"{col} = {levels[1]}"
            data[name] = (data[col] == levels[1]).astype(float)
            numeric.append(name)
        elif col in text:
            factors.append(col)
    binned = scorecard_columns(data, target, numeric, SHAPE_BINS) if shape == "auto" else []
    pairs = []
    if binned:
        found = screen_pairs(data, target, numeric, [*groups, *factors], SHAPE_BINS, SHAPE_PAIRS)
        pairs = [tuple(pair["columns"]) for pair in found]
    config = ModelConfig(
        group=groups[0] if groups else None,
        factors=(*groups[1:], *factors),
        prior_intercept_mu=-1.0,
        binned=tuple(binned),
        n_bins=SHAPE_BINS,
        interactions=tuple(pairs),
    )
    log.info(
        "fitting a PD model to %s rows (%s defaults): %d numeric predictors (%d binned), "
        "%d text factors, %d pairwise interactions",
        f"{len(data):,}",
        int(data[target].sum()),
        len(numeric),
        len(binned),
        len(config.factors),
        len(pairs),
    )
    model = PDModel(numeric, config, sampler).fit(data, target)
    return model, convergence_gate(model.idata, gate)


def save_fit(model: PDModel, gate: GateResult, out: str | Path, provenance: dict) -> Path:
    """Write ``pd_model.nc``, ``fit_summary.json`` and the scorecard's ``points.csv`` into
    ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / MODEL_FILE, provenance)
    summary = {
        "rows": model.n_rows,
        "defaults": model.n_events,
        "predictors": model.predictors,
        "model_config": dataclasses.asdict(model.model_config),
        "sampler_config": {**dataclasses.asdict(model.sampler_config), **model.sampled_with},
        "gate": gate.to_dict(),
        "timings": model.timings,
        **provenance,
    }
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    points_table(model).to_csv(out / POINTS_FILE, index=False)
    return out


def score_table(
    model: PDModel, frame: pd.DataFrame, prob: float = 0.9, where: str = "table"
) -> pd.DataFrame:
    """The input rows in order with ``pd_mean, pd_lo, pd_hi`` added."""
    return pd.concat([frame, model.predict(model_frame(model, frame, where), prob)], axis=1)


def table_draws(
    model: PDModel, frame: pd.DataFrame, where: str = "table", seed: int = 0
) -> np.ndarray:
    """Posterior PD draws ``(draws, rows)`` for the rows of a table, in order."""
    return model.predict_draws(model_frame(model, frame, where), seed=seed)


def model_frame(model: PDModel, frame: pd.DataFrame, where: str = "table") -> pd.DataFrame:
    """``frame`` with the columns the model was fitted on, as it saw them (two-valued text columns
    as 0/1 indicators, factor levels as text).

    Raises
    ------
    SchemaError
        A column the model uses is missing, or is not numeric where it was in training.
    """
    mc = model.model_config
    data = frame.copy()
    for name in model.predictors:
        col, sep, level = name.partition(" = ")
        if name not in data and sep and col in data:
            data[name] = (data[col].fillna("(missing)").astype(str) == level).astype(float)
    needed = [*model.predictors, *([mc.group] if mc.group else []), *mc.factors]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise SchemaError(f"{where}: column(s) {missing} used by the model are missing")
    for col in [*([mc.group] if mc.group else []), *mc.factors]:
        data[col] = data[col].fillna("(missing)").astype(str)
    for col in model.predictors:
        if not pd.api.types.is_numeric_dtype(data[col]):
            raise SchemaError(f"{where}: column {col!r} must be numeric, as it was in training")
    return data
