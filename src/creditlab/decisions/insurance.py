"""Credit insurance: the ``insurance:`` section of a params file and each customer's cover.

A trade-credit policy names buyers and gives each an insured limit (the insurer's credit limit);
buyers not named are covered up to the policy's discretionary limit (often zero). When a covered
customer defaults, the insured part of its debt is ``min(exposure, insured limit)``, and the loss on
it (the same loss-given-default as the rest, recoveries shared pro rata) is indemnified at the
indemnity share (e.g. 90 %), less a deductible per claim. Over the policy year the insurer pays
the claims above the aggregate first loss, up to the maximum liability::

    claim_i  = indemnity_i * max(0, LGD_i * min(EAD_i, limit_i) - deductible)
    payout   = min(max_liability, max(0, sum_i claim_i - aggregate_first_loss))
    net loss = gross loss - payout

The policy table is a CSV file (``customer_id, insured_limit`` and optionally ``indemnity``) or an
inline mapping ``limits: {customer_id: limit}``; inline limits override the file's (a customer the
file names keeps its indemnity).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditlab.config import parse_section
from creditlab.errors import ConfigError
from creditlab.ledger.schema import CUSTOMER_ID

__all__ = ["POLICY_COLUMNS", "Insurance", "cover", "parse_insurance", "policy_table"]

INSURED_LIMIT, INDEMNITY = "insured_limit", "indemnity"
POLICY_COLUMNS = [CUSTOMER_ID, INSURED_LIMIT]


@dataclasses.dataclass(frozen=True)
class Insurance:
    """A whole-turnover credit insurance policy."""

    policy: str | None = None  # CSV file: customer_id, insured_limit[, indemnity]
    limits: Mapping[str, float] = dataclasses.field(default_factory=dict)  # inline limits
    indemnity: float = 0.9  # share of an eligible loss the insurer pays
    discretionary_limit: float = 0.0  # cover of customers the policy does not name
    deductible: float = 0.0  # taken off every claim
    aggregate_first_loss: float = 0.0  # claims the insured bears each policy year before any payout
    max_liability: float | None = None  # the most the insurer pays in a year (None: no cap)

    def __post_init__(self) -> None:
        if not 0 <= self.indemnity <= 1:
            raise ValueError(f"indemnity must be between 0 and 1, got {self.indemnity}")
        for name in ("discretionary_limit", "deductible", "aggregate_first_loss"):
            if not isinstance(getattr(self, name), int | float) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a number >= 0, got {getattr(self, name)!r}")
        if self.max_liability is not None and not self.max_liability > 0:
            raise ValueError(f"max_liability must be > 0 (or left out), got {self.max_liability}")
        if not isinstance(self.limits, Mapping):
            raise ValueError("limits: expected a mapping of customer_id to insured limit")
        for cid, value in self.limits.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"limits.{cid}: expected an amount >= 0, got {value!r}")

    @property
    def terms(self) -> np.ndarray:
        """(deductible, aggregate first loss, maximum liability) as the simulation takes them."""
        cap = math.inf if self.max_liability is None else float(self.max_liability)
        return np.array([float(self.deductible), float(self.aggregate_first_loss), cap])

    def insure(self, customer_id: str, limit: float) -> Insurance:
        """This policy with ``customer_id`` insured up to ``limit`` (a what-if)."""
        return dataclasses.replace(self, limits={**self.limits, str(customer_id): float(limit)})


def parse_insurance(raw: Any, base: Path, where: str) -> Insurance | None:
    """The ``insurance:`` section (None when absent); the policy file is resolved against ``base``
    and read once now, so a mistake in it stops the run before any data is read."""
    if raw is None:
        return None
    ins = parse_section(Insurance, raw, where)
    if ins.policy is not None:
        ins = dataclasses.replace(ins, policy=str((base / ins.policy).resolve()))
        policy_table(ins)
    return ins


def policy_table(ins: Insurance) -> pd.DataFrame:
    """The named customers' limits and indemnities: the file's rows, then the inline limits.

    Raises
    ------
    ConfigError
        The file is missing or unreadable, lacks a column, or a value is not a number in range
        (the message names the file, the row and the column).
    """
    frames = []
    if ins.policy is not None:
        path = Path(ins.policy)
        if not path.is_file():
            raise ConfigError(f"insurance.policy: {path}: file not found")
        try:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise ConfigError(f"{path}: not a readable CSV file: {exc}") from exc
        missing = [c for c in POLICY_COLUMNS if c not in raw.columns]
        if missing:
            raise ConfigError(
                f"{path}: missing column(s) {missing}; expected {POLICY_COLUMNS} and optionally "
                f"{INDEMNITY!r}, found {list(raw.columns)}"
            )
        table = pd.DataFrame({CUSTOMER_ID: raw[CUSTOMER_ID].str.strip()})
        for column, top in ((INSURED_LIMIT, math.inf), (INDEMNITY, 1.0)):
            if column not in raw.columns:
                table[column] = ins.indemnity
                continue
            values = pd.to_numeric(raw[column].str.strip(), errors="coerce")
            bad = values.isna() | (values < 0) | (values > top)
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise ConfigError(
                    f"{path}: row {row + 2}, column {column!r}: expected a number between 0 and "
                    f"{top:g}, got {raw[column].iloc[row]!r}"
                )
            table[column] = values.to_numpy(dtype=float)
        empty = table[CUSTOMER_ID] == ""
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise ConfigError(f"{path}: row {row + 2}, column {CUSTOMER_ID!r}: empty")
        dup = table[CUSTOMER_ID].duplicated()
        if dup.any():
            row = int(np.flatnonzero(dup.to_numpy())[0])
            raise ConfigError(
                f"{path}: row {row + 2}: customer {table[CUSTOMER_ID].iloc[row]!r} is named twice"
            )
        frames.append(table)
    if ins.limits:
        ids = [str(k) for k in ins.limits]
        named = frames[0].set_index(CUSTOMER_ID)[INDEMNITY] if frames else pd.Series(dtype=float)
        frames.append(
            pd.DataFrame(
                {
                    CUSTOMER_ID: ids,
                    INSURED_LIMIT: [float(v) for v in ins.limits.values()],
                    INDEMNITY: pd.Series(ids).map(named).fillna(ins.indemnity).to_numpy(float),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=[CUSTOMER_ID, INSURED_LIMIT, INDEMNITY])
    return pd.concat(frames, ignore_index=True).drop_duplicates(CUSTOMER_ID, keep="last")


def cover(
    customer_ids: pd.Series | np.ndarray, ead: np.ndarray, ins: Insurance | None
) -> tuple[pd.DataFrame, list[str]]:
    """Each customer's cover: ``customer_id, insured_limit, indemnity, insured, uninsured``.

    ``insured`` is the insured part of the exposure, ``min(EAD, insured limit)``. Also returns the
    policy's named customers that are not among ``customer_ids`` (sorted).
    """
    ids = pd.Index(np.asarray(customer_ids).astype(str))
    ead = np.asarray(ead, dtype=float)
    if ins is None:
        limit, indemnity, unknown = np.zeros(len(ids)), np.zeros(len(ids)), []
    else:
        named = policy_table(ins).set_index(CUSTOMER_ID)
        limit = named[INSURED_LIMIT].reindex(ids).fillna(ins.discretionary_limit).to_numpy(float)
        indemnity = named[INDEMNITY].reindex(ids).fillna(ins.indemnity).to_numpy(float)
        unknown = sorted(set(named.index) - set(ids))
    insured = np.minimum(np.clip(ead, 0, None), limit)
    table = pd.DataFrame(
        {
            CUSTOMER_ID: ids,
            INSURED_LIMIT: limit,
            INDEMNITY: np.where(limit > 0, indemnity, 0.0),
            "insured": insured,
            "uninsured": np.clip(ead, 0, None) - insured,
        }
    )
    return table, unknown
