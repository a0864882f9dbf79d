"""Typed settings of the model stages: the ``pd_model:`` and ``payment_model:`` params sections.

They are parsed once, when the params file loads (:func:`creditlab.run.params.load_params`), so a
mistake in any stage's settings stops the run before any data is read or any model sampled. (The
``decisions:`` section's settings live with the decisions, in :mod:`creditlab.decisions.settings`.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from creditlab.config import parse_section, reject_unknown_keys
from creditlab.errors import ConfigError
from creditlab.features import FEATURES, SIGNAL_FEATURES, Materiality
from creditlab.models.diagnostics import GateConfig
from creditlab.models.payment_data import FIT_VERSION, PaymentConfig
from creditlab.models.pd import ModelConfig
from creditlab.models.pd_priors import Priors, parse_priors
from creditlab.models.sampling import SamplerConfig

__all__ = [
    "PDSettings",
    "PaymentSettings",
    "parse_payment_settings",
    "parse_pd_settings",
]

SEGMENT_BY = ("behaviour", "industry", "none")


def _cache_key(*parts: Any) -> str:
    """Same data, as-of date and settings give the same key, so the same fit."""
    return hashlib.sha256(json.dumps(list(parts), default=str).encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class PDSettings:
    """The ``pd_model:`` section of a params file."""

    enabled: bool = True
    predictors: tuple[str, ...] = FEATURES
    snapshot_every_months: int = 3
    hazard: bool | str = "auto"  # True: monthly hazard; False: 12-month labels; "auto": by ledger
    shape: str = "linear"  # "auto": every feature binned, pairs screened; "linear": as model lists
    refit: bool = True  # hazard design: once validated, refit with the held-out months for scores
    cache: bool = True
    model: ModelConfig = ModelConfig()
    sampler: SamplerConfig = SamplerConfig()
    gate: GateConfig = GateConfig()
    extend_rounds: int = 1  # refits with tuning and draws doubled when the gate fails
    priors: Priors = Priors()  # knowledge the PD model starts from, with its source
    signals: str = "auto"  # "auto": SIGNAL_FEATURES join the predictors where the ledger has events
    default_materiality: Materiality = Materiality()  # when 90+ DPD invoices make a default
    cure_months: int = 0  # a 90+ DPD default cures after this many months with none (0: never)

    def key(self, data_hash: str, as_of: dt.date) -> str:
        """Cache key of the fit: same data, as-of date and settings give the same fit."""
        return _cache_key(data_hash, as_of.isoformat(), dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class PaymentSettings:
    """The ``payment_model:`` section of a params file."""

    enabled: bool = True
    cache: bool = True
    weeks: int = 13
    draws: int = 400
    segment_by: str = "behaviour"
    model: PaymentConfig = PaymentConfig()
    sampler: SamplerConfig = SamplerConfig()
    gate: GateConfig = GateConfig()
    extend_rounds: int = 1  # refits with tuning and draws doubled when the gate fails

    def key(self, data_hash: str, as_of: dt.date) -> str:
        """Cache key of the fit: same data, as-of date, model/sampler settings and
        :data:`~creditlab.models.payment_data.FIT_VERSION`."""
        fit_part = [dataclasses.asdict(self.model), dataclasses.asdict(self.sampler)]
        return _cache_key("payment", FIT_VERSION, data_hash, as_of.isoformat(), fit_part)


def _extend_rounds(raw: Mapping[str, Any], where: str) -> int:
    """The ``extend_rounds`` of a model section: 0 to 3 refits when the gate fails."""
    rounds = raw.get("extend_rounds", 1)
    if not isinstance(rounds, int) or isinstance(rounds, bool) or not 0 <= rounds <= 3:
        raise ConfigError(f"{where}.extend_rounds: 0 to 3, got {rounds!r}")
    return rounds


def parse_pd_settings(raw: Mapping[str, Any] | None, where: str = "pd_model") -> PDSettings:
    """Check the ``pd_model`` params section (``None``: the PD stage is off).

    Raises
    ------
    ConfigError
        Unknown keys (named), unknown predictors, or model, sampler or gate values out of range.
    """
    if raw is None:
        return PDSettings(enabled=False)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    reject_unknown_keys(raw, {f.name for f in dataclasses.fields(PDSettings)}, where)
    predictors = tuple(raw.get("predictors") or FEATURES)
    bad = sorted(set(predictors) - set(FEATURES))
    if bad:
        raise ConfigError(
            f"{where}.predictors: unknown feature(s) {bad}; features: {list(FEATURES)} (the "
            f"relationship signals {list(SIGNAL_FEATURES)} are added by pd_model.signals: auto)"
        )
    signals = raw.get("signals", "auto")
    if signals not in ("auto", "off"):
        raise ConfigError(f"{where}.signals: expected auto or off, got {signals!r}")
    priors = parse_priors(raw.get("priors"), f"{where}.priors")
    priors.check_predictors(list(predictors))
    hazard = raw.get("hazard", "auto")
    if hazard not in (True, False, "auto"):
        raise ConfigError(f"{where}.hazard: expected true, false or auto, got {hazard!r}")
    shape = raw.get("shape", "linear")
    if shape not in ("auto", "linear"):
        raise ConfigError(f"{where}.shape: expected auto or linear, got {shape!r}")
    refit = raw.get("refit", True)
    if not isinstance(refit, bool):
        raise ConfigError(f"{where}.refit: expected true or false, got {refit!r}")
    cure = raw.get("cure_months", 0)
    if not isinstance(cure, int) or isinstance(cure, bool) or not 0 <= cure <= 24:
        raise ConfigError(f"{where}.cure_months: a whole number of months, 0 to 24, got {cure!r}")
    return PDSettings(
        enabled=bool(raw.get("enabled", True)),
        predictors=predictors,
        snapshot_every_months=int(raw.get("snapshot_every_months", 3)),
        hazard=hazard,
        shape=shape,
        refit=refit,
        signals=signals,
        extend_rounds=_extend_rounds(raw, where),
        priors=priors,
        cache=bool(raw.get("cache", True)),
        model=parse_section(ModelConfig, raw.get("model"), f"{where}.model"),
        sampler=parse_section(SamplerConfig, raw.get("sampler"), f"{where}.sampler"),
        gate=parse_section(GateConfig, raw.get("gate"), f"{where}.gate"),
        default_materiality=parse_section(
            Materiality, raw.get("default_materiality"), f"{where}.default_materiality"
        ),
        cure_months=cure,
    )


def parse_payment_settings(
    raw: Mapping[str, Any] | None, where: str = "payment_model"
) -> PaymentSettings:
    """Check the ``payment_model`` params section (``None``: the payment stage is off).

    Raises
    ------
    ConfigError
        Unknown keys (named), weeks outside 1-52, fewer than 50 draws, an unknown segment_by, or
        model, sampler or gate values out of range.
    """
    if raw is None:
        return PaymentSettings(enabled=False)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    reject_unknown_keys(raw, {f.name for f in dataclasses.fields(PaymentSettings)}, where)
    settings = PaymentSettings(
        enabled=bool(raw.get("enabled", True)),
        cache=bool(raw.get("cache", True)),
        weeks=int(raw.get("weeks", 13)),
        draws=int(raw.get("draws", 400)),
        segment_by=str(raw.get("segment_by", "behaviour")),
        model=parse_section(PaymentConfig, raw.get("model"), f"{where}.model"),
        sampler=parse_section(
            SamplerConfig,
            {"draws": 500, "tune": 500, **(raw.get("sampler") or {})},
            f"{where}.sampler",
        ),  # fmt: skip
        gate=parse_section(GateConfig, raw.get("gate"), f"{where}.gate"),
        extend_rounds=_extend_rounds(raw, where),
    )
    if not 1 <= settings.weeks <= 52:
        raise ConfigError(f"{where}.weeks: between 1 and 52, got {settings.weeks}")
    if settings.draws < 50:
        raise ConfigError(f"{where}.draws: at least 50, got {settings.draws}")
    if settings.segment_by not in SEGMENT_BY:
        raise ConfigError(f"{where}.segment_by: one of {list(SEGMENT_BY)}")
    return settings
