"""The point-in-time features and default labels of :mod:`creditlab.features`, computed in DuckDB.

For ledgers larger than memory (validated into a database by
:func:`creditlab.ledger.stream.load_into_database`): every invoice-level step is SQL over the
database's ``customers``, ``invoices`` and ``events`` tables, under the connection's memory limit
(spilling to disk), and only one row per customer and snapshot comes back to pandas. The formulas are
those of :func:`creditlab.features.snapshot_features` and :func:`creditlab.features.training_data`,
and a test checks that both give the same numbers.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from creditlab.features import (
    DEFAULT_DPD,
    FEATURES,
    HORIZON_DAYS,
    NO_THRESHOLD,
    SNAPSHOT,
    TARGET,
    Materiality,
    TrainingData,
    log_training,
    snapshot_schedule,
)
from creditlab.ledger.schema import (
    AMOUNT,
    ANNUAL_REVENUE,
    COUNTRY,
    CREDIT_LIMIT,
    CUSTOMER_ID,
    DEFAULT_EVENTS,
    DISPUTED,
    DUE_ON,
    EVENT_ON,
    EXTERNAL_SCORE,
    INDUSTRY,
    ISSUED_ON,
    KIND,
    ONBOARDED_ON,
    PAID_ON,
)

__all__ = ["cured_defaults_sql", "ledger_end", "snapshot_features_sql", "training_data_sql"]


def _d(day: dt.date) -> str:
    return f"DATE '{pd.Timestamp(day).date().isoformat()}'"


def _material_sql(t: str, issued_by: str, m: Materiality) -> str:
    """Each customer's first day (up to ``t``) on which its invoices 90+ days past due add up to
    a material amount: :func:`creditlab.features._material_dpd_defaults` in SQL (the days checked
    are the late invoices' 90th days and the customer's payments after the first of them)."""
    hit = f"{DUE_ON} + INTERVAL {DEFAULT_DPD} DAY"
    mine = f"{ISSUED_ON} <= {issued_by}"
    return f"""
        WITH late AS (
            SELECT {CUSTOMER_ID}, ({hit})::DATE AS hit, {PAID_ON} AS paid, {AMOUNT} AS amount
            FROM invoices
            WHERE {mine} AND {hit} <= {t} AND ({PAID_ON} IS NULL OR {PAID_ON} > {hit})
        ),
        days AS (
            SELECT DISTINCT {CUSTOMER_ID}, d FROM (
                SELECT {CUSTOMER_ID}, hit AS d FROM late
                UNION ALL
                SELECT i.{CUSTOMER_ID}, i.{PAID_ON} FROM invoices i
                JOIN (SELECT {CUSTOMER_ID}, min(hit) AS first FROM late GROUP BY {CUSTOMER_ID}) f
                  ON i.{CUSTOMER_ID} = f.{CUSTOMER_ID}
                WHERE i.{mine} AND i.{PAID_ON} >= f.first AND i.{PAID_ON} <= {t}
            )
        ),
        past_due AS (
            SELECT k.{CUSTOMER_ID}, k.d, sum(l.amount) AS amount FROM days k
            JOIN late l ON l.{CUSTOMER_ID} = k.{CUSTOMER_ID} AND l.hit <= k.d
                AND (l.paid IS NULL OR l.paid > k.d)
            GROUP BY k.{CUSTOMER_ID}, k.d
        ),
        exposure AS (
            SELECT k.{CUSTOMER_ID}, k.d, sum(i.{AMOUNT}) AS open_ar FROM days k
            JOIN invoices i ON i.{CUSTOMER_ID} = k.{CUSTOMER_ID} AND i.{mine}
                AND i.{ISSUED_ON} <= k.d AND (i.{PAID_ON} IS NULL OR i.{PAID_ON} > k.d)
            GROUP BY k.{CUSTOMER_ID}, k.d
        )
        SELECT p.{CUSTOMER_ID}, p.d FROM past_due p
        JOIN exposure e ON p.{CUSTOMER_ID} = e.{CUSTOMER_ID} AND p.d = e.d
        WHERE p.amount >= {float(m.amount)!r} AND p.amount >= {float(m.share)!r} * e.open_ar"""


def _defaults_sql(t: str, issued_by: str, m: Materiality) -> str:
    """Each customer's first default date known at ``t`` (invoices issued by ``issued_by``)
    under the materiality threshold ``m``."""
    kinds = ", ".join(f"'{k}'" for k in DEFAULT_EVENTS)
    hit = f"{DUE_ON} + INTERVAL {DEFAULT_DPD} DAY"
    dpd = (
        _material_sql(t, issued_by, m)
        if m.applies
        else f"""
            SELECT {CUSTOMER_ID}, {hit} AS d FROM invoices
            WHERE {ISSUED_ON} <= {issued_by} AND {hit} <= {t}
              AND ({PAID_ON} IS NULL OR {PAID_ON} > {hit})"""
    )
    return f"""
        SELECT {CUSTOMER_ID}, min(d)::DATE AS default_on FROM (
            SELECT {CUSTOMER_ID}, d FROM ({dpd})
            UNION ALL
            SELECT {CUSTOMER_ID}, {EVENT_ON} FROM events
            WHERE {KIND} IN ({kinds}) AND {EVENT_ON} <= {t} AND {EVENT_ON} <= {issued_by}
        ) GROUP BY {CUSTOMER_ID}"""


def _features_sql(s: str, issued_by: str, m: Materiality) -> str:
    """One row per customer onboarded by ``s``: the FEATURES and ``in_default``."""
    late = "greatest(lateness, 0)"
    due_12 = "age_due >= 0 AND age_due < 365"
    max_dpd = ",\n".join(
        f"max(CASE WHEN age_due >= 0 AND since_end < {days} THEN {late} ELSE 0 END) AS max_dpd_{m}m"
        for m, days in ((3, 91), (6, 182), (12, 365))
    )
    return f"""
    WITH known AS (
        SELECT {CUSTOMER_ID}, {AMOUNT} AS amount, {DISPUTED}::DOUBLE AS disputed, is_open,
               date_diff('day', {DUE_ON}, end_on)::DOUBLE AS lateness,
               date_diff('day', {DUE_ON}, {s})::DOUBLE AS age_due,
               date_diff('day', {ISSUED_ON}, {s})::DOUBLE AS age_issued,
               date_diff('day', end_on, {s})::DOUBLE AS since_end
        FROM (
            SELECT *, ({PAID_ON} IS NULL OR {PAID_ON} > {s}) AS is_open,
                   CASE WHEN {PAID_ON} IS NULL OR {PAID_ON} > {s} THEN {s} ELSE {PAID_ON} END
                       AS end_on
            FROM invoices WHERE {ISSUED_ON} <= {s} AND {ISSUED_ON} <= {issued_by}
        )
    ),
    per AS (
        SELECT {CUSTOMER_ID},
               avg(CASE WHEN {due_12} THEN {late} END) AS mean_days_late_12m,
               avg(CASE WHEN {due_12} AND age_due < 90 THEN {late} END)
                 - avg(CASE WHEN {due_12} AND age_due >= 90 THEN {late} END) AS late_trend,
               avg(CASE WHEN {due_12} THEN (lateness > 0)::DOUBLE END) AS share_late_12m,
               {max_dpd},
               sum(CASE WHEN is_open THEN amount ELSE 0 END) AS open_ar,
               sum((age_issued < 365)::DOUBLE) AS invoices_12m,
               avg(CASE WHEN age_issued < 365 THEN disputed END) AS dispute_share_12m
        FROM known GROUP BY {CUSTOMER_ID}
    ),
    defaults AS ({_defaults_sql(s, issued_by, m)})
    SELECT c.{CUSTOMER_ID}, c.{INDUSTRY}, c.{COUNTRY}, {s}::TIMESTAMP AS {SNAPSHOT},
           d.default_on IS NOT NULL AS in_default,
           p.mean_days_late_12m, p.late_trend, p.share_late_12m,
           coalesce(p.max_dpd_3m, 0) AS max_dpd_3m, coalesce(p.max_dpd_6m, 0) AS max_dpd_6m,
           coalesce(p.max_dpd_12m, 0) AS max_dpd_12m,
           CASE WHEN c.{CREDIT_LIMIT} > 0 THEN coalesce(p.open_ar, 0) / c.{CREDIT_LIMIT} END
               AS utilisation,
           ln(1 + coalesce(p.open_ar, 0)) AS log_open_ar,
           date_diff('day', c.{ONBOARDED_ON}, {s}) / 365.25 AS tenure_years,
           ln(1 + coalesce(p.invoices_12m, 0)) AS log_invoices_12m,
           p.dispute_share_12m,
           c.{EXTERNAL_SCORE}::DOUBLE AS external_score,
           ln(1 + c.{ANNUAL_REVENUE}::DOUBLE) AS log_revenue
    FROM customers c
    LEFT JOIN per p ON c.{CUSTOMER_ID} = p.{CUSTOMER_ID}
    LEFT JOIN defaults d ON c.{CUSTOMER_ID} = d.{CUSTOMER_ID}
    WHERE c.{ONBOARDED_ON} <= {s}"""


def ledger_end(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The ledger's last date (latest issue or payment date): the as-of date when none is given,
    as for a weekly run."""
    return con.execute(
        f"SELECT max(greatest({ISSUED_ON}, coalesce({PAID_ON}, {ISSUED_ON}))) FROM invoices"
    ).fetchall()[0][0]


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """Run ``sql`` and return its rows sorted by snapshot and customer id (sorted in pandas: the
    result leaves DuckDB's memory limit in Arrow batches, and a sort there would hold it all)."""
    frame = con.sql(sql).to_arrow_table().to_pandas()
    frame[list(FEATURES)] = frame[list(FEATURES)].astype(float)  # NULL -> NaN, as in pandas
    return frame.sort_values([SNAPSHOT, CUSTOMER_ID], ignore_index=True)


