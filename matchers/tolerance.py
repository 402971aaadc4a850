"""Value-range and similarity matchers (1:1): amount within tolerance or fee range, date
within a (business-day aware) window, plus reference / counterparty / memo similarity.

Both share candidate generation through the amount/date blocking cells; they differ by
rule settings (a similarity rule sets ``min_similarity`` and weighs text heavily, which
is what lets the reference or counterparty decide between equal-amount decoys).
"""

from __future__ import annotations

from . import crowds
from .context import Ctx
from .exact import learned_fee
from .explain import Scored, pair, signs_for, text_scores
from .items import LEFT, Item
from .rules import Rule

_EPS = 1e-9


def amount_window(rule: Rule, mag: float, asset: str) -> tuple[float, float]:
    """A float range surely containing every |amount| the rule could accept against
    ``mag`` (rounding and fee gaps both ways, relative to the larger amount), and the
    gaps a record's own declared fee explains when that fee is within these bounds."""
    rel = float(max(rule.amount_rel, rule.fee_rel_max))
    ab = float(max(rule.abs_tol(asset), rule.fee_cap(asset)))
    lo = mag * (1 - rel) - ab
    hi = (mag + ab) / (1 - rel) if rel < 1 else float("inf")
    return max(lo - _EPS * mag - 1e-12, 0.0), hi + _EPS * mag + 1e-12


def tight_window(rule: Rule, mag: float, asset: str, hi0: float) -> tuple[float, float]:
    """The range of |amounts| within the admitted gap of ``mag`` (no declared fee).

    The admitted gap ``G(larger)`` (``Rule.max_amount_gap``) never decreases with the
    larger magnitude, so the loose upper bound ``hi0`` gives the tight one
    ``mag + G(hi0)``, and below ``mag`` the gap is at most ``G(mag)``: a fee cap of
    5 EUR on 1 % is +-5 EUR around 25,000 EUR, where ``amount_window`` spans +-255 EUR.
    Pairs outside it can only fit through a declared fee."""
    lo = mag - _gap(rule, mag, asset)
    hi = mag + _gap(rule, hi0, asset) if hi0 != float("inf") else hi0
    return lo - _EPS * mag - 1e-9, hi + _EPS * hi + 1e-9


def _gap(rule: Rule, larger: float, asset: str) -> float:
    """``Rule.max_amount_gap`` in floats (for blocking only; decisions use Decimal)."""
    fa = float(rule.fee_cap(asset))
    fr = float(rule.fee_rel_max) * larger
    fee = min(fa, fr) if fa and fr else fa or fr
    return max(float(rule.abs_tol(asset)), float(rule.amount_rel) * larger, fee)


def generate(ctx: Ctx, rule: Rule, it: Item) -> tuple[list[Scored], list[int]]:
    if rule.assets and it.asset not in rule.assets:
        return [], []
    lo, hi = amount_window(rule, it.mag, it.asset)
    cw = rule.calendar_window
    other = ctx.other(it)
    tlo, thi = tight_window(rule, it.mag, it.asset, hi)
    mine_fee = it.fee is not None
    ids = other.by_amount(
        it.asset, signs_for(rule, it.sign), lo, hi, it.day - cw, it.day + cw, it, ctx.own(it),
        None if mine_fee else (tlo, thi),
    )
    out: list[Scored] = []
    links: list[int] = []
    is_open = ctx.is_open
    items = other.items
    left = it.side == LEFT
    for oid in ids:
        o = items[oid]
        if not (tlo <= o.mag <= thi or mine_fee or o.fee is not None):
            continue  # outside every tolerance and no declared fee: cannot fit
        if not is_open(oid):
            continue
        a, b = (it, o) if left else (o, it)
        s = pair(rule, a, b, texts=_texts(ctx, a, b))
        if s is not None:
            out.append(s)
            links.append(oid)
    extra = payer_pairs(ctx, rule, it) + crowds.fee_pairs(ctx, rule, it)
    if ctx.fees:
        extra += learned_pairs(ctx, rule, it)
    if extra:
        have = set(links)
        for s in extra:
            oid = s.right[0] if left else s.left[0]
            if oid not in have:
                have.add(oid)
                out.append(s)
                links.append(oid)
    return out, links


def _texts(ctx: Ctx, a: Item, b: Item) -> dict[str, float | None]:
    """The pair's ``text_scores``, once per context: every tolerance / similarity rule
    scores the same pairs (the incremental closure probes a record rule by rule), and
    the similarities depend on the two records only."""
    key = ("texts", a.id, b.id)
    hit: dict[str, float | None] | None = ctx.memo.get(key)
    if hit is None:
        hit = ctx.memo[key] = text_scores(a, b)
    return hit


