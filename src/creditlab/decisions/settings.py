"""The ``decisions:`` section of a params file as typed settings: master scale, segments, policies,
economics, provisions, alerts, terms and scenarios.

Each part checks its own values; :mod:`creditlab.decisions.params` parses the section and checks
what spans parts (bands covering [0, 1], a policy for every segment) before any data is read or
sampled. Defaults make ``decisions: {}`` a complete, sensible configuration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

__all__ = [
    "BEHAVIOURS",
    "DEFAULT_GRADE",
    "LIMIT_POLICIES",
    "VALUE_TIERS",
    "Appetite",
    "BehaviourRules",
    "BetaPrior",
    "DecisionSettings",
    "Economics",
    "Grade",
    "LgdPrior",
    "Policy",
    "ProvisionSettings",
    "AlertSettings",
    "TermsSettings",
    "Scenario",
]

BEHAVIOURS = ("prompt", "slow-but-steady", "erratic", "deteriorating", "new")
VALUE_TIERS = ("high", "medium", "low")
DEFAULT_GRADE, DEFAULT_RISK = "D", "default"  # customers already in default
LIMIT_POLICIES = ("optimise", "no_increase", "cash_in_advance")
DUNNING_STEPS = ("reminder", "call", "hold_orders", "escalate")
SEGMENT_BY = ("none", "industry", "risk", "behaviour", "value")


@dataclasses.dataclass(frozen=True)
class Grade:
    """One band of the master scale: PDs up to ``max_pd`` get ``grade``; ``risk`` is its class."""

    grade: str
    max_pd: float
    risk: str


DEFAULT_SCALE = (
    Grade("1", 0.0025, "low"),
    Grade("2", 0.005, "low"),
    Grade("3", 0.01, "low"),
    Grade("4", 0.02, "medium"),
    Grade("5", 0.05, "medium"),
    Grade("6", 0.10, "high"),
    Grade("7", 0.20, "high"),
    Grade("8", 1.0, "high"),
)


@dataclasses.dataclass(frozen=True)
class BehaviourRules:
    """Payment-behaviour segments from the last 12 months of paid invoices (days late)."""

    min_invoices: int = 3  # fewer paid invoices: "new"
    prompt_days: float = 5.0  # mean days late at most this (and steady): "prompt"
    erratic_sd_days: float = 20.0  # standard deviation of days late above this: "erratic"
    deteriorating_days: float = 10.0  # last 90 days this much later than before: "deteriorating"


@dataclasses.dataclass(frozen=True)
class Economics:
    """What a unit of credit earns and costs."""

    margin: float = 0.25  # gross margin on sales
    cost_of_capital: float = 0.10  # annual cost of financing receivables
    demand_sd: float = 0.35  # log-sd of next year's demand around the annualised 12-month sales
    ccf: float = 1.0  # share of the limit drawn when a customer defaults
    limit_rounding: float = 1000.0  # recommended limits are rounded down to this

    def __post_init__(self) -> None:
        for name in ("margin", "cost_of_capital", "ccf"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.demand_sd <= 0 or self.limit_rounding <= 0:
            raise ValueError("demand_sd and limit_rounding must be positive")


@dataclasses.dataclass(frozen=True)
class Appetite:
    """Risk appetite: P(loss on one customer > loss_threshold) must stay below max_probability."""

    loss_threshold: float = 25_000.0
    max_probability: float = 0.01

    def __post_init__(self) -> None:
        if self.loss_threshold <= 0 or not 0 < self.max_probability < 1:
            raise ValueError("loss_threshold must be > 0 and max_probability in (0, 1)")


@dataclasses.dataclass(frozen=True)
class BetaPrior:
    """A Beta distribution on (0, 1) given by its mean and standard deviation."""

    mean: float
    sd: float

    def __post_init__(self) -> None:
        if not 0 < self.mean < 1:
            raise ValueError(f"mean must be between 0 and 1, got {self.mean}")
        if not 0 < self.sd**2 < self.mean * (1 - self.mean):
            raise ValueError(
                f"sd must be positive and below sqrt(mean (1 - mean)) = "
                f"{(self.mean * (1 - self.mean)) ** 0.5:.3f}, got {self.sd}"
            )

    @property
    def beta(self) -> tuple[float, float]:
        """The (alpha, beta) of the Beta distribution with this mean and sd."""
        k = self.mean * (1 - self.mean) / self.sd**2 - 1
        return self.mean * k, (1 - self.mean) * k


@dataclasses.dataclass(frozen=True)
class LgdPrior(BetaPrior):
    """Loss given default ~ Beta with this mean and standard deviation."""

    mean: float = 0.45
    sd: float = 0.15


@dataclasses.dataclass(frozen=True)
class Policy:
    """A row of the policy table; ``when`` selects segments (a missing key matches all)."""

    name: str
    when: Mapping[str, tuple[str, ...]]
    terms_days: int = 30
    limit: str = "optimise"
    review_months: int = 12
    dunning: str = "standard"
    approval: str = "credit analyst"

    def matches(self, risk: str, behaviour: str, value: str) -> bool:
        """Whether this policy applies to a segment (risk class, behaviour, value tier)."""
        got = {"risk": risk, "behaviour": behaviour, "value": value}
        return all(got[k] in v for k, v in self.when.items())


DEFAULT_POLICIES = (
    Policy("in default", {"risk": (DEFAULT_RISK,)}, 0, "cash_in_advance", 1, "strict", "credit committee"),
    Policy("watch", {"behaviour": ("deteriorating",)}, 30, "no_increase", 3, "strict", "credit manager"),
    Policy("high risk", {"risk": ("high",)}, 30, "no_increase", 3, "strict", "credit manager"),
    Policy("key account", {"value": ("high",), "risk": ("low", "medium")}, 60, "optimise", 12, "gentle", "credit analyst"),
    Policy("standard", {}, 30, "optimise", 12, "standard", "credit analyst"),
)  # fmt: skip

DEFAULT_DUNNING: Mapping[str, Mapping[str, int]] = {
    "gentle": {"reminder": 3, "call": 20, "hold_orders": 60, "escalate": 90},
    "standard": {"reminder": -3, "call": 10, "hold_orders": 30, "escalate": 60},
    "strict": {"reminder": -5, "call": 1, "hold_orders": 15, "escalate": 45},
}


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A stress scenario: PD multipliers (all and by industry), an LGD shock, a provision overlay."""

    name: str
    pd_multiplier: float = 1.0
    industry_multipliers: Mapping[str, float] = dataclasses.field(default_factory=dict)
    lgd_shock: float = 0.0  # added to every LGD draw (capped to [0, 1])
    provision_multiplier: float = 1.0  # multiplies the historical loss rates

    def __post_init__(self) -> None:
        values = [
            self.pd_multiplier,
            self.provision_multiplier,
            *self.industry_multipliers.values(),
        ]
        if any(v < 0 for v in values):
            raise ValueError(f"scenario {self.name!r}: multipliers must be >= 0")
        if not -1 < self.lgd_shock < 1:
            raise ValueError(f"scenario {self.name!r}: lgd_shock must be between -1 and 1")


