"""The headline figures of a run, formatted for the e-mail and the batch index page."""

from __future__ import annotations

from creditlab.ledger.schema import OPEN_AR

__all__ = ["headline_rows"]


def headline_rows(manifest: dict) -> list[tuple[str, str]]:
    """The headline figures of a run (label, formatted value) for e-mails and the batch index."""
    k, cur = manifest.get("kpis", {}), manifest.get("params", {}).get("currency", "")
    decisions = manifest.get("decisions") or {}
    gate = (manifest.get("pd_model") or {}).get("gate")
    reserve = (manifest.get("portfolio_loss") or {}).get("reserve")
    return [
        ("Open AR", f"{k['open_ar']:,.0f} {cur}" if OPEN_AR in k else "–"),
        ("Overdue share", f"{k['overdue_share']:.1%}" if "overdue_share" in k else "–"),
        ("DSO", f"{k['dso']:.1f} days" if "dso" in k else "–"),
        ("Limit breaches", f"{k.get('limit_breaches', '–')}"),
        (
            "Alerts",
            "not computed"
            if decisions.get("alerts") is None
            else ", ".join(f"{n} {s}" for s, n in decisions["alerts"].items()) or "none",
        ),
        (
            "PD model",
            "not fitted"
            if not gate
            else ("converged" if gate["passed"] else "FAILED the convergence gate"),
        ),
        (
            "Bad-year credit loss",
            "not computed"
            if not reserve
            else f"1 in {round(1 / (1 - reserve['level']))} years: {reserve['gross_var']:,.0f} "
            f"{cur} ({reserve['net_var']:,.0f} after insurance)",
        ),
    ]
