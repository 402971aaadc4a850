"""Rules as data: the TOML rule set of a source pair, parsed and validated.

A rule set is an ordered list of rules, strictest first. Each rule names its matcher
(exact / tolerance / similarity / crossasset / group / contra), its cardinality (1:1, 1:n, n:1,
n:m), blocking keys, tolerances, weights, the balancing field and the outcome (auto
above a threshold, or suggest only). Invalid input raises :class:`RuleError` naming the
rule and the field, so an operator editing a rule file knows exactly what to fix.

Amounts in rules are exact decimals written as TOML strings or integers ("0.01", 5);
TOML floats are refused for amounts because they are not exact. Scores, weights and
thresholds are plain numbers in [0, 1].
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

MATCHERS = ("exact", "tolerance", "similarity", "crossasset", "group", "contra")
TYPES = ("1:1", "1:n", "n:1", "n:m")
EXACT_KEYS = ("txid", "reference", "end_to_end_id")
GROUP_KEYS = ("counterparty", "reference_family", "reference", "txid", "address", "date", "batch")
WEIGHT_FIELDS = ("amount", "date", "reference", "counterparty", "memo", "address")
"""``address`` (wallet / account address) counts only where both records carry one:
most records have none, and its absence says nothing."""
TEXT_FIELDS = ("reference", "counterparty", "memo")
"""The text fields a ``min_similarity`` gate may read (``similarity_on``)."""
MEMBER_DATES = ("any", "before", "after")
SIGNS = ("same", "opposite", "any")
OUTCOMES = ("auto", "suggest")
BALANCING = ("amount",)


class RuleError(ValueError):
    """An invalid rule; the message names the rule set, the rule and the field."""

    def __init__(self, rule: str, field_name: str, message: str) -> None:
        self.rule = rule
        self.field = field_name
        self.message = message
        super().__init__(f"rule '{rule}': field '{field_name}': {message}")

    def __reduce__(self) -> tuple[type[RuleError], tuple[str, str, str]]:
        # Pickled as its three parts (a match worker process hands it to the caller).
        return (RuleError, (self.rule, self.field, self.message))


PRESUMED_FEE_SHARE = Decimal("0.5")
"""A presumed (undeclared, unlearned) fee is at most this share of the larger amount,
whatever the rule's absolute cap: a fee larger than what arrived after it is another
payment. Seen on the demo's exchange: a 0.00164 ETH staking reward against a weekly
0.00987 ETH credit read as "fee -0.0082 ETH" under the rule's flat 0.01 ETH cap."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One validated rule; see the module docstring and ``rules/default.toml``."""

    name: str
    matcher: str
    type: str = "1:1"
    keys: tuple[str, ...] = ()
    sign: str = "same"
    date_window_days: int = 3
    business_days: bool = True
    amount_abs: Decimal = Decimal(0)
    amount_rel: Decimal = Decimal(0)
    fee_min: Decimal = Decimal(0)
    fee_max: Decimal = Decimal(0)
    fee_rel_max: Decimal = Decimal(0)
    fx_rel: Decimal = Decimal("0.02")
    min_similarity: float = 0.0
    similarity_on: tuple[str, ...] = TEXT_FIELDS
    """The text fields whose best similarity ``min_similarity`` gates on: a
    similar-reference rule reads the reference only, so a same-payer pair without a
    reference is left to the counterparty rule (which has the twin vetoes) instead of
    being taken, below its threshold, by a rule whose evidence it lacks."""
    weights: dict[str, float] = field(default_factory=dict)
    balancing: str = "amount"
    outcome: str = "suggest"
    auto_threshold: float = 1.0
    min_score: float = 0.5
    max_group: int = 5
    max_candidates: int = 16
    late_days: int = 0
    """1:1 tolerance / similarity rules: a counterpart whose value date lags beyond
    ``date_window_days`` up to this many days (same calendar as the window) and that
    the rule would accept at that lag is still a candidate: a suggestion, never a
    rival (``tolerance.late_pairs``), never auto unless ``sole_auto``. 1:n / n:1 group
    rules: the same for groups whose members share an identifying key (reference,
    family, txid) with the single (``groups.late_blocks``). 0: none."""
    sole_auto: bool = False
    """Auto rules: also auto-confirm a late or below-threshold candidate that is the
    only candidate of each of its records on identifying evidence
    (``engine.sole_reason``: amounts not round and equal or apart by the payer's own
    learned fee; a batch that is every open line of one reference family). Off by
    default: a rule's window and threshold say what may confirm itself, and a pair
    outside them is the operator's to confirm; a book whose late value dates are
    routine may opt in (``bench/quality.py --sole-auto`` measures what it adds)."""
    member_dates: str = "any"
    """Group rules: the many side dated on or ``before`` / ``after`` the single record
    (daily accruals precede their weekly payout), or ``any``."""
    assets: frozenset[str] = frozenset()
    amount_abs_assets: dict[str, Decimal] = field(default_factory=dict)
    fee_max_assets: dict[str, Decimal] = field(default_factory=dict)

    def abs_tol(self, asset: str) -> Decimal:
        """Absolute rounding tolerance in ``asset`` (0.01 EUR is not 0.01 BTC)."""
        return self.amount_abs_assets.get(asset, self.amount_abs)

    def fee_cap(self, asset: str) -> Decimal:
        """Absolute fee cap in ``asset``."""
        return self.fee_max_assets.get(asset, self.fee_max)

    @property
    def sole_applicable(self) -> bool:
        """Whether ``sole_auto`` can mean anything here: an auto rule of 1:1 pairs (exact,
        tolerance, similarity) or 1:n / n:1 groups (``engine.sole_reason``)."""
        return (self.outcome == "auto" and self.matcher not in ("contra", "crossasset")
                and self.type != "n:m")

    @property
    def calendar_window(self) -> int:
        """Calendar days that can hold ``date_window_days`` business days (weekends)."""
        w = self.date_window_days
        return w + 2 * (w // 5 + 1) if self.business_days else w

    def presumed_fee_cap(self, magnitude: Decimal, asset: str) -> Decimal:
        """Largest gap taken for an undeclared fee: within ``fee_max`` (absolute, per
        asset) *and* ``fee_rel_max`` (relative) — whichever are set (0 = unset) — and
        never above ``PRESUMED_FEE_SHARE`` of ``magnitude`` (the larger amount)."""
        absolute = self.fee_cap(asset)
        relative = self.fee_rel_max * magnitude
        cap = min(absolute, relative) if absolute and relative else absolute or relative
        return min(cap, PRESUMED_FEE_SHARE * magnitude)

    def max_amount_gap(self, magnitude: Decimal, asset: str) -> Decimal:
        """The largest |left| - |right| gap any tolerance or fee of this rule admits."""
        return max(
            self.abs_tol(asset),
            self.amount_rel * magnitude,
            self.presumed_fee_cap(magnitude, asset),
        )


@dataclass(frozen=True, slots=True)
class RuleSet:
    """An ordered, validated list of rules plus engine-wide settings."""

    name: str
    rules: tuple[Rule, ...]
    ambiguity_margin: float = 0.05
    max_block: int = 64
    day_bucket: int = 4

    @classmethod
    def from_toml(cls, text: str, name: str = "custom") -> RuleSet:
        """Parse and validate a rule set; raises :class:`RuleError` on any invalid field."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RuleError(name, "toml", str(exc)) from None
        return cls.from_dict(data, name=name)

    @classmethod
    def from_dict(cls, data: dict[str, Any], name: str = "custom") -> RuleSet:
        head = data.get("ruleset", {})
        if not isinstance(head, dict):
            raise RuleError(name, "ruleset", "must be a table")
        _only(name, head, {"name", "description", "ambiguity_margin", "max_block", "day_bucket"})
        set_name = str(head.get("name", name))
        raw_rules = data.get("rule")
        if not isinstance(raw_rules, list) or not raw_rules:
            raise RuleError(set_name, "rule", "a rule set needs at least one [[rule]]")
        rules: list[Rule] = []
        seen: set[str] = set()
        for i, raw in enumerate(raw_rules):
            rule = _parse_rule(raw, i)
            if rule.name in seen:
                raise RuleError(rule.name, "name", "duplicate rule name")
            seen.add(rule.name)
            rules.append(rule)
        return cls(
            name=set_name,
            rules=tuple(rules),
            ambiguity_margin=_unit(set_name, "ambiguity_margin", head.get("ambiguity_margin", 0.05)),
            max_block=_int(set_name, "max_block", head.get("max_block", 64), 2, 100_000),
            day_bucket=_int(set_name, "day_bucket", head.get("day_bucket", 4), 1, 366),
        )


def load_rules(name: str = "default") -> RuleSet:
    """The packaged rule set ``matchers/rules/<name>.toml`` (what ``SourcePair.rules`` names)."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise RuleError(name, "name", "rule set names are letters, digits, '-' and '_'")
    path = resources.files("matchers").joinpath("rules", f"{name}.toml")
    if not path.is_file():
        raise RuleError(name, "name", "no such packaged rule set")
    return RuleSet.from_toml(path.read_text(encoding="utf-8"), name=name)


_RULE_FIELDS = {
    "name", "matcher", "type", "keys", "sign", "date_window_days", "business_days",
    "amount_abs", "amount_rel", "fee_min", "fee_max", "fee_rel_max", "fx_rel",
    "min_similarity", "weights", "balancing", "outcome", "auto_threshold", "min_score",
    "max_group", "max_candidates", "assets", "description", "amount_abs_assets",
    "fee_max_assets", "member_dates", "similarity_on", "late_days",
    "sole_auto",
}


def _parse_rule(raw: Any, index: int) -> Rule:
    if not isinstance(raw, dict):
        raise RuleError(f"#{index + 1}", "rule", "must be a table")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f"#{index + 1}", "name", "every rule needs a non-empty name")
    _only(name, raw, _RULE_FIELDS)
    matcher = _choice(name, "matcher", raw.get("matcher"), MATCHERS)
    rtype = _choice(name, "type", raw.get("type", "1:1"), TYPES)
    if matcher == "group" and rtype == "1:1":
        raise RuleError(name, "type", "a group rule is 1:n, n:1 or n:m")
    if matcher != "group" and rtype != "1:1":
        raise RuleError(name, "type", f"matcher '{matcher}' only matches 1:1")
    keys = raw.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise RuleError(name, "keys", "must be a list of strings")
    allowed = EXACT_KEYS if matcher == "exact" else GROUP_KEYS if matcher == "group" else ()
    for k in keys:
        if k not in allowed:
            raise RuleError(name, "keys", f"{k!r} is not one of {', '.join(allowed) or '(none)'}")
    if matcher in ("exact", "group") and not keys:
        raise RuleError(name, "keys", f"a {matcher} rule needs blocking keys")
    if "batch" in keys and len(keys) > 1:
        # A batch block is the many side's own category of the day, not a key shared
        # with the single record: mixing it with shared keys would blur both.
        raise RuleError(name, "keys", "'batch' cannot be combined with other keys")
    if rtype == "n:m" and ("batch" in keys or "member_dates" in raw):
        raise RuleError(name, "keys" if "batch" in keys else "member_dates",
                        "an n:m rule nets records sharing a key; it has no single record")
    if matcher == "contra" and raw.get("sign", "opposite") != "opposite":
        raise RuleError(name, "sign", "a contra pair has opposite signs")
    if "member_dates" in raw and matcher != "group":
        raise RuleError(name, "member_dates", "only group rules have members")
    weights = raw.get("weights", {"amount": 0.5, "date": 0.2, "reference": 0.2, "counterparty": 0.1})
    if not isinstance(weights, dict) or not weights:
        raise RuleError(name, "weights", "must be a non-empty table")
    clean_w: dict[str, float] = {}
    for k, v in weights.items():
        if k not in WEIGHT_FIELDS:
            raise RuleError(name, f"weights.{k}", f"unknown field (known: {', '.join(WEIGHT_FIELDS)})")
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise RuleError(name, f"weights.{k}", "must be a non-negative number")
        clean_w[k] = float(v)
    if sum(clean_w.values()) <= 0:
        raise RuleError(name, "weights", "at least one weight must be positive")
    outcome = _choice(name, "outcome", raw.get("outcome", "suggest"), OUTCOMES)
    threshold = _unit(name, "auto_threshold", raw.get("auto_threshold", 1.0))
    if outcome == "auto" and "auto_threshold" not in raw:
        raise RuleError(name, "auto_threshold", "an auto rule needs a threshold")
    gate = raw.get("similarity_on", list(TEXT_FIELDS))
    if (not isinstance(gate, list) or not gate
            or not all(isinstance(g, str) and g in TEXT_FIELDS for g in gate)):
        raise RuleError(name, "similarity_on",
                        f"must be a non-empty list of {', '.join(TEXT_FIELDS)}")
    assets = raw.get("assets", [])
    if not isinstance(assets, list) or not all(isinstance(a, str) for a in assets):
        raise RuleError(name, "assets", "must be a list of asset codes")
    rule = Rule(
        name=name,
        matcher=matcher,
        type=rtype,
        keys=tuple(keys),
        sign=_choice(name, "sign", raw.get("sign", "opposite" if matcher == "contra" else "same"),
                     SIGNS),
        date_window_days=_int(name, "date_window_days", raw.get("date_window_days", 3), 0, 366),
        business_days=_bool(name, "business_days", raw.get("business_days", True)),
        amount_abs=_dec(name, "amount_abs", raw.get("amount_abs", 0)),
        amount_rel=_dec(name, "amount_rel", raw.get("amount_rel", 0), upper=Decimal("0.5")),
        fee_min=_dec(name, "fee_min", raw.get("fee_min", 0)),
        fee_max=_dec(name, "fee_max", raw.get("fee_max", 0)),
        fee_rel_max=_dec(name, "fee_rel_max", raw.get("fee_rel_max", 0), upper=Decimal("0.5")),
        fx_rel=_dec(name, "fx_rel", raw.get("fx_rel", "0.02"), upper=Decimal("0.5")),
        min_similarity=_unit(name, "min_similarity", raw.get("min_similarity", 0.0)),
        similarity_on=tuple(dict.fromkeys(gate)),
        weights=clean_w,
        balancing=_choice(name, "balancing", raw.get("balancing", "amount"), BALANCING),
        outcome=outcome,
        auto_threshold=threshold,
        min_score=_unit(name, "min_score", raw.get("min_score", 0.5)),
        max_group=_int(name, "max_group", raw.get("max_group", 5), 2, 12),
        max_candidates=_int(name, "max_candidates", raw.get("max_candidates", 16), 2, 40),
        member_dates=_choice(name, "member_dates", raw.get("member_dates", "any"), MEMBER_DATES),
        late_days=_int(name, "late_days", raw.get("late_days", 0), 0, 366),
        sole_auto=_bool(name, "sole_auto", raw.get("sole_auto", False)),
        assets=frozenset(a.upper() for a in assets),
        amount_abs_assets=_dec_table(name, "amount_abs_assets", raw.get("amount_abs_assets", {})),
        fee_max_assets=_dec_table(name, "fee_max_assets", raw.get("fee_max_assets", {})),
    )
    if rule.sole_auto and rule.outcome != "auto":
        raise RuleError(name, "sole_auto", "only an auto rule can auto-confirm a sole candidate")
    if rule.late_days and (matcher not in ("tolerance", "similarity", "group")
                           or rtype == "n:m" or "batch" in keys
                           or rule.late_days <= rule.date_window_days):
        raise RuleError(name, "late_days", "a 1:1 tolerance / similarity or a 1:n / n:1 "
                        "group rule's late window, longer than its date_window_days")
    if rule.fee_min > rule.fee_max:
        raise RuleError(name, "fee_min", f"{rule.fee_min} is above fee_max {rule.fee_max}")
    if rule.outcome == "auto" and rule.auto_threshold < rule.min_score:
        raise RuleError(name, "auto_threshold", "is below min_score")
    return rule