@dataclasses.dataclass(frozen=True)
class ProvisionSettings:
    """IFRS 9 provision matrix from month-end roll rates, with a forward-looking overlay."""

    segment_by: str = "none"  # none, industry, risk, behaviour or value
    history_months: int = 24  # month-end transitions used
    loss_dpd: int = 365  # an invoice unpaid this long (or written off) is a loss
    prior_strength: float = 20.0  # pseudo-invoices a segment borrows from the whole portfolio
    scenarios: Mapping[str, Mapping[str, float]] = dataclasses.field(
        default_factory=lambda: {
            "base": {"weight": 0.6, "multiplier": 1.0},
            "downside": {"weight": 0.3, "multiplier": 1.5},
            "upside": {"weight": 0.1, "multiplier": 0.8},
        }
    )

    def __post_init__(self) -> None:
        if self.segment_by not in SEGMENT_BY:
            raise ValueError(
                f"segment_by must be one of {list(SEGMENT_BY)}, got {self.segment_by!r}"
            )
        if self.history_months < 2 or self.loss_dpd < 91 or self.prior_strength <= 0:
            raise ValueError("need history_months >= 2, loss_dpd >= 91 and prior_strength > 0")
        weights = []
        for name, s in self.scenarios.items():
            if set(s) != {"weight", "multiplier"} or s["weight"] < 0 or s["multiplier"] < 0:
                raise ValueError(
                    f"scenarios.{name}: expected weight >= 0 and multiplier >= 0, got {dict(s)}"
                )
            weights.append(s["weight"])
        if abs(sum(weights) - 1) > 1e-6:
            raise ValueError(f"scenario weights must sum to 1, they sum to {sum(weights):g}")

    @property
    def overlay(self) -> float:
        """The scenario-weighted multiplier of the historical loss rates."""
        return float(sum(s["weight"] * s["multiplier"] for s in self.scenarios.values()))


