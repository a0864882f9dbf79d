"""The ``creditlab`` commands that work on ledgers and tables rather than runs: ``synth``,
``validate``, ``ingest``, ``features`` (DuckDB, larger than memory) and ``pd fit`` / ``pd score``
(the PD model on a table of one's own). :mod:`creditlab.cli` parses the command line and calls them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pandas as pd

from creditlab.config import read_yaml
from creditlab.errors import ConfigError, SchemaError
from creditlab.features import FEATURES, TARGET, Materiality
from creditlab.features_sql import (
    cured_defaults_sql,
    ledger_end,
    snapshot_features_sql,
    training_data_sql,
)
from creditlab.ledger.fx import load_fx
from creditlab.ledger.guess import draft_params, guess_export
from creditlab.ledger.load import load_ledger
from creditlab.ledger.mapping import parse_mapping
from creditlab.ledger.schema import (
    COUNTRY,
    CUSTOMER_ID,
    IN_DEFAULT,
    INDUSTRY,
    REJECT_COLUMNS,
    TABLES,
)
from creditlab.ledger.staging import file_sha256
from creditlab.ledger.store import ingest
from creditlab.ledger.stream import EngineLimits, connect, load_into_database
from creditlab.ledger.synth import SynthConfig, synthesize
from creditlab.ledger.synth_files import write_portfolio
from creditlab.provenance import git_sha, versions

__all__ = [
    "cmd_features",
    "cmd_ingest",
    "cmd_init",
    "cmd_pd_fit",
    "cmd_pd_score",
    "cmd_synth",
    "cmd_validate",
]


def _mapping_and_currency(path: str | None, currency: str | None):
    """A mapping file may be a mapping of its own or a params file with a ``mapping:`` section
    (and then its ``currency`` and ``fx`` apply too)."""
    if path is None:
        return parse_mapping(None), currency, None
    content = read_yaml(Path(path))
    mapping = content.get("mapping", content)
    fx = (
        load_fx(content.get("fx"), Path(path).parent, f"{path}: fx")
        if "mapping" in content
        else None
    )
    return parse_mapping(mapping, where=str(path)), currency or content.get("currency"), fx


def cmd_synth(args: argparse.Namespace) -> int:
    """``creditlab synth``: write a synthetic ledger with its ground truth."""
    cfg = SynthConfig(
        customers=args.customers,
        seed=args.seed,
        years=args.years,
        end=args.end,
        regime_shift=not args.no_shift,
        currency=args.currency,
    )
    portfolio = synthesize(cfg)
    out = write_portfolio(portfolio, args.out)
    print(
        f"customers: {len(portfolio.customers):,}  invoices: {len(portfolio.invoices):,}  "
        f"events: {len(portfolio.events):,}  defaults: "
        f"{int(portfolio.truth_customers['defaulted'].sum()):,}"
    )
    print(out)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """``creditlab init``: guess an export's mapping and write a draft params file (path last)."""
    out = Path(args.out)
    if out.exists() and not args.force:
        raise ConfigError(f"{out} exists: choose another --out or pass --force")
    guess = guess_export(args.data)
    for table, t in guess.tables.items():
        order = TABLES[table].names
        found = ", ".join(f"{k} <- {t.mapped[k]}" for k in order if k in t.mapped)
        print(f"{t.path.name}: {table}, {t.rows:,} rows; {found}")
        if t.missing:
            print(f"  not found: {', '.join(t.missing)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    text = draft_params(guess, out)
    out.write_text(text)
    todo = sum("TODO" in line for line in text.splitlines())
    print(
        f"{todo} line(s) marked TODO to check; then: creditlab validate --data {guess.folder} "
        f"--mapping {out}"
    )
    print(out)
    return 0


def _load(args: argparse.Namespace):
    mapping, currency, fx = _mapping_and_currency(args.mapping, args.currency)
    ledger = load_ledger(args.data, mapping, currency=currency, fx=fx)
    print(ledger.summary())
    total = ledger.counts[["read", "loaded", "rejected"]].sum()
    print(
        f"total: read {total['read']:,} = loaded {total['loaded']:,} + rejected "
        f"{total['rejected']:,}"
    )
    for note in ledger.notes:
        print(f"note: {note}")
    if getattr(args, "rejects", None):
        ledger.rejects.reindex(columns=REJECT_COLUMNS).to_csv(args.rejects, index=False)
        print(f"rejects written to {args.rejects}")
    elif len(ledger.rejects):
        for r in ledger.rejects.head(5).itertuples():
            print(f"rejected: {r.file} row {r.row} [{r.column}] {r.reason}")
        if len(ledger.rejects) > 5:
            print(f"... and {len(ledger.rejects) - 5:,} more (use --rejects FILE for all)")
    if args.strict:
        ledger.raise_if_rejects()
    return ledger


def cmd_validate(args: argparse.Namespace) -> int:
    """``creditlab validate``: load and check a ledger; print the counts, write the rejects."""
    _load(args)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """``creditlab ingest``: validate a ledger and upsert it into a DuckDB store."""
    ledger = _load(args)
    result = ingest(ledger, args.store)
    for table in result.inserted:
        print(
            f"{table}: inserted {result.inserted[table]:,}, updated {result.updated[table]:,}, "
            f"unchanged {result.unchanged[table]:,}"
        )
    print(args.store)
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    """``creditlab features``: validate into DuckDB and write features (and training rows) with SQL."""
    mapping, currency, fx = _mapping_and_currency(args.mapping, args.currency)
    try:
        m = Materiality(args.default_min_amount, args.default_min_share)
    except ValueError as exc:  # its message starts with the field: amount or share
        raise ConfigError(f"--default-min-{str(exc).split(':')[0]}: {exc}") from exc
    if not 0 <= args.cure_months <= 24:
        raise ConfigError(
            f"--cure-months: a whole number of months, 0 to 24, got {args.cure_months}"
        )
    limits = EngineLimits(args.memory_limit, args.temp_dir and Path(args.temp_dir), args.threads)
    loaded = load_into_database(
        args.data,
        args.database,
        mapping,
        currency=currency,
        fx=fx,
        limits=limits,
        rejects_file=args.rejects,
    )
    print(loaded.summary())
    total = loaded.counts[["read", "loaded", "rejected"]].sum()
    print(
        f"total: read {total['read']:,} = loaded {total['loaded']:,} + rejected "
        f"{total['rejected']:,}" + (f" (rejects in {args.rejects})" if args.rejects else "")
    )
    for note in loaded.notes:
        print(f"note: {note}")
    if args.strict:
        loaded.raise_if_rejects()
    con = connect(args.database, limits, read_only=True)
    try:
        as_of = args.as_of or ledger_end(con)
        features = snapshot_features_sql(con, as_of, m)
        cured = cured_defaults_sql(con, as_of, args.cure_months, m)
        features[IN_DEFAULT] = features[IN_DEFAULT] & ~features[CUSTOMER_ID].isin(cured)
        _write_table(features, args.out)
        print(f"features of {len(features):,} customers as of {as_of}: {args.out}")
        if args.training:
            try:
                data = training_data_sql(con, as_of, materiality=m)
            except ValueError as exc:
                raise SchemaError(f"{args.data}: {exc}") from exc
            _write_table(data.train[[INDUSTRY, COUNTRY, *FEATURES, TARGET]], args.training)
            print(
                f"training data: {len(data.train):,} rows ({int(data.train[TARGET].sum()):,} "
                f"defaults) from {len(data.snapshots)} snapshots, "
                f"{data.snapshots[0]} to {data.snapshots[-1]}: {args.training} "
                f"(fit it with: creditlab pd fit --table {args.training} --target {TARGET} "
                f"--group {INDUSTRY})"
            )
    finally:
        con.close()
    return 0


def _write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table as Parquet (``.parquet``) or CSV."""
    if Path(path).suffix.lower() == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def cmd_pd_fit(args: argparse.Namespace) -> int:
    """``creditlab pd fit``: fit the PD model on a table of one's own."""
    from creditlab.models.diagnostics import GateConfig  # PyMC and ArviZ load for model commands
    from creditlab.models.pd import SamplerConfig
    from creditlab.models.table import fit_table, read_table, save_fit

    frame = read_table(args.table)
    sampler = SamplerConfig(
        sampler=args.sampler,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        cores=args.chains,
        seed=args.seed,
    )
    model, gate = fit_table(
        frame,
        args.target,
        groups=args.group or (),
        positive=args.positive,
        sampler=sampler,
        gate=GateConfig(fatal=not args.allow_unconverged),
        where=str(args.table),
        shape=args.shape,
    )
    out = save_fit(
        model,
        gate,
        args.out,
        {
            "table": str(args.table),
            "target": args.target,
            "table_sha256": file_sha256(Path(args.table)),
            "git_sha": git_sha(),
            "versions": versions(),
        },
    )
    print(
        f"fitted on {model.n_rows:,} rows ({model.n_events:,} defaults) in "
        f"{model.timings['fit_s']:.1f} s; convergence gate "
        f"{'passed' if gate.passed else 'FAILED: ' + '; '.join(gate.failures)}"
    )
    print(out)
    return 0


def cmd_pd_score(args: argparse.Namespace) -> int:
    """``creditlab pd score``: score a table with a fitted model, with intervals."""
    from creditlab.models.pd import PDModel
    from creditlab.models.table import MODEL_FILE, read_table, score_table

    model = PDModel.load(Path(args.model) / MODEL_FILE if Path(args.model).is_dir() else args.model)
    scored = score_table(model, read_table(args.table), args.prob, where=str(args.table))
    out = Path(args.out)
    _write_table(scored, out)
    print(f"scored {len(scored):,} rows: mean PD {scored['pd_mean'].mean():.2%}")
    print(out)
    return 0


def cmd_pd_loss(args: argparse.Namespace) -> int:
    """``creditlab pd loss``: the loss distribution of a scored table of one's own."""
    from creditlab.decisions.correlation import CorrelationPosterior
    from creditlab.decisions.insurance import parse_insurance
    from creditlab.decisions.loss_settings import parse_loss_settings
    from creditlab.decisions.portfolio_loss import simulate, table_inputs
    from creditlab.decisions.settings import BetaPrior
    from creditlab.models.pd import PDModel
    from creditlab.models.table import MODEL_FILE, read_table, table_draws
    from creditlab.provenance import json_default
    from creditlab.run.folder import (
        LOSS_CONTRIBUTIONS_FILE,
        LOSS_CURVE_FILE,
        LOSS_DISTRIBUTION_FILE,
        PORTFOLIO_LOSS_FILE,
    )

    raw = read_yaml(Path(args.params)) if args.params else {}
    where = str(args.params or "--params")
    settings = parse_loss_settings(raw.get("portfolio_loss") or {}, f"{where}: portfolio_loss")
    settings = dataclasses.replace(
        settings, **({"scenarios": args.scenarios} if args.scenarios else {})
    )
    insurance = parse_insurance(
        raw.get("insurance"), Path(args.params).parent if args.params else Path("."),
        f"{where}: insurance",
    )  # fmt: skip
    try:
        lgd = BetaPrior(args.lgd_mean, args.lgd_sd)
    except ValueError as exc:
        raise ConfigError(f"--lgd-mean / --lgd-sd: {exc}") from exc
    model = PDModel.load(Path(args.model) / MODEL_FILE if Path(args.model).is_dir() else args.model)
    frame = read_table(args.table)
    draws = table_draws(model, frame, where=str(args.table), seed=args.seed)
    inputs = table_inputs(
        frame, draws, args.exposure, settings, lgd, args.seed, id_column=args.id,
        sector_column=args.sector, insurance=insurance, where=str(args.table),
    )  # fmt: skip
    result = simulate(inputs, settings, args.prob, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.distribution.to_csv(out / LOSS_DISTRIBUTION_FILE, index=False)
    result.contributions.sort_values("es_contribution", ascending=False).to_csv(
        out / LOSS_CONTRIBUTIONS_FILE, index=False
    )
    result.curve.to_csv(out / LOSS_CURVE_FILE, index=False)
    summary = result.summary | {
        "table": str(args.table),
        "exposure": args.exposure,
        "lgd_prior": {"mean": lgd.mean, "sd": lgd.sd},
        "correlation": result.summary["correlation"]
        | CorrelationPosterior.prior_only(
            settings.systematic, "a table has no default history: the prior is used"
        ).summary(args.prob),
    }
    (out / PORTFOLIO_LOSS_FILE).write_text(json.dumps(summary, indent=2, default=json_default))
    lvl = settings.reserve_level
    j = settings.levels.index(lvl)
    print(
        f"{len(frame):,} rows, exposure {inputs.ead.sum():,.0f}: expected loss "
        f"{summary['expected_loss']['analytic']:,.0f}; VaR {lvl:.1%} "
        f"{summary['var']['gross'][j]:,.0f}, ES {summary['es']['gross'][j]:,.0f} "
        f"({settings.scenarios:,} scenarios)"
    )
    print(out)
    return 0
