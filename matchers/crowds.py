"""Fee gaps inside crowds of round amounts: the sub-block the amount cells cannot see.

An amount cell holding more than ``max_block`` records (a busy payer's 500.00s) is
probed on the strict key only (same |amount|, same day: ``SideIndex.by_amount``), and
``tolerance.payer_pairs`` adds the same |amount| of that payer on the other days of the
window. A counterpart *short by a fee* (the bank's 485.00 for the ledger's 500.00, an
empty remittance) was no candidate at all: measured on the skewed matrix, most of the
fee pairs missing from the operator's top 3.

``fee_pairs`` is that complement: pairs of one payer key (``Item.payer``), inside the
rule's date window, with different |amounts| whose gap the rule admits (its rounding or
presumed-fee tolerance, or a fee the learned schedule knows for the payer), where the
round one sits in an oversized cell. The relation is symmetric (so incremental runs
and full runs link the same records): the round record scans its payer's lines of
the window on the other side; any other record looks up the few round amounts its
admitted gap can reach (within the rule's tolerance, or its amount -/+ a fee the
schedule has seen) in the other side's ``rounds`` index (one dict look-up each).
Bound on work per record: the lines of the window within its reach of |amount| for
a round record of a crowded cell (the amount cells of that range), a handful of
look-ups otherwise. Disjoint from the cell probe (which
never pairs a crowded round record with another amount), from ``payer_pairs`` (same
|amount|) and from ``tolerance.learned_pairs`` (whose probe a crowd narrows to the
same |amount| too).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from .blocking import SideIndex
from .context import Ctx
from .exact import learned_fee
from .explain import Scored, lag, pair, signs_for
from .fees import FeeSchedule
from .items import LEFT, Item, is_round
from .rules import Rule


def fee_pairs(ctx: Ctx, rule: Rule, it: Item, scan_only: bool = False) -> list[Scored]:
    """The pairs of ``it`` described in the module docstring, scored by ``rule``.

    ``scan_only``: only those where ``it`` is the crowded round record (a full run
    gets the others from ``reverse_scan``, which costs nothing per ordinary record)."""
    if not it.payer or (rule.assets and it.asset not in rule.assets):
        return []
    if scan_only and not (it.round and ctx.own(it).oversized(it)):
        return []
    mag = abs(it.amount)
    reach = _reach(ctx, rule, it, mag)
    if not reach:
        return []
    other, own = ctx.other(it), ctx.own(it)
    cw = rule.calendar_window
    left = it.side == LEFT
    out: list[Scored] = []
    seen: set[int] = set()
    if it.round and own.oversized(it):
        # The round record of a crowded cell: its payer's lines of the window.
        for o in _scan(rule, it, other, ctx.is_open, reach):
            if not _admits(ctx, rule, it, o):
                continue
            seen.add(o.id)
            s = _score(ctx, rule, it, o, left)
            if s is not None:
                out.append(s)
    if scan_only:
        return out
    for value in _round_targets(ctx, rule, it, mag):
        # Round amounts within reach, whose crowded cells hide ``it`` from them.
        if value == mag:
            continue
        for sign in signs_for(rule, it.sign):
            for _, oid in other.payer_block(it.asset, sign, value, it.payer, it.day - cw,
                                            it.day + cw):
                if oid in seen or not ctx.is_open(oid):
                    continue
                o = other.items[oid]
                if not other.oversized(o) or (it.round and own.oversized(it)):
                    continue  # a cell of normal size: the cell probe has the pair
                if not _admits(ctx, rule, it, o):
                    continue
                seen.add(oid)
                s = _score(ctx, rule, it, o, left)
                if s is not None:
                    out.append(s)
    return out


def crowded_rounds(ctx: Ctx, side: SideIndex, probers: set[int]) -> list[Item]:
    """The open crowded round records of ``side`` with a payer (``SideIndex.rounds``
    order) whose payer has a line among ``probers`` on the other side: the records
    ``reverse_scan`` scans (``_scan`` reads only the record's payer's lines). Found
    once for the rules of a probe."""
    other = ctx.sides[1 - side_of(side, ctx)]
    oitems = other.items
    payers = {o.payer for o in (oitems.get(i) for i in probers) if o is not None}
    out: list[Item] = []
    items = side.items
    is_open = ctx.is_open
    for (_asset, _sign, _amount, payer), lst in side.rounds.items():
        if not payer or payer not in payers:
            continue
        for _, i in lst:
            it = items[i]
            if is_open(i) and side.oversized(it):
                out.append(it)
    return out


def reverse_scan(ctx: Ctx, rule: Rule, side: SideIndex, probers: set[int],
                 crowded: list[Item] | None = None) -> list[Scored]:
    """The pairs of ``fee_pairs`` whose crowded round record is on ``side`` (open per
    ``ctx``) and whose other record is one of ``probers``: with ``fee_pairs(...,
    scan_only=True)`` from each prober, every pair of ``fee_pairs`` of the probers,
    once. Work: the crowded round records of ``side`` and their payers' lines.
    ``crowded``: ``crowded_rounds(ctx, side, probers)`` when the caller has it."""
    out: list[Scored] = []
    other = ctx.sides[1 - side_of(side, ctx)]
    if crowded is None:
        crowded = crowded_rounds(ctx, side, probers)
    for it in crowded:
        if rule.assets and it.asset not in rule.assets:
            continue
        for o in _scan(rule, it, other, probers.__contains__,
                       _reach(ctx, rule, it, abs(it.amount))):
            if (o.round and other.oversized(o)) or not _admits(ctx, rule, it, o):
                continue  # a crowded round record too: its own scan has the pair
            s = _score(ctx, rule, it, o, it.side == LEFT)
            if s is not None:
                out.append(s)
    return out


def side_of(side: SideIndex, ctx: Ctx) -> int:
    return LEFT if ctx.sides[LEFT] is side else 1 - LEFT


def _scan(rule: Rule, it: Item, other: SideIndex, is_open: Callable[[int], bool],
          reach: Decimal) -> list[Item]:
    """The open lines of ``it``'s payer on ``other`` in the rule's calendar window with
    another |amount| within ``reach`` of ``it``'s (the crowded round record's side of
    ``fee_pairs``), read from the payer's lines sorted by |amount|
    per date bucket (``SideIndex.payer_mags``): the work is that payer's lines of
    that amount range and window. In the order of the amount cells (date bucket, then
    |amount|, then id): the order the candidates are scored in."""
    mag = abs(it.amount)
    lo, hi = float(mag - reach), float(mag + reach)
    lo, hi = max(lo - 1e-9 * hi - 1e-9, 0.0), hi + 1e-9 * hi + 1e-9
    cw = rule.calendar_window
    b = other.day_bucket
    items = other.items
    day, payer, asset = it.day, it.payer, it.asset
    found: list[Item] = []
    payer_run = other.payer_run
    for sign in signs_for(rule, it.sign):
        for db in range((day - cw) // b, (day + cw) // b + 1):
            # Skip the crowd itself (``it``'s own |amount|): bisected, not walked.
            for _, oid in payer_run((asset, sign, payer, db), lo, hi, it.mag):
                o = items[oid]
                if abs(o.day - day) <= cw and abs(o.amount) != mag and is_open(oid):
                    found.append(o)
    return found


_FEES: dict[int, tuple[object, dict[str, list[Decimal]]]] = {}


def _all_fees(sched: FeeSchedule, asset: str) -> list[Decimal]:
    """Every fee size (|fee|) of ``asset`` the schedule has seen, of any payer, either
    direction, ascending (memoised per schedule): a superset of any fee it explains
    for a pair."""
    hit = _FEES.get(id(sched))
    if hit is None or hit[0] is not sched:
        by_asset: dict[str, set[Decimal]] = {}
        for (a, _cp), fees in sched.seen.items():
            by_asset.setdefault(a, set()).update(abs(f) for f in fees)
        _FEES.clear()  # one live schedule at a time in practice
        hit = _FEES[id(sched)] = (sched, {a: sorted(f) for a, f in by_asset.items()})
    return hit[1].get(asset, [])


def _round_targets(ctx: Ctx, rule: Rule, it: Item, mag: Decimal) -> list[Decimal]:
    """The round |amounts| a counterpart of ``it`` may have under the rule: those
    within its tolerance (``_rounds_near``) and ``mag`` -/+ each learned fee."""
    out = set(_rounds_near(mag, rule.max_amount_gap(2 * mag, it.asset)))
    if ctx.fees:
        for f in _all_fees(ctx.fees, it.asset):
            for v in (mag - f, mag + f):
                if v > 0:
                    out.add(v)  # no ``is_round`` (~4 us): a look-up finds no other
    return sorted(out)


def _reach(ctx: Ctx, rule: Rule, it: Item, mag: Decimal) -> Decimal:
    """An upper bound of every |amount| gap the rule (or the learned schedule) could
    admit between ``it`` and a counterpart near its size (0: none). The same bound
    from either record of a pair, so the relation stays symmetric."""
    gap = rule.max_amount_gap(2 * mag, it.asset)
    if ctx.fees:
        fees = _all_fees(ctx.fees, it.asset)
        if fees and fees[-1] > gap:
            gap = fees[-1]
    return gap


def _admits(ctx: Ctx, rule: Rule, x: Item, y: Item) -> bool:
    """The gap condition of the relation, the same from either record: within the
    rule's admitted gap at twice the smaller |amount|, or a fee the schedule has seen
    (a record's own declared fee alone does not count: the look-up side cannot see
    it, and the relation must stay symmetric)."""
    a, b = abs(x.amount), abs(y.amount)
    gap = abs(a - b)
    if gap <= rule.max_amount_gap(2 * min(a, b), x.asset):
        return True
    return bool(ctx.fees) and gap in _all_fees(ctx.fees, x.asset)


def _score(ctx: Ctx, rule: Rule, it: Item, o: Item, left: bool) -> Scored | None:
    a, b = (it, o) if left else (o, it)
    if lag(rule, a, b) > rule.date_window_days:
        return None
    s = pair(rule, a, b)
    if s is None and ctx.fees:
        s = pair(rule, a, b, learned=learned_fee(ctx, a, b))
    return s


def _rounds_near(mag: Decimal, reach: Decimal) -> list[Decimal]:
    """The round amounts (``is_round``: two significant digits at most) within
    ``reach`` of ``mag``, ascending."""
    lo, hi = max(mag - reach, mag / 2), mag + reach
    if hi <= 0 or lo <= 0:
        return []
    out: set[Decimal] = set()
    # Two significant digits: k x 10**e with k in 1..99, e from lo's leading digit
    # (less one) to hi's; ``lo >= mag / 2`` keeps that to two or three exponents.
    for e in range(lo.adjusted() - 1, hi.adjusted() + 1):
        step = Decimal(1).scaleb(e)
        k = max(int((lo / step).to_integral_value(rounding="ROUND_CEILING")), 1)
        while k < 100 and k * step <= hi:
            v = k * step
            if is_round(v):
                out.add(v)  # equal Decimals hash alike: 5E+3 finds the 5000.00 key
            k += 1
    return sorted(out)
