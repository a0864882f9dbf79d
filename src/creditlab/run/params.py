"""Run parameters: typed, frozen, loaded from YAML, unknown keys rejected.

A params file describes one run: where the ledger comes from (``data`` or ``synthetic``), how its
columns map onto the canonical schema (``mapping``), the as-of date, report settings, and the
settings of every stage (``pd_model``, ``payment_model``, ``decisions``, ``portfolio_loss``) and
the credit insurance policy (``insurance``), which are parsed into
their typed dataclasses here, once, so every mistake surfaces before any data is read. Relative
paths in a params file are resolved against the folder that holds the file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from creditlab.config import parse_date, parse_section, read_yaml, reject_unknown_keys
from creditlab.decisions.insurance import Insurance, parse_insurance
from creditlab.decisions.loss_settings import PortfolioLossSettings, parse_loss_settings
from creditlab.decisions.params import parse_decision_settings
from creditlab.decisions.reminders import ReminderSettings, parse_reminders
from creditlab.decisions.settings import DecisionSettings
from creditlab.errors import ConfigError
from creditlab.ledger.fx import load_fx
from creditlab.ledger.synth import SynthConfig
from creditlab.run.settings import (
    PaymentSettings,
    PDSettings,
    parse_payment_settings,
    parse_pd_settings,
)

__all__ = ["DeliverySpec", "ReportsSpec", "RunParams", "SyntheticSpec", "load_params"]


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    """Size and seed of a synthetic portfolio generated for the run (demo and CI)."""

    customers: int = 300
    seed: int = 7
    years: float = 3.0
    regime_shift: bool = True


@dataclasses.dataclass(frozen=True)
class ReportsSpec:
    """Reports a weekly run renders besides the weekly one, into the same run folder."""

    model_validation: bool = False
    customer_reviews: int = 0  # review this many customers, most alerted first

    def __post_init__(self) -> None:
        if not isinstance(self.model_validation, bool) or not isinstance(
            self.customer_reviews, int
        ):
            raise ValueError("model_validation must be true/false and customer_reviews an integer")
        if self.customer_reviews < 0:
            raise ValueError("customer_reviews must be >= 0")


@dataclasses.dataclass(frozen=True)
class DeliverySpec:
    """Who gets the report and who hears about failures (SMTP settings come from the environment
    only, never from params)."""

    to: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    subject_prefix: str = "[creditlab]"

    def __post_init__(self) -> None:
        for field in ("to", "operators"):
            value = getattr(self, field)
            addresses = (value,) if isinstance(value, str) else tuple(value)
            bad = [
                a for a in addresses if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", str(a))
            ]
            if bad:
                raise ValueError(f"{field}: not e-mail addresses: {bad}")
            object.__setattr__(self, field, addresses)


@dataclasses.dataclass(frozen=True)
class RunParams:
    """Everything one report run needs. Build it with :func:`load_params`."""

    title: str = "Weekly portfolio report"
    portfolio: str = "portfolio"
    data: Path | None = None
    synthetic: SyntheticSpec | None = None
    mapping: Mapping[str, Any] | None = None
    as_of: dt.date | None = None
    currency: str = "EUR"
    fx: Mapping[str, Any] | None = None  # the fx: section, its rates file made absolute
    strict: bool = False
    store: Path | None = None
    top_n: int = 10
    trend_months: int = 12
    dso_period_days: int = 90
    max_reject_share: float = 0.05
    interval_prob: float = 0.9
    seed: int = 20261122
    pd_model: PDSettings = PDSettings(enabled=False)
    decisions: DecisionSettings = DecisionSettings(enabled=False)
    payment_model: PaymentSettings = PaymentSettings(enabled=False)
    portfolio_loss: PortfolioLossSettings = PortfolioLossSettings(enabled=False)
    insurance: Insurance | None = None
    reminders: ReminderSettings = ReminderSettings()
    reports: ReportsSpec = dataclasses.field(default_factory=lambda: ReportsSpec())
    delivery: DeliverySpec = dataclasses.field(default_factory=lambda: DeliverySpec())
    stale_days: int = 14
    source: Path | None = None
    sha256: str | None = None
    # the stage sections as written in the file (what the manifest records and runs reload)
    raw_sections: Mapping[str, Any] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )

    def synth_config(self) -> SynthConfig:
        """The generator settings of the run's synthetic portfolio (its ``synthetic:`` spec, or
        the generator's defaults, in the run's currency)."""
        spec = self.synthetic or SyntheticSpec()
        return SynthConfig(
            customers=spec.customers,
            seed=spec.seed,
            years=spec.years,
            regime_shift=spec.regime_shift,
            currency=self.currency,
        )

    def to_dict(self) -> dict[str, Any]:
        """The resolved parameters as plain JSON-able values (for the run manifest)."""

        def plain(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, dt.date):
                return value.isoformat()
            if dataclasses.is_dataclass(value):
                return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
            if isinstance(value, Mapping):
                return {str(k): plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        return {
            f.name: plain(
                self.raw_sections.get(f.name)
                if f.name in _STAGE_SECTIONS
                else getattr(self, f.name)
            )
            for f in dataclasses.fields(self)
            if f.name != "raw_sections"
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunParams:
        """Rebuild params from :meth:`to_dict` output (as saved in a run folder)."""
        out = dict(values)
        for key in ("data", "store", "source"):
            out[key] = Path(out[key]) if out.get(key) else None
        out["as_of"] = dt.date.fromisoformat(out["as_of"]) if out.get("as_of") else None
        out["synthetic"] = SyntheticSpec(**out["synthetic"]) if out.get("synthetic") else None
        out["reports"] = ReportsSpec(**(out.get("reports") or {}))
        out["delivery"] = DeliverySpec(**(out.get("delivery") or {}))
        out["insurance"] = parse_insurance(out.get("insurance"), Path("."), "params: insurance")
        out["reminders"] = parse_reminders(out.get("reminders"), Path("."), "params: reminders")
        out.update(_stage_sections(out, "params"))
        return cls(**out)


_STAGE_SECTIONS = {
    "pd_model": parse_pd_settings,
    "payment_model": parse_payment_settings,
    "decisions": parse_decision_settings,
    "portfolio_loss": parse_loss_settings,
}


def _stage_sections(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Every stage's typed settings (a missing section: that stage is off), and the raw sections."""
    out: dict[str, Any] = {}
    for key, parse in _STAGE_SECTIONS.items():
        value = raw.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"{where}: {key}: expected a mapping of {key} settings")
        out[key] = parse(value, where=f"{where}: {key}")
    out["raw_sections"] = {key: raw.get(key) for key in _STAGE_SECTIONS}
    return out


