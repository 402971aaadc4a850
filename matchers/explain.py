"""Scoring and explanation of one proposed group: per field, what agreed and by how much.

All matchers funnel through here so that a score always means the same thing: a
weighted mean of per-field scores in [0, 1] (amount, date, reference, counterparty,
memo), where a field missing on one side counts as neutral 0.5 — absence of evidence
must not look like agreement. Amount differences inside tolerance come back as explicit
:class:`Adjustment` objects (fee, fx, rounding), never silently absorbed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz

from recon_tui.model import canonical_amount

from .items import Item
from .normalize import norm_address
from .results import Adjustment
from .rules import Rule

NEUTRAL = 0.5
QUIET: dict[str, Any] = {}
NO_ADJ: list[Adjustment] = []
"""Shared (never mutated) explanation / adjustments of blocking-time scores: a full run
holds millions of them, and the engine re-scores the few it proposes verbosely."""


@dataclass(slots=True)
class Scored:
    """A scored group before the engine decides auto / suggest."""

    left: tuple[int, ...]
    right: tuple[int, ...]
    score: float
    rule: str
    explanation: dict[str, Any]
    adjustments: list[Adjustment] = field(default_factory=list)
    key: str | None = None
    """The exact key that produced the pair (exact matcher), for the verbose re-score."""
    beyond: bool = False
    """A strong-key pair beyond the rule's tolerance (``beyond``): a suggestion that
    never competes with in-tolerance candidates for auto (it is weaker evidence)."""

    @property
    def ids(self) -> tuple[int, ...]:
        return self.left + self.right

    def sort_key(self) -> tuple[float, tuple[int, ...], tuple[int, ...]]:
        return (-self.score, self.left, self.right)


def sign_ok(rule: Rule, a: int, b: int) -> bool:
    if rule.sign == "same":
        return a == b
    if rule.sign == "opposite":
        return a != b
    return True


def signs_for(rule: Rule, sign: int) -> tuple[int, ...]:
    """Which signs a counterpart may have (both sides record from their own view)."""
    if rule.sign == "same":
        return (sign,)
    if rule.sign == "opposite":
        return (-sign,)
    return (1, -1)


def lag(rule: Rule, a: Item, b: Item) -> int:
    return abs(a.bday - b.bday) if rule.business_days else abs(a.day - b.day)


def amount_fit(
    rule: Rule,
    left_mag: Decimal,
    right_mag: Decimal,
    fees: Sequence[Decimal],
    asset: str,
    verbose: bool = False,
    learned: str = "",
    weak: Decimal | None = None,
) -> tuple[float, Adjustment | None, dict[str, Any]] | None:
    """How well two magnitudes agree under the rule, or None when outside every tolerance.

    ``fees`` are fees the records themselves declare (same asset): a gap equal to one of
    them is a fee for certain (``learned``: they are fees a learned schedule knows for
    this counterparty, and ``learned`` says where they came from). Otherwise a gap
    within the rounding tolerance is rounding, and a gap within the fee range is a
    presumed fee (scored lower). ``weak``: a learned fee only weakly plausible for this
    payment (``FeeSchedule.explain``, ``exact.learned_fee``): a fee still, scored
    ``LARGE_FEE_SCORE``, below an equal amount. The adjustment's amount is
    ``left_mag - right_mag``; callers re-sign it from the left's view.
    """
    gap = left_mag - right_mag
    if not verbose:
        # Blocking-time scoring: the same scores, no details or adjustments built.
        if not gap:
            return 1.0, None, QUIET
        size = -gap if gap < 0 else gap
        larger = left_mag if left_mag > right_mag else right_mag
        rounding = max(rule.abs_tol(asset), rule.amount_rel * larger)
        if size <= rounding:
            return 1.0 - 0.1 * float(size / rounding), None, QUIET
        if size in fees:
            return 0.97, None, QUIET
        if size == weak:
            return LARGE_FEE_SCORE, None, QUIET
        fee_cap = rule.presumed_fee_cap(larger, asset)
        if fee_cap > 0 and rule.fee_min <= size <= fee_cap:
            return 0.95 - 0.15 * float(size / fee_cap), None, QUIET
        return None
    detail: dict[str, Any] = {
        "left": canonical_amount(left_mag),
        "right": canonical_amount(right_mag),
        "difference": canonical_amount(gap),
    }
    if not gap:
        detail.update(agree=True, detail="equal amounts")
        return 1.0, None, detail
    size = -gap if gap < 0 else gap
    larger = left_mag if left_mag > right_mag else right_mag
    rounding = max(rule.abs_tol(asset), rule.amount_rel * larger)
    if size <= rounding:
        detail.update(agree=True, detail=f"differ by {canonical_amount(size)} (rounding)")
        adj = Adjustment("rounding", asset, gap, "inside rounding tolerance")
        return 1.0 - 0.1 * float(size / rounding), adj, detail
    if size in fees:
        what = "a learned fee" if learned else "the declared fee"
        detail.update(agree=True, detail=f"differ by {what} {canonical_amount(size)}",
                      difference_type="fee")
        if learned:
            detail["fee_source"] = learned
        return 0.97, Adjustment("fee", asset, gap, learned or "declared fee"), detail
    if size == weak:
        detail.update(agree=True, detail=f"differ by {canonical_amount(size)}, a learned "
                      "fee of the source pair but a large share of the amount (weak)",
                      difference_type="fee", fee_source=learned)
        return LARGE_FEE_SCORE, Adjustment("fee", asset, gap, learned), detail
    fee_cap = rule.presumed_fee_cap(larger, asset)
    if fee_cap > 0 and rule.fee_min <= size <= fee_cap:
        detail.update(agree=True, detail=f"differ by {canonical_amount(size)} (presumed fee)")
        adj = Adjustment("fee", asset, gap, "inside fee range")
        return 0.95 - 0.15 * float(size / fee_cap), adj, detail
    return None


LARGE_FEE_SCORE = 0.8
"""The amount part of a gap only a *weak* learned fee explains (a pair-wide fee that is a
large share of the amount, ``matchers.fees.FeeSchedule.explain``): below an equal
amount at the edge of the date window under the default weights (counterparty-amount,
0.45 amount and 0.15 date: 0.45 * (1 - 0.8) = 0.09 > 0.15 * 0.5), so it never outranks
an exact counterpart, and never reaches an auto threshold on a counterparty alone
(at most 0.86 < 0.87)."""


@lru_cache(maxsize=1 << 16)
def cp_similarity(x: str, y: str) -> float:
    """Similarity of two different normalised counterparty names (0..1), memoised: a
    book has few distinct names and spellings, and ``token_set_ratio`` is the dearest
    call of a pair's scoring."""
    return max(fuzz.ratio(x, y), fuzz.token_set_ratio(x, y)) / 100.0


