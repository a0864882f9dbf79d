"""Shifts in payment behaviour: a planted step is found with its start and size, heavy-tailed but
stable payers rarely cross the alert's thresholds, and only what was known at the as-of date counts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from creditlab.decisions.settings import AlertSettings
from creditlab.drift import SHIFT_COLUMNS, payment_shifts

AS_OF = dt.date(2026, 11, 20)
ALERT = AlertSettings()


def _ledger(late: dict[str, np.ndarray], every_days: int = 14) -> pd.DataFrame:
    """Invoices every ``every_days`` up to the as-of date, paid ``late[c][i]`` days after due (NaN:
    not paid)."""
    rows = []
    for cid, days in late.items():
        n = len(days)
        due = pd.Timestamp(AS_OF) - pd.to_timedelta(np.arange(n)[::-1] * every_days + 3, "D")
        for i in range(n):
            paid = due[i] + pd.Timedelta(days=float(days[i])) if np.isfinite(days[i]) else pd.NaT
            rows.append(
                {
                    "invoice_id": f"{cid}-{i}",
                    "customer_id": cid,
                    "issued_on": due[i] - pd.Timedelta(days=30),
                    "due_on": due[i],
                    "paid_on": paid,
                }
            )
    return pd.DataFrame(rows)


def _noise(rng, n: int) -> np.ndarray:
    """Days beyond terms with a heavy right tail: mostly around 2, one invoice in eight slipping
    by a lognormal number of days (not the detector's normal step model)."""
    base = rng.normal(2, 3, n).round()
    slips = (rng.random(n) < 0.125) * np.round(6 * rng.lognormal(0, 1, n))
    return base + slips


def _alarmed(shifts: pd.DataFrame) -> pd.DataFrame:
    return shifts.loc[
        (shifts["shift_z"] >= ALERT.shift_z) & (shifts["shift_days"] >= ALERT.shift_days)
    ]


def test_a_planted_step_is_found_with_its_start_and_size():
    rng = np.random.default_rng(4)
    found = []
    for _ in range(30):
        late = _noise(rng, 30)
        late[-6:] += 25  # the last six invoices (due in the last ~80 days) 25 days later
        shifts = payment_shifts(_ledger({"C": late}), AS_OF)
        assert list(shifts.columns) == SHIFT_COLUMNS
        found.append(shifts.iloc[0])
    found = pd.DataFrame(found)
    hit = _alarmed(found)
    assert len(hit) >= 27, len(hit)  # found in at least 90 % of the portfolios
    assert (hit["n_after"].between(5, 7)).mean() >= 0.8  # the start within one invoice
    # the latest invoices are still open at the as-of date, so they count with the days overdue so
    # far (a lower bound): the size found is below the planted 25 days, never above
    assert 15 <= hit["shift_days"].median() <= 26


def test_stable_heavy_tailed_payers_rarely_raise_the_alert():
    rng = np.random.default_rng(5)
    late = {f"C{i}": _noise(rng, 30) for i in range(300)}
    shifts = payment_shifts(_ledger(late), AS_OF)
    assert len(shifts) == 300
    assert len(_alarmed(shifts)) / 300 < 0.03


def test_a_customer_that_stops_paying_shows_at_once_and_the_future_is_not_seen():
    rng = np.random.default_rng(6)
    late = _noise(rng, 24)
    late[-4:] = np.nan  # the last four invoices, due 3 to 45 days ago, are not paid
    led = _ledger({"C": late})
    row = payment_shifts(led, AS_OF).iloc[0]
    assert row["shift_z"] >= ALERT.shift_z and row["n_after"] in (3, 4)
    # the same customer paying those invoices 60 days late: the as-of date before the payments
    # sees the same thing, the one after sees the payments
    paid = led.copy()
    open_ = paid["paid_on"].isna()
    paid.loc[open_, "paid_on"] = paid.loc[open_, "due_on"] + pd.Timedelta(days=60)
    same = payment_shifts(paid, AS_OF).iloc[0]
    assert same["days_after"] == row["days_after"]
    later = payment_shifts(paid, AS_OF + dt.timedelta(days=90)).iloc[0]
    assert later["days_after"] > row["days_after"]


def test_too_few_invoices_give_no_row():
    assert payment_shifts(_ledger({"C": np.array([1.0, 2, 30, 40, 50])}), AS_OF).empty
