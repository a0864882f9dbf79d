"""The ``creditlab`` console script. It configures logging, runs one command, and maps errors to exit
codes (2 config, 3 schema, 4 rejects under --strict, 5 report) with a one-line message instead of a
traceback."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path

from creditlab.cli_data import (
    cmd_features,
    cmd_ingest,
    cmd_init,
    cmd_pd_fit,
    cmd_pd_loss,
    cmd_pd_score,
    cmd_synth,
    cmd_validate,
)
from creditlab.deliver import SmtpSettings, deliver_outcome, deliver_run, send_reminders
from creditlab.errors import ConfigError, CreditlabError, DeliveryError
from creditlab.features import TARGET
from creditlab.ledger.synth import SynthConfig
from creditlab.run.folder import INDEX_FILE, REPORTS
from creditlab.schedule import ScheduleSpec, cron_line, install, list_runs, systemd_units

# The run commands import the pipeline (PyMC, papermill, Dask) when they run, not at start-up:
# `creditlab validate`, `creditlab runs` or a mistake in the arguments answer in a second.

log = logging.getLogger("creditlab")

_REPORT_ALIASES = {
    "weekly": "weekly_portfolio",
    "validation": "model_validation",
    "review": "customer_review",
    **{r: r for r in REPORTS},
}


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from exc


def _project_file(*parts: str) -> Path:
    """A file of the creditlab source tree (params/, notebooks/)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / parts[0]).is_dir() and (parent / "src" / "creditlab").is_dir():
            return parent.joinpath(*parts)
    raise ConfigError(f"{'/'.join(parts)} not found: run from a creditlab source checkout")


def cmd_run(args: argparse.Namespace) -> int:
    """``creditlab run REPORT``: one run, or a batch when several params (or --workers) are given."""
    from creditlab.run.orchestrate import run_report
    from creditlab.run.params import load_params

    report = _REPORT_ALIASES.get(args.report)
    if report is None:
        raise ConfigError(f"unknown report {args.report!r}; reports: {sorted(_REPORT_ALIASES)}")
    batch = args.workers is not None or args.scheduler
    if batch or len(args.params) > 1 or Path(args.params[0]).is_dir():
        return _run_batch(args, report)
    args.params = args.params[0]
    if args.email:  # check the SMTP settings and recipients before spending minutes on the run
        smtp = SmtpSettings.from_env()
        params = load_params(args.params, data=args.data, as_of=args.as_of)
        if not params.delivery.to:
            raise DeliveryError(f"{args.params}: --email needs delivery.to in the params")
    try:
        outcome = run_report(
            args.params,
            report=report,
            customer_id=args.customer,
            data=args.data,
            as_of=args.as_of.isoformat() if args.as_of else None,
            out=args.out,
        )
    except CreditlabError as exc:
        failed = getattr(exc, "run_dir", None)
        if args.email and failed is not None:
            try:
                line = deliver_outcome(failed, False, params.delivery.operators, smtp)
                print(line, file=sys.stderr)
            except DeliveryError as notice_error:
                print(
                    f"error: the failure notice could not be sent: {notice_error}", file=sys.stderr
                )
        raise
    print(f"report: {outcome.html}")
    if args.email:
        print(deliver_outcome(outcome.run_dir, True, (), smtp))
    print(outcome.run_dir)
    return 0


def _run_batch(args: argparse.Namespace, report: str) -> int:
    """Several portfolios (``--params`` repeated or a folder) on Dask; exit 1 when any failed."""
    if args.customer:
        raise ConfigError("--customer reviews one customer of one portfolio: give one --params")
    if args.workers is not None and args.workers < 0:
        raise ConfigError(f"--workers must be 0 (sequential) or more, got {args.workers}")
    from creditlab.run.batch import discover, run_portfolios

    jobs = discover(args.params)
    import distributed  # noqa: F401  (its import sets its loggers' levels: quieten them after)

    logging.getLogger("distributed").setLevel(logging.ERROR)
    results = run_portfolios(
        jobs,
        out=args.out,
        report=report,
        data=args.data,
        as_of=args.as_of.isoformat() if args.as_of else None,
        workers=args.workers,
        scheduler=args.scheduler,
        retries=args.retries,
        email=args.email,
        smtp=SmtpSettings.from_env() if args.email else None,
    )
    width = max(len(r["name"]) for r in results)
    for r in results:
        where = r["run_dir"] or r["params_file"]
        line = f"{r['name']:<{width}}  {r['status']:<9}  {where}"
        if r["error"]:
            line += f"\n{'':<{width}}  error: {r['error']}"
        if r.get("delivery"):
            line += f"\n{'':<{width}}  e-mail: {r['delivery']}"
        print(line)
    failed = sum(r["status"] != "succeeded" for r in results)
    print(f"index: {Path(args.out).resolve() / INDEX_FILE}")
    print(f"{len(results) - failed} of {len(results)} portfolios succeeded")
    return 1 if failed else 0