def snapshot_features_sql(
    con: duckdb.DuckDBPyConnection, snapshot: dt.date, materiality: Materiality = NO_THRESHOLD
) -> pd.DataFrame:
    """:func:`creditlab.features.snapshot_features` over the database behind ``con``: one row per
    customer onboarded by ``snapshot`` (sorted by customer id)."""
    s = _d(snapshot)
    return _frame(con, _features_sql(s, s, materiality))


def cured_defaults_sql(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    months: int,
    materiality: Materiality = NO_THRESHOLD,
) -> list[str]:
    """:func:`creditlab.features.cured_defaults` over the database behind ``con``: the customers
    whose 90+ DPD default is over by ``as_of`` (no invoice 90+ DPD and unpaid in the ``months``
    months before it; no write-off, insolvency or agency event), sorted."""
    if months <= 0:
        return []
    t = _d(as_of)
    kinds = ", ".join(f"'{k}'" for k in DEFAULT_EVENTS)
    hit = f"{DUE_ON} + INTERVAL {DEFAULT_DPD} DAY"
    rows = con.execute(f"""
        SELECT d.{CUSTOMER_ID} FROM ({_defaults_sql(t, t, materiality)}) d
        WHERE d.{CUSTOMER_ID} NOT IN (
            SELECT {CUSTOMER_ID} FROM events WHERE {KIND} IN ({kinds}) AND {EVENT_ON} <= {t}
        ) AND d.{CUSTOMER_ID} NOT IN (
            SELECT {CUSTOMER_ID} FROM invoices
            WHERE {hit} <= {t}
              AND NOT coalesce({PAID_ON} <= greatest({hit}, {t} - INTERVAL {int(months)} MONTH),
                               false)
        ) ORDER BY 1""").fetchall()  # fmt: skip
    return [str(r[0]) for r in rows]


