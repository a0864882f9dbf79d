"""The analyst's workbench in JupyterLab: thin ipywidgets over pure functions of a finished run.

- :func:`whatif`: policy levers -> portfolio decisions again from cached draws (no re-sampling);
- :func:`customer_360`: search a customer by id or name and see every side of it, with a button
  that renders its review report;
- :func:`order_approval`: customer and amount -> approve / refer / decline with the reasons;
- :func:`insurance_whatif`: insure a customer up to an amount -> the loss distribution after
  insurance again, against the run's, on the same simulated years.

Each returns a widget whose last computed result is kept on it (``.result``), so tests and
analysts' own code can read the numbers behind what is shown.
"""

from __future__ import annotations

import base64
import html
import math
import time
from pathlib import Path

import ipywidgets as w
import pandas as pd
from IPython.display import HTML, display

from creditlab.decisions.whatif import Levers, evaluate
from creditlab.errors import CreditlabError
from creditlab.ledger.schema import CUSTOMER_ID, INDUSTRY, NAME
from creditlab.report import customer_section
from creditlab.report.tables import fmt_money, table
from creditlab.run.folder import INPUTS_FILE, PD_MODEL_FILE, TABLE_FILE, RunFolder
from creditlab.run.orchestrate import render_review
from creditlab.run.prepare import open_run
from creditlab.run.queries import approve, loss_base, pd_model, whatif_base
from creditlab.run.stages.portfolio_loss import loss_seed

__all__ = ["Workbench", "customer_360", "insurance_whatif", "order_approval", "whatif"]


class Workbench(w.VBox):
    """A VBox with its controls by name, an output area and the last result."""

    def __init__(self, controls: dict[str, w.Widget], buttons: list[w.Widget] | None = None):
        self.controls = controls
        self.out = w.Output()
        self.result: dict = {}
        self.status = w.HTML()
        super().__init__([*controls.values(), *(buttons or []), self.status, self.out])


def _find_customer(typed: str, options: dict[str, str]) -> tuple[str | None, str]:
    """The customer a search box names: a whole label, an id (any case), or the one label holding
    the text; else None and what to tell the user (HTML)."""
    text = (typed or "").strip()
    if not text:
        return None, "Pick a customer: type its id or part of its name, then Enter."
    if text in options:
        return options[text], ""
    ids = {cid.lower(): cid for cid in options.values()}
    if text.lower() in ids:
        return ids[text.lower()], ""
    hits = [label for label in options if text.lower() in label.lower()]
    if len(hits) == 1:
        return options[hits[0]], ""
    shown = html.escape(text)
    if not hits:
        return None, f"No customer matches “{shown}”."
    return None, f"{len(hits):,} customers match “{shown}”: type more, or pick one from the list."


def _search_box(options: dict[str, str]) -> w.Combobox:
    """A customer search box: suggestions while typing, looked up on Enter."""
    return w.Combobox(options=list(options), placeholder="customer id or name", ensure_option=False,
                      continuous_update=False, description="Customer", layout=w.Layout(width="600px"))  # fmt: skip


def _currency(run_dir: str | Path) -> str:
    """The run's currency, from the params every prepared run folder keeps (no ledger to load)."""
    return RunFolder(Path(run_dir)).read_json(INPUTS_FILE)["params"]["currency"]


def _customer_options(table: pd.DataFrame) -> dict[str, str]:
    return {
        f"{cid} — {name}": str(cid)
        for cid, name in zip(table[CUSTOMER_ID], table[NAME], strict=True)
    }


def _csv_link(frame: pd.DataFrame, filename: str) -> HTML:
    """A link that downloads ``frame`` as a CSV file from the page itself (no server round trip),
    so a long table can be taken whole to a spreadsheet."""
    data = base64.b64encode(frame.to_csv(index=False).encode()).decode()
    return HTML(
        f'<a download="{html.escape(filename)}" href="data:text/csv;base64,{data}">'
        f"Download all {len(frame):,} rows as CSV</a>"
    )