def cmd_deliver(args: argparse.Namespace) -> int:
    """``creditlab deliver``: (re-)send a finished run's report, or its allowed reminders."""
    if args.reminders:
        done = send_reminders(args.run)
        for r in done:
            print(f"reminder {r['draft_id']} sent to {r['to'][0]}: {r['message_id']}")
        print(f"{len(done)} reminder(s) sent")
        return 0
    sent = deliver_run(args.run, to=args.to)
    print(f"sent to {', '.join(sent['to'])}: {sent['message_id']} at {sent['sent_at']}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """``creditlab runs``: past runs with status, KPIs and delivery, newest first."""
    runs = list_runs(Path(args.out))
    if runs.empty:
        print(f"no runs under {args.out}")
        return 0
    print(runs.to_string(index=False, na_rep="", float_format=lambda v: f"{v:,.1f}"))
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    """``creditlab schedule``: print (or install) the cron line or systemd units."""
    spec = ScheduleSpec(
        Path(args.params).resolve(),
        Path(args.out).resolve(),
        args.day,
        args.time,
        not args.no_email,
    )
    kind = "systemd" if args.systemd else "cron"
    if args.install:
        for line in install(spec, kind):
            print(line)
        return 0
    if kind == "cron":
        print(cron_line(spec))
    else:
        for name, text in systemd_units(spec).items():
            print(f"# ~/.config/systemd/user/{name}\n{text}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``creditlab demo``: the demo weekly run; prints the HTML path last. Its store (and the
    fits cached there) lies beside its runs: ``--out``/demo.duckdb."""
    from creditlab.run.orchestrate import run_report

    params = _project_file("params", "weekly.yaml")
    outcome = run_report(params, out=args.out, store=Path(args.out) / "demo.duckdb")
    print(f"run folder: {outcome.run_dir}")
    print(outcome.html)
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    """``creditlab approve``: APPROVE / REFER / DECLINE an order from the newest decided run."""
    from creditlab.run.orchestrate import open_or_prepare
    from creditlab.run.params import load_params
    from creditlab.run.queries import approve, latest_decided_run

    params = load_params(args.params, data=args.data, as_of=args.as_of)
    as_of = args.as_of.isoformat() if args.as_of else None
    run_dir = Path(args.run) if args.run else latest_decided_run(args.out, params.sha256, as_of)
    if run_dir is None:
        log.info(
            "no finished run of %s under %s: preparing one (PD model and decisions)",
            args.params,
            args.out,
        )
        run_dir = open_or_prepare(
            params_file=args.params, data=args.data, as_of=as_of, out=args.out
        ).run_dir
    else:
        log.info("using the decisions of run %s", run_dir)
    decision = approve(run_dir, args.customer, args.amount)
    print(decision.to_text())
    print(f"(from run {run_dir})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (its help is the command line's reference)."""
    parser = argparse.ArgumentParser(prog="creditlab", description=__doc__.split("\n")[0])
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write a synthetic portfolio with ground truth")
    p.add_argument("--customers", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--years", type=float, default=3.0)
    p.add_argument("--end", type=_date, default=SynthConfig.end, help="last ledger date")
    p.add_argument("--currency", default="EUR")
    p.add_argument("--no-shift", action="store_true", help="no regime shift (downturn)")
    p.add_argument("--out", required=True, help="folder to write the ledger into")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser(
        "init",
        help="draft a params file (with a mapping) for an export from its columns and values",
    )
    p.add_argument(
        "--data", required=True, help="the export: a CSV/Parquet file or a folder of them"
    )
    p.add_argument("--out", default="params/mine.yaml", help="params file to write")
    p.add_argument("--force", action="store_true", help="overwrite --out when it exists")
    p.set_defaults(func=cmd_init)

    for name, func, text in (
        ("validate", cmd_validate, "check a ledger and report rejects"),
        ("ingest", cmd_ingest, "validate a ledger and upsert it into a store"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--data", required=True, help="ledger folder or DuckDB file")
        p.add_argument("--mapping", help="mapping YAML (or a params file with a mapping section)")
        p.add_argument("--currency", help="portfolio currency (ISO 4217)")
        p.add_argument("--strict", action="store_true", help="fail when any row is rejected")
        p.add_argument("--rejects", help="write the rejects to this CSV file")
        if name == "ingest":
            p.add_argument("--store", required=True, help="DuckDB store file")
        p.set_defaults(func=func)

    p = sub.add_parser(
        "features",
        help="validate a ledger larger than memory into a DuckDB file and build per-customer "
        "features (and training data) there",
    )
    p.add_argument("--data", required=True, help="ledger folder or DuckDB file")
    p.add_argument("--database", required=True, help="DuckDB file to validate the ledger into")
    p.add_argument("--mapping", help="mapping YAML (or a params file with a mapping section)")
    p.add_argument("--currency", help="portfolio currency (ISO 4217)")
    p.add_argument("--as-of", type=_date, help="snapshot date (default: the ledger's last date)")
    p.add_argument("--memory-limit", default="2GB", help="DuckDB's memory limit, e.g. 2GB")
    p.add_argument("--temp-dir", help="where DuckDB spills (default: <database>.tmp)")
    p.add_argument("--threads", type=int, help="DuckDB threads (default: every core)")
    p.add_argument("--strict", action="store_true", help="fail when any row is rejected")
    p.add_argument("--rejects", help="write the rejects to this CSV file")
    p.add_argument("--out", required=True, help="features table (.parquet or .csv)")
    p.add_argument(
        "--default-min-amount",
        type=float,
        default=0.0,
        help="materiality of a 90+ DPD default: the customer's amount 90+ days past due must "
        "reach this (default 0: any invoice)",
    )
    p.add_argument(
        "--default-min-share",
        type=float,
        default=0.0,
        help="... and this share of its open receivables (e.g. 0.01; default 0)",
    )
    p.add_argument(
        "--cure-months",
        type=int,
        default=0,
        help="a 90+ DPD default is over after this many months with no invoice 90+ DPD: "
        "in_default is false again (default 0: never; the training labels keep first defaults)",
    )
    p.add_argument(
        "--training",
        help="also write the labelled training snapshots (.parquet or .csv), ready for "
        f"`creditlab pd fit --target {TARGET}`",
    )
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("run", help="run a report: execute its notebook and render HTML")
    p.add_argument("report", help=f"one of {sorted(_REPORT_ALIASES)}")
    p.add_argument(
        "--params",
        required=True,
        action="append",
        help="params YAML; repeat it, or give a folder of them, to run several portfolios "
        "(each into <out>/<file name>/, with <out>/index.html summarising them)",
    )
    p.add_argument("--customer", help="customer id (the customer review)")
    p.add_argument("--data", help="ledger folder (overrides the params file)")
    p.add_argument("--as-of", type=_date, help="as-of date (overrides the params file)")
    p.add_argument("--out", default="reports", help="parent folder of the run folder")
    p.add_argument(
        "--email",
        action="store_true",
        help="e-mail the reports to delivery.to (SMTP from CREDITLAB_SMTP_*); a failed run "
        "notifies delivery.operators",
    )
    p.add_argument(
        "--workers",
        type=int,
        help="several portfolios: a local Dask cluster of N worker processes (default 1; "
        "0 runs them one after the other without Dask)",
    )
    p.add_argument("--scheduler", help="several portfolios: an existing Dask scheduler address")
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="retries of a portfolio after a transient failure (a kernel that died or did not start)",
    )
    p.set_defaults(func=cmd_run)

    pdp = sub.add_parser("pd", help="fit or score the PD model on a table of your own")
    pd_sub = pdp.add_subparsers(dest="pd_command", required=True)
    p = pd_sub.add_parser("fit", help="fit the PD model to a CSV or Parquet table")
    p.add_argument("--table", required=True)
    p.add_argument("--target", required=True, help="the default column")
    p.add_argument("--group", action="append", help="column to pool intercepts by (repeatable)")
    p.add_argument("--positive", help="the target value meaning default (default: 1/true/yes/bad)")
    p.add_argument(
        "--shape",
        default="auto",
        choices=["auto", "linear"],
        help="auto: numeric columns with 10+ values as smooth binned effects with a missing bin "
        "(a scorecard, points.csv); linear: straight lines in every numeric column",
    )
    p.add_argument("--sampler", default="auto", choices=["auto", "nutpie", "numpyro", "pymc"])
    p.add_argument("--draws", type=int, default=1500)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--seed", type=int, default=20261122)
    p.add_argument(
        "--allow-unconverged",
        action="store_true",
        help="save the fit even when the convergence gate fails (with a warning)",
    )
    p.add_argument(
        "--out", required=True, help="folder for pd_model.nc, fit_summary.json and points.csv"
    )
    p.set_defaults(func=cmd_pd_fit)
    p = pd_sub.add_parser("score", help="score a table with a fitted PD model")
    p.add_argument("--model", required=True, help="folder (or .nc file) written by pd fit")
    p.add_argument("--table", required=True)
    p.add_argument("--prob", type=float, default=0.9, help="credible-interval probability")
    p.add_argument("--out", required=True, help="output .csv or .parquet")
    p.set_defaults(func=cmd_pd_score)
    p = pd_sub.add_parser("loss", help="the loss distribution of a table scored by a PD model")
    p.add_argument("--model", required=True, help="folder (or .nc file) written by pd fit")
    p.add_argument("--table", required=True, help="one row per customer or loan")
    p.add_argument("--exposure", required=True, help="the column of exposures (EAD)")
    p.add_argument("--id", help="the column of ids (default: the row number)")
    p.add_argument("--sector", help="the column of sectors that share a factor")
    p.add_argument("--lgd-mean", type=float, default=0.45, help="LGD prior mean")
    p.add_argument("--lgd-sd", type=float, default=0.15, help="LGD prior standard deviation")
    p.add_argument("--params", help="YAML with portfolio_loss: and insurance: sections")
    p.add_argument("--scenarios", type=int, help="simulated years (default: the params')")
    p.add_argument("--prob", type=float, default=0.9, help="credible-interval probability")
    p.add_argument("--seed", type=int, default=20261122)
    p.add_argument("--out", required=True, help="folder for the loss files")
    p.set_defaults(func=cmd_pd_loss)

    p = sub.add_parser("deliver", help="e-mail a finished run's reports")
    p.add_argument("--run", required=True, help="the run folder")
    p.add_argument("--to", action="append", help="recipient (repeatable; default: delivery.to)")
    p.add_argument(
        "--reminders",
        action="store_true",
        help="send the run's reminder drafts that reminders.send and reminders.allow_list allow, "
        "those whose send day has come and not sent before (instead of the report)",
    )
    p.set_defaults(func=cmd_deliver)

    p = sub.add_parser("runs", help="list past runs with status, KPIs and delivery")
    p.add_argument("--out", default="reports", help="the folder runs land in")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("schedule", help="print (or --install) a weekly cron line or systemd timer")
    p.add_argument("--params", required=True)
    p.add_argument("--out", default="reports")
    p.add_argument("--day", default="mon", help="day of the week (mon..sun)")
    p.add_argument("--time", default="06:00", help="local time HH:MM")
    p.add_argument("--systemd", action="store_true", help="a systemd user timer instead of cron")
    p.add_argument("--no-email", action="store_true", help="run without e-mailing the report")
    p.add_argument("--install", action="store_true", help="install it for the current user")
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("approve", help="approve, refer or decline an order on credit")
    p.add_argument("--params", required=True, help="params YAML of the portfolio")
    p.add_argument("--customer", required=True, help="customer id")
    p.add_argument("--amount", required=True, type=float, help="order amount (portfolio currency)")
    p.add_argument(
        "--run",
        help="a finished run folder to decide from (default: the newest run "
        "of these params under --out, or a new one)",
    )
    p.add_argument("--data", help="ledger folder (overrides the params file)")
    p.add_argument("--as-of", type=_date, help="as-of date (overrides the params file)")
    p.add_argument("--out", default="reports", help="where runs are found and made")
    p.set_defaults(func=cmd_approve)

    p = sub.add_parser("demo", help="the demo weekly run on a synthetic portfolio")
    p.add_argument("--out", default="reports", help="parent folder of the run folder")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; map a :class:`CreditlabError` to its exit code and a one-line message."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.func(args)
    except CreditlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        run_dir = getattr(exc, "run_dir", None)
        if run_dir is not None:
            print(f"the failed run's record is in {run_dir}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
