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

from pathlib import Path

import ipywidgets as w
import pandas as pd
from IPython.display import display

from creditlab.decisions.whatif import Levers, evaluate
from creditlab.errors import CreditlabError
from creditlab.ledger.schema import CUSTOMER_ID, INDUSTRY, NAME
from creditlab.report import customer_section
from creditlab.report.tables import fmt_money, md_escape, table
from creditlab.run.folder import TABLE_FILE
from creditlab.run.orchestrate import render_review
from creditlab.run.prepare import open_run
from creditlab.run.queries import approve, loss_base, whatif_base
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


def _customer_options(table: pd.DataFrame) -> dict[str, str]:
    return {
        f"{cid} — {name}": str(cid)
        for cid, name in zip(table[CUSTOMER_ID], table[NAME], strict=True)
    }


def whatif(run_dir: str | Path) -> Workbench:
    """Policy what-if on a finished run: every lever recomputes the totals at once."""
    base = whatif_base(run_dir)
    s = base.settings
    grades = [g.grade for g in s.grades]
    industries = sorted(base.table[INDUSTRY].astype(str).unique())
    style = {"description_width": "220px"}
    layout = w.Layout(width="560px")
    controls = {
        "max_grade": w.Dropdown(options=[("no cut-off", None), *[(f"grade {g} or better", g) for g in grades]],
                                description="Credit up to", style=style, layout=layout),
        "lgd_mean": w.FloatSlider(value=float(base.lgd_draws.mean()), min=0.05, max=0.95, step=0.05,
                                  description="Mean LGD", style=style, layout=layout),
        "max_probability": w.FloatLogSlider(value=s.appetite.max_probability, base=10, min=-3, max=-0.7, step=0.05,
                                            description="Appetite: max P(loss > threshold)", style=style, layout=layout),
        "loss_threshold": w.FloatText(value=s.appetite.loss_threshold, description="Appetite: loss threshold",
                                      style=style, layout=layout),
        "terms_shift_days": w.IntSlider(value=0, min=-30, max=60, step=5, description="Customers pay later by (days)",
                                        style=style, layout=layout),
        "pd_multiplier": w.FloatSlider(value=1.0, min=0.5, max=3.0, step=0.1, description="PD stress (all)",
                                       style=style, layout=layout),
        "industry": w.Dropdown(options=[("none", None), *[(i, i) for i in industries]],
                               description="Stress one industry", style=style, layout=layout),
        "industry_multiplier": w.FloatSlider(value=1.0, min=1.0, max=5.0, step=0.25, description="…by a PD multiple",
                                             style=style, layout=layout),
        "discount": w.FloatSlider(value=s.terms.discount, min=0.0, max=0.05, step=0.0025, readout_format=".2%",
                                  description=f"Discount for paying in {s.terms.discount_days} days",
                                  style=style, layout=layout),
    }  # fmt: skip
    bench = Workbench(controls)
    prob = base.prob

    def update(_=None) -> None:
        levers = Levers(**{k: c.value for k, c in controls.items()})
        result = evaluate(base, levers)
        bench.result = result
        ref, now = base.reference["summary"], result["summary"]
        rows = [
            ("Customers with credit", f"{ref['customers_with_credit']:,}", f"{now['customers_with_credit']:,}"),
            ("Recommended limits", fmt_money(ref["recommended_limits"]), fmt_money(now["recommended_limits"])),
            ("Approved exposure", fmt_money(ref["approved_exposure"]), fmt_money(now["approved_exposure"])),
            (f"ECL ({prob:.0%} interval)", f"{fmt_money(ref['ecl_mean'])} ({fmt_money(ref['ecl_lo'])}–{fmt_money(ref['ecl_hi'])})",
             f"{fmt_money(now['ecl_mean'])} ({fmt_money(now['ecl_lo'])}–{fmt_money(now['ecl_hi'])})"),
            ("Provision (historical rates x PD stress)", f"{fmt_money(ref['allowance_mean'])}",
             f"{fmt_money(now['allowance_mean'])} ({fmt_money(now['allowance_lo'])}–{fmt_money(now['allowance_hi'])})"),
            ("Customers for whom the discount pays", f"{ref['discount_pays_for']:,}", f"{now['discount_pays_for']:,}"),
        ]  # fmt: skip
        bench.out.clear_output(wait=True)
        with bench.out:
            display(table(pd.DataFrame(rows, columns=["", "Run", "What-if"])))
            display(
                table(
                    result["migration"].reset_index().rename(columns=str),
                    caption="Grade migration (rows: run, columns: what-if)",
                )
            )
            display(table(result["affected"].head(25), money=["recommended_limit", "whatif_limit", "change"],
                          caption=f"Customers affected: {len(result['affected']):,} (largest changes first)"))  # fmt: skip

    for control in controls.values():
        control.observe(update, names="value")
    update()
    return bench