def text_scores(
    a: Item, b: Item, key_field: str | None = None, verbose: bool = False
) -> dict[str, Any]:
    """Reference, counterparty and memo similarity (0..1, None when missing).

    Non-verbose returns ``{field: similarity}`` (the hot path); verbose returns
    ``{field: {"agree", "similarity", "detail"}}`` for explanations.
    """
    ref: float | None = None
    ref_detail = "missing on a side"
    if key_field is not None:
        ref, ref_detail = 1.0, f"same {key_field}"
    elif a.ref and b.ref:
        ref = 1.0 if a.ref == b.ref else fuzz.ratio(a.ref, b.ref) / 100.0
        if verbose:
            ref_detail = f"{a.ref!r} ~ {b.ref!r}"
    elif (a.ref and len(a.ref) >= 6 and b.memo) or (b.ref and len(b.ref) >= 6 and a.memo):
        # Banks often carry the reference inside the remittance text only.
        r, memo = (a.ref, b.memo) if a.ref else (b.ref, a.memo)
        ref = fuzz.partial_ratio(r, memo.replace(" ", "")) / 100.0
        if verbose:
            ref_detail = f"{r!r} in memo {memo!r}"
    cp: float | None = None
    if a.cp and b.cp:
        cp = 1.0 if a.cp == b.cp else cp_similarity(a.cp, b.cp)
    memo_s: float | None = None
    if a.memo and b.memo:
        memo_s = 1.0 if a.memo == b.memo else fuzz.token_set_ratio(a.memo, b.memo) / 100.0
    addr: float | None = None
    aa, ba = a.record.address, b.record.address
    if aa and ba:
        # Both know where the money went: the same address or a different one. Equal
        # amounts sent to different addresses are different payments.
        aa, ba = norm_address(aa), norm_address(ba)
        addr = 1.0 if aa == ba else 0.0
    if not verbose:
        return {"reference": ref, "counterparty": cp, "memo": memo_s, "address": addr}

    def row(s: float | None, agree_at: float, detail: str) -> dict[str, Any]:
        if s is None:
            return {"agree": None, "similarity": None, "detail": "missing on a side"}
        return {"agree": s >= agree_at, "similarity": round(s, 3), "detail": detail}

    out = {
        "reference": row(ref, 0.85, ref_detail),
        "counterparty": row(cp, 0.85, f"{a.cp!r} ~ {b.cp!r}"),
        "memo": row(memo_s, 0.8, f"{a.memo!r} ~ {b.memo!r}"),
    }
    if addr is not None:  # shown only where both records carry an address
        out["address"] = row(addr, 1.0, "same address" if addr else f"{aa!r} vs {ba!r}")
    return out


