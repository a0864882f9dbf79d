"""Run parameters: typed, frozen, loaded from YAML, unknown keys rejected.

A params file describes one run: where the ledger comes from (``data`` or ``synthetic``), how its
columns map onto the canonical schema (``mapping``), the as-of date and report settings. Relative
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

import yaml

from creditlab.errors import ConfigError

__all__ = [
    "DeliverySpec",
    "ReportsSpec",
    "RunParams",
    "SyntheticSpec",
    "load_params",
    "parse_section",
    "read_yaml",
    "reject_unknown_keys",
]


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
    strict: bool = False
    store: Path | None = None
    top_n: int = 10
    trend_months: int = 12
    dso_period_days: int = 90
    max_reject_share: float = 0.05
    interval_prob: float = 0.9
    seed: int = 20261122
    pd_model: Mapping[str, Any] | None = None
    decisions: Mapping[str, Any] | None = None
    payment_model: Mapping[str, Any] | None = None
    reports: ReportsSpec = dataclasses.field(default_factory=lambda: ReportsSpec())
    delivery: DeliverySpec = dataclasses.field(default_factory=lambda: DeliverySpec())
    stale_days: int = 14
    source: Path | None = None
    sha256: str | None = None

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

        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

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
        return cls(**out)


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


def reject_unknown_keys(raw: Mapping[str, Any], known: set[str], where: str) -> None:
    """Raise :class:`ConfigError` naming ``where`` when ``raw`` has keys outside ``known``."""
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(known)}")


def parse_section(cls: type, raw: Any, where: str) -> Any:
    """Build the frozen dataclass ``cls`` from a params mapping (``None``: its defaults).

    Unknown keys and values the dataclass rejects raise :class:`ConfigError` naming ``where``.
    """
    if raw is None:
        return cls()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    reject_unknown_keys(raw, {f.name for f in dataclasses.fields(cls)}, where)
    try:
        return cls(**raw)
    except (TypeError, ValueError, ConfigError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    return content


def _parse_date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"{where}: expected a date YYYY-MM-DD, got {value!r}") from exc


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
) -> RunParams:
    """Load and validate a params file; ``data`` and ``as_of`` override what the file says.

    Raises
    ------
    ConfigError
        The file is missing, not YAML, has an unknown key, or a value of the wrong type.
    """
    path = Path(path)
    raw = read_yaml(path)
    reject_unknown_keys(
        raw, {f.name for f in dataclasses.fields(RunParams)} - {"source", "sha256"}, str(path)
    )
    values: dict[str, Any] = {}
    for key, value in raw.items():
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
            values[key] = None if value is None else _parse_date(value, where)
        elif key == "synthetic":
            values[key] = None if value is None else _synthetic(value, where)
        elif key == "reports":
            values[key] = parse_section(ReportsSpec, value, where)
        elif key == "delivery":
            values[key] = parse_section(DeliverySpec, value, where)
        elif key in {"pd_model", "decisions", "payment_model"}:
            if value is not None and not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a mapping of {key} settings")
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
        values["as_of"] = _parse_date(as_of, "--as-of")
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
