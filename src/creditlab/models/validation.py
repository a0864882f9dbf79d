"""Validation of PD estimates: discrimination (AUC, Gini, KS), accuracy (Brier), calibration by PD
band with the Jeffreys test, Pluto-Tasche most-prudent upper bounds for grades with few defaults,
score stability (PSI), each with its uncertainty, and the same metrics for scikit-learn baselines
on exactly the same split and features."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_BANDS",
    "auc",
    "baseline_scores",
    "brier",
    "calibration",
    "ks",
    "metrics",
    "metrics_table",
    "pluto_tasche",
    "psi",
]

DEFAULT_BANDS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 1.0)


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (rank formula, ties averaged)."""
    from scipy import stats  # slow to import: loaded where used

    y = np.asarray(y, dtype=bool)
    n1, n0 = y.sum(), (~y).sum()
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = stats.rankdata(p)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def ks(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between defaulters' and others' score distributions."""
    from scipy import stats  # slow to import: loaded where used

    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        return float("nan")
    return float(stats.ks_2samp(np.asarray(p)[y], np.asarray(p)[~y]).statistic)


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """The Brier score: mean squared error of the probabilities."""
    return float(np.mean((np.asarray(p) - np.asarray(y)) ** 2))


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC, Gini, KS and Brier of probabilities ``p`` against outcomes ``y``."""
    a = auc(y, p)
    return {"auc": a, "gini": 2 * a - 1, "ks": ks(y, p), "brier": brier(y, p)}


def metrics_table(
    y: np.ndarray, p: np.ndarray, *, prob: float = 0.9, n_boot: int = 200, seed: int = 0
) -> pd.DataFrame:
    """Each metric with a bootstrap interval of probability ``prob`` (resampling rows)."""
    y, p = np.asarray(y), np.asarray(p)
    point = metrics(y, p)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        boots.append(metrics(y[idx], p[idx]))
    boot = pd.DataFrame(boots)
    lo, hi = (1 - prob) / 2, (1 + prob) / 2
    return pd.DataFrame(
        {
            "metric": list(point),
            "value": list(point.values()),
            "lo": [boot[m].quantile(lo) for m in point],
            "hi": [boot[m].quantile(hi) for m in point],
        }
    )


def calibration(
    y: np.ndarray, p: np.ndarray, bands: tuple[float, ...] = DEFAULT_BANDS, prob: float = 0.9
) -> pd.DataFrame:
    """Observed default rate per PD band against the band's mean PD, with the Jeffreys test.

    The Jeffreys posterior of a band's default rate is ``Beta(d + 1/2, n - d + 1/2)``; the band is
    ``consistent`` when its mean PD lies inside that posterior's ``prob`` interval. ``p_value`` is
    the posterior probability that the true rate is below the mean PD (small: PD too low).
    """
    from scipy import stats  # slow to import: loaded where used

    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    for digits in range(1, 6):  # as many decimals as close bands (deciles of small PDs) need
        labels = [
            f"{lo:.{digits}%} to {hi:.{digits}%}"
            for lo, hi in zip(bands[:-1], bands[1:], strict=True)
        ]
        if len(set(labels)) == len(labels):
            break
    band = pd.cut(p, bins=list(bands), labels=labels, include_lowest=True)
    frame = pd.DataFrame({"band": band, "y": y, "p": p})
    rows = []
    for name, g in frame.groupby("band", observed=True):
        n, d = len(g), g["y"].sum()
        post = stats.beta(d + 0.5, n - d + 0.5)
        lo, hi = post.ppf([(1 - prob) / 2, (1 + prob) / 2])
        mean_pd = g["p"].mean()
        rows.append(
            {
                "band": str(name),
                "n": n,
                "defaults": int(d),
                "mean_pd": mean_pd,
                "observed_rate": d / n,
                "rate_lo": lo,
                "rate_hi": hi,
                "p_value": float(post.cdf(mean_pd)),
                "consistent": bool(lo <= mean_pd <= hi),
            }
        )
    return pd.DataFrame(rows)


def pluto_tasche(n: np.ndarray, defaults: np.ndarray, prob: float = 0.9) -> np.ndarray:
    """Most-prudent upper bounds of each grade's PD (Pluto and Tasche 2005, independent case).

    ``n`` and ``defaults`` are per grade, best grade first. A grade's PD can be no higher than the
    PDs of the grades below it, so its bound pools it with every worse grade: the largest p with
    ``P(Binomial(N, p) <= D) >= 1 - prob``, where N and D are the customers and defaults of this
    grade and all worse ones (the one-sided Clopper-Pearson bound). It holds with few or no
    defaults, where an observed rate says little.

    Examples
    --------
    Pluto and Tasche's first example: grades of 100, 400 and 300 borrowers, no defaults, 90 %:

    >>> [round(float(b), 4) for b in pluto_tasche(np.array([100, 400, 300]), np.zeros(3))]
    [0.0029, 0.0033, 0.0076]
    """
    from scipy.special import betaincinv

    n_pool = np.cumsum(np.asarray(n, dtype=float)[::-1])[::-1]
    d_pool = np.cumsum(np.asarray(defaults, dtype=float)[::-1])[::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        upper = betaincinv(d_pool + 1, n_pool - d_pool, prob)
    return np.where(n_pool > d_pool, upper, 1.0)


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> tuple[float, str]:
    """Population stability index of ``actual`` against ``expected`` (decile bins of expected).

    Returns the PSI and its reading: < 0.10 stable, 0.10-0.25 shift, > 0.25 rebuild.
    """
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    e = np.histogram(expected, edges)[0] / len(expected)
    a = np.histogram(actual, edges)[0] / len(actual)
    e, a = np.clip(e, 1e-6, None), np.clip(a, 1e-6, None)
    value = float(np.sum((a - e) * np.log(a / e)))
    reading = "stable" if value < 0.10 else "shift" if value <= 0.25 else "rebuild"
    return value, reading


def baseline_scores(
    train_x: pd.DataFrame, train_y: np.ndarray, test_x: pd.DataFrame, seed: int = 0
) -> dict[str, np.ndarray]:
    """Predicted PDs of scikit-learn logistic regression and gradient boosting.

    Numeric columns are median-imputed (with missing indicators) and standardised; text columns
    are one-hot encoded, exactly as a careful analyst would set the baselines up.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in train_x.columns if pd.api.types.is_numeric_dtype(train_x[c])]
    categorical = [c for c in train_x.columns if c not in numeric]
    prep = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                numeric,
            ),
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    models = {
        "scikit-learn logistic regression": LogisticRegression(max_iter=2000),
        "scikit-learn gradient boosting": HistGradientBoostingClassifier(random_state=seed),
    }
    out = {}
    for name, estimator in models.items():
        pipe = make_pipeline(prep, estimator)
        if name.endswith("boosting"):
            pipe.set_params(columntransformer__sparse_threshold=0)
        pipe.fit(train_x, train_y)
        out[name] = pipe.predict_proba(test_x)[:, 1]
    return out
