"""Large synthetic ledgers generated inside DuckDB, for scale tests and benchmarks.

:func:`creditlab.ledger.synth.synthesize` simulates customers' behaviour (defaults, payment timing,
regime shifts) in Python and is the portfolio to study; it takes minutes past a million invoices.
:func:`write_bulk_ledger` writes tens of millions of invoices in seconds to a minute, streaming from
DuckDB to CSV without holding them in memory: valid, plausible values (terms, lateness that grows
with a customer's risk, open items near the end, disputes, a few insolvencies) but no model to
recover. ``bad_share`` of the invoice rows break a rule on purpose (a due date before the issue
date, a zero amount, an unknown customer) so the rejects path is exercised at scale.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

__all__ = ["write_bulk_ledger"]


def write_bulk_ledger(
    out: str | Path,
    *,
    customers: int,
    invoices: int,
    end: dt.date = dt.date(2026, 11, 20),
    years: float = 3.0,
    seed: int = 7,
    bad_share: float = 0.0,
    memory_limit: str = "2GB",
) -> Path:
    """Write ``customers.csv``, ``invoices.csv`` and ``events.csv`` into ``out``; returns ``out``.

    Invoice ``i`` belongs to a customer drawn with ``hash(seed, i)``, so a given seed always
    writes the same files.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    days = int(years * 365)
    start = end - dt.timedelta(days=days)
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'; SET preserve_insertion_order = false")

    def u(i: str, k: int) -> str:  # a uniform [0, 1) from the row number, the seed and a salt
        return f"(hash({i}, {seed}, {k}) % 1000003) / 1000003.0"

    industries = "['construction', 'retail', 'manufacturing', 'software', 'logistics']"
    con.execute(f"""
        COPY (
            SELECT printf('C%07d', i) AS customer_id, printf('Customer %d', i) AS name,
                   {industries}[1 + (i % 5)::INTEGER] AS industry,
                   ['DE', 'FR', 'ES', 'PL'][1 + (i % 4)::INTEGER] AS country,
                   (1 + floor({u("i", 1)} * 20)) * 5000 AS credit_limit,
                   [14, 30, 45, 60][1 + (i % 4)::INTEGER] AS payment_terms_days,
                   DATE '{start}' - INTERVAL (floor({u("i", 2)} * 2000)) DAY AS onboarded_on,
                   round(1e5 + {u("i", 3)} * 5e7) AS annual_revenue,
                   (500 + floor({u("i", 4)} * 350))::INTEGER AS external_score
            FROM range({customers}) t(i)
        ) TO '{out / "customers.csv"}' (HEADER, DATEFORMAT '%Y-%m-%d')
    """)
    con.execute(f"""
        COPY (
            WITH base AS (
                SELECT i, (hash(i, {seed}, 5) % {customers}) AS c,
                       DATE '{start}' + INTERVAL (floor({u("i", 6)} * {days})) DAY AS issued_on,
                       round(50 + {u("i", 7)} * 9950, 2) AS amount,
                       {u("i", 8)} < 0.03 AS disputed
                FROM range({invoices}) t(i)
            ),
            timed AS (
                SELECT *, issued_on + INTERVAL ([14, 30, 45, 60][1 + (c % 4)::INTEGER]) DAY AS due_on,
                       -- lateness: riskier customers (low hash) pay later; a tail of 0.5 % never pays
                       floor(-5 + 30 * pow({u("i", 9)}, 3) * (1 + (c % 7)) / 4 + 20 * disputed::INTEGER)
                           AS late, {u("i", 10)} < 0.005 AS never
                FROM base
            )
            SELECT printf('INV%010d', i) AS invoice_id,
                   CASE WHEN {u("i", 11)} < {bad_share / 3} THEN 'C9999999'
                        ELSE printf('C%07d', c) END AS customer_id,
                   issued_on::DATE AS issued_on,
                   CASE WHEN {u("i", 12)} < {bad_share / 3} THEN issued_on - INTERVAL 3 DAY
                        ELSE due_on END::DATE AS due_on,
                   CASE WHEN {u("i", 13)} < {bad_share / 3} THEN 0 ELSE amount END AS amount,
                   'EUR' AS currency,
                   CASE WHEN never OR due_on + INTERVAL (late) DAY > DATE '{end}' THEN NULL
                        ELSE greatest(issued_on, due_on + INTERVAL (late) DAY)::DATE END AS paid_on,
                   CASE WHEN never OR due_on + INTERVAL (late) DAY > DATE '{end}' THEN NULL
                        ELSE amount END AS amount_paid,
                   disputed
            FROM timed
        ) TO '{out / "invoices.csv"}' (HEADER, DATEFORMAT '%Y-%m-%d')
    """)
    con.execute(f"""
        COPY (
            SELECT printf('C%07d', i) AS customer_id,
                   DATE '{start}' + INTERVAL (floor({u("i", 14)} * {days})) DAY AS event_on,
                   'insolvency' AS kind
            FROM range({customers}) t(i) WHERE {u("i", 15)} < 0.01
        ) TO '{out / "events.csv"}' (HEADER, DATEFORMAT '%Y-%m-%d')
    """)
    con.close()
    return out