@dataclasses.dataclass(frozen=True)
class AlertSettings:
    """Thresholds of the early-warning alerts."""

    pd_increase: float = 0.02  # PD up by at least this (absolute) since the previous run
    utilisation: float = 0.9  # open AR / limit above this
    top10_share: float = 0.5  # top-10 share of AR above this
    single_share: float = 0.1  # one customer's share of AR above this
    arrears: float = 0.5  # an invoice not yet 30 DPD whose P(reaching 30+ DPD) is at least this
    score_drop: float = 50.0  # a bureau score this many points below its best of the half-year
    shift_z: float = 4.0  # a step up in days beyond terms this many standard errors (drift.py)
    shift_days: float = 15.0  # ... and at least this many days
    surge: float = 5.0  # fraud screens: orders this many times the customer's usual (screens.py)


@dataclasses.dataclass(frozen=True)
class TermsSettings:
    """An early-payment discount d/D net N and a non-recourse factoring offer."""

    discount: float = 0.02
    discount_days: int = 10
    take_up: float = 0.5  # share of a customer's sales paid early when offered the discount
    factoring_advance: float = 0.85
    factoring_fee_per_30d: float = 0.02
    factoring_interest: float = 0.0  # annual interest on the advance

    def __post_init__(self) -> None:
        if not (
            0 <= self.discount < 1 and 0 < self.factoring_advance <= 1 and 0 <= self.take_up <= 1
        ):
            raise ValueError("discount in [0, 1), factoring_advance in (0, 1], take_up in [0, 1]")


@dataclasses.dataclass(frozen=True)
class DecisionSettings:
    """Everything the decisions stage needs besides the ledger and the posterior."""

    enabled: bool = True
    draws: int = 1000
    grades: tuple[Grade, ...] = DEFAULT_SCALE
    behaviour: BehaviourRules = BehaviourRules()
    value_tiers: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"high": 0.8, "medium": 0.5}
    )
    economics: Economics = Economics()
    appetite: Appetite = Appetite()
    lgd_by: str = "none"
    lgd: Mapping[str, LgdPrior] = dataclasses.field(default_factory=lambda: {"default": LgdPrior()})
    policies: tuple[Policy, ...] = DEFAULT_POLICIES
    dunning: Mapping[str, Mapping[str, int]] = dataclasses.field(
        default_factory=lambda: DEFAULT_DUNNING
    )
    provisions: ProvisionSettings = ProvisionSettings()
    alerts: AlertSettings = AlertSettings()
    terms: TermsSettings = TermsSettings()
    scenarios: tuple[Scenario, ...] = (
        Scenario("downturn", pd_multiplier=1.5, lgd_shock=0.1, provision_multiplier=1.5),
    )
    seed: int = 0

    @property
    def grade_rank(self) -> dict[str, int]:
        """Each grade's rank on the master scale, best first; the default grade D last."""
        return {g.grade: i for i, g in enumerate(self.grades)} | {DEFAULT_GRADE: len(self.grades)}

    @property
    def risk_classes(self) -> tuple[str, ...]:
        """The master scale's risk classes in order, then the default class."""
        return tuple(dict.fromkeys(g.risk for g in self.grades)) + (DEFAULT_RISK,)

    def lgd_prior(self, label: str) -> LgdPrior:
        """The LGD prior of a label (an industry, risk class, ...), else the default prior."""
        return self.lgd.get(label, self.lgd["default"])