def _run_value(name: str, value: object, run: object, step: float) -> object:
    """A lever's value, or None (the run's own setting) when it is within half a step of the
    run's: a browser slider rounds the run's value to its step, which must not count as a move."""
    if name == "max_probability":  # a log slider: steps in log10
        near = abs(math.log10(value) - math.log10(run)) <= step / 2 + 1e-9
    else:
        near = abs(value - run) <= step / 2 + 1e-9
    return None if near else value


def whatif(run_dir: str | Path) -> Workbench:
    """Policy what-if on a finished run: every lever recomputes the totals at once; "Reset to the
    run" puts every lever back. With the levers at the run's values the numbers are the run's."""
    base = whatif_base(run_dir)
    s = base.settings
    cur = _currency(run_dir)
    grades = [g.grade for g in s.grades]
    industries = sorted(base.table[INDUSTRY].astype(str).unique())
    style = {"description_width": "240px"}
    layout = w.Layout(width="600px")
    run_lgd = float(base.lgd_draws.mean())
    controls = {
        "max_grade": w.Dropdown(options=[("no cut-off", ""), *[(f"grade {g} or better", g) for g in grades]],
                                description="Credit up to", style=style, layout=layout),
        "lgd_mean": w.FloatSlider(value=run_lgd, min=0.05, max=0.95, step=0.01, readout_format=".0%",
                                  description="Mean LGD", style=style, layout=layout),
        "max_probability": w.FloatLogSlider(value=s.appetite.max_probability, base=10, min=-3, max=-0.7, step=0.05,
                                            readout_format=".2%", description="Appetite: max P(loss > threshold)",
                                            style=style, layout=layout),
        "loss_threshold": w.FloatText(value=s.appetite.loss_threshold, description=f"Appetite: loss threshold ({cur})",
                                      style=style, layout=layout),
        "terms_shift_days": w.IntSlider(value=0, min=-30, max=60, step=5, description="Customers pay later by (days)",
                                        style=style, layout=layout),
        "pd_multiplier": w.FloatSlider(value=1.0, min=0.5, max=3.0, step=0.1, description="PD stress (all)",
                                       style=style, layout=layout),
        "industry": w.Dropdown(options=[("none", ""), *[(i, i) for i in industries]],
                               description="Stress one industry", style=style, layout=layout),
        "industry_multiplier": w.FloatSlider(value=1.0, min=1.0, max=5.0, step=0.25, description="…by a PD multiple",
                                             style=style, layout=layout),
        "discount": w.FloatSlider(value=s.terms.discount, min=0.0, max=0.05, step=0.0025, readout_format=".2%",
                                  description=f"Discount for paying in {s.terms.discount_days} days",
                                  style=style, layout=layout),
    }  # fmt: skip
    run_values = {name: c.value for name, c in controls.items()}
    reset = w.Button(description="Reset to the run", icon="undo")
    bench = Workbench(controls, [reset])
    prob = base.prob
    holding = [False]  # True while reset moves every control (one update at the end)

    def levers() -> Levers:
        values = {name: c.value for name, c in controls.items()}
        for name in ("max_grade", "industry"):  # "" is "none" (a None value shows no label)
            values[name] = values[name] or None
        for name in ("lgd_mean", "max_probability", "discount"):
            values[name] = _run_value(name, values[name], run_values[name], controls[name].step)
        return Levers(**values)

    def update(_=None) -> None:
        if holding[0]:
            return
        result = evaluate(base, levers())
        bench.result = result
        ref, now = base.reference["summary"], result["summary"]

        def money_interval(d: dict, key: str) -> str:
            return f"{fmt_money(d[f'{key}_mean'])} ({fmt_money(d[f'{key}_lo'])}–{fmt_money(d[f'{key}_hi'])})"

        rows = [
            ("Customers with credit", f"{ref['customers_with_credit']:,}", f"{now['customers_with_credit']:,}"),
            (f"Recommended limits ({cur})", fmt_money(ref["recommended_limits"]), fmt_money(now["recommended_limits"])),
            (f"Approved exposure ({cur})", fmt_money(ref["approved_exposure"]), fmt_money(now["approved_exposure"])),
            (f"ECL ({cur}, {prob:.0%} interval)", money_interval(ref, "ecl"), money_interval(now, "ecl")),
            (f"Provision ({cur}, historical rates x PD stress)", money_interval(ref, "allowance"),
             money_interval(now, "allowance")),
            ("Customers for whom the discount pays", f"{ref['discount_pays_for']:,}", f"{now['discount_pays_for']:,}"),
        ]  # fmt: skip
        shown = pd.DataFrame(rows, columns=["", "Run", "What-if"])
        bench.result["table"] = shown
        bench.out.clear_output(wait=True)
        with bench.out:
            display(table(shown))
            display(
                table(
                    result["migration"].reset_index().rename(columns=str),
                    caption="Grade migration (rows: run, columns: what-if)",
                )
            )
            affected = result["affected"].rename(columns={
                CUSTOMER_ID: "Customer", NAME: "Name", "grade": "Grade", "whatif_grade": "What-if grade",
                "recommended_limit": f"Limit ({cur})", "whatif_limit": f"What-if limit ({cur})", "change": "Change",
            })  # fmt: skip
            display(table(affected.head(25), money=[f"Limit ({cur})", f"What-if limit ({cur})", "Change"],
                          caption=f"Customers affected: {len(affected):,} (largest changes first"
                                  + ("; the first 25 shown)" if len(affected) > 25 else ")")))  # fmt: skip
            if len(affected):
                display(_csv_link(affected, "whatif_affected.csv"))

    def back_to_run(_=None) -> None:
        holding[0] = True
        try:
            for name, control in controls.items():
                control.value = run_values[name]
        finally:
            holding[0] = False
        update()

    for control in controls.values():
        control.observe(update, names="value")
    reset.on_click(back_to_run)
    update()
    return bench