def _best_text(texts: dict[str, float | None],
               fields: tuple[str, ...] = ("reference", "counterparty", "memo")) -> float:
    """The best text similarity over ``fields`` (the rule's ``similarity_on``):
    ``min_similarity`` gates on text, never on the address."""
    best = 0.0
    for name in fields:
        s = texts.get(name)
        if s is not None and s > best:
            best = s
    return best


def key_parts(agreed: list[str]) -> dict[str, float]:
    """Score parts of the keys a whole group shares: counterparty and address count as
    themselves; a txid, reference or reference family counts as the reference."""
    parts: dict[str, float] = {}
    if "counterparty" in agreed:
        parts["counterparty"] = 1.0
    if "address" in agreed:
        parts["address"] = 1.0
    if set(agreed) - {"counterparty", "address"}:
        parts["reference"] = 1.0
    return parts


def combine(rule: Rule, parts: dict[str, float | None]) -> float:
    """Weighted mean over the rule's weights; None (missing) counts as NEUTRAL, except
    the address, which counts only where both records carry one."""
    total = 0.0
    wsum = 0.0
    for name, w in rule.weights.items():
        if w == 0:
            continue
        s = parts.get(name)
        if s is None and name == "address":
            continue
        total += w * (NEUTRAL if s is None else s)
        wsum += w
    return total / wsum if wsum else 0.0


def date_score(rule: Rule, days: int) -> float:
    """The score of ``date_part`` alone (blocking-time scoring)."""
    window = max(rule.date_window_days, 1)
    return 1.0 - 0.5 * min(days, window) / window


def date_part(rule: Rule, days: int) -> tuple[float, dict[str, Any]]:
    window = max(rule.date_window_days, 1)
    unit = "business days" if rule.business_days else "days"
    return 1.0 - 0.5 * min(days, window) / window, {
        "agree": days <= rule.date_window_days,
        "lag_days": days,
        "detail": f"{days} {unit} apart (window {rule.date_window_days})",
    }


def quick_pair(rule: Rule, a: Item, b: Item, texts: dict[str, float | None]) -> Scored | None:
    """``pair(rule, a, b, None, False, texts)`` for a pair the caller has already checked
    for asset, sign, ``rule.assets`` and date window (``matchers.vector``): the same
    score, without repeating those checks."""
    ms = rule.min_similarity
    if ms > 0 and _best_text(texts, rule.similarity_on) < ms:
        return None
    asset = a.asset
    if a.fee is None and b.fee is None:
        fees: Sequence[Decimal] = ()
    else:
        fees = [f for f, fa in ((a.fee, a.fee_asset), (b.fee, b.fee_asset))
                if f and fa == asset]
    fit = amount_fit(rule, abs(a.amount), abs(b.amount), fees, asset)
    if fit is None:
        return None
    days = abs(a.bday - b.bday) if rule.business_days else abs(a.day - b.day)
    # ``combine`` over these parts, unrolled: same terms, same order, same floats.
    window, plan, wsum, has_address = _plan(rule)
    vals = (fit[0], 1.0 - 0.5 * min(days, window) / window,
            texts["reference"], texts["counterparty"], texts["memo"], texts["address"], None)
    total = 0.0
    if vals[ADDRESS] is None and has_address:
        # ``combine`` skips a missing address: the weight sum without it, same order.
        wsum = 0.0
        for k, w in plan:
            if k != ADDRESS:
                wsum += w
    for k, w in plan:
        v = vals[k]
        if v is None and k == ADDRESS:
            continue
        total += w * (NEUTRAL if v is None else v)
    score = round(total / wsum if wsum else 0.0, 6)
    return Scored(a.one, b.one, score, rule.name, QUIET, NO_ADJ, None)


_PARTS = {"amount": 0, "date": 1, "reference": 2, "counterparty": 3, "memo": 4, "address": 5}
ADDRESS = 5
_PLANS: dict[int, tuple[Rule, int, tuple[tuple[int, float], ...], float, bool]] = {}