def payer_pairs(ctx: Ctx, rule: Rule, it: Item) -> list[Scored]:
    """The sub-block of an oversized amount cell: pairs of a round-amount ``it`` with
    counterparts of the same |amount| and payer key (``Item.payer``) on another day
    of the window, where ``it``'s cell or the counterpart's is oversized.

    The cell probe pairs such records only on the strict key (same amount, same day),
    so a 500.00 paid a day late in a crowd of 500.00s was no candidate at all; this
    is the complement, not a repeat. Work per record: the payer's records of that
    amount inside the window (one bisect into a day-sorted list)."""
    if not it.round or not it.payer or (rule.assets and it.asset not in rule.assets):
        return []
    other = ctx.other(it)
    own = ctx.own(it)
    me_over = own.oversized(it)
    cw = rule.calendar_window
    left = it.side == LEFT
    mag = abs(it.amount)
    out: list[Scored] = []
    for sign in signs_for(rule, it.sign):
        for day, oid in other.payer_block(it.asset, sign, mag, it.payer, it.day - cw,
                                          it.day + cw):
            if day == it.day or not ctx.is_open(oid):
                continue
            o = other.items[oid]
            if not (me_over or other.oversized(o)):
                continue  # both cells of normal size: the cell probe has the pair
            a, b = (it, o) if left else (o, it)
            s = pair(rule, a, b, texts=_texts(ctx, a, b))
            if s is not None:
                out.append(s)
    return out


def payer_pairs_multi(ctx: Ctx, rules: list[Rule], it: Item) -> list[list[Scored]]:
    """``[payer_pairs(ctx, rule, it) for rule in rules]`` (up to order), walking
    ``it``'s payer sub-block once for all the rules (the widest window, every sign
    one of them admits) and sharing each pair's text similarities."""
    out: list[list[Scored]] = [[] for _ in rules]
    if not it.round or not it.payer:
        return out
    active = [(k, r, signs_for(r, it.sign), r.calendar_window) for k, r in enumerate(rules)
              if not (r.assets and it.asset not in r.assets)]
    if not active:
        return out
    other = ctx.other(it)
    me_over = ctx.own(it).oversized(it)
    cw = max(act[3] for act in active)
    signs: list[int] = []
    for act in active:
        signs.extend(x for x in act[2] if x not in signs)
    left = it.side == LEFT
    mag = abs(it.amount)
    is_open = ctx.is_open
    items = other.items
    for sign in signs:
        for day, oid in other.payer_block(it.asset, sign, mag, it.payer, it.day - cw,
                                          it.day + cw):
            if day == it.day or not is_open(oid):
                continue
            o = items[oid]
            if not (me_over or other.oversized(o)):
                continue  # both cells of normal size: the cell probe has the pair
            a, b = (it, o) if left else (o, it)
            texts = None
            d = abs(day - it.day)
            for k, rule, rsigns, rcw in active:
                if d > rcw or sign not in rsigns:
                    continue
                if texts is None:
                    texts = _texts(ctx, a, b)
                s = pair(rule, a, b, texts=texts)
                if s is not None:
                    out[k].append(s)
    return out


def learned_pairs(ctx: Ctx, rule: Rule, it: Item) -> list[Scored]:
    """Pairs of ``it`` whose gap is a fee the learned schedule knows for its
    counterparty (``matchers.fees``) and that the rule's own tolerance does not admit:
    probed at exactly |amount| -/+ each such fee. Counterpart pairs inside the
    tolerance come from the ordinary probe (scored without the schedule, as the
    vectorised path scores them)."""
    sched = ctx.fees
    if not sched or (rule.assets and it.asset not in rule.assets):
        return []
    fees = sched.fees_for(it.asset, it.cp)
    if not fees:
        return []
    other = ctx.other(it)
    own = ctx.own(it)
    cw = rule.calendar_window
    left = it.side == LEFT
    mag = abs(it.amount)
    out: list[Scored] = []
    for fee in fees:
        for target in (mag - fee, mag + fee):
            if target <= 0:
                continue
            t = float(target)
            ids = other.by_amount(it.asset, signs_for(rule, it.sign), t - 1e-9 * t - 1e-9,
                                  t + 1e-9 * t + 1e-9, it.day - cw, it.day + cw, it, own)
            for oid in ids:
                o = other.items[oid]
                if abs(o.amount) != target or not ctx.is_open(oid):
                    continue
                a, b = (it, o) if left else (o, it)
                if pair(rule, a, b) is not None:
                    continue  # inside the tolerance: the ordinary probe has it
                s = pair(rule, a, b, learned=learned_fee(ctx, a, b))
                if s is not None:
                    out.append(s)
    return out

