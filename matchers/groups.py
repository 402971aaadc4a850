"""Group matchers (1:n, n:1): several records on one side summing to one on the other.

Batched settlements (one bank credit for five ledger payouts) and split fills (one
ledger order, three exchange fills). Candidates come from the family index — same
asset, same sign, same counterparty, reference family, txid or address, inside the
date window (on or before the single for ``member_dates = "before"``) — and the block
is capped at ``max_candidates`` (nearest dates first, counted in stats when cut).

* A txid block of several lines is widened to their journal entry: the lines posted at
  the same instant, cited or not (a batched send whose ledger cites the txid on some).
* ``batch`` rules block per batch instead: the other side's lines of one kind on one
  day (``Item.batch``). A batch the single names ("payroll" in its remittance) is
  searched for subsets; one it does not name only matches whole.

A bounded subset-sum (sizes 2..``max_group``: depth-first under a node budget, finished
by meet in the middle when the budget runs out) finds the subsets whose total balances
the single record within the rule's tolerance; more than one balancing subset is
ambiguity, so it is reported as alternatives, never auto. n:m rules are delegated to
``matchers.netting``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from recon_tui.model import canonical_amount

from . import netting
from .blocking import FAMILY_SCAN, SideIndex
from .context import Ctx
from .explain import (
    NO_ADJ,
    QUIET,
    Scored,
    amount_fit,
    combine,
    date_part,
    key_parts,
    lag,
    signs_for,
)
from .items import LEFT, RIGHT, Item
from .results import Adjustment
from .rules import Rule
from .subsets import scale_for, subset_sums
from .tolerance import LATE_FACTOR, widened

CP_SIMILAR = 0.85
"""Member counterparties at least this similar to the single's count as the same payer."""
NODE_BUDGET = 2_000
MITM_MAX = 24
"""Up to this many members a search the node budget cut short is finished by meet in
the middle (2**(n/2) subsets per half); above it, the partial result stands."""
MITM_FIRST = 12
"""From this many members (up to ``MITM_MAX``) a search starts with meet in the middle
(:func:`_search`): below it the depth-first search rarely spends its budget
and costs less than building the halves."""
MAX_SOLUTIONS = 4
WEAK_KEYS = frozenset({"counterparty", "date"})
"""Block keys that identify no payment (a payer, a day): their members are searched
apart from those of the identifying keys (reference, family, txid, address)."""
FAMILY_CAP_FACTOR = 4
"""A family block above this many times ``max_candidates`` is skipped as oversized."""


def one_side(rule: Rule) -> int:
    """The side holding the single record: 1:n -> left, n:1 -> right (n:m rules are
    driven from the right too: any member finds its groups, see ``matchers.netting``)."""
    return LEFT if rule.type == "1:n" else RIGHT


def block(ctx: Ctx, rule: Rule, one: Item) -> list[int]:
    """Many-side ids that could join a group with ``one`` (open or not: the relation is
    static so incremental and full runs link the same records)."""
    parts = blocks(ctx, rule, one)
    if len(parts) == 1:
        return parts[0]
    return sorted({i for part in parts for i in part})


def blocks(ctx: Ctx, rule: Rule, one: Item) -> list[list[int]]:
    """The blocks searched around ``one``: one for shared-key rules, one per batch
    (category and day) for ``batch`` rules, so a group never mixes two kinds of line."""
    if "batch" in rule.keys:
        return _batch_blocks(ctx, rule, one)
    other = ctx.other(one)
    lo, hi = _member_days(rule, one)
    found: set[int] = set()
    weak: set[int] = set()
    cap = FAMILY_CAP_FACTOR * rule.max_candidates
    subs: list[list[int]] = []
    for key in rule.keys:
        value = one.key_value(key)
        if not value:
            continue
        signs = signs_for(rule, one.sign)
        if key == "counterparty":
            # Shared by every single of that payer on that day: looked up once.
            memo = _static_memo(other)
            mkey = (rule.name, "cp", one.asset, one.sign, value, one.day)
            if mkey in memo:
                ids = memo[mkey]
            else:
                ids = memo[mkey] = other.by_family(one.asset, signs, key, value, lo, hi, cap)
        else:
            ids = other.by_family(one.asset, signs, key, value, lo, hi, cap)
        if ids is None and key == "counterparty" and (one.family or one.payer):
            # A busy payer: its block is cut into reference families, not skipped:
            # the single's own family (its key, searched above or below), or, for a
            # single without a reference (an empty remittance), the families of the
            # payer's part lines (``_family_subblocks``).
            ctx.stats["group_blocks_subblocked"] += 1
            continue
        if ids is None and key == "address":
            # A reused address (every invoice paid to one deposit address): its
            # block is cut, not skipped: the lines of the window, then those that fit
            # the single's amount, nearest dates first (``_fit_block``: at most
            # ``max_candidates``; address groups balance on exact sums only).
            ids = other.by_family(one.asset, signs, key, value, lo, hi, FAMILY_SCAN * cap)
            if ids is not None:
                ctx.stats["group_blocks_subblocked"] += 1
        if ids is None:
            ctx.stats["group_blocks_oversized"] += 1
            continue
        if key == "txid" and len(ids) >= 2:
            # Several lines citing one transaction are a batched send: the journal
            # entry's other lines (same posting time) belong with them, cited or not.
            postings = {other.items[i].ts: i for i in ids}
            for i in postings.values():
                found.update(other.same_posting(other.items[i], cap))
        (weak if key in WEAK_KEYS else found).update(ids)
    if "counterparty" in rule.keys and not one.family and one.payer:
        subs = _family_subblocks(ctx, rule, one)
    if rule.late_days:
        subs = [*subs, *late_blocks(ctx, rule, one)]
    if found and weak - found:
        # The shared-identifier block on its own first (a split's parts citing the
        # invoice), then with the payer's other lines: cut to ``max_candidates`` by
        # date, the payer's block could drop a part three days out and keep only
        # coincidental sums of its other lines.
        return [_fit_block(ctx, rule, one, found), _fit_block(ctx, rule, one, found | weak),
                *subs]
    found |= weak
    if not found:
        return subs or [[]]  # (most date-only blocks are oversized)
    return [_fit_block(ctx, rule, one, found), *subs]


