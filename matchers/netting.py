"""n:m netting groups: several records on each side whose totals balance.

Three invoices of one customer settled by two transfers, or a run of exchange fills
booked as a few ledger lines. Every member shares one key value (a reference family,
a counterparty, a txid...) and the group spans at most the rule's date window, so any
member finds the same block and the same groups: incremental and full runs agree.

The search is bounded: each side's block is capped (nearest dates first, counted when
cut) to ``MAX_SIDE`` records; the other side's subset sums are sorted once and each
subset of the own side holding the driver looks up its balancing partners by bisect.
Only sums that balance within the rounding tolerance count (a netting group shares no
payment identifier with a fee), and more than ``MAX_SOLUTIONS`` balancing groups is
ambiguity: the found ones are capped below the auto threshold.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from decimal import Decimal
from typing import Any

from recon_tui.model import canonical_amount

from .context import Ctx
from .explain import NO_ADJ, QUIET, Scored, amount_fit, combine, date_part, key_parts, signs_for
from .items import LEFT, Item
from .results import Adjustment
from .rules import Rule
from .subsets import scale_for, subset_sums

MAX_SIDE = 10
"""Records per side of one block: 2**10 subsets per side at most."""
MAX_SOLUTIONS = 4
FAMILY_CAP_FACTOR = 4


def _side_block(ctx: Ctx, rule: Rule, it: Item, key: str, value: str,
                own: bool) -> list[Item] | None:
    index = ctx.own(it) if own else ctx.other(it)
    signs = (it.sign,) if own else signs_for(rule, it.sign)
    w = rule.date_window_days
    cw = rule.calendar_window
    ids = index.by_family(it.asset, signs, key, value, it.day - cw, it.day + cw,
                          FAMILY_CAP_FACTOR * rule.max_candidates)
    if ids is None:
        return None
    items = index.items
    out = []
    for i in ids:
        m = items[i]
        days = abs(m.bday - it.bday) if rule.business_days else abs(m.day - it.day)
        if days <= w and ctx.is_open(i):
            out.append(m)
    if len(out) > MAX_SIDE:
        ctx.stats["netting_blocks_cut"] += 1
        out.sort(key=lambda m: (abs(m.day - it.day), m.id))
        del out[MAX_SIDE:]
    return out


def generate(ctx: Ctx, rule: Rule, it: Item) -> tuple[list[Scored], list[int]]:
    """Balancing n:m groups holding ``it``, and the ids they link it to."""
    if rule.assets and it.asset not in rule.assets:
        return [], []
    found: dict[tuple[tuple[int, ...], tuple[int, ...]], Scored] = {}
    for key in rule.keys:
        value = it.key_value(key)
        if not value:
            continue
        mine = _side_block(ctx, rule, it, key, value, own=True)
        theirs = _side_block(ctx, rule, it, key, value, own=False)
        if mine is None or theirs is None:
            ctx.stats["group_blocks_oversized"] += 1
            continue
        if not theirs or len(mine) + len(theirs) < 3:
            continue
        groups, complete = _search(rule, it, mine, theirs)
        if not complete:
            ctx.stats["group_search_incomplete"] += 1
        for own_side, other_side in groups:
            left, right = (own_side, other_side) if it.side == LEFT else (other_side, own_side)
            s = score(rule, left, right)
            if s is None:
                continue
            if not complete:
                s.score = min(s.score, round(rule.auto_threshold - 0.001, 6))
                s.key = "incomplete"
            k = (s.left, s.right)
            if k not in found or s.score > found[k].score:
                found[k] = s
    out = list(found.values())
    links = sorted({i for s in out for i in s.ids if i != it.id})
    return out, links


def _search(rule: Rule, it: Item, mine: list[Item], theirs: list[Item]) -> tuple[
    list[tuple[tuple[Item, ...], tuple[Item, ...]]], bool
]:
    others = [m for m in mine if m.id != it.id]
    mags = [abs(m.amount) for m in (it, *others, *theirs)]
    scale = scale_for(mags)
    tol = int(rule.abs_tol(it.asset) * scale)
    own_sums = [(int(abs(it.amount) * scale) + t, mask, c + 1)
                for t, mask, c in subset_sums([int(abs(m.amount) * scale) for m in others],
                                        rule.max_group - 1)]
    their = sorted(subset_sums([int(abs(m.amount) * scale) for m in theirs], rule.max_group - 1))
    their_sums = [t for t, _, _ in their]
    out: list[tuple[tuple[Item, ...], tuple[Item, ...]]] = []
    for total, mask, count in own_sums:
        i = bisect_left(their_sums, total - tol)
        j = bisect_right(their_sums, total + tol)
        for k in range(i, j):
            _, rmask, rcount = their[k]
            n = count + rcount
            if rcount == 0 or n < 3 or n > rule.max_group:
                continue
            own_side = (it, *(others[b] for b in range(len(others)) if mask >> b & 1))
            other_side = tuple(theirs[b] for b in range(len(theirs)) if rmask >> b & 1)
            days = [m.bday if rule.business_days else m.day for m in (*own_side, *other_side)]
            if max(days) - min(days) > rule.date_window_days:
                continue  # the whole group within one window: every member finds it
            out.append((own_side, other_side))
            if len(out) >= MAX_SOLUTIONS:
                return out, False
    return out, True


def score(rule: Rule, left: tuple[Item, ...], right: tuple[Item, ...],
          verbose: bool = False) -> Scored | None:
    """Score one n:m group (same scale as every other matcher's scores)."""
    asset = left[0].asset
    lt = sum((abs(m.amount) for m in left), Decimal(0))
    rt = sum((abs(m.amount) for m in right), Decimal(0))
    fit = amount_fit(rule, lt, rt, (), asset, verbose)
    if fit is None:
        return None
    amount_score, adj, amount_detail = fit
    members = (*left, *right)
    bdays = [m.bday if rule.business_days else m.day for m in members]
    span = max(bdays) - min(bdays)
    date_score, date_detail = date_part(rule, span)
    parts: dict[str, float | None] = {"amount": amount_score, "date": date_score}
    agree = [k for k in rule.keys if left[0].key_value(k)
             and all(m.key_value(k) == left[0].key_value(k) for m in members)]
    parts.update(key_parts(agree))
    value = round(combine(rule, parts) - 0.005 * (len(members) - 3), 6)
    lids = tuple(sorted(m.id for m in left))
    rids = tuple(sorted(m.id for m in right))
    if not verbose:
        return Scored(lids, rids, value, rule.name, QUIET, NO_ADJ)
    explanation: dict[str, Any] = {
        "amount": amount_detail,
        "date": date_detail,
        "group": {
            "agree": True,
            "size": len(members),
            "keys": agree,
            "detail": f"{len(left)} left total {canonical_amount(lt)} {asset} vs "
                      f"{len(right)} right total {canonical_amount(rt)} {asset}",
        },
    }
    sign = left[0].sign
    adjs = [Adjustment(adj.kind, adj.asset, (lt - rt) * sign, adj.note)] if adj else []
    return Scored(lids, rids, value, rule.name, explanation, adjs)