def _labelled_sql(s: dt.date, t: dt.date, m: Materiality) -> str:
    horizon = _d(pd.Timestamp(s) + pd.Timedelta(days=HORIZON_DAYS))
    return f"""
        SELECT f.* EXCLUDE (in_default),
               coalesce(l.default_on > {_d(s)} AND l.default_on <= {horizon}, false)::INTEGER
                   AS {TARGET}
        FROM ({_features_sql(_d(s), _d(t), m)}) f
        LEFT JOIN ({_defaults_sql(_d(t), _d(t), m)}) l ON f.{CUSTOMER_ID} = l.{CUSTOMER_ID}
        WHERE NOT f.in_default"""


def training_data_sql(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    *,
    every_months: int = 3,
    min_history_days: int = 180,
    materiality: Materiality = NO_THRESHOLD,
) -> TrainingData:
    """:func:`creditlab.features.training_data` over the database behind ``con`` (same snapshots,
    labels and out-of-time split; rows sorted by snapshot and customer id).

    Raises
    ------
    ValueError
        The ledger is too short for a training and a validation window.
    """
    first = con.execute(
        f"SELECT min({ISSUED_ON}) FROM invoices WHERE {ISSUED_ON} <= {_d(as_of)}"
    ).fetchall()[0][0]
    snaps, validation = snapshot_schedule(first, as_of, every_months, min_history_days)
    # one snapshot at a time: each query holds one snapshot's aggregates under the memory limit
    m = materiality
    train = pd.concat([_frame(con, _labelled_sql(s, as_of, m)) for s in snaps], ignore_index=True)
    valid = _frame(con, _labelled_sql(validation, as_of, m))
    log_training(train, valid, snaps, validation)
    return TrainingData(train, valid, snaps, validation)