def customer_360(run_dir: str | Path) -> Workbench:
    """Search a customer by id or name; show it from every side; render its review."""
    run = open_run(run_dir)
    if (Path(run_dir) / PD_MODEL_FILE).is_file():
        pd_model(run)  # read the posterior now, so that no pick waits for it
    options = _customer_options(run.ledger.customers)
    search = _search_box(options)
    button = w.Button(
        description="Render review report", icon="file", layout=w.Layout(width="220px")
    )
    bench = Workbench({"customer": search}, [button])
    bench.status.value = _find_customer("", options)[1]

    def show(_=None) -> None:
        cid, message = _find_customer(search.value, options)
        bench.status.value = message
        if cid is None:
            return
        bench.result = {"customer_id": cid}
        bench.out.clear_output(wait=True)
        with bench.out:
            for part in (customer_section.profile, customer_section.exposure, customer_section.payments,
                         customer_section.pd_path, customer_section.actions):  # fmt: skip
                display(*part(run, cid))

    def render(_=None) -> None:
        cid, message = _find_customer(search.value, options)
        if cid is None:
            bench.status.value = message
            return
        bench.status.value = f"Rendering the review of {html.escape(cid)}… (10 to 20 seconds)"
        t0 = time.perf_counter()
        try:
            path = render_review(run_dir, cid)
        except CreditlabError as exc:
            bench.status.value = f"<b>Failed:</b> {html.escape(str(exc))}"
            return
        bench.result["review"] = path
        took = time.perf_counter() - t0
        bench.status.value = f"Written in {took:.0f} s: <code>{html.escape(str(path))}</code>"

    search.observe(show, names="value")
    button.on_click(render)
    return bench


