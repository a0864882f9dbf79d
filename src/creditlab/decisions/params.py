"""Parse the ``decisions:`` section of a params file into :class:`DecisionSettings`.

Everything is checked here, before any data is read or sampled: bands must cover [0, 1], LGD priors
must be proper Beta distributions, scenario weights must sum to one, and the policy table must give
every segment a policy.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any

from creditlab.config import parse_section, reject_unknown_keys
from creditlab.decisions.settings import (
    BEHAVIOURS,
    DEFAULT_GRADE,
    DUNNING_STEPS,
    LIMIT_POLICIES,
    SEGMENT_BY,
    VALUE_TIERS,
    AlertSettings,
    Appetite,
    BehaviourRules,
    DecisionSettings,
    Economics,
    Grade,
    LgdPrior,
    Policy,
    ProvisionSettings,
    Scenario,
    TermsSettings,
)
from creditlab.errors import ConfigError

__all__ = ["parse_decision_settings"]


def _grades(raw: Any, where: str) -> tuple[Grade, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: expected a list of {{grade, max_pd, risk}}")
    grades = [parse_section(Grade, g, f"{where}[{i}]") for i, g in enumerate(raw)]
    edges = [float(g.max_pd) for g in grades]
    if any(b <= a for a, b in zip([0.0, *edges], edges, strict=False)) or edges[-1] != 1.0:
        raise ConfigError(
            f"{where}: the bands must cover [0, 1]: max_pd strictly increasing from above 0 "
            f"and the last one exactly 1.0, got {edges}"
        )
    names = [str(g.grade) for g in grades]
    if len(set(names)) != len(names) or DEFAULT_GRADE in names:
        raise ConfigError(f"{where}: grade names must be unique and not {DEFAULT_GRADE!r}")
    return tuple(Grade(str(g.grade), float(g.max_pd), str(g.risk)) for g in grades)


def _policies(raw: Any, where: str, risks: tuple[str, ...], dunning: Mapping) -> tuple:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: expected a list of policies")
    labels = {"risk": risks, "behaviour": BEHAVIOURS, "value": VALUE_TIERS}
    out = []
    for i, item in enumerate(raw):
        here = f"{where}[{i}]"
        if not isinstance(item, Mapping) or "name" not in item:
            raise ConfigError(f"{here}: expected a mapping with at least a name")
        reject_unknown_keys(item, {f.name for f in dataclasses.fields(Policy)}, here)
        when = item.get("when") or {}
        reject_unknown_keys(when, set(labels), f"{here}.when")
        sel = {}
        for key, values in when.items():
            values = (values,) if isinstance(values, str) else tuple(str(v) for v in values)
            bad = sorted(set(values) - set(labels[key]))
            if bad:
                raise ConfigError(
                    f"{here}.when.{key}: unknown segment(s) {bad}; known: {list(labels[key])}"
                )
            sel[key] = values
        policy = Policy(**{**item, "name": str(item["name"]), "when": sel})
        if policy.limit not in LIMIT_POLICIES:
            raise ConfigError(f"{here}.limit: expected one of {list(LIMIT_POLICIES)}")
        if policy.dunning not in dunning:
            raise ConfigError(
                f"{here}.dunning: unknown cadence {policy.dunning!r}; known: {list(dunning)}"
            )
        out.append(policy)
    for combo in itertools.product(risks, BEHAVIOURS, VALUE_TIERS):
        if not any(p.matches(*combo) for p in out):
            raise ConfigError(
                f"{where}: no policy for the segment risk={combo[0]}, behaviour={combo[1]}, "
                f"value={combo[2]}; add a rule for it or a catch-all rule without 'when'"
            )
    return tuple(out)


def _dunning(raw: Any, where: str) -> Mapping[str, Mapping[str, int]]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping of cadence name to step days")
    for name, steps in raw.items():
        if not isinstance(steps, Mapping):
            raise ConfigError(f"{where}.{name}: expected step: days past due")
        reject_unknown_keys(steps, set(DUNNING_STEPS), f"{where}.{name}")
        days = [steps[s] for s in DUNNING_STEPS if s in steps]
        if days != sorted(days):
            raise ConfigError(f"{where}.{name}: steps must come in the order {list(DUNNING_STEPS)}")
    return {str(k): dict(v) for k, v in raw.items()}


def _lgd(raw: Any, where: str) -> Mapping[str, LgdPrior]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping of label to {{mean, sd}}")
    out = {str(k): parse_section(LgdPrior, v, f"{where}.{k}") for k, v in raw.items()}
    out.setdefault("default", LgdPrior())
    return out


def _scenarios(raw: Any, where: str) -> tuple[Scenario, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list of scenarios")
    out = tuple(parse_section(Scenario, s, f"{where}[{i}]") for i, s in enumerate(raw))
    if len({s.name for s in out}) != len(out) or "base" in {s.name for s in out}:
        raise ConfigError(f"{where}: scenario names must be unique and not 'base'")
    return out


def parse_decision_settings(
    raw: Mapping[str, Any] | None, where: str = "decisions"
) -> DecisionSettings:
    """Check the ``decisions`` params section (before any data is read or sampled).

    Raises
    ------
    ConfigError
        Unknown keys, bands that do not cover [0, 1], an improper LGD prior, scenario weights that
        do not sum to one, or a policy table that leaves a segment without a policy.
    """
    if raw is None:
        return DecisionSettings(enabled=False)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    fields = {f.name for f in dataclasses.fields(DecisionSettings)}
    reject_unknown_keys(raw, fields, where)
    values: dict[str, Any] = {}
    sections = {
        "behaviour": BehaviourRules,
        "economics": Economics,
        "appetite": Appetite,
        "provisions": ProvisionSettings,
        "alerts": AlertSettings,
        "terms": TermsSettings,
    }
    for key, cls in sections.items():
        if key in raw:
            values[key] = parse_section(cls, raw[key], f"{where}.{key}")
    if "grades" in raw:
        values["grades"] = _grades(raw["grades"], f"{where}.grades")
    if "dunning" in raw:
        values["dunning"] = _dunning(raw["dunning"], f"{where}.dunning")
    if "lgd" in raw:
        values["lgd"] = _lgd(raw["lgd"], f"{where}.lgd")
    if "scenarios" in raw:
        values["scenarios"] = _scenarios(raw["scenarios"], f"{where}.scenarios")
    if "value_tiers" in raw:
        tiers = raw["value_tiers"]
        if not isinstance(tiers, Mapping) or set(tiers) != {"high", "medium"}:
            raise ConfigError(f"{where}.value_tiers: expected {{high: q, medium: q}} (quantiles)")
        if not 0 < tiers["medium"] < tiers["high"] < 1:
            raise ConfigError(f"{where}.value_tiers: need 0 < medium < high < 1")
        values["value_tiers"] = dict(tiers)
    for key in ("enabled", "draws", "lgd_by", "seed"):
        if key in raw:
            values[key] = raw[key]
    if values.get("lgd_by", "none") not in SEGMENT_BY:
        raise ConfigError(f"{where}.lgd_by: expected one of {list(SEGMENT_BY)}")
    if not isinstance(values.get("draws", 1000), int) or values.get("draws", 1000) < 10:
        raise ConfigError(f"{where}.draws: expected an integer of at least 10")
    settings = DecisionSettings(**values)
    static = {"risk": settings.risk_classes, "behaviour": BEHAVIOURS, "value": VALUE_TIERS}
    if settings.lgd_by in static:
        bad = sorted(set(settings.lgd) - {"default", *static[settings.lgd_by]})
        if bad:
            raise ConfigError(
                f"{where}.lgd: unknown {settings.lgd_by} label(s) {bad}; "
                f"known: {list(static[settings.lgd_by])}"
            )
    if "policies" in raw:
        policies = _policies(
            raw["policies"], f"{where}.policies", settings.risk_classes, settings.dunning
        )
        settings = dataclasses.replace(settings, policies=policies)
    else:  # the default table must still cover custom grades' risk classes
        _policies(
            [dataclasses.asdict(p) for p in settings.policies],
            f"{where}.policies (default table)",
            settings.risk_classes,
            settings.dunning,
        )
    return settings
