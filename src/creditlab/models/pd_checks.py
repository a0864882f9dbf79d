"""What a reviewer checks of a fitted PD model, as tables: its effects with intervals, average PD by
group from the posterior draws, the training data per snapshot and per feature, and posterior
predictive checks of the defaults. The PD stage writes them into the run folder; the reports show
them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from creditlab.models.pd import PDModel
from creditlab.models.pd_design import node

__all__ = [
    "PDO",
    "effects_table",
    "feature_table",
    "pd_by_group",
    "points_table",
    "predictive_checks",
    "snapshot_table",
]


def _interval(values: np.ndarray, prob: float, axis: int | None = None) -> np.ndarray:
    return np.quantile(values, [(1 - prob) / 2, (1 + prob) / 2], axis=axis)


def effects_table(model: PDModel, prob: float) -> pd.DataFrame:
    """The change in log-odds per standard deviation of each predictor, each binned
    predictor's bin effects and each interaction's cell effects (predictor ``a x b``), with
    ``prob`` highest-density intervals.

    Returns ``predictor, bin, mean, lo, hi, reading`` (``bin`` empty for a linear predictor;
    ``reading``: *higher PD* / *lower PD* when the whole interval is above / below zero).
    """
    import arviz as az  # slow to import: only where a posterior is summarised

    frames = []
    if model.standardizer.names:  # none when every predictor is binned
        beta = az.summary(model.idata, var_names=["beta"], hdi_prob=prob, kind="stats")
        frames.append(
            pd.DataFrame(
                {
                    "predictor": model.standardizer.names,
                    "bin": "",
                    "mean": beta["mean"].to_numpy(),
                    "lo": beta.iloc[:, 2].to_numpy(),
                    "hi": beta.iloc[:, 3].to_numpy(),
                }
            )
        )
    cells = [(name, node("bins", name)) for name in model.bins]
    cells += [(name, node("pair", name)) for name in model.pairs]
    for name, var in cells:
        b = az.summary(model.idata, var_names=[var], hdi_prob=prob, kind="stats")
        labels = model.idata.posterior[var].coords[model.idata.posterior[var].dims[-1]].to_numpy()
        frames.append(
            pd.DataFrame(
                {
                    "predictor": name,
                    "bin": [str(label) for label in labels],
                    "mean": b["mean"].to_numpy(),
                    "lo": b.iloc[:, 2].to_numpy(),
                    "hi": b.iloc[:, 3].to_numpy(),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["reading"] = np.where(
        out["lo"] > 0, "higher PD", np.where(out["hi"] < 0, "lower PD", "unclear")
    )
    return out


def pd_by_group(draws: np.ndarray, groups: pd.Series, prob: float) -> pd.DataFrame:
    """Average PD per group with its credible interval: ``group, customers, mean, lo, hi``,
    riskiest first. ``draws`` is ``(draws, customers)`` in the order of ``groups``."""
    rows = []
    for name, idx in groups.reset_index(drop=True).groupby(groups.to_numpy()).indices.items():
        avg = draws[:, idx].mean(axis=1)
        lo, hi = _interval(avg, prob)
        rows.append({"group": name, "customers": len(idx), "mean": avg.mean(), "lo": lo, "hi": hi})
    return pd.DataFrame(rows).sort_values("mean", ascending=False).reset_index(drop=True)


PDO = 20.0  # scorecard points that double the odds of not defaulting (the usual scaling)


def points_table(model: PDModel, prob: float = 0.9, pdo: float = PDO) -> pd.DataFrame:
    """The model as a scorecard a credit analyst can read: points per bin of each binned
    predictor (and per standard deviation of each linear one), with ``prob`` intervals.

    Points are ``-log-odds x pdo / ln 2``: ``pdo`` more points double the odds of *not*
    defaulting, so more points = lower PD, as scorecards are read. Returns ``predictor, bin,
    log_odds, points, points_lo, points_hi`` (``bin`` is ``per +1 sd`` for a linear predictor).
    """
    effects = effects_table(model, prob)
    factor = pdo / np.log(2.0)
    return pd.DataFrame(
        {
            "predictor": effects["predictor"],
            "bin": effects["bin"].where(effects["bin"] != "", "per +1 sd"),
            "log_odds": effects["mean"],
            "points": -factor * effects["mean"],
            "points_lo": -factor * effects["hi"],
            "points_hi": -factor * effects["lo"],
        }
    ).round({"log_odds": 4, "points": 1, "points_lo": 1, "points_hi": 1})


def predictive_checks(
    draws: np.ndarray,
    observed: np.ndarray,
    groups: Mapping[str, pd.Series],
    prob: float,
    seed: int,
) -> pd.DataFrame:
    """Observed defaults per group against the posterior predictive distribution.

    For each posterior draw one replicated data set is simulated (who defaults, given that
    draw's PDs); per group the simulated counts give a mean and a ``prob`` interval. Returns
    ``by, group, observed, mean, lo, hi, inside`` (``inside``: yes / no).
    """
    rng = np.random.default_rng(seed)
    sims = rng.random(draws.shape) < draws  # one replicated data set per posterior draw
    rows = []
    for by, labels in groups.items():
        for name, idx in labels.reset_index(drop=True).groupby(labels.to_numpy()).indices.items():
            counts = sims[:, idx].sum(axis=1)
            lo, hi = _interval(counts, prob)
            seen = int(observed[idx].sum())
            label = name.date() if isinstance(name, pd.Timestamp) else name
            rows.append({"by": by, "group": str(label), "observed": seen, "mean": counts.mean(),
                         "lo": lo, "hi": hi, "inside": "yes" if lo <= seen <= hi else "no"})  # fmt: skip
    return pd.DataFrame(rows, columns=["by", "group", "observed", "mean", "lo", "hi", "inside"])


def snapshot_table(train: pd.DataFrame, snapshot: str, target: str) -> pd.DataFrame:
    """Training rows and defaults per snapshot: ``snapshot, rows, defaults, rate``."""
    per = train.groupby(snapshot).agg(rows=(target, "size"), defaults=(target, "sum")).reset_index()
    per["rate"] = per["defaults"] / per["rows"]
    per[snapshot] = pd.to_datetime(per[snapshot]).dt.date
    return per


def feature_table(train: pd.DataFrame, features: Sequence[str], target: str) -> pd.DataFrame:
    """Each feature's share missing, mean over all training rows and over defaulters' rows."""
    defaulted = train[target] == 1
    return pd.DataFrame(
        {
            "feature": list(features),
            "missing": [train[f].isna().mean() for f in features],
            "mean_train": [train[f].mean() for f in features],
            "mean_defaulters": [train.loc[defaulted, f].mean() for f in features],
        }
    )
