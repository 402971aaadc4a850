"""Contra matcher: a posting and its reversal on the same side, netting to zero.

A ledger entry posted in error and reversed ("REV JE00000056"), a SEPA payment that came
back ("RETURN INV-…"), an exchange withdrawal refunded ("REFUND withdrawal:…"): two
records of one side with opposite signs and equal amounts. They have no counterpart on
the other side and are matched to each other (a one-sided group, both ids on the same
side of the proposal), netting to exactly zero. Evidence beyond the amount is required:
one record naming the other (its external id or reference inside the other's reference
or memo), or the same counterparty when not both carry references that disagree; an
equal amount alone pairs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz

from recon_tui.model import canonical_amount

from .blocking import SideIndex
from .context import Ctx
from .explain import NO_ADJ, QUIET, Scored, combine, date_part, date_score
from .items import LEFT, Item
from .normalize import norm_ref
from .rules import Rule


def generate(ctx: Ctx, rule: Rule, it: Item) -> tuple[list[Scored], list[int]]:
    """Reversal candidates of ``it`` on its own side, and the ids they link it to."""
    if rule.assets and it.asset not in rule.assets:
        return [], []
    own = ctx.own(it)
    cw = rule.calendar_window
    ids = own.by_amount(it.asset, (-it.sign,), it.mag, it.mag, it.day - cw, it.day + cw,
                        it, own)
    out: list[Scored] = []
    for oid in ids:
        if oid == it.id or not ctx.is_open(oid):
            continue
        o = own.items[oid]
        a, b = (it, o) if it.id < o.id else (o, it)
        s = score(rule, a, b)
        if s is not None and s.score >= rule.min_score:
            out.append(s)
    return out, [i for s in out for i in s.ids if i != it.id]


def collect(ctx: Ctx, rule: Rule, sides: Iterable[SideIndex],
            open_ids: set[int] | None = None) -> dict[Any, Scored]:
    """All contra candidates among the open items (full runs): open items grouped by
    asset and exact magnitude, and only groups holding both signs scored — one pass
    over what is still open instead of an amount probe per record (most amounts are
    unique). ``open_ids``: the open set, when the caller has it (iterated instead of
    the sides when smaller: late in a run most records are matched)."""
    out: dict[Any, Scored] = {}
    for side in sides:
        classes: dict[tuple[str, Decimal], list[Item]] = {}
        if open_ids is not None and len(open_ids) < len(side.items):
            got = (side.items.get(i) for i in open_ids)
            items: Iterable[Item] = [it for it in got if it is not None]
        else:
            items = (it for it in side.items.values() if ctx.is_open(it.id))
        for it in items:
            if not rule.assets or it.asset in rule.assets:
                key = (it.asset, abs(it.amount))
                lst = classes.get(key)
                if lst is None:
                    classes[key] = [it]
                else:
                    lst.append(it)
        for members in classes.values():
            members.sort(key=lambda m: m.id)  # (a set's order is not the book's)
            if len(members) < 2 or len({m.sign for m in members}) < 2:
                continue
            if len(members) > side.max_block:
                ctx.stats["contra_classes_oversized"] += 1
                continue  # hundreds of equal amounts: nothing tells the pairs apart
            for i, a in enumerate(members):
                for b in members[i + 1:]:
                    x, y = (a, b) if a.id < b.id else (b, a)
                    s = score(rule, x, y)
                    if s is not None and s.score >= rule.min_score:
                        out[(s.left, s.right)] = s
    return out


@lru_cache(maxsize=1 << 16)
def _cp_set_ratio(x: str, y: str) -> float:
    """``token_set_ratio`` of two counterparty names, 0..1 (few distinct names: cached)."""
    return fuzz.token_set_ratio(x, y) / 100.0


@lru_cache(maxsize=1 << 14)
def _naming_text(reference: str | None, memo: str) -> str:
    """What a record's reference and memo can name, as ``_names`` searches it (one
    record is compared with every same-amount posting of its window: cached)."""
    return norm_ref(reference) + " " + memo.replace(" ", "")


def _names(a: Item, b: Item) -> bool:
    """Whether ``a``'s reference or memo names ``b`` (its external id or reference)."""
    text = _naming_text(a.record.reference, a.memo)
    for key in (norm_ref(b.record.external_id), b.ref):
        if key and len(key) >= 4 and key in text:
            return True
    return False


def score(rule: Rule, a: Item, b: Item, verbose: bool = False) -> Scored | None:
    """Score the contra pair ``a`` (lower id) and ``b`` under ``rule``."""
    if a.asset != b.asset or a.sign == b.sign or a.side != b.side:
        return None
    if a.amount + b.amount:
        return None  # one-sided groups net to exactly zero (nothing to explain)
    days = abs(a.bday - b.bday) if rule.business_days else abs(a.day - b.day)
    if days > rule.date_window_days:
        return None
    linked = _names(a, b) or _names(b, a)
    if not linked and a.ref and b.ref and a.ref != b.ref:
        # Both carry a reference, neither names the other: two payments of one
        # counterparty that happen to net (a book of round amounts holds many), not a
        # posting and its reversal. A real reversal names what it reverses.
        return None
    cp: float | None = None
    if a.cp and b.cp:
        cp = 1.0 if a.cp == b.cp else _cp_set_ratio(a.cp, b.cp)
    if not linked and (cp is None or cp < 0.85):
        return None  # an equal amount alone is no reversal
    parts: dict[str, float | None] = {
        "amount": 1.0, "date": date_score(rule, days),
        "reference": 1.0 if linked else None, "counterparty": cp,
    }
    value = round(combine(rule, parts), 6)
    ids = (a.id, b.id)
    left, right = (ids, ()) if a.side == LEFT else ((), ids)
    if not verbose:
        return Scored(left, right, value, rule.name, QUIET, NO_ADJ)
    _, date_detail = date_part(rule, days)
    explanation: dict[str, Any] = {
        "amount": {"agree": True, "left": canonical_amount(a.amount),
                   "right": canonical_amount(b.amount), "difference": "0",
                   "detail": "opposite postings that net to zero"},
        "date": date_detail,
        "reference": {"agree": linked or None, "similarity": 1.0 if linked else None,
                      "detail": "one names the other" if linked else "no link by reference"},
        "counterparty": {"agree": None if cp is None else cp >= 0.85, "similarity": cp,
                         "detail": f"{a.cp!r} ~ {b.cp!r}"},
        "group": {"agree": True, "size": 2, "keys": [],
                  "detail": "a posting and its reversal on one side"},
    }
    return Scored(left, right, value, rule.name, explanation, NO_ADJ)