def _plan(rule: Rule) -> tuple[int, tuple[tuple[int, float], ...], float, bool]:
    """``quick_pair``'s view of a rule: date window, (part, weight) in ``combine``
    order (an unknown part reads as missing), and the weight sum as ``combine`` adds it."""
    hit = _PLANS.get(id(rule))
    if hit is not None and hit[0] is rule:
        return hit[1], hit[2], hit[3], hit[4]
    plan = tuple((_PARTS.get(name, 6), w) for name, w in rule.weights.items() if w != 0)
    wsum = 0.0
    for _, w in plan:
        wsum += w
    window = max(rule.date_window_days, 1)
    has_address = any(k == ADDRESS for k, _ in plan)
    _PLANS[id(rule)] = (rule, window, plan, wsum, has_address)
    return window, plan, wsum, has_address


def pair(
    rule: Rule,
    a: Item,
    b: Item,
    key_field: str | None = None,
    verbose: bool = False,
    texts: dict[str, Any] | None = None,
    learned: tuple[Decimal, str, bool] | None = None,
) -> Scored | None:
    """Score left item ``a`` against right item ``b`` under a same-asset 1:1 rule.

    ``learned``: (gap, where it came from, weak) when a learned fee schedule explains
    the pair's gap (``matchers.fees``, ``exact.learned_fee``): the gap then counts like
    a declared fee, or, weak, as ``LARGE_FEE_SCORE``.

    ``verbose=False`` (blocking-time scoring) skips building the explanation; the engine
    re-scores the few groups it proposes with ``verbose=True``. ``texts``: the pair's
    non-verbose ``text_scores(a, b, key_field)`` when the caller already has them
    (several rules scoring one pair share them).
    """
    if a.asset != b.asset or not sign_ok(rule, a.sign, b.sign):
        return None
    if rule.assets and a.asset not in rule.assets:
        return None
    days = lag(rule, a, b)
    if days > rule.date_window_days:
        return None
    min_sim = rule.min_similarity
    if texts is not None and not verbose and min_sim > 0:
        # Known similarities first: cheaper than the Decimal amount fit (same outcome).
        if _best_text(texts, rule.similarity_on) < min_sim:
            return None
    fees = [f for f, fa in ((a.fee, a.fee_asset), (b.fee, b.fee_asset)) if f and fa == a.asset]
    note = ""
    weak: Decimal | None = None
    if learned is not None:
        if learned[2]:
            weak = learned[0]
        else:
            fees.append(learned[0])
        note = learned[1]
    fit = amount_fit(rule, abs(a.amount), abs(b.amount), fees, a.asset, verbose, note, weak)
    if fit is None:
        return None
    amount_score, adj, amount_detail = fit
    if texts is None or verbose:
        texts = text_scores(a, b, key_field, verbose)
    sims = {k: v["similarity"] for k, v in texts.items()} if verbose else texts
    if rule.min_similarity > 0:
        if _best_text(sims, rule.similarity_on) < rule.min_similarity:
            return None
    if not verbose:
        score = round(combine(rule, {
            "amount": amount_score, "date": date_score(rule, days), **sims
        }), 6)
        return Scored(a.one, b.one, score, rule.name, QUIET, NO_ADJ, key_field)
    d_score, date_detail = date_part(rule, days)
    score = round(combine(rule, {"amount": amount_score, "date": d_score, **sims}), 6)
    if adj is not None:
        # Express the adjustment as left minus right in signed terms (own-account view).
        adj = Adjustment(adj.kind, adj.asset, a.amount - b.amount, adj.note)
    explanation: dict[str, Any] = {"amount": amount_detail, "date": date_detail, **texts}
    if key_field is not None:
        explanation["key"] = {"agree": True, "field": key_field, "detail": f"same {key_field}"}
    return Scored(
        (a.id,), (b.id,), score, rule.name, explanation, [adj] if adj else [], key_field
    )


BEYOND_DATE_FACTOR = 3
"""A strong-key counterpart up to this many date windows away is still a candidate."""
FEE_SHARE = Decimal("0.02")
"""A gap beyond the fee cap up to this share of the larger amount is typed ``fee``."""
PARTIAL_SHARE = Decimal("0.1")
"""Above the fee share, the smaller amount at least this share of the larger: ``partial``."""


def difference_type(gap: Decimal, larger: Decimal) -> str:
    """How a gap beyond the auto tolerance reads: fee, partial or unknown."""
    size = abs(gap)
    if not size:
        return "date"
    if size <= FEE_SHARE * larger:
        return "fee"
    if larger - size >= PARTIAL_SHARE * larger:
        return "partial"
    return "unknown"


