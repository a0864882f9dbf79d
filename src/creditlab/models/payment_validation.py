"""Out-of-time validation of the payment-timing model against the baselines an analyst would use.

:func:`backtest` fits the model on what was known at a split date and then scores

* invoices issued after the split whose outcome is known (forecast at issue, nothing elapsed):
  late / not-late AUC,
  accuracy and Brier score, days-to-settle RMSE and MAE, next to "pays on the due date", "the
  customer's historical average delay" and scikit-learn logistic / linear regression on the same
  features (covariates, customer, industry); the reliability table of P(paid by due date) and the
  coverage of the predictive interval of the payment day;
* invoices open at the split (forecast conditional on the days already elapsed): weekly
  collections forecast against what was actually collected.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd

from creditlab.kpi import as_timestamp
from creditlab.ledger.schema import AMOUNT, CUSTOMER_ID, DUE_ON, ISSUED_ON, PAID_ON
from creditlab.models.payment import PaymentModel
from creditlab.models.payment_data import PaymentConfig, payment_frame
from creditlab.models.payment_forecast import cash_forecast
from creditlab.models.payment_stall import default_events_on
from creditlab.models.pd import SamplerConfig
from creditlab.models.validation import auc, baseline_scores, brier, calibration

__all__ = ["Backtest", "backtest"]

log = logging.getLogger(__name__)

RELIABILITY_BANDS = tuple(np.round(np.linspace(0, 1, 11), 2))
# the recent-behaviour baseline: a customer's median delay over its payments in the last this many
# days before the split, where it made at least RECENT_MIN of them
RECENT_DAYS, RECENT_MIN = 90, 3


@dataclasses.dataclass
class Backtest:
    """Results of :func:`backtest` (tables are plain DataFrames, ready for a report)."""

    comparison: pd.DataFrame
    reliability: pd.DataFrame
    coverage: float
    cash: pd.DataFrame
    model: PaymentModel
    test: pd.DataFrame
    counts: dict[str, int]


def _scores(
    name: str, late: np.ndarray, p_late, settle: np.ndarray, pred: np.ndarray, pred_abs=None
) -> dict:
    """Scores of one forecaster; ``pred_abs`` is its point forecast for absolute errors (the
    model's predictive median, which minimises them; ``pred``, its mean, minimises squared ones)."""
    err = np.asarray(settle, float) - np.asarray(pred, float)
    err_abs = err if pred_abs is None else np.asarray(settle, float) - np.asarray(pred_abs, float)
    return {
        "model": name,
        "auc": auc(late, p_late),
        "accuracy": float(np.mean((np.asarray(p_late) >= 0.5) == late)),
        "brier": brier(late, p_late),
        "rmse_days": float(np.sqrt(np.mean(err**2))),
        "mae_days": float(np.mean(np.abs(err_abs))),
    }


def _linear_days(train: pd.DataFrame, test: pd.DataFrame, features: list[str]) -> np.ndarray:
    """scikit-learn linear regression (ridge, alpha 1) of days to settle on one-hot features."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    text = [c for c in features if not pd.api.types.is_numeric_dtype(train[c])]
    prep = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), text)], remainder="passthrough"
    )
    pipe = make_pipeline(prep, Ridge(alpha=1.0))
    pipe.fit(train[features], train["days_late"] + train["terms"])
    return pipe.predict(test[features])


HISTORY_FEATURES = (
    "n_paid",
    "median_late",
    "mean_late",
    "late_rate",
    "sd_late",
    "q25_late",
    "q75_late",
    "last_late",
    "trend_late",
    "days_since_paid",
    "amount_vs_usual",
    "due_weekday",
    "median_late_weekday",
    "n_paid_weekday",
)


def history_features(history: pd.DataFrame, rows: pd.DataFrame, at) -> pd.DataFrame:
    """Per row of a payment frame, its customer's payment history as known on ``at`` (one date
    per row: Series or array): of the invoices in ``history`` (a payment frame) paid before
    ``at``, the count, median / mean / spread / quartiles of days late, the late rate, the last
    payment's days late and how long ago it was, the trend (median of the last 10 minus the
    median of all), the row's amount against the customer's median, the due weekday and the
    customer's median days late on invoices due on that weekday. Missing: no history."""
    paid = history.loc[history["paid"]].assign(
        paid_on=lambda d: d[DUE_ON] + pd.to_timedelta(d["days_late"], unit="D")
    )
    paid = paid.sort_values("paid_on", kind="stable")
    when = np.asarray(pd.to_datetime(np.broadcast_to(np.asarray(at), len(rows))), "datetime64[ns]")
    col = {name: k for k, name in enumerate(HISTORY_FEATURES)}
    out = np.full((len(rows), len(HISTORY_FEATURES)), np.nan)
    out[:, [col["n_paid"], col["n_paid_weekday"]]] = 0
    out[:, col["due_weekday"]] = rows["due_weekday"].to_numpy()
    positions = pd.Series(np.arange(len(rows))).groupby(rows[CUSTOMER_ID].to_numpy()).indices
    for customer, own in paid.groupby(CUSTOMER_ID, sort=False):
        mine = positions.get(customer)
        if mine is None:
            continue
        times = own["paid_on"].to_numpy("datetime64[ns]")
        late = own["days_late"].to_numpy(float)
        amount, weekday = own[AMOUNT].to_numpy(float), own["due_weekday"].to_numpy()
        for i, k in zip(mine, np.searchsorted(times, when[mine], side="left"), strict=True):
            if k == 0:
                continue
            seen = late[:k]
            same = seen[weekday[:k] == out[i, col["due_weekday"]]]
            q25, median, q75 = np.quantile(seen, [0.25, 0.5, 0.75])
            out[i, col["n_paid"]] = k
            out[i, col["median_late"]], out[i, col["q25_late"]], out[i, col["q75_late"]] = (
                median,
                q25,
                q75,
            )
            out[i, col["mean_late"]], out[i, col["sd_late"]] = seen.mean(), seen.std()
            out[i, col["late_rate"]] = (seen > 0).mean()
            out[i, col["last_late"]] = seen[-1]
            out[i, col["trend_late"]] = np.median(seen[-10:]) - median
            out[i, col["days_since_paid"]] = (when[i] - times[k - 1]) / np.timedelta64(1, "D")
            out[i, col["amount_vs_usual"]] = rows[AMOUNT].iat[i] / np.median(amount[:k])
            if len(same):
                out[i, col["median_late_weekday"]] = np.median(same)
                out[i, col["n_paid_weekday"]] = len(same)
    return pd.DataFrame(out, columns=list(HISTORY_FEATURES), index=rows.index)