def customer_360(run_dir: str | Path) -> Workbench:
    """Search a customer by id or name; show it from every side; render its review."""
    run = open_run(run_dir)
    options = _customer_options(run.ledger.customers)
    search = w.Combobox(options=list(options), placeholder="customer id or name", ensure_option=True,
                        description="Customer", layout=w.Layout(width="560px"))  # fmt: skip
    button = w.Button(description="Render review report", icon="file")
    bench = Workbench({"customer": search}, [button])

    def show(_=None) -> None:
        cid = options.get(search.value)
        if cid is None:
            return
        bench.result = {"customer_id": cid}
        bench.out.clear_output(wait=True)
        with bench.out:
            for part in (customer_section.profile, customer_section.exposure, customer_section.payments,
                         customer_section.pd_path, customer_section.actions):  # fmt: skip
                display(*part(run, cid))

    def render(_=None) -> None:
        cid = options.get(search.value)
        if cid is None:
            bench.status.value = "Choose a customer first."
            return
        bench.status.value = f"Rendering the review of {md_escape(cid)}… (about ten seconds)"
        try:
            path = render_review(run_dir, cid)
        except CreditlabError as exc:
            bench.status.value = f"<b>Failed:</b> {md_escape(exc)}"
            return
        bench.result["review"] = path
        bench.status.value = f"Written: <code>{md_escape(path)}</code>"

    search.observe(show, names="value")
    button.on_click(render)
    return bench


def order_approval(run_dir: str | Path) -> Workbench:
    """Approve, refer or decline an order on credit, with the reasons."""
    table_path = Path(run_dir) / TABLE_FILE
    if not table_path.is_file():
        raise CreditlabError(f"{run_dir}: no decisions in this run (it needs the PD model)")
    options = _customer_options(pd.read_parquet(table_path))
    controls = {
        "customer": w.Combobox(options=list(options), placeholder="customer id or name", ensure_option=True,
                               description="Customer", layout=w.Layout(width="560px")),
        "amount": w.FloatText(value=10_000.0, description="Order amount"),
    }  # fmt: skip
    button = w.Button(description="Check", button_style="primary")
    bench = Workbench(controls, [button])

    def check(_=None) -> None:
        cid = options.get(controls["customer"].value)
        if cid is None:
            bench.status.value = "Choose a customer first."
            return
        try:
            decision = approve(run_dir, cid, controls["amount"].value)
        except CreditlabError as exc:
            bench.status.value = f"<b>Cannot check:</b> {md_escape(exc)}"
            return
        bench.result = {"decision": decision}
        colour = {"approve": "#2b7a3d", "refer": "#b7791f", "decline": "#a4161a"}[decision.decision]
        reasons = "".join(f"<li>{md_escape(r)}</li>" for r in decision.reasons)
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
    names = pd.read_parquet(Path(run_dir) / TABLE_FILE).set_index(CUSTOMER_ID)[NAME]
    options = {f"{cid} — {names.get(cid, '')}": str(cid) for cid in inputs.customer_ids}
    controls = {
        "customer": w.Combobox(options=list(options), placeholder="customer id or name", ensure_option=False,
                               description="Customer", layout=w.Layout(width="560px")),
        "limit": w.FloatText(value=50_000.0, description=f"Insured limit ({cur})",
                             style={"description_width": "160px"}),
    }  # fmt: skip
    button = w.Button(description="Recompute", button_style="primary")
    bench = Workbench(controls, [button])
    base = simulate(inputs, settings, prob, seed)

    def recompute(_=None) -> None:
        typed = controls["customer"].value.strip()
        cid = options.get(typed) or (typed if typed in options.values() else None)
        if cid is None:
            bench.status.value = (
                f"No customer matches {md_escape(typed)!r}: pick one from the list or type its id."
                if typed
                else "Choose a customer first."
            )
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
            f"{md_escape(cid)}: insured {fmt_money(before['insured'])} → "
            f"{fmt_money(after['insured'])} {md_escape(cur)} of {fmt_money(after['ead'])} open AR; "
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