_TYPES: dict[str, type | tuple[type, ...]] = {
    "title": str,
    "portfolio": str,
    "currency": str,
    "strict": bool,
    "top_n": int,
    "trend_months": int,
    "dso_period_days": int,
    "max_reject_share": (int, float),
    "interval_prob": (int, float),
    "seed": int,
    "stale_days": int,
}


def _synthetic(value: Any, where: str) -> SyntheticSpec:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping (customers, seed, years, regime_shift)")
    reject_unknown_keys(value, {f.name for f in dataclasses.fields(SyntheticSpec)}, where)
    spec = SyntheticSpec(**value)
    if not isinstance(spec.customers, int) or spec.customers < 1:
        raise ConfigError(f"{where}.customers: expected a positive integer")
    return spec


def load_params(
    path: str | Path,
    *,
    data: str | Path | None = None,
    as_of: str | dt.date | None = None,
    store: str | Path | None = None,
) -> RunParams:
    """Load and validate a params file; ``data``, ``as_of`` and ``store`` override what the file
    says.

    Raises
    ------
    ConfigError
        The file is missing, not YAML, has an unknown key, or a value of the wrong type, in the
        run's own keys or in any stage's section.
    """
    path = Path(path)
    raw = read_yaml(path)
    reject_unknown_keys(
        raw,
        {f.name for f in dataclasses.fields(RunParams)} - {"source", "sha256", "raw_sections"},
        str(path),
    )
    values: dict[str, Any] = _stage_sections(raw, str(path))
    for key, value in raw.items():
        if key in _STAGE_SECTIONS:
            continue
        where = f"{path}: {key}"
        expected = _TYPES.get(key)
        if expected is not None:
            ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
            if not ok:
                raise ConfigError(
                    f"{where}: expected {getattr(expected, '__name__', 'a number')}, got {value!r}"
                )
            values[key] = value
        elif key in {"data", "store"}:
            values[key] = None if value is None else (path.parent / str(value)).resolve()
        elif key == "as_of":
            values[key] = None if value is None else parse_date(value, where)
        elif key == "synthetic":
            values[key] = None if value is None else _synthetic(value, where)
        elif key == "reports":
            values[key] = parse_section(ReportsSpec, value, where)
        elif key == "delivery":
            values[key] = parse_section(DeliverySpec, value, where)
        elif key == "insurance":
            values[key] = parse_insurance(value, path.parent, where)
        elif key == "reminders":
            values[key] = parse_reminders(value, path.parent, where)
        elif key == "fx":
            load_fx(value, path.parent, where)  # checked now, read again when the run loads data
            if value and value.get("rates"):
                value = {**value, "rates": str((path.parent / str(value["rates"])).resolve())}
            values[key] = value
        elif key == "mapping":
            if isinstance(value, str):
                content = read_yaml((path.parent / value).resolve())
                value = content.get("mapping", content)
            if value is not None and not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a mapping or the path of a mapping file")
            values[key] = value
    if data is not None:
        values["data"] = Path(data).resolve()
        values["synthetic"] = None
    if as_of is not None:
        values["as_of"] = parse_date(as_of, "--as-of")
    if store is not None:
        values["store"] = Path(store).resolve()
    if values.get("data") is None and values.get("synthetic") is None:
        raise ConfigError(
            f"{path}: give either 'data' (a ledger folder) or 'synthetic' "
            "(a generated portfolio), or pass --data DIR"
        )
    if not 0 < float(values.get("interval_prob", 0.9)) < 1:
        raise ConfigError(f"{path}: interval_prob must be between 0 and 1")
    currency = values.get("currency", "EUR")
    if not (len(currency) == 3 and currency.isalpha() and currency.isupper()):
        raise ConfigError(f"{path}: currency must be an ISO 4217 code like EUR, got {currency!r}")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return RunParams(**values, source=path.resolve(), sha256=sha)
