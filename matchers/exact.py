"""Exact-key matcher: on-chain txid, exchange/bank reference, end-to-end id.

The strictest evidence: a shared key. Amounts must agree within the rule's tolerance
for the pair to be auto-worthy (a differing fee becomes an explicit adjustment); a gap
the learned fee schedule explains (``matchers.fees``) counts like a declared fee. A
counterpart sharing the key but beyond the tolerance in amount or date is still a
candidate (``explain.beyond``): scored below the auto threshold, its difference typed
(fee, partial, unknown, date), so the operator sees it ranked and confirms with a reason.
"""

from __future__ import annotations

from decimal import Decimal

from .context import Ctx
from .explain import Scored, beyond, pair
from .fees import directed_gap
from .items import LEFT, Item
from .rules import Rule


def generate(ctx: Ctx, rule: Rule, it: Item) -> tuple[list[Scored], list[int]]:
    """Candidates involving ``it`` under ``rule`` and the ids they link it to."""
    found: dict[int, Scored] = {}
    other = ctx.other(it)
    is_open = ctx.is_open
    for key in rule.keys:
        value = it.key_value(key)
        if not value:
            continue
        only = only_pair(ctx, key, value)
        for oid in other.by_key(key, value):
            if not is_open(oid):
                continue
            o = other.items[oid]
            a, b = (it, o) if it.side == LEFT else (o, it)
            s = pair(rule, a, b, key, learned=learned_fee(ctx, a, b))
            if s is None:
                # Same strong key, amount or date beyond tolerance: still a candidate.
                s = beyond(rule, a, b, key, late_ok=only)
            if s is not None and (oid not in found or s.score > found[oid].score):
                found[oid] = s
    return list(found.values()), list(found)


def learned_fee(ctx: Ctx, a: Item, b: Item) -> tuple[Decimal, str, bool] | None:
    """(|gap|, where it was learned, weak) when the engine's fee schedule explains the
    gap of ``a``-``b`` (left, right), in its direction, as a fee of this payment
    (``FeeSchedule.explain``: weak, a pair-wide fee that is a large share of the
    amount, scores ``explain.LARGE_FEE_SCORE``)."""
    sched = ctx.fees
    if not sched or a.asset != b.asset:
        return None
    gap = directed_gap(a.amount, b.amount)  # as the schedule learned it
    if not gap:
        return None
    am, bm = abs(a.amount), abs(b.amount)
    got = sched.explain(a.asset, (a.cp, b.cp), gap, am if am > bm else bm)
    return None if got is None else (abs(gap), got[0], got[1])


def only_pair(ctx: Ctx, key: str, value: str) -> bool:
    """Whether exactly one record of each side carries ``key`` = ``value`` (open or
    not): a late value date is then no reason to doubt their pair (``explain.beyond``'s
    ``late_ok``). Read from the key index directly (no oversize counting)."""
    return (len(ctx.sides[0].key_ids(key, value)) == 1
            and len(ctx.sides[1].key_ids(key, value)) == 1)
