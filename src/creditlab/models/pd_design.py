"""The predictors as the PD model sees them: imputed, flagged, capped and standardised numeric
columns (:class:`Standardizer`), quantile bins of the binned ones, integer codes of categorical
levels. Learnt on the training rows and saved with the model, so scoring sees the same columns."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "TWIN_CORRELATION",
    "Standardizer",
    "bin_edges",
    "bin_index",
    "bin_labels",
    "level_codes",
]

log = logging.getLogger(__name__)

TWIN_CORRELATION = 0.99  # a predictor this correlated with an earlier one is left out


@dataclasses.dataclass
class Standardizer:
    """Median imputation, missing indicators, caps on heavy tails and standardisation, learnt on
    the training rows.

    A predictor that moves with an earlier one almost exactly on the training rows (|r| >=
    ``TWIN_CORRELATION``, as the 6- and 12-month max DPD do on a ledger of months) is left out:
    the model could only learn their sum. Predictors missing on exactly the same rows share one indicator (the first one's): two
    identical columns would leave the model only their sum to learn and slow the sampler down.

    A predictor is *heavy-tailed* when a value lies further outside its central 98 % (1st to 99th
    percentile) than that range is wide, as financial ratios with near-zero denominators do; its
    values are capped at those percentiles (winsorised) before standardising, so a handful of
    extreme rows cannot put standardised values in the hundreds and the sampler's start at risk.
    """

    columns: list[str]
    medians: dict[str, float]
    means: dict[str, float]
    scales: dict[str, float]
    indicators: list[str]
    bounds: dict[str, list[float]] = dataclasses.field(default_factory=dict)  # capped columns

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: Sequence[str]) -> Standardizer:
        """Learn each predictor's median (for imputation), caps, mean and standard deviation."""
        usable = [c for c in columns if frame[c].notna().any() and frame[c].nunique() > 1]
        dropped = sorted(set(columns) - set(usable))
        if dropped:
            log.info("predictors left out (all missing or constant): %s", dropped)
        bounds = {}
        for c in usable:
            values = frame[c].dropna().to_numpy(dtype=float)
            lo, hi = np.quantile(values, [0.01, 0.99])
            if hi > lo and (values.min() < lo - (hi - lo) or values.max() > hi + (hi - lo)):
                bounds[c] = [float(lo), float(hi)]
        if bounds:
            names = sorted(bounds)
            log.info(
                "capped %d heavy-tailed predictor(s) at their 1st and 99th percentiles: %s%s",
                len(names),
                ", ".join(names[:5]),
                f" and {len(names) - 5} more" if len(names) > 5 else "",
            )
        medians = {c: float(frame[c].median()) for c in usable}
        filled = _cap(frame[usable].astype(float), bounds).fillna(medians)
        usable = _without_twins(filled)
        indicators, patterns = [], set()
        for c in usable:  # one indicator per pattern: identical columns are not identifiable
            missing = frame[c].isna().to_numpy()
            if missing.any() and (key := missing.tobytes()) not in patterns:
                indicators.append(c)
                patterns.add(key)
        return cls(
            columns=usable,
            medians=medians,
            means={c: float(filled[c].mean()) for c in usable},
            scales={c: float(filled[c].std()) or 1.0 for c in usable},
            indicators=indicators,
            bounds={c: b for c, b in bounds.items() if c in usable},
        )

    @property
    def names(self) -> list[str]:
        """The model's columns: the predictors and their missing-value indicators."""
        return [*self.columns, *(f"{c}_missing" for c in self.indicators)]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Impute, flag and standardise ``frame``'s predictors as learnt by :meth:`fit`."""
        x = frame[self.columns].astype(float)
        flags = [x[c].isna().to_numpy(dtype=float) for c in self.indicators]
        x = _cap(x, self.bounds).fillna(self.medians)
        z = [(x[c].to_numpy() - self.means[c]) / self.scales[c] for c in self.columns]
        return np.column_stack(z + flags) if z or flags else np.zeros((len(frame), 0))


def _without_twins(filled: pd.DataFrame) -> list[str]:
    """``filled``'s columns less each one whose correlation with an earlier kept one reaches
    ``TWIN_CORRELATION`` (logged)."""
    if filled.shape[1] < 2:
        return list(filled.columns)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.abs(np.corrcoef(filled.to_numpy(dtype=float), rowvar=False))
    kept: list[int] = []
    for j, c in enumerate(filled.columns):
        twin = next((k for k in kept if r[j, k] >= TWIN_CORRELATION), None)
        if twin is None:
            kept.append(j)
        else:
            log.info(
                "predictor %s left out: on the training rows it moves with %s (|r| = %.3f), so "
                "the model could only learn their sum",
                c,
                filled.columns[twin],
                r[j, twin],
            )
    return [filled.columns[j] for j in kept]


def _cap(frame: pd.DataFrame, bounds: dict[str, list[float]]) -> pd.DataFrame:
    """``frame`` with each capped column clipped to its bounds (missing values stay missing)."""
    if not bounds:
        return frame
    return frame.assign(**{c: frame[c].clip(lo, hi) for c, (lo, hi) in bounds.items()})


def bin_edges(values: pd.Series, n_bins: int) -> dict:
    """Quantile bin edges of a training column; ``missing``: whether it had missing values, which
    then get a bin of their own (a spec saved without the key puts them in the median's bin)."""
    inner = np.unique(np.nanquantile(values.astype(float), np.linspace(0, 1, n_bins + 1)[1:-1]))
    return {
        "edges": inner.tolist(),
        "median": float(values.median()),
        "missing": bool(values.isna().any()),
    }


def bin_index(values: pd.Series, spec: dict) -> np.ndarray:
    """Each value's bin (0 = the lowest) under ``spec`` (:func:`bin_edges`); a missing value's is
    the last (after the ordered ones) when training had missing values, else the median's."""
    x = values.astype(float)
    index = np.searchsorted(np.asarray(spec["edges"]), x.fillna(spec["median"]).to_numpy(), "right")
    if spec.get("missing"):
        index = np.where(x.isna().to_numpy(), len(spec["edges"]) + 1, index)
    return index.astype(np.int64)


def bin_labels(spec: dict) -> list[str]:
    """The bins of ``spec`` in words: ``<= a``, ``a to b``, ..., ``> z`` (and ``missing``)."""
    e = [f"{v:.4g}" for v in spec["edges"]]
    return [
        f"<= {e[0]}",
        *(f"{a} to {b}" for a, b in zip(e[:-1], e[1:], strict=True)),
        f"> {e[-1]}",
        *(["missing"] if spec.get("missing") else []),
    ]


def level_codes(values: pd.Series, levels: list[str]) -> np.ndarray:
    """Integer codes of ``values`` in ``levels``; -1 for a level not seen in training."""
    return pd.Index(levels).get_indexer(values.astype(str)).astype(np.int64)
