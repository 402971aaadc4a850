"""Value-range and similarity matchers (1:1): amount within tolerance or fee range, date
within a (business-day aware) window, plus reference / counterparty / memo similarity.

Both share candidate generation through the amount/date blocking cells; they differ by
rule settings (a similarity rule sets ``min_similarity`` and weighs text heavily, which
is what lets the reference or counterparty decide between equal-amount decoys).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import replace
from decimal import Decimal
from typing import Any

from . import crowds
from .context import Ctx
from .exact import learned_fee
from .explain import NO_ADJ, QUIET, Scored, lag, pair, signs_for, text_scores
from .fees import MAX_FEE_SHARE
from .items import LEFT, Item, is_round
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
    if rule.late_days:
        extra += late_pairs(ctx, rule, it)
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



LATE_FACTOR = 0.9
"""A late pair scores this share of what the rule would give it with its window
stretched to ``late_days``: below the same evidence inside the window."""
_WIDE: dict[int, tuple[Rule, Rule]] = {}


def widened(rule: Rule) -> Rule:
    """``rule`` with its date window stretched to ``late_days`` (memoised)."""
    hit = _WIDE.get(id(rule))
    if hit is None or hit[0] is not rule:
        hit = _WIDE[id(rule)] = (rule, replace(rule, date_window_days=rule.late_days,
                                               late_days=0))
    return hit[1]


def late_pairs(ctx: Ctx, rule: Rule, it: Item, lines: _PayerLines | None = None
               ) -> list[Scored]:
    """Late counterparts (``Rule.late_days``): pairs the rule accepts but for a lag
    beyond ``date_window_days`` and within ``late_days`` (a value date two weeks
    late, no remittance: before, no candidate at all). Suggestions: marked
    ``beyond`` (never a rival, never consuming; auto only under ``Rule.sole_auto``, as
    the sole candidate of both records, ``engine.sole_reason``) and scored ``LATE_FACTOR``
    of the stretched rule's score, capped below the auto threshold, so they rank
    after the same evidence inside the window.

    A late pair stands on its payer: both records of one payer key (``Item.payer``):
    the amounts the rule's tolerance admits, and ``|amount|`` -/+ each fee the learned
    schedule knows for the payer (up to ``fees.MAX_FEE_SHARE`` of the amount). A
    crowded record (an oversized amount cell) pairs late only as a round amount, and
    only through the payer's sub-block of an exact round |amount| (``_late_block``):
    before, a 250.00 of a payer of many 250.00s, booked by the bank nine days late,
    had no candidate at all (the lag10 skewed cell). The relation depends
    on the two records and the static indexes only, the same from either side, and
    the full run's columnar path calls this same function per prober. Work per
    record: the cells of those amount ranges over the late window's date buckets.

    ``lines``: the other side's payer lines over all days (``payer_lines``, the full
    run's ``late_multi``): one bisect per amount range instead of one per date bucket
    of the late window, the same records."""
    if not rule.late_days or not it.payer or (rule.assets and it.asset not in rule.assets):
        return []
    own, other = ctx.own(it), ctx.other(it)
    # A crowded record (``SideIndex.oversized``) pairs late only as a round amount, and
    # then only through the payer's sub-block of an exact round |amount| (its own, or
    # its own -/+ a learned fee): the sub-block is the bound, as for ``payer_pairs``.
    # Its tolerance range is not walked: a 250.01 of the payer finds no crowded
    # 250.00 from its side either (the walks skip crowded lines), so the relation
    # stays symmetric.
    crowded = own.oversized(it)
    if crowded and not it.round:
        return []
    wide = widened(rule)
    lo, hi = amount_window(rule, it.mag, it.asset)
    tlo, thi = tight_window(rule, it.mag, it.asset, hi)
    mine_fee = it.fee is not None
    mag = abs(it.amount)
    ranges: list[tuple[float, float, Decimal | None]] = [
        (lo, hi, mag if it.round else None)]
    if ctx.fees:
        for fee in ctx.fees.fees_for(it.asset, it.cp):
            for t in (mag - fee, mag + fee):
                if t > 0 and fee <= MAX_FEE_SHARE * max(t, mag):
                    x = float(t)
                    ranges.append((x - 1e-9 * x - 1e-9, x + 1e-9 * x + 1e-9,
                                   t if is_round(t) else None))
    left = it.side == LEFT
    out: list[Scored] = []
    seen: set[int] = set()
    for k, (rlo, rhi, exact) in enumerate(ranges):
        if crowded and k == 0:
            walked = _late_block(rule, wide, it, other, ctx, mag)
        else:
            walked = (_late_walk(rule, wide, it, other, rlo, rhi, ctx, exact)
                      if lines is None
                      else _late_lines(rule, wide, it, other, rlo, rhi, ctx, exact, lines))
        for o in walked:
            if o.id in seen:
                continue
            if rlo == lo and not (tlo <= o.mag <= thi or mine_fee or o.fee is not None):
                continue  # outside the tolerance, no declared fee: a learned range's
            a, b = (it, o) if left else (o, it)
            got = late_pair(ctx, rule, a, b)
            if got is not None:
                seen.add(o.id)
                out.append(got)
    return out


def late_multi(ctx: Ctx, rules: list[Rule], probers: list[Item], targets_side: Any,
               targets: set[int] | None) -> list[list[Scored]]:
    """``late_pairs`` of every prober for each rule with ``late_days`` (the full run's
    columnar path; ``[]`` for the others). ``targets``: the few counterparts a fixpoint
    pass probes for (``None``: all): a prober is walked only if one of them has its
    payer, as ``late_pairs`` finds nothing else."""
    out: list[list[Scored]] = [[] for _ in rules]
    late = [k for k, r in enumerate(rules) if r.late_days]
    if not late:
        return out
    payers: set[str] | None = None
    if targets is not None:
        items = targets_side.items
        payers = {items[i].payer for i in targets if i in items}
    lines = payer_lines(targets_side)
    for it in probers:
        if payers is not None and it.payer not in payers:
            continue
        for k in late:
            out[k].extend(late_pairs(ctx, rules[k], it, lines))
    return out


_PayerLines = dict[tuple[str, int, str], tuple[list[Item], list[float]]]
LINES_SCAN = 24
"""A range of more lines than this (a payer's amount repeated all year) is read from the
date buckets instead (``_late_walk``): it costs one bisect per bucket, not a walk of
the year."""


def payer_lines(side: Any) -> _PayerLines:
    """(asset, sign, payer) -> the side's lines of that payer over all days, sorted by
    (|amount| as ``mag``, id), and their magnitudes: a derived view of the side
    (``SideIndex.derive``, rebuilt when the side changed; a full run builds it once,
    ~16 bytes a line: the items and floats are the records' own)."""

    def build() -> _PayerLines:
        by: dict[tuple[str, int, str], list[Item]] = {}
        for it in side.items.values():
            if it.payer:
                k = (it.asset, it.sign, it.payer)
                lst = by.get(k)
                if lst is None:
                    by[k] = [it]
                else:
                    lst.append(it)
        out: _PayerLines = {}
        for k, lst in by.items():
            lst.sort(key=_MAG_ID)
            out[k] = (lst, [it.mag for it in lst])
        return out

    return side.derive("late_payer_lines", build)  # type: ignore[no-any-return]


def _mag_id(it: Item) -> tuple[float, int]:
    return (it.mag, it.id)


_MAG_ID = _mag_id


def _late_lines(rule: Rule, wide: Rule, it: Item, other: Any, lo: float, hi: float,
                ctx: Ctx, exact: Decimal | None, lines: _PayerLines) -> list[Item]:
    """``_late_walk`` read from ``payer_lines``: the payer's lines of [lo, hi] over all
    days, filtered on the late window (the same records; order aside, which the
    decisions do not read: they sort the candidates). A range of more than
    ``LINES_SCAN`` lines goes through ``_late_walk``."""
    cw = wide.calendar_window
    day, asset, payer = it.day, it.asset, it.payer
    is_open = ctx.is_open
    oversized = other.oversized
    window = rule.date_window_days
    skip = float(exact) if exact is not None else None
    found: list[Item] = []
    for sign in signs_for(rule, it.sign):
        got = lines.get((asset, sign, payer))
        if exact is not None:
            found.extend(_late_block(rule, wide, it, other, ctx, exact, sign))
        if got is None:
            continue
        lst, mags = got
        i, j = bisect_left(mags, lo), bisect_right(mags, hi)
        if i >= j:
            continue
        m0 = m1 = j
        if skip is not None:
            m0, m1 = bisect_left(mags, skip, i, j), bisect_right(mags, skip, i, j)
        if (j - i) - (m1 - m0) > LINES_SCAN:
            # Counted before slicing: a range holding a crowd costs no copy of it.
            found.extend(_late_walk(rule, wide, it, other, lo, hi, ctx, None, sign,
                                    skip))
            continue
        part = lst[i:m0] + lst[m1:j] if m0 < m1 else lst[i:j]
        for o in part:
            if (abs(o.day - day) <= cw and lag(rule, it, o) > window and is_open(o.id)
                    and not oversized(o)):
                found.append(o)
    return found


def _late_block(rule: Rule, wide: Rule, it: Item, other: Any, ctx: Ctx, amount: Decimal,
                only_sign: int | None = None) -> list[Item]:
    """The open records of ``other`` in ``it``'s payer sub-block of the round |amount|
    ``amount`` (``SideIndex.payer_block``), dated within ``wide``'s calendar window and
    beyond ``rule``'s lag; crowded ones included: the sub-block is what an oversized
    amount cell is cut into, its size the payer's lines of that amount in the late
    window. ``only_sign``: that sign alone (else every sign the rule admits)."""
    cw = wide.calendar_window
    items = other.items
    is_open = ctx.is_open
    window = rule.date_window_days
    found: list[Item] = []
    day = it.day
    for sign in signs_for(rule, it.sign):
        if only_sign is not None and sign != only_sign:
            continue
        # Within ``window`` calendar days the lag is within the window too (business
        # days never exceed calendar days): only the two outer spans are read.
        for lo, hi in ((day - cw, day - window - 1), (day + window + 1, day + cw)):
            for _, oid in other.payer_block(it.asset, sign, amount, it.payer, lo, hi):
                o = items[oid]
                if lag(rule, it, o) > window and is_open(oid):
                    found.append(o)
    return found


def _late_walk(rule: Rule, wide: Rule, it: Item, other: Any, lo: float, hi: float,
               ctx: Ctx, exact: Decimal | None, only_sign: int | None = None,
               skip_mag: float | None = None) -> list[Item]:
    """The open records of ``other`` of ``it``'s payer with |amount| in [lo, hi], dated
    within ``wide``'s calendar window and beyond ``rule``'s lag: uncrowded ones
    (``SideIndex.oversized``) from the walk. ``exact``: a round |amount| in the range,
    whose records come from the payer's sub-block (``_late_block``, crowded ones
    included) instead of a walk of every payer's run of that amount in the cells.
    ``only_sign``, ``skip_mag`` (``_late_lines``): the bucket walk of that sign alone,
    less that |amount|."""
    cw = wide.calendar_window
    payer = it.payer
    b = other.day_bucket
    items = other.items
    payer_run = other.payer_run
    oversized = other.oversized
    day, asset = it.day, it.asset
    is_open = ctx.is_open
    window = rule.date_window_days
    found: list[Item] = []
    skip = float(exact) if exact is not None else skip_mag
    for sign in signs_for(rule, it.sign):
        if only_sign is not None and sign != only_sign:
            continue
        if exact is not None:
            found.extend(_late_block(rule, wide, it, other, ctx, exact, sign))
        # The payer's lines of each date bucket, sorted by (|amount|, id) like the amount
        # cells they share tuples with (``SideIndex.payer_mags``): the same records in
        # the same order as a walk of the cells' runs filtered on the payer, without
        # walking every other payer's lines of the range. A crowded line
        # (``SideIndex.oversized``: a round one in an oversized cell, or any in a cell
        # of too many plain amounts) pairs on the same day only.
        for db in range((it.day - cw) // b, (it.day + cw) // b + 1):
            run = payer_run((asset, sign, payer, db), lo, hi, skip)
            for _, oid in run:
                o = items[oid]
                if (abs(o.day - day) <= cw and lag(rule, it, o) > window and is_open(oid)
                        and not oversized(o)):
                    found.append(o)
    return found


def late_pair(ctx: Ctx, rule: Rule, a: Item, b: Item, verbose: bool = False
              ) -> Scored | None:
    """The late pair of left ``a`` and right ``b`` (``late_pairs``), or None when the
    stretched rule rejects it or its lag is inside the rule's own window."""
    days = lag(rule, a, b)
    if days <= rule.date_window_days or days > rule.late_days:
        return None
    wide = widened(rule)
    s = pair(wide, a, b, verbose=verbose, texts=None if verbose else _texts(ctx, a, b))
    if s is None and ctx.fees:
        s = pair(wide, a, b, verbose=verbose, learned=learned_fee(ctx, a, b))
    if s is None:
        return None
    score = s.score * LATE_FACTOR
    if rule.outcome == "auto":
        score = min(score, rule.auto_threshold - 0.001)
    score = round(score, 6)
    if score < rule.min_score:
        return None
    if not verbose:
        return Scored(a.one, b.one, score, rule.name, QUIET, NO_ADJ, None, True)
    unit = "business days" if rule.business_days else "days"
    expl = dict(s.explanation)
    expl["date"] = dict(expl["date"], agree=False, detail=(
        f"{days} {unit} apart, beyond the window of {rule.date_window_days} "
        f"(late, up to {rule.late_days})"))
    expl["tolerance"] = {"agree": False, "detail": "late value date: suggested only, "
                         "confirm with a reason"}
    return Scored((a.id,), (b.id,), score, rule.name, expl, s.adjustments, None, True)