def _family_subblocks(ctx: Ctx, rule: Rule, one: Item) -> list[list[int]]:
    """Sub-blocks for a single without a reference of its own: the part lines of its
    payer (``Item.payer``; lines whose reference carries a part suffix, "INV684315-0 ..
    -3", indexed apart in ``SideIndex.families`` under "parts") in the window that fit
    ``one``'s amount, one block per reference family of two or more lines.

    Bound on work per single: the payer's part lines in the window (a small share of
    its lines; an oversized parts block is skipped and counted), then one subset search
    per family of at most ``max_candidates``. What it keeps: every group of a busy
    payer whose members share a family; what it cannot see there: a group whose
    members share nothing but the payer (``group_blocks_subblocked`` counts the
    busy payers that were cut this way, never silently)."""
    other = ctx.other(one)
    memo = _static_memo(other)
    mkey = (rule.name, "parts", one.asset, one.sign, one.payer, one.day)
    if mkey in memo:
        window = memo[mkey]
    else:
        # The payer's part lines inside ``one``'s window and direction (``_fit_block``
        # but the amount): the same for every single of that payer on that day.
        lo, hi = _member_days(rule, one)
        cap = FAMILY_CAP_FACTOR * rule.max_candidates
        ids = other.by_family(one.asset, signs_for(rule, one.sign), "parts", one.payer,
                              lo, hi, FAMILY_SCAN * cap)
        if ids is None:
            window = None
        else:
            items = other.items
            before, after = rule.member_dates == "before", rule.member_dates == "after"
            # The items themselves, not (id, |amount|, family) tuples: one pointer an
            # entry instead of a tuple and a fresh Decimal (~27 MB of a 100k full run,
            # these windows being kept for the whole run).
            window = []
            for i in sorted(ids):
                m = items[i]
                if (lag(rule, one, m) > rule.date_window_days
                        or (before and m.day > one.day) or (after and m.day < one.day)):
                    continue
                window.append(m)
        memo[mkey] = window
    if window is None:
        ctx.stats["group_parts_oversized"] += 1
        return []
    if not window:
        return []
    limit = abs(one.amount) + rule.max_amount_gap(abs(one.amount), one.asset)
    fams: dict[str, list[int]] = {}
    for m in window:
        if abs(m.amount) <= limit:
            fams.setdefault(m.family, []).append(m.id)
    return [_fit_block(ctx, rule, one, fams[f]) for f in sorted(fams) if len(fams[f]) >= 2]


def _static_memo(side: SideIndex) -> dict[Any, Any]:
    """Block lookups that depend on the side's items only (not on which are open),
    kept while the side is unchanged (``SideIndex.version``)."""
    return side.derive("group_blocks", dict)  # type: ignore[no-any-return]


def _member_days(rule: Rule, one: Item) -> tuple[int, int]:
    """The calendar days the many side may fall on (``lag`` then applies the window)."""
    cw = rule.calendar_window
    lo = one.day if rule.member_dates == "after" else one.day - cw
    hi = one.day if rule.member_dates == "before" else one.day + cw
    return lo, hi


def _fit_block(
    ctx: Ctx, rule: Rule, one: Item, found: Iterable[int], cut: bool = True
) -> list[int]:
    """Window, direction and size filter of a block, capped to the nearest dates."""
    items = ctx.other(one).items
    gap = rule.max_amount_gap(abs(one.amount), one.asset)
    limit = abs(one.amount) + gap
    before, after = rule.member_dates == "before", rule.member_dates == "after"
    ids = []
    for i in found:
        m = items[i]
        if (lag(rule, one, m) > rule.date_window_days or abs(m.amount) > limit
                or (before and m.day > one.day) or (after and m.day < one.day)):
            continue
        ids.append(i)
    if cut and len(ids) > rule.max_candidates:
        ctx.stats["group_blocks_cut"] += 1
        ids.sort(key=lambda i: (abs(items[i].day - one.day), i))
        del ids[rule.max_candidates :]
    ids.sort()
    return ids


def _batch_blocks(ctx: Ctx, rule: Rule, one: Item) -> list[list[int]]:
    """One block per batch (category, day) of the other side within the window; a
    batch above the family cap is a crowd, not a batch (skipped, counted)."""
    other = ctx.other(one)
    lo, hi = _member_days(rule, one)
    cap = FAMILY_CAP_FACTOR * rule.max_candidates
    out = []
    items = other.items
    for _day, cat, ids in other.by_batch(one.asset, signs_for(rule, one.sign), lo, hi):
        if len(ids) < 2:
            continue
        if len(ids) > cap:
            ctx.stats["group_blocks_oversized"] += 1
            continue
        # One day per batch: its lag is judged once, not per member.
        if lag(rule, one, items[ids[0]]) > rule.date_window_days:
            continue
        if not _category_named(cat, one):
            # Only the whole batch can match (see ``_for_one``): no per-member fit, and
            # a busy category twice the group size is not one settlement.
            if len(ids) <= 2 * rule.max_group:
                # One sorted copy per batch, shared by every single of the window (a
                # full run keeps each single's blocks: a copy each was ~14 MB at 100k).
                memo = _static_memo(other)
                hit = memo.get(("sorted", id(ids)))
                if hit is None or hit[0] is not ids:
                    hit = memo[("sorted", id(ids))] = (ids, sorted(ids))
                out.append(hit[1])
            continue
        fitted = _fit_block(ctx, rule, one, ids)
        if len(fitted) >= 2:
            out.append(fitted)
    return out or [[]]


