"""Ledgers larger than memory: validation into a DuckDB file under a memory limit, and the features
built there in SQL, checked against the in-memory path (pandas) row for row."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest
from helpers import creditlab

from creditlab.errors import ConfigError
from creditlab.features import (
    Materiality,
    cured_defaults,
    default_dates,
    snapshot_features,
    training_data,
)
from creditlab.features_sql import (
    cured_defaults_sql,
    ledger_end,
    snapshot_features_sql,
    training_data_sql,
)
from creditlab.ledger.bulk import write_bulk_ledger
from creditlab.ledger.load import load_ledger
from creditlab.ledger.schema import REJECT_COLUMNS
from creditlab.ledger.stream import EngineLimits, connect, load_into_database

AS_OF = dt.date(2026, 11, 20)


@pytest.fixture(scope="module")
def database(portfolio_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "ledger.duckdb"
    load_into_database(portfolio_dir, path, currency="EUR", limits=EngineLimits("200MB"))
    con = connect(path, read_only=True)
    yield con
    con.close()


def test_validation_into_a_database_matches_load_ledger_row_for_row(ledger_copy, tmp_path):
    lines = (ledger_copy / "invoices.csv").read_text().splitlines()
    lines[3] = lines[3].replace('"EUR"', '"USD"')  # another currency
    lines[5] = lines[5].replace('"C0', '"X9', 1)  # an unknown customer
    lines[8] = lines[8] + ",surplus"  # a malformed row
    (ledger_copy / "invoices.csv").write_text("\n".join(lines) + "\n")
    in_memory = load_ledger(ledger_copy, currency="EUR")
    rejects_csv = tmp_path / "rejects.csv"
    streamed = load_into_database(
        ledger_copy, tmp_path / "l.duckdb", currency="EUR", rejects_file=rejects_csv
    )
    pd.testing.assert_frame_equal(streamed.counts, in_memory.counts)
    assert streamed.rejected == len(in_memory.rejects) == 3
    assert streamed.data_hash == in_memory.data_hash
    assert (
        streamed.counts["read"] == streamed.counts["loaded"] + streamed.counts["rejected"]
    ).all()
    key = ["file", "row"]
    written = pd.read_csv(rejects_csv, dtype=str).sort_values(key).reset_index(drop=True)
    expected = in_memory.rejects.astype(str).sort_values(key).reset_index(drop=True)
    assert list(written.columns) == REJECT_COLUMNS
    pd.testing.assert_frame_equal(written[["row", "column", "reason"]],
                                  expected[["row", "column", "reason"]], check_dtype=False)  # fmt: skip
    con = duckdb.connect(str(tmp_path / "l.duckdb"), read_only=True)
    loaded = con.sql("SELECT * FROM invoices ORDER BY invoice_id").df()
    con.close()
    mine = in_memory.invoices.sort_values("invoice_id").reset_index(drop=True)
    assert len(loaded) == len(mine)
    assert (loaded["amount"].to_numpy() == mine["amount"].to_numpy()).all()
    assert (loaded["customer_id"].astype(str) == mine["customer_id"].astype(str)).all()


# no threshold, and one under which half of the 90+ DPD defaults come later or not at all
@pytest.mark.parametrize("m", [Materiality(), Materiality(amount=2000, share=0.5)], ids=str)
def test_features_in_sql_equal_the_pandas_features(database, ledger, m):
    last = pd.concat([ledger.invoices["issued_on"], ledger.invoices["paid_on"]]).max()
    assert ledger_end(database) == last.date()
    if m.applies:
        plain = default_dates(ledger.invoices, ledger.events, AS_OF)
        material = default_dates(ledger.invoices, ledger.events, AS_OF, m)
        assert len(material) < len(plain) and material.index.isin(plain.index).all()
        assert (material >= plain.reindex(material.index)).all()
    when = dt.date(2026, 3, 31)
    pandas_way = (
        snapshot_features(ledger.customers, ledger.invoices, ledger.events, when, m)
        .sort_values("customer_id")
        .reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(
        snapshot_features_sql(database, when, m), pandas_way, check_dtype=False, rtol=1e-9
    )
    ours = training_data_sql(database, AS_OF, materiality=m)
    theirs = training_data(ledger.customers, ledger.invoices, ledger.events, AS_OF, materiality=m)
    assert ours.snapshots == theirs.snapshots
    assert ours.validation_snapshot == theirs.validation_snapshot
    for mine, other in ((ours.train, theirs.train), (ours.validation, theirs.validation)):
        other = other.sort_values(["snapshot", "customer_id"]).reset_index(drop=True)
        assert other["default_12m"].sum() > 0
        pd.testing.assert_frame_equal(mine, other, check_dtype=False, rtol=1e-9)


@pytest.mark.parametrize("m", [Materiality(), Materiality(amount=2000, share=0.5)], ids=str)
def test_cured_defaults_in_sql_equal_the_pandas_ones(database, ledger, m):
    for months in (1, 3, 6):
        ours = cured_defaults_sql(database, AS_OF, months, m)
        theirs = cured_defaults(ledger.invoices, ledger.events, AS_OF, months, m)
        assert ours == sorted(theirs.astype(str)), months
    # the portfolio's defaulters that cure within a year of probation, fewer within a shorter one
    assert len(cured_defaults_sql(database, AS_OF, 1, m)) >= len(
        cured_defaults_sql(database, AS_OF, 6, m)
    )
    assert len(cured_defaults_sql(database, AS_OF, 1, m)) > 0
    assert cured_defaults_sql(database, AS_OF, 0, m) == []


def test_a_bulk_ledger_validates_under_a_small_memory_limit(tmp_path):
    write_bulk_ledger(tmp_path / "bulk", customers=3000, invoices=300_000, bad_share=0.006)
    size = (tmp_path / "bulk" / "invoices.csv").stat().st_size
    limits = EngineLimits("100MB", tmp_path / "spill", threads=2)
    result = load_into_database(tmp_path / "bulk", tmp_path / "b.duckdb", limits=limits)
    inv = result.counts.set_index("table").loc["invoices"]
    assert inv["read"] == 300_000 == inv["loaded"] + inv["rejected"]
    assert 0.003 < inv["rejected"] / inv["read"] < 0.009  # the rows broken on purpose
    assert size > 20e6  # the text alone is a fifth of the limit; typed and checked, more
    con = connect(tmp_path / "b.duckdb", limits, read_only=True)
    features = snapshot_features_sql(con, AS_OF)
    con.close()
    assert len(features) == 3000 and features["log_open_ar"].notna().all()
    with pytest.raises(ConfigError, match="memory limit"):
        load_into_database(tmp_path / "bulk", tmp_path / "c.duckdb", limits=EngineLimits("1MB"))


@pytest.mark.slow
def test_cli_features_writes_features_and_training_data(portfolio_dir, tmp_path):
    done = creditlab("-q", "features", "--data", str(portfolio_dir), "--database", str(tmp_path / "l.duckdb"),
                     "--currency", "EUR", "--as-of", "2026-11-20", "--out", str(tmp_path / "f.parquet"),
                     "--training", str(tmp_path / "t.csv"), "--memory-limit", "200MB")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "read 80 = loaded 80 + rejected 0" in done.stdout
    features = pd.read_parquet(tmp_path / "f.parquet")
    training = pd.read_csv(tmp_path / "t.csv")
    assert len(features) == 80 and {"customer_id", "in_default", "max_dpd_3m"} <= set(features)
    assert "customer_id" not in training and training["default_12m"].isin([0, 1]).all()
    missing = creditlab("-q", "features", "--data", str(tmp_path / "nope"), "--database",
                        str(tmp_path / "x.duckdb"), "--out", str(tmp_path / "x.parquet"))  # fmt: skip
    assert missing.returncode == 3 and "not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    share = creditlab("-q", "features", "--data", str(portfolio_dir), "--database",
                      str(tmp_path / "y.duckdb"), "--out", str(tmp_path / "y.parquet"),
                      "--default-min-share", "5")  # fmt: skip
    assert share.returncode == 2 and "--default-min-share: share: expected a share" in share.stderr
    cure = creditlab("-q", "features", "--data", str(portfolio_dir), "--database",
                     str(tmp_path / "z.duckdb"), "--out", str(tmp_path / "z.parquet"),
                     "--as-of", "2026-11-20", "--cure-months", "3")  # fmt: skip
    assert cure.returncode == 0, cure.stderr
    cured = pd.read_parquet(tmp_path / "z.parquet").set_index("customer_id")["in_default"]
    was = features.set_index("customer_id")["in_default"]
    over = was & ~cured
    assert over.sum() > 0 and not (cured & ~was).any()  # some defaults are over, none began
    bad = creditlab("-q", "features", "--data", str(portfolio_dir), "--database",
                    str(tmp_path / "w.duckdb"), "--out", str(tmp_path / "w.parquet"),
                    "--cure-months", "-1")  # fmt: skip
    assert bad.returncode == 2 and "--cure-months: a whole number of months" in bad.stderr