def order_approval(run_dir: str | Path) -> Workbench:
    """Approve, refer or decline an order on credit, with the reasons."""
    table_path = Path(run_dir) / TABLE_FILE
    if not table_path.is_file():
        raise CreditlabError(f"{run_dir}: no decisions in this run (it needs the PD model)")
    options = _customer_options(pd.read_parquet(table_path))
    cur = _currency(run_dir)
    controls = {
        "customer": _search_box(options),
        "amount": w.FloatText(value=10_000.0, description=f"Order amount ({cur})",
                              style={"description_width": "initial"}),
    }  # fmt: skip
    button = w.Button(description="Check", button_style="primary")
    bench = Workbench(controls, [button])

    def check(_=None) -> None:
        cid, message = _find_customer(controls["customer"].value, options)
        if cid is None:
            bench.status.value = message
            return
        try:
            decision = approve(run_dir, cid, controls["amount"].value)
        except CreditlabError as exc:
            bench.status.value = f"<b>Cannot check:</b> {html.escape(str(exc))}"
            return
        bench.result = {"decision": decision}
        colour = {"approve": "#2b7a3d", "refer": "#b7791f", "decline": "#a4161a"}[decision.decision]
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in decision.reasons)
        bench.status.value = (
            f'<b style="color:{colour}">{decision.decision.upper()}</b><ul>{reasons}</ul>'
        )

    button.on_click(check)
    return bench


def insurance_whatif(run_dir: str | Path) -> Workbench:
    """Insure one customer up to an amount and see the year's losses after insurance again.

    The what-if simulates the same years as the run (same seed, same draws), so the difference
    between the two columns is the cover's effect, not simulation noise.
    """
    from creditlab.decisions.portfolio_loss import simulate  # loads the compiler on first use

    run, inputs = loss_base(run_dir)
    settings, prob = run.params.portfolio_loss, run.params.interval_prob
    seed, cur = loss_seed(run, settings), run.params.currency
    options = _customer_options(pd.read_parquet(Path(run_dir) / TABLE_FILE))  # the simulated ones
    controls = {
        "customer": _search_box(options),
        "limit": w.FloatText(value=50_000.0, description=f"Insured limit ({cur})",
                             style={"description_width": "160px"}),
    }  # fmt: skip
    button = w.Button(description="Recompute", button_style="primary")
    bench = Workbench(controls, [button])
    base = simulate(inputs, settings, prob, seed)

    def recompute(_=None) -> None:
        cid, message = _find_customer(controls["customer"].value, options)
        if cid is None:
            bench.status.value = message
            return
        if not controls["limit"].value >= 0:
            bench.status.value = "The insured limit must be an amount of 0 or more."
            return
        now = simulate(inputs.insure(cid, controls["limit"].value), settings, prob, seed)
        bench.result = {"customer_id": cid, "run": base, "whatif": now}
        rows = []
        for r, n in zip(base.distribution.itertuples(), now.distribution.itertuples(), strict=True):
            label = (
                "Expected loss" if r.measure == "expected loss" else f"{r.measure} {r.level:.1%}"
            )
            rows.append((label, fmt_money(r.net), fmt_money(n.net), fmt_money(n.net - r.net)))
        before = base.contributions.set_index(CUSTOMER_ID).loc[cid]
        after = now.contributions.set_index(CUSTOMER_ID).loc[cid]
        bench.status.value = (
            f"{html.escape(cid)}: insured {fmt_money(before['insured'])} → "
            f"{fmt_money(after['insured'])} {cur} of {fmt_money(after['ead'])} open AR; "
            f"its share of the worst years after insurance {fmt_money(before['net_es_contribution'])}"
            f" → {fmt_money(after['net_es_contribution'])}."
        )
        shown = pd.DataFrame(
            rows, columns=["After insurance", f"Run ({cur})", f"What-if ({cur})", "Change"]
        )
        bench.result["table"] = shown
        bench.out.clear_output(wait=True)
        with bench.out:
            display(table(shown, caption=f"{settings.scenarios:,} simulated years, the same for both columns"))  # fmt: skip

    button.on_click(recompute)
    return bench