def _dec_table(rule: str, fname: str, value: Any) -> dict[str, Decimal]:
    if not isinstance(value, dict):
        raise RuleError(rule, fname, "must be a table of ASSET = \"amount\"")
    return {str(k).upper(): _dec(rule, f"{fname}.{k}", v) for k, v in value.items()}


def _only(rule: str, table: dict[str, Any], allowed: set[str]) -> None:
    for k in table:
        if k not in allowed:
            raise RuleError(rule, k, "unknown field (typo?)")


def _choice(rule: str, fname: str, value: Any, options: tuple[str, ...]) -> str:
    if value not in options:
        raise RuleError(rule, fname, f"{value!r} is not one of {', '.join(options)}")
    return str(value)


def _unit(rule: str, fname: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise RuleError(rule, fname, f"{value!r} is not a number in [0, 1]")
    return float(value)


def _int(rule: str, fname: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise RuleError(rule, fname, f"{value!r} is not an integer in [{lo}, {hi}]")
    return value


def _bool(rule: str, fname: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise RuleError(rule, fname, f"{value!r} is not true or false")
    return value


def _dec(rule: str, fname: str, value: Any, upper: Decimal | None = None) -> Decimal:
    if isinstance(value, float):
        raise RuleError(rule, fname, f"{value!r} is a float; write amounts as strings (\"0.01\")")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RuleError(rule, fname, f"{value!r} is not a decimal amount")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise RuleError(rule, fname, f"{value!r} is not a decimal amount") from None
    if not d.is_finite() or d < 0:
        raise RuleError(rule, fname, f"{value!r} must be a non-negative amount")
    if upper is not None and d > upper:
        raise RuleError(rule, fname, f"{value!r} is above {upper}")
    return d


def with_sole_auto(rules: RuleSet) -> RuleSet:
    """``rules`` with ``sole_auto`` set on every auto rule it applies to (1:1 exact,
    tolerance and similarity rules, 1:n / n:1 groups): what opting a whole rule set in
    gives (``bench/quality.py --sole-auto``)."""
    return replace(rules, rules=tuple(replace(r, sole_auto=True) if r.sole_applicable else r
                                      for r in rules.rules))