def _kept_search(ctx: Ctx, rule: Rule, one: Item, members: list[Item], kind: str = ""
                 ) -> tuple[list[tuple[Item, ...]], bool]:
    """``search``, answered from a full run's ``Ctx.keep`` when an earlier pass (or
    block) asked it with the same single and open members: a later pass asks again for
    most singles, mostly with unchanged members, and the search is pure. ``kind``
    tells apart the rule's variants (``widened`` for late blocks) sharing its name."""
    if ctx.keep is None:
        return search(rule, one, members)
    key = (rule.name, kind, one.id, tuple(m.id for m in members))
    hit: tuple[list[tuple[Item, ...]], bool] | None = ctx.keep.get(key)
    if hit is None:
        hit = ctx.keep[key] = search(rule, one, members)
    return hit


def search(rule: Rule, one: Item, members: list[Item]) -> tuple[list[tuple[Item, ...]], bool]:
    """Subsets of ``members`` (size 2..max_group) whose total fits ``one``'s amount, and
    whether the search was complete.

    Exact fits (within rounding) are searched first; only when there is none are fee
    gaps admitted — otherwise a member plus a "fee" would shadow the true batch.
    """
    target = abs(one.amount)
    rounding = max(rule.abs_tol(one.asset), rule.amount_rel * target)
    found, complete = _search(rule, target, rounding, members)
    if found or "date" in rule.keys or "address" in rule.keys or "batch" in rule.keys:
        # A date-only, address or batch block shares no payment identifier: only
        # exact sums are evidence (a reused address plus a "fee" finds anything).
        return found, complete
    return _search(rule, target, rule.max_amount_gap(target, one.asset), members)


def _search(
    rule: Rule, target: Decimal, gap: Decimal, members: list[Item]
) -> tuple[list[tuple[Item, ...]], bool]:
    """The subsets of ``members`` within ``gap`` of ``target``: meet in the middle alone
    for ``MITM_FIRST``..``MITM_MAX`` members, else depth first (finished by meet in the
    middle when it runs out of nodes, :func:`_search_dfs_first`).

    Why meet in the middle first, measured on the 100k demo's ledger-bank run (payroll
    and card batches of up to 24 lines): half of the depth-first searches spent their
    whole node budget and were then finished by meet in the middle anyway, ~80 % of the
    search's nodes thrown away. When there are fewer than ``MAX_SOLUTIONS`` subsets, meet
    in the middle finds every one, which is what a completed depth-first search returns,
    in the same order (:func:`_search_mitm` sorts a complete answer into the depth-first
    order). What differs is a block with more balancing subsets than ``MAX_SOLUTIONS`` (a
    crowd of equal payroll lines): the first ones meet in the middle meets stand, not the
    ones the depth-first search would have reached first; either way the answer is
    marked incomplete, one of several equally good subsets. Engine time of that run
    31.2 -> 22.0 s, the same auto-confirms."""
    if MITM_FIRST <= len(members) <= MITM_MAX:
        return _search_mitm(rule, target, gap, members)
    return _search_dfs_first(rule, target, gap, members)


def _search_dfs_first(
    rule: Rule, target: Decimal, gap: Decimal, members: list[Item]
) -> tuple[list[tuple[Item, ...]], bool]:
    """Depth first, finished by meet in the middle when the node budget cut it short
    (a crowded block of up to ``MITM_MAX`` members)."""
    found, complete = _search_dfs(rule, target, gap, members)
    if not complete and len(found) < MAX_SOLUTIONS and len(members) <= MITM_MAX:
        return _search_mitm(rule, target, gap, members)
    return found, complete


