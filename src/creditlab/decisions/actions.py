"""The week's actions worth the most money: one line per customer, from the worklist, the limits,
the ECL and the ledger's exposure, so a credit manager reads the five that matter first.

Each candidate action has an **amount** (the money it is about) and a **worth** (the money it is
expected to save), and customers are ranked by the worth of their best action:

- *collect / call / escalate / resolve a dispute* (the worklist's dunning step for the customer's
  invoices): amount = their open amount; worth = their cash at risk, open amount x P(90+ DPD or
  default), as the worklist ranks them;
- *hold new orders* (open AR above the credit limit, customer not in default): amount = the excess
  over the limit; worth = excess x PD x LGD, the expected loss on exposure the limit does not allow;
- *cut the limit* (the recommended limit is below the current one and the current one still has
  room above the open AR): amount = that unsupported room; worth = room x PD x LGD, the expected
  loss if the customer drew on it;
- *provide* (customer in default with open AR): amount = the open AR; worth = its ECL (LGD x EAD).

Without a PD model (no decision table) only the worklist's actions and the holds are ranked; a
hold is then weighed by the customer's highest chance on the worklist of reaching 90+ DPD.
A customer's other actions are named in its reason, so nothing is lost by keeping one line each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from creditlab.ledger.schema import CREDIT_LIMIT, CUSTOMER_ID, IN_DEFAULT, NAME, OPEN_AR, PD_MEAN

__all__ = ["ACTION_COLUMNS", "week_actions"]

ACTION_COLUMNS = [
    "rank",
    CUSTOMER_ID,
    NAME,
    "action",
    "amount",
    "amount_is",
    "worth",
    "reason",
    "owner",
]


def week_actions(
    worklist: pd.DataFrame,
    exposure: pd.DataFrame,
    table: pd.DataFrame | None,
    n: int | None = None,
) -> pd.DataFrame:
    """Customers ranked by the worth of their best action, one line each (``ACTION_COLUMNS``).

    Parameters
    ----------
    worklist
        The collections worklist (``worklist.WORKLIST_COLUMNS``).
    exposure
        Per customer ``customer_id, name, credit_limit, open_ar`` at the as-of date.
    table
        The decision table (``pd_mean, in_default, lgd, current_limit, recommended_limit,
        ecl_mean, approval, rationale`` per customer), or None when the run has no PD model.
    n
        How many lines to return (None: every customer with an action).
    """
    candidates = [_collect(worklist), _holds(worklist, exposure, table)]
    if table is not None:
        candidates += [_limit_cuts(table, exposure), _provisions(table, exposure)]
    found = [c.loc[c["worth"] > 0] for c in candidates]
    found = [c for c in found if len(c)]
    if not found:
        return pd.DataFrame(columns=ACTION_COLUMNS)
    found = pd.concat(found, ignore_index=True).sort_values(
        ["worth", CUSTOMER_ID], ascending=[False, True], kind="stable"
    )
    also = found.groupby(CUSTOMER_ID, sort=False)["action"].agg(list)
    best = found.drop_duplicates(CUSTOMER_ID).head(n).copy()
    best["reason"] = [
        reason + "".join(f"; also: {a}" for a in also[c][1:])
        for c, reason in zip(best[CUSTOMER_ID], best["reason"], strict=True)
    ]
    names = exposure.set_index(CUSTOMER_ID)[NAME]
    best[NAME] = best[CUSTOMER_ID].map(names)
    best["rank"] = np.arange(1, len(best) + 1)
    return best[ACTION_COLUMNS].reset_index(drop=True)


def _frame(rows: list[dict]) -> pd.DataFrame:
    cols = [CUSTOMER_ID, "action", "amount", "amount_is", "worth", "reason", "owner"]
    return pd.DataFrame(rows, columns=cols)


def _collect(worklist: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for customer, items in worklist.groupby(CUSTOMER_ID, sort=False):
        top = items.sort_values("cash_at_risk", ascending=False).iloc[0]
        overdue = items.loc[items["dpd"] > 0]
        rows.append(
            {
                CUSTOMER_ID: customer,
                "action": str(top["action"]),
                "amount": float(items["open_amount"].sum()),
                "amount_is": "open on the worklist",
                "worth": float(items["cash_at_risk"].sum()),
                "reason": (
                    f"{len(items)} invoice(s) due for a dunning step"
                    + (
                        f", oldest {int(overdue['dpd'].max())} days past due"
                        if len(overdue)
                        else ", not yet overdue"
                    )
                    + f"; chance of 90+ DPD or default up to {items['p_at_risk'].max():.0%}"
                    + (
                        f"; {int(items['disputed'].sum())} disputed"
                        if items["disputed"].any()
                        else ""
                    )
                    + (
                        f"; acting is expected to bring in {items['extra_cash'].sum():,.0f} "
                        "more within a week"
                        if items["extra_cash"].sum() > 0
                        else ""
                    )
                ),
                "owner": str(top["approval"]),
            }
        )
    return _frame(rows)


def _holds(
    worklist: pd.DataFrame, exposure: pd.DataFrame, table: pd.DataFrame | None
) -> pd.DataFrame:
    over = exposure.loc[
        exposure[CREDIT_LIMIT].notna() & (exposure[OPEN_AR] > exposure[CREDIT_LIMIT])
    ]
    if table is not None:
        risk = table.set_index(CUSTOMER_ID)
        over = over.loc[~over[CUSTOMER_ID].map(risk[IN_DEFAULT]).fillna(False).astype(bool)]
        p = over[CUSTOMER_ID].map(risk[PD_MEAN] * risk["lgd"])
        why = "PD x LGD"
    else:
        p = over[CUSTOMER_ID].map(worklist.groupby(CUSTOMER_ID)["p_at_risk"].max()).fillna(0.0)
        why = "the chance of 90+ DPD (no PD model)"
    excess = over[OPEN_AR] - over[CREDIT_LIMIT]
    return _frame(
        [
            {
                CUSTOMER_ID: c,
                "action": "hold new orders until under the limit",
                "amount": float(x),
                "amount_is": "open AR above the limit",
                "worth": float(x * q),
                "reason": f"open AR {ar:,.0f} over its limit {lim:,.0f}; worth = excess x {why}",
                "owner": "credit analyst",
            }
            for c, x, q, ar, lim in zip(
                over[CUSTOMER_ID],
                excess,
                p.fillna(0.0),
                over[OPEN_AR],
                over[CREDIT_LIMIT],
                strict=True,
            )
        ]
    )


def _limit_cuts(table: pd.DataFrame, exposure: pd.DataFrame) -> pd.DataFrame:
    t = table.loc[~table[IN_DEFAULT].astype(bool)]
    ar = t[CUSTOMER_ID].map(exposure.set_index(CUSTOMER_ID)[OPEN_AR]).fillna(0.0)
    room = t["current_limit"] - np.maximum(t["recommended_limit"], ar)
    cut = (t["recommended_limit"] < t["current_limit"]) & (room > 0)
    t, room = t.loc[cut], room.loc[cut]
    return _frame(
        [
            {
                CUSTOMER_ID: r[CUSTOMER_ID],
                "action": f"cut the limit to {r['recommended_limit']:,.0f}",
                "amount": float(x),
                "amount_is": "limit room the model does not support",
                "worth": float(x * r[PD_MEAN] * r["lgd"]),
                "reason": str(r["rationale"]),
                "owner": str(r["approval"]),
            }
            for (_, r), x in zip(t.iterrows(), room, strict=True)
        ]
    )


def _provisions(table: pd.DataFrame, exposure: pd.DataFrame) -> pd.DataFrame:
    ar = table[CUSTOMER_ID].map(exposure.set_index(CUSTOMER_ID)[OPEN_AR]).fillna(0.0)
    hit = table[IN_DEFAULT].astype(bool) & (ar > 0)
    t, ar = table.loc[hit], ar.loc[hit]
    return _frame(
        [
            {
                CUSTOMER_ID: r[CUSTOMER_ID],
                "action": f"provide {r['ecl_mean']:,.0f} for this customer",
                "amount": float(a),
                "amount_is": "open AR in default",
                "worth": float(r["ecl_mean"]),
                "reason": f"in default with {a:,.0f} open; expected loss at LGD {r['lgd']:.0%}",
                "owner": "finance",
            }
            for (_, r), a in zip(t.iterrows(), ar, strict=True)
        ]
    )