def _boosting(train: pd.DataFrame, test: pd.DataFrame, split, seed: int):
    """The strongest baseline on the same information: scikit-learn gradient boosting on each
    invoice's customer-history features (:func:`history_features`, as known at its issue date in
    training and at the split in the test), for P(late) and for days late (absolute error, so its
    forecast is a median). Trained on the invoices paid by the split."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    paid = train.loc[train["paid"]]
    x_train = history_features(train, paid, paid[ISSUED_ON])
    x_test = history_features(train, test, split)
    settings = {"max_iter": 300, "learning_rate": 0.05, "random_state": seed}
    late = paid["days_late"].to_numpy() > 0
    p_late = HistGradientBoostingClassifier(**settings).fit(x_train, late).predict_proba(x_test)
    days = HistGradientBoostingRegressor(loss="absolute_error", **settings)
    return p_late[:, 1], days.fit(x_train, paid["days_late"]).predict(x_test)


def backtest(
    invoices: pd.DataFrame,
    customers: pd.DataFrame,
    split,
    config: PaymentConfig | None = None,
    sampler: SamplerConfig | None = None,
    *,
    events: pd.DataFrame | None = None,
    test_until=None,
    settle_days: int = 90,
    weeks: int = 13,
    prob: float = 0.9,
    n_draws: int = 400,
    seed: int = 0,
) -> Backtest:
    """Fit on what was known at ``split``, score what happened afterwards (see module doc).

    Test invoices are those issued after ``split`` and due at least ``settle_days`` before
    ``test_until`` (the last payment date when not given), so whether each was paid late is
    known; one still unpaid then counts as late, and days-to-settle errors use the paid ones.
    The model's point forecast of days to settle is its mean given payment within a year; its
    P(late) is ``1 - P(paid by due date)``. With ``events``, a customer's default event known at
    ``split`` puts its test invoices in the stall from their issue date.
    """
    cfg = config or PaymentConfig()
    t0 = as_timestamp(split)
    end = as_timestamp(test_until) if test_until is not None else invoices[PAID_ON].max()
    train = payment_frame(invoices, customers, t0, cfg, group=cfg.group, events=events)
    model = PaymentModel(cfg, sampler).fit(train)

    later = invoices.loc[
        (invoices[ISSUED_ON] > t0)
        & (invoices[ISSUED_ON] <= end)
        & (invoices[DUE_ON] <= end - pd.Timedelta(days=settle_days))
    ]
    usual = train.groupby(CUSTOMER_ID)[AMOUNT].median()
    test = payment_frame(later, customers, end, cfg, group=cfg.group, usual=usual)
    defaulted = test[CUSTOMER_ID].isin(default_events_on(events, t0).index).to_numpy()
    test["stall_from"] = np.where(defaulted, -test["terms"], np.nan)  # as known at the split
    fresh = test.assign(paid=False, dpd_now=-test["terms"])  # forecast as on the issue date
    result, _ = model.forecast(fresh, end, n_draws=n_draws, prob=prob, seed=seed)
    test = pd.concat([test, result], axis=1)
    late = (test["days_late"].to_numpy() > 0) | ~test["paid"].to_numpy()
    settled = test.loc[test["paid"]]
    settle = (settled["days_late"] + settled["terms"]).to_numpy()

    paid_rows = test["paid"].to_numpy()

    def scores(name: str, p_late, days, days_abs=None) -> dict:
        # every forecaster knows that an invoice is not paid before it is issued
        days = np.maximum(np.asarray(days, float), 0.0)
        at = None if days_abs is None else np.maximum(np.asarray(days_abs, float)[paid_rows], 0.0)
        return _scores(name, late, p_late, settle, days[paid_rows], at)

    rows = [
        scores(
            "creditlab Bayesian payment-timing model",
            1 - test["p_paid_by_due"].to_numpy(),
            test["expected_days"] + test["terms"],
            test["median_days"].fillna(test["expected_days"]) + test["terms"],
        ),
        scores("pays on the due date", np.zeros(len(test)), test["terms"]),
    ]
    paid = train.loc[train["paid"]]
    late_share = (paid["days_late"] > 0).groupby(paid[CUSTOMER_ID]).mean()
    p_history = test[CUSTOMER_ID].map(late_share).fillna((paid["days_late"] > 0).mean()).to_numpy()
    for name, how in (("average", "mean"), ("median", "median")):
        delay = paid.groupby(CUSTOMER_ID)["days_late"].agg(how)
        overall = getattr(paid["days_late"], how)()
        rows.append(
            scores(
                f"customer's historical {name} delay",
                p_history,
                test["terms"] + test[CUSTOMER_ID].map(delay).fillna(overall),
            )
        )
    # the customer's median delay over all its history (the portfolio's without any)
    usual = test[CUSTOMER_ID].map(paid.groupby(CUSTOMER_ID)["days_late"].median())
    usual = usual.fillna(paid["days_late"].median())
    # "recent behaviour counts more": the median of the customer's payments in the last
    # RECENT_DAYS before the split (RECENT_MIN or more), else of all its history
    paid_on = paid[DUE_ON] + pd.to_timedelta(paid["days_late"], unit="D")
    recent = paid.loc[paid_on > t0 - pd.Timedelta(days=RECENT_DAYS)].groupby(CUSTOMER_ID)
    recent = recent["days_late"].agg(["median", "size"])
    recent = recent.loc[recent["size"] >= RECENT_MIN, "median"]
    rows.append(
        scores(
            f"customer's median delay over its last {RECENT_DAYS} days",
            p_history,
            test["terms"] + test[CUSTOMER_ID].map(recent).fillna(usual),
        )
    )
    features = [*model.covariates, CUSTOMER_ID, *([cfg.group] if cfg.group in test else [])]
    x_train = paid[features].astype({c: int for c in model.covariates})
    x_test = test[features].astype({c: int for c in model.covariates})
    p_lr = baseline_scores(x_train, (paid["days_late"] > 0).to_numpy(), x_test, seed)[
        "scikit-learn logistic regression"
    ]
    rows.append(
        scores(
            "scikit-learn logistic (late) / linear (days) regression",
            p_lr,
            _linear_days(paid.assign(**x_train), test.assign(**x_test), features),
        )
    )
    p_boost, days_boost = _boosting(train, test, t0, seed)
    rows.append(
        scores(
            "scikit-learn gradient boosting on customer history",
            p_boost,
            test["terms"] + days_boost,
        )
    )
    # the customer's own history on invoices due on the same weekday (5 or more), else all of it
    weekday = paid.assign(late=paid["days_late"] > 0).groupby([CUSTOMER_ID, "due_weekday"])
    at = weekday.agg(median=("days_late", "median"), rate=("late", "mean"), n=("late", "size"))
    at = at.reindex(pd.MultiIndex.from_arrays([test[CUSTOMER_ID], test["due_weekday"]]))
    enough = at["n"].to_numpy() >= 5
    rows.append(
        scores(
            "customer's historical median delay on the due weekday",
            np.where(enough, at["rate"].to_numpy(), p_history),
            test["terms"] + np.where(enough, at["median"].to_numpy(), usual.to_numpy()),
        )
    )
    on_time = ~late
    reliability = calibration(on_time, test["p_paid_by_due"].to_numpy(), RELIABILITY_BANDS, prob)
    inside = (settled["days_late"] >= settled["days_lo"]) & (
        settled["days_hi"].isna() | (settled["days_late"] <= settled["days_hi"])
    )
    cash = _cash_backtest(invoices, train, model, t0, weeks, prob, n_draws, seed)
    counts = {
        "train_invoices": len(train),
        "train_paid": int(train["paid"].sum()),
        "test_invoices": len(test),
        "test_unpaid_late": int((~test["paid"]).sum()),
        "open_at_split": int((~train["paid"]).sum()),
    }
    return Backtest(
        pd.DataFrame(rows), reliability, float(inside.mean()), cash, model, test, counts
    )


def _cash_backtest(invoices, train, model, split, weeks, prob, n_draws, seed) -> pd.DataFrame:
    """Weekly collections on the invoices open at ``split``: forecast against actual."""
    open_now = train.loc[~train["paid"]].reset_index(drop=True)
    if open_now.empty:
        return pd.DataFrame()
    _, simulated = model.forecast(open_now, split, weeks, n_draws, prob, seed)
    cash = cash_forecast(
        simulated, open_now[DUE_ON], open_now[AMOUNT].to_numpy(), split, weeks, prob
    )
    paid_on = open_now["invoice_id"].map(invoices.set_index("invoice_id")[PAID_ON])
    day = (pd.to_datetime(paid_on) - split).dt.days.to_numpy(dtype=float)
    week = np.ceil(day / 7.0)
    actual = [float(open_now[AMOUNT].to_numpy()[week == k].sum()) for k in range(1, weeks + 1)]
    cash["actual"] = actual
    cash["inside"] = (cash["actual"] >= cash["lo"]) & (cash["actual"] <= cash["hi"])
    return cash