def _search_dfs(
    rule: Rule, target: Decimal, gap: Decimal, members: list[Item]
) -> tuple[list[tuple[Item, ...]], bool]:
    ms = sorted(members, key=lambda m: (-abs(m.amount), m.id))
    dmags = [abs(m.amount) for m in ms]
    # Sums as integers scaled by the power of ten that makes every amount, the target
    # and the gap whole: exactly the Decimal comparisons, at a third of their cost
    # (this search is a full run's hottest loop on books with batches).
    scale = scale_for((*dmags, target, gap))
    mags = [int(m * scale) for m in dmags]
    hi = int((target + gap) * scale)
    lo = int((target - gap) * scale)
    suffix = [0] * (len(ms) + 1)
    for i in range(len(ms) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + mags[i]
    if suffix[0] < lo:
        return [], True
    out: list[tuple[Item, ...]] = []
    budget = [NODE_BUDGET]
    chosen: list[int] = []

    max_group = rule.max_group
    # The children of a node are the indexes from ``start`` whose amount still fits
    # under ``hi`` (the amounts descend: a suffix, found by one bisect) and before the
    # first index whose remaining total cannot reach ``lo`` any more (``suffix``
    # descends: one bisect), so the loop tests nothing per child. The same children,
    # in the same order, as testing each index in turn ("too large": skip; "cannot
    # reach": stop), hence the same nodes, budget and solutions.
    n = len(ms)
    neg = [-m for m in mags]
    short = [-x for x in suffix[:n]]  # ascending
    rec: list[Callable[[int, int], None]]

    def dfs(start: int, total: int) -> None:
        if budget[0] <= 0 or len(out) >= MAX_SOLUTIONS:
            return
        budget[0] -= 1
        if len(chosen) >= 2 and lo <= total <= hi:
            out.append(tuple(ms[i] for i in chosen))
        if len(chosen) >= max_group:
            return
        for i in range(max(start, bisect_left(neg, total - hi)),
                       bisect_right(short, total - lo)):
            chosen.append(i)
            rec[0](i + 1, total + mags[i])
            chosen.pop()

    # ``dfs`` recurses through ``rec``, emptied after the search: a function naming
    # itself is a cycle (function -> closure cell -> function) that only the cyclic GC
    # frees, and runs pause it (``engine._gc_paused``): every search's closure, ``mags``
    # and ``suffix`` stayed until the run ended (~60 MB of a 100k-record full run).
    rec = [dfs]
    try:
        dfs(0, 0)
    finally:
        rec.clear()
    return out, budget[0] > 0 and len(out) < MAX_SOLUTIONS


def _search_mitm(
    rule: Rule, target: Decimal, gap: Decimal, members: list[Item]
) -> tuple[list[tuple[Item, ...]], bool]:
    """Meet in the middle: every subset of each half (sums as scaled integers), then a
    bisect per left subset for the right subsets completing the target. Exhaustive for
    up to ``MITM_MAX`` members in ~2**(n/2) steps, where the depth-first search would
    run out of its node budget (a week of daily accruals beside a second program)."""
    ms = sorted(members, key=lambda m: m.id)
    mags = [abs(m.amount) for m in ms]
    scale = scale_for((*mags, target, gap))
    ints = [int(m * scale) for m in mags]
    lo = int((target - gap) * scale)
    hi = int((target + gap) * scale)
    if sum(ints) < lo:
        return [], True
    half = len(ms) // 2
    fits = max(sum(ints), abs(lo), abs(hi)) < _INT64_SAFE
    halves = (_halves_arrays if fits else _halves_lists)(ints, half, rule.max_group, lo, hi)
    out: list[tuple[Item, ...]] = []
    for mask, count, rmask, rcount in halves:
        n = count + rcount
        if n < 2 or n > rule.max_group:
            continue
        picked = [ms[b] for b in range(half) if mask >> b & 1]
        picked += [ms[half + b] for b in range(len(ms) - half) if rmask >> b & 1]
        out.append(tuple(sorted(picked, key=_dfs_key)))
        if len(out) >= MAX_SOLUTIONS:
            return out, False
    # Every subset, in the depth-first search's order (its preorder is the lexicographic
    # order of the subsets' members in its own order, a subset before its extensions).
    out.sort(key=lambda sub: tuple(map(_dfs_key, sub)))
    return out, True


def _dfs_key(m: Item) -> tuple[Decimal, int]:
    """The depth-first search's order of members: larger amounts first, then id."""
    return (-abs(m.amount), m.id)


_Halves = Iterator[tuple[int, int, int, int]]
"""(left mask, left size, right mask, right size) of each pair of half-subsets whose
sums complete the target, left subsets in ``subset_sums`` order, right ones by (sum,
mask) (the sorted tuples)."""

_INT64_SAFE = 1 << 61
"""Scaled sums below this fit numpy's int64 with room for the differences taken."""


def _halves_lists(ints: list[int], half: int, max_group: int, lo: int, hi: int) -> _Halves:
    """The completing pairs of half-subsets, two bisects per left subset (any size of
    integer: the sums of 18-decimal amounts outgrow int64)."""
    right = sorted(subset_sums(ints[half:], max_group))
    right_sums = [r[0] for r in right]
    for total, mask, count in subset_sums(ints[:half], max_group):
        for k in range(bisect_left(right_sums, lo - total), bisect_right(right_sums, hi - total)):
            _, rmask, rcount = right[k]
            yield mask, count, rmask, rcount


def _sum_arrays(values: list[int], max_count: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``subset_sums`` as three int64 arrays (sum, bitmask, size), in its order."""
    sums = np.zeros(1, np.int64)
    masks = np.zeros(1, np.int64)
    counts = np.zeros(1, np.int64)
    for b, v in enumerate(values):
        keep = counts < max_count
        sums = np.concatenate((sums, sums[keep] + v))
        masks = np.concatenate((masks, masks[keep] | (1 << b)))
        counts = np.concatenate((counts, counts[keep] + 1))
    return sums, masks, counts


def _halves_arrays(ints: list[int], half: int, max_group: int, lo: int, hi: int) -> _Halves:
    """``_halves_lists`` in numpy, where the scaled sums fit int64: the halves as arrays
    and one ``searchsorted`` per side for all left subsets; only the few left subsets
    with a completing right range are walked in Python. Books with batches call the
    meet-in-the-middle search thousands of times a run."""
    ls, lm, lc = _sum_arrays(ints[:half], max_group)
    rs, rm, rc = _sum_arrays(ints[half:], max_group)
    order = np.lexsort((rm, rs))  # masks are distinct: (sum, mask) orders the tuples
    rs, rm, rc = rs[order], rm[order], rc[order]
    first = np.searchsorted(rs, lo - ls, "left")
    last = np.searchsorted(rs, hi - ls, "right")
    rmasks, rcounts = rm.tolist(), rc.tolist()
    for a in np.flatnonzero(last > first).tolist():
        mask, count = int(lm[a]), int(lc[a])
        for k in range(int(first[a]), int(last[a])):
            yield mask, count, rmasks[k], rcounts[k]


def group_score(
    rule: Rule, one: Item, members: tuple[Item, ...], verbose: bool = False
) -> Scored | None:
    total = sum((abs(m.amount) for m in members), Decimal(0))
    fees = [m.fee for m in (one, *members) if m.fee and m.fee_asset == one.asset]
    if one.side == LEFT:
        fit = amount_fit(rule, abs(one.amount), total, fees, one.asset, verbose)
    else:
        fit = amount_fit(rule, total, abs(one.amount), fees, one.asset, verbose)
    if fit is None:
        return None
    amount_score, adj, amount_detail = fit
    days = max(lag(rule, one, m) for m in members)
    date_score, date_detail = date_part(rule, days)
    parts: dict[str, float | None] = {"amount": amount_score, "date": date_score}
    keys_agree = [k for k in rule.keys if all(m.key_value(k) == one.key_value(k) for m in members)
                  and one.key_value(k)]
    if one.txid and "txid" in rule.keys and "txid" not in keys_agree and any(
            m.txid == one.txid for m in members):
        # A batched send whose journal entry cites the txid on some lines only.
        keys_agree.append("txid")
    parts.update(key_parts(keys_agree))
    if "counterparty" not in keys_agree and one.cp and "counterparty" in rule.weights:
        # The two sides spell a payer differently ("Umbrella Foods Ltd" vs "UMBRELLA
        # FOODS L"): the group's least similar member counterparty scores the field.
        sims = [1.0 if m.cp == one.cp else fuzz.ratio(m.cp, one.cp) / 100.0
                for m in members if m.cp]
        if len(sims) == len(members) and min(sims) >= CP_SIMILAR:
            parts["counterparty"] = min(sims)
    named = ""
    if "batch" in rule.keys:
        # The batch's category named in the single's text ("payroll" in a bulk debit's
        # remittance, "stripe" as the payout's counterparty) corroborates the sum.
        named = _category_named(members[0].batch, one)
        if named:
            parts["memo"] = 1.0
    # Larger groups are likelier to balance by coincidence: a small size penalty.
    score = round(combine(rule, parts) - 0.005 * (len(members) - 2), 6)
    ids = tuple(sorted(m.id for m in members))
    left, right = (one.one, ids) if one.side == LEFT else (ids, one.one)
    if not verbose:
        return Scored(left, right, score, rule.name, QUIET, NO_ADJ)
    left_total = abs(one.amount) if one.side == LEFT else total
    right_total = total if one.side == LEFT else abs(one.amount)
    explanation: dict[str, Any] = {
        "amount": amount_detail,
        "date": date_detail,
        "group": {
            "agree": True,
            "size": len(members) + 1,
            "keys": keys_agree,
            "detail": f"{len(members)} records total {canonical_amount(total)} {one.asset}",
        },
    }
    if "batch" in rule.keys:
        category = members[0].batch
        explanation["memo"] = {
            "agree": bool(named) or None,
            "similarity": 1.0 if named else None,
            "detail": f"batch of {category!r} lines" + (
                f"; {named!r} named by the counterpart" if named else ""),
        }
    adjs = []
    if adj is not None:
        adjs.append(Adjustment(adj.kind, adj.asset, (left_total - right_total) * one.sign,
                               adj.note))
    return Scored(left, right, score, rule.name, explanation, adjs)


def _whole(rule: Rule, one: Item, members: list[Item]) -> list[tuple[Item, ...]]:
    """``[members]`` when all of them together balance ``one`` (rounding only)."""
    if len(members) > rule.max_group:
        return []
    target = abs(one.amount)
    total = sum((abs(m.amount) for m in members), Decimal(0))
    rounding = max(rule.abs_tol(one.asset), rule.amount_rel * target)
    if abs(total - target) > rounding:
        return []
    return [tuple(sorted(members, key=lambda m: (-abs(m.amount), m.id)))]


def _category_named(category: str, one: Item) -> str:
    """A word of ``category`` (4+ letters) found in ``one``'s memo, counterparty or
    reference, or ""."""
    if not category:
        return ""
    text = f" {one.memo} {one.cp} {one.ref} "
    for word in category.split():
        if len(word) >= 4 and f" {word} " in text:
            return word
    return ""


def for_one(ctx: Ctx, rule: Rule, one: Item, parts: list[list[int]] | None = None
            ) -> tuple[list[Scored], list[int]]:
    """Balancing groups around the single record ``one`` among open block members.

    Memoised in ``ctx`` when its open set is fixed (the incremental closure asks the
    same single again for every member it reaches). ``parts``: ``blocks(ctx, rule,
    one)`` when the caller kept it (static: a full run's passes reuse it)."""
    if rule.type == "n:m":
        return netting.generate(ctx, rule, one)
    key = (rule.name, one.id)
    hit: tuple[list[Scored], list[int]] | None = ctx.memo.get(key)
    if hit is not None:
        return hit
    res = _for_one(ctx, rule, one, parts)
    if getattr(ctx.is_open, "__self__", None) is None:
        # A plain predicate (fixed open set); the pipeline passes a live set's
        # __contains__, whose answers change as rules consume records: no caching.
        ctx.memo[key] = res
    return res


def _for_one(ctx: Ctx, rule: Rule, one: Item, parts: list[list[int]] | None = None
             ) -> tuple[list[Scored], list[int]]:
    if parts is None:
        parts = blocks(ctx, rule, one)
    out: list[Scored] = []
    seen: set[tuple[int, ...]] = set()
    batch = "batch" in rule.keys
    for ids in parts:
        items = ctx.other(one).items
        members = [items[i] for i in ids if ctx.is_open(i)]
        if len(members) < 2:
            continue
        if isinstance(ids, Late):
            out.extend(_late_groups(ctx, rule, one, members, seen))
            continue
        if batch and not _category_named(members[0].batch, one):
            # A batch the single does not name: only the whole batch is evidence (a
            # subset search in every busy category of the window finds coincidences
            # and costs the earth).
            subsets, complete = _whole(rule, one, members), True
        else:
            subsets, complete = _kept_search(ctx, rule, one, members)
        if not complete:
            ctx.stats["group_search_incomplete"] += 1
        for subset in subsets:
            key = tuple(sorted(m.id for m in subset))
            if key in seen:
                continue  # found in two blocks (a shared family and its payer's sub-block)
            seen.add(key)
            s = group_score(rule, one, subset)
            if s is not None:
                if not complete:
                    # Unseen subsets may balance too: never auto on a partial search.
                    s.score = min(s.score, round(rule.auto_threshold - 0.001, 6))
                    s.key = "incomplete"
                out.append(s)
    if batch:
        for subset in _joint_subsets(ctx, rule, one):
            key = tuple(sorted(m.id for m in subset))
            s = group_score(rule, one, subset)
            if s is None:
                continue
            s.score = round(min(1.0, s.score + JOINT_BONUS), 6)
            out = [o for o in out if tuple(sorted(o.right if one.side == LEFT else o.left))
                   != key]
            out.append(s)
    linked = parts[0] if len(parts) == 1 else sorted({i for p in parts for i in p})
    return out, linked


JOINT_BONUS = 0.05
"""Score added to the subset a joint partition gives a single (``_joint_subsets``)."""
JOINT_PEERS = 6
"""At most this many same-payer singles of a day are partitioned jointly."""
JOINT_BUDGET = 20_000
"""Search nodes of one joint partition (then it stands as not found, counted)."""


def _joint_subsets(ctx: Ctx, rule: Rule, one: Item) -> list[tuple[Item, ...]]:
    """Dense days (issue 17, item 5): a day's batch lines of one kind against that
    day's bulk debits of one payer, partitioned jointly instead of one subset search
    per debit. Independent searches find, for each debit, coincidental subsets of the
    busy category that outscore the true one (ten payroll lines of two payroll debits
    summing to one of them); a joint partition asks for disjoint subsets that balance
    every debit of the payer at once, which coincidences rarely do.

    For each batch (day, category) of the window: the peers are ``one`` and the other
    open singles of its side with its counterparty, asset and sign inside the batch's
    window (at most ``JOINT_PEERS``, each no larger than the batch); a depth-first
    search assigns each peer an exact-sum subset of the batch's open lines (rounding
    only), disjoint, preferring assignments that balance more peers, under
    ``JOINT_BUDGET`` nodes. Returned: ``one``'s subset when every maximal assignment
    found gives it the same one (a unique answer), else nothing. Memoised per context
    and (batch, peers, open lines): every peer asks the same question."""
    if not one.cp:
        return []
    other, own = ctx.other(one), ctx.own(one)
    lo, hi = _member_days(rule, one)
    cap = FAMILY_CAP_FACTOR * rule.max_candidates
    out: list[tuple[Item, ...]] = []
    for day, cat, ids in other.by_batch(one.asset, signs_for(rule, one.sign), lo, hi):
        if len(ids) < 2 or len(ids) > cap:
            continue
        lines = [other.items[i] for i in sorted(ids) if ctx.is_open(i)]
        if len(lines) < 2 or lag(rule, one, lines[0]) > rule.date_window_days:
            continue
        total = sum((abs(m.amount) for m in lines), Decimal(0))
        peers = _peers(ctx, rule, one, own, lines[0], total)
        if peers is None or len(peers) < 2:
            continue
        key = (rule.name, "joint", day, cat, tuple(p.id for p in peers),
               tuple(m.id for m in lines))
        got = ctx.memo.get(key)
        if got is None:
            # Per pass first (the counter below counts a pass's partitions), then
            # the full run's passes (``Ctx.keep``): ``_partition`` is pure.
            if ctx.keep is not None and key in ctx.keep:
                got = ctx.keep[key]
            else:
                got = _partition(rule, peers, lines)
                if ctx.keep is not None:
                    ctx.keep[key] = got
            ctx.memo[key] = got
            if got == {}:
                ctx.stats["group_joint_incomplete"] += 1
        sub = got.get(one.id) if got else None
        if sub is not None and len(sub) >= 2:
            out.append(sub)
    return out


def _peers(ctx: Ctx, rule: Rule, one: Item, own: SideIndex, line: Item, total: Decimal
           ) -> list[Item] | None:
    """``one`` and the open singles of its side sharing its counterparty, asset and
    sign, within the rule's window of the batch day (``line``'s), no larger than the
    batch's ``total``; None when there are more than ``JOINT_PEERS``."""
    cw = rule.calendar_window
    found = own.by_family(one.asset, (one.sign,), "counterparty", one.cp,
                          line.day - cw, line.day + cw, 4 * JOINT_PEERS)
    if found is None:
        return None
    peers = []
    for i in sorted(set(found) | {one.id}):
        p = own.items.get(i)
        if (p is None or not ctx.is_open(i) or abs(p.amount) > total
                or lag(rule, p, line) > rule.date_window_days):
            continue
        peers.append(p)
    if len(peers) > JOINT_PEERS:
        ctx.stats["group_joint_crowded"] += 1
        return None
    return peers


def _partition(rule: Rule, peers: list[Item], lines: list[Item]
               ) -> dict[int, tuple[Item, ...]] | None:
    """{peer id: its subset} of the unique maximal joint assignment, {} when the
    search ran out of budget, None when none (or no unique one) exists."""
    mags = [abs(m.amount) for m in lines]
    scale = scale_for((*mags, *(abs(p.amount) for p in peers),
                       *(rule.abs_tol(p.asset) for p in peers)))
    ints = [int(m * scale) for m in mags]
    order = sorted(range(len(lines)), key=lambda i: (-ints[i], lines[i].id))
    ps = sorted(peers, key=lambda p: (-abs(p.amount), p.id))
    tol = [int(max(rule.abs_tol(p.asset), rule.amount_rel * abs(p.amount)) * scale)
           for p in ps]
    targets = [int(abs(p.amount) * scale) for p in ps]
    budget = [JOINT_BUDGET]
    best: list[Any] = [0, None, False]  # assigned count, assignment, ambiguous
    max_group = rule.max_group

    def subsets(k: int, free: list[int]) -> Iterator[tuple[int, ...]]:
        """Exact-sum subsets (1..max_group lines) of ``free`` for peer ``k``, depth
        first in preorder, each node spending one unit of the shared budget as it is
        visited (the caller's search spends it too between two subsets). One frame with
        an explicit stack: as nested generators, every node was a generator of its own
        and every subset passed up through all of them (~8M nodes a 100k demo run)."""
        lo, hi = targets[k] - tol[k], targets[k] + tol[k]
        n = len(free)
        vals = [ints[f] for f in free]
        suffix = [0] * (n + 1)
        for j in range(n - 1, -1, -1):
            suffix[j] = suffix[j + 1] + vals[j]
        neg = [-v for v in vals]  # ascending: the lines that fit are a suffix
        if budget[0] <= 0:
            return
        budget[0] -= 1  # the root: the empty subset, never a subset of a peer
        chosen: list[int] = []
        # Per open node: its total and the next child index to try.
        totals = [0]
        nexts = [max(0, bisect_left(neg, -hi))]
        while nexts:
            total = totals[-1]
            j = nexts[-1]
            if j >= n or total + suffix[j] < lo:  # no child left that can reach lo
                nexts.pop()
                totals.pop()
                if chosen:
                    chosen.pop()
                continue
            nexts[-1] = j + 1
            t = total + vals[j]
            if t > hi:
                continue
            if budget[0] <= 0:
                return
            budget[0] -= 1
            chosen.append(free[j])
            if lo <= t <= hi:
                yield tuple(chosen)
                if budget[0] <= 0:
                    return
            if len(chosen) >= max_group:
                chosen.pop()
                continue
            totals.append(t)
            nexts.append(max(j + 1, bisect_left(neg, t - hi)))

    assign: dict[int, tuple[int, ...]] = {}
    rec: list[Callable[[int, list[int], int], None]]

    def walk(k: int, free: list[int], count: int) -> None:
        if budget[0] <= 0:
            return
        if k == len(ps):
            if count > best[0]:
                best[0], best[1], best[2] = count, dict(assign), False
            elif count == best[0] and best[1] is not None and assign != best[1]:
                best[2] = True
            return
        if count + (len(ps) - k) < best[0]:
            return  # cannot reach the best assignment any more
        for sub in subsets(k, free):
            assign[k] = sub
            rec[0](k + 1, [i for i in free if i not in sub], count + 1)
            del assign[k]
            if best[2] and best[0] == len(ps):
                return
        rec[0](k + 1, free, count)  # this peer balances nothing of the batch

    rec = [walk]  # recursion without a cycle (see ``_search_dfs``)
    try:
        walk(0, order, 0)
    finally:
        rec.clear()
    if budget[0] <= 0:
        return {}
    if best[1] is None or best[2] or best[0] < 2:
        return None
    return {ps[k].id: tuple(sorted((lines[i] for i in sub),
                                   key=lambda m: (-abs(m.amount), m.id)))
            for k, sub in best[1].items()}


def generate(ctx: Ctx, rule: Rule, it: Item, driver_only: bool = False) -> tuple[
    list[Scored], list[int]
]:
    """Groups involving ``it``: as the single record, or as a member of another's block.

    ``driver_only`` (full runs) skips the reverse lookup: every single record drives.
    """
    if rule.type == "n:m":
        return netting.generate(ctx, rule, it)
    if rule.assets and it.asset not in rule.assets:
        return [], []
    if it.side == one_side(rule):
        return for_one(ctx, rule, it)
    if driver_only:
        return [], []
    # Reverse lookup: single records whose block holds ``it``.
    ones = ctx.other(it)
    found = _reverse(rule, ones, it, FAMILY_CAP_FACTOR * rule.max_candidates, ctx)
    out: list[Scored] = []
    links: list[int] = []
    for oid in sorted(found):
        if not ctx.is_open(oid):
            continue
        one = ones.items[oid]
        if it.id in block(ctx, rule, one):
            links.append(oid)
            cands, _ = for_one(ctx, rule, one)
            out.extend(c for c in cands if it.id in c.ids)
    return out, links


def links(ctx: Ctx, rule: Rule, it: Item) -> list[int]:
    """Ids whose groups can involve ``it``: members of the balancing subsets around it
    (as the single record), or singles with a balancing subset holding it. This is
    what an incremental run pulls in; unrelated block members are not linked, or a
    busy counterparty would chain the whole book into one closure."""
    if rule.type == "n:m":
        return netting.generate(ctx, rule, it)[1]
    if rule.assets and it.asset not in rule.assets:
        return []
    if it.side == one_side(rule):
        cands, _ = for_one(ctx, rule, it)
        return sorted({i for s in cands for i in s.ids if i != it.id})
    ones = ctx.other(it)
    out: set[int] = set()
    for oid in sorted(_reverse(rule, ones, it, FAMILY_CAP_FACTOR * rule.max_candidates, ctx)):
        if not ctx.is_open(oid):
            continue
        cands, _ = for_one(ctx, rule, ones.items[oid])
        for s in cands:
            if it.id in s.ids:
                out.update(s.ids)
    out.discard(it.id)
    return sorted(out)


def _reverse(rule: Rule, ones: SideIndex, it: Item, cap: int, ctx: Ctx) -> set[int]:
    """Single records whose family blocks could hold ``it`` (to re-check one by one).

    A key whose reverse block exceeds ``cap`` is skipped (counted): in such a crowd a
    single's own block for that key is oversized too, except at its edges. Identifying
    keys reach as far as a late group may (``late_blocks``).
    """
    cw = rule.calendar_window
    found: set[int] = set()
    for key in rule.keys:
        kcw = (widened(rule).calendar_window if rule.late_days and key not in WEAK_KEYS
               else cw)
        value = it.key_value(key)
        if value and key == "batch":
            # The single shares no key with the batch: any single of the window may
            # claim it (a crowded window is skipped and counted, as for ``date``).
            key, value = "date", "*"
        if value:
            signs = signs_for(rule, it.sign)
            ids = ones.by_family(it.asset, signs, key, value, it.day - kcw, it.day + kcw, cap)
            if ids is None and key == "address":
                # The mirror of a reused address's cut block: singles large enough.
                ids = ones.by_family(it.asset, signs, key, value, it.day - kcw,
                                     it.day + kcw, FAMILY_SCAN * cap)
                if ids is not None:
                    mag = abs(it.amount)
                    ids = [i for i in ids if abs(ones.items[i].amount) >= mag]
            if ids is None:
                ctx.stats["group_reverse_oversized"] += 1
                continue
            found.update(ids)
    if "counterparty" in rule.keys and it.payer and it.family and it.family != it.ref:
        # The mirror of ``_family_subblocks``: singles of this part line's payer with
        # no reference of their own, large enough to hold it (symmetric links keep an
        # incremental run equal to a full one).
        pcw = widened(rule).calendar_window if rule.late_days else cw
        ids = ones.by_family(it.asset, signs_for(rule, it.sign), "payer", it.payer,
                             it.day - pcw, it.day + pcw, FAMILY_SCAN * cap)
        if ids is None:
            ctx.stats["group_reverse_oversized"] += 1
        else:
            mag = abs(it.amount)
            found.update(i for i in ids if not ones.items[i].family
                         and abs(ones.items[i].amount) >= mag)
    if "txid" in rule.keys and not it.txid:
        # An uncited line joins a batched send through its journal entry's cited lines.
        own = ctx.own(it)
        for j in own.cited.get((it.asset, it.sign, it.ts), ()):
            txid = own.items[j].txid
            if txid:
                ids = ones.by_family(it.asset, signs_for(rule, it.sign), "txid", txid,
                                     it.day - cw, it.day + cw, cap)
                found.update(ids or ())
    return found


class Late(list[int]):
    """A late block (``late_blocks``): searched with the stretched window, its groups
    suggestions only."""


def late_blocks(ctx: Ctx, rule: Rule, one: Item) -> list[list[int]]:
    """Blocks of ``Rule.late_days`` (a bank line settling its batch two weeks late):
    the many side's records sharing an identifying key with ``one`` (txid,
    reference, reference family: never the payer or the day alone), dated within the
    stretched window and beyond the rule's own for at least one member. One block per
    key, cut to ``max_candidates`` by date as any block; an oversized one is skipped
    (counted). Work: the key's few records."""
    wide = widened(rule)
    other = ctx.other(one)
    lo, hi = _member_days(wide, one)
    cap = FAMILY_CAP_FACTOR * rule.max_candidates
    out: list[list[int]] = []
    for key in rule.keys:
        value = one.key_value(key)
        if not value or key in WEAK_KEYS:
            continue
        ids = other.by_family(one.asset, signs_for(rule, one.sign), key, value, lo, hi, cap)
        if ids is None:
            ctx.stats["group_blocks_oversized"] += 1
            continue
        items = other.items
        if len(ids) < 2 or all(lag(rule, one, items[i]) <= rule.date_window_days
                               for i in ids):
            continue  # all inside the rule's own window: its own block has them
        out.append(Late(_fit_block(ctx, wide, one, ids)))
    if "counterparty" in rule.keys and not one.family and one.payer:
        out.extend(_late_parts(ctx, rule, one))
    return out


def _late_parts(ctx: Ctx, rule: Rule, one: Item) -> list[list[int]]:
    """``_family_subblocks`` over the stretched window: for a single without a
    reference (an empty remittance), the payer's part lines ("INV684315-0 .. -3") of
    one reference family, two or more, a line beyond the rule's own window, whose open
    lines *together* balance the single (a whole family: no subset search). Bound: the
    payer's part lines in the stretched window (read once per payer and day; an
    oversized parts block is skipped, counted), one sum per family."""
    wide = widened(rule)
    other = ctx.other(one)
    memo = _static_memo(other)
    mkey = (rule.name, "late-parts", one.asset, one.sign, one.payer, one.day)
    if mkey in memo:
        fams = memo[mkey]
    else:
        lo, hi = _member_days(wide, one)
        cap = FAMILY_CAP_FACTOR * rule.max_candidates
        ids = other.by_family(one.asset, signs_for(rule, one.sign), "parts", one.payer,
                              lo, hi, FAMILY_SCAN * cap)
        fams = None
        if ids is not None:
            by: dict[str, list[int]] = {}
            items = other.items
            for i in sorted(ids):
                m = items[i]
                if lag(wide, one, m) <= wide.date_window_days:
                    by.setdefault(m.family, []).append(i)
            # In family order, each with the sum of all its lines: the open lines sum
            # to no more (|amounts| are positive), so a family short of the single's
            # amount is passed over without reading which of its lines are open.
            fams = [(f, by[f], sum((abs(items[i].amount) for i in by[f]), Decimal(0)))
                    for f in sorted(by) if len(by[f]) >= 2]
        memo[mkey] = fams
    if fams is None:
        ctx.stats["group_parts_oversized"] += 1
        return []
    items = other.items
    target = abs(one.amount)
    gap = rule.max_amount_gap(target, one.asset)
    least = target - gap
    out: list[list[int]] = []
    for _f, fam, most in fams:
        if most < least:
            continue
        ids = [i for i in fam if ctx.is_open(i)]
        # The whole family only: a batch settles all its parts, and a subset search in
        # every family of a busy payer's fortnight costs more than it finds.
        total = most if len(ids) == len(fam) else sum((abs(items[i].amount) for i in ids),
                                                      Decimal(0))
        if (len(ids) >= 2 and len(ids) <= rule.max_group and abs(total - target) <= gap
                and any(lag(rule, one, items[i]) > rule.date_window_days for i in ids)):
            out.append(Late(ids))
    return out


def _late_groups(ctx: Ctx, rule: Rule, one: Item, members: list[Item],
                 seen: set[tuple[int, ...]]) -> list[Scored]:
    """The balancing subsets of a late block, each with a member beyond the rule's own
    window: ``beyond`` suggestions (never a rival, never consuming; auto only under
    ``Rule.sole_auto``, as a whole reference family alone: ``engine.sole_reason``),
    scored ``LATE_FACTOR`` of the stretched rule's score and below its threshold."""
    wide = widened(rule)
    subsets, complete = _kept_search(ctx, wide, one, members, "late")
    out = []
    for subset in subsets:
        key = tuple(sorted(m.id for m in subset))
        if key in seen or all(lag(rule, one, m) <= rule.date_window_days for m in subset):
            continue
        seen.add(key)
        s = group_score(wide, one, subset)
        if s is None:
            continue
        score = s.score * LATE_FACTOR
        if rule.outcome == "auto":
            score = min(score, rule.auto_threshold - 0.001)
        s.score = round(score, 6)
        s.key = "late" if complete else "incomplete"
        s.beyond = True
        if s.score >= rule.min_score:
            out.append(s)
    return out