def beyond(rule: Rule, a: Item, b: Item, key_field: str, verbose: bool = False,
           late_ok: bool = False) -> Scored | None:
    """A pair agreeing on the strong key ``key_field`` whose amount or date is beyond the
    rule's tolerance: never auto (``Scored.beyond``), but a ranked suggestion
    with the difference shown and typed (``difference_type``), for the operator to
    confirm with a reason. The rule's caps decide auto, not whether a candidate exists.

    ``late_ok`` (the key is carried by these two records only, ``exact.generate``): a
    pair whose amounts fit the rule's tolerance and whose only fault is a value date
    up to ``BEYOND_DATE_FACTOR`` windows late is scored as an ordinary, auto-worthy
    candidate (``late``), its date part at the window's floor."""
    if a.asset != b.asset or not sign_ok(rule, a.sign, b.sign):
        return None
    if rule.assets and a.asset not in rule.assets:
        return None
    days = lag(rule, a, b)
    if days > BEYOND_DATE_FACTOR * max(rule.date_window_days, 1):
        return None
    if late_ok and days > rule.date_window_days:
        got = late(rule, a, b, key_field, days, verbose)
        if got is not None:
            return got
    lm, rm = abs(a.amount), abs(b.amount)
    gap = lm - rm
    larger = lm if lm > rm else rm
    kind = difference_type(gap, larger)
    amount_score = {"date": 1.0, "fee": 0.6, "partial": 0.3}.get(kind, 0.15)
    texts = text_scores(a, b, key_field, verbose)
    sims = {k: v["similarity"] for k, v in texts.items()} if verbose else texts
    d_score, date_detail = date_part(rule, days)
    # Scored on its evidence (so an equal reference a week late outranks a same-amount
    # stranger), floored at min_score; ``beyond`` keeps it from ever being auto.
    raw = combine(rule, {"amount": amount_score, "date": d_score, **sims})
    score = round(max(raw, rule.min_score), 6)
    if not verbose:
        return Scored(a.one, b.one, score, rule.name, QUIET, NO_ADJ, key_field, True)
    where = "beyond the date window" if kind == "date" else "beyond the rule's tolerance"
    amount_detail: dict[str, Any] = {
        "left": canonical_amount(lm),
        "right": canonical_amount(rm),
        "difference": canonical_amount(gap),
        "agree": kind == "date",
        "difference_type": kind,
        "detail": (f"equal amounts, {where}" if kind == "date"
                   else f"differ by {canonical_amount(abs(gap))} {where} ({kind})"),
    }
    explanation: dict[str, Any] = {"amount": amount_detail, "date": date_detail, **texts}
    explanation["key"] = {"agree": True, "field": key_field, "detail": f"same {key_field}"}
    explanation["tolerance"] = {
        "agree": False,
        "detail": f"same {key_field}, {where}: suggested only, confirm with a reason",
    }
    adjs = []
    if kind == "fee":
        adjs.append(Adjustment("fee", a.asset, a.amount - b.amount,
                               "beyond the fee cap: confirm with a reason"))
    return Scored((a.id,), (b.id,), score, rule.name, explanation, adjs, key_field, True)


def late(rule: Rule, a: Item, b: Item, key_field: str, days: int, verbose: bool
         ) -> Scored | None:
    """``beyond``'s late pair: amounts within the rule's tolerance (declared fees
    only), the date beyond the window; None when the amounts do not fit."""
    fees = [f for f, fa in ((a.fee, a.fee_asset), (b.fee, b.fee_asset)) if f and fa == a.asset]
    fit = amount_fit(rule, abs(a.amount), abs(b.amount), fees, a.asset, verbose)
    if fit is None:
        return None
    amount_score, adj, amount_detail = fit
    texts = text_scores(a, b, key_field, verbose)
    sims = {k: v["similarity"] for k, v in texts.items()} if verbose else texts
    d_score, date_detail = date_part(rule, days)
    score = round(combine(rule, {"amount": amount_score, "date": d_score, **sims}), 6)
    if not verbose:
        return Scored(a.one, b.one, score, rule.name, QUIET, NO_ADJ, key_field)
    unit = "business days" if rule.business_days else "days"
    date_detail = dict(date_detail, agree=True, detail=(
        f"{days} {unit} apart, beyond the window of {rule.date_window_days}: accepted on "
        f"a {key_field} that only these two records carry"))
    explanation: dict[str, Any] = {"amount": amount_detail, "date": date_detail, **texts}
    explanation["key"] = {"agree": True, "field": key_field, "detail": f"same {key_field}"}
    adjs = []
    if adj is not None:
        adjs.append(Adjustment(adj.kind, adj.asset, a.amount - b.amount, adj.note))
    return Scored((a.id,), (b.id,), score, rule.name, explanation, adjs, key_field)
