"""Cross-asset matcher: a crypto leg against a fiat leg at a price-table rate.

The pair is always valued in the canonical orientation — the left record's asset
converted into the right record's asset at the rate for the left record's time — so
the score of a pair does not depend on which side was the newly synced one. Probing
from the right uses a widened window (prices move between the two timestamps) and the
canonical check decides. The converted difference is recorded as an ``fx`` adjustment.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from recon_tui.model import canonical_amount

from .context import Ctx
from .explain import NO_ADJ, QUIET, Scored, combine, date_part, lag, sign_ok, signs_for, text_scores
from .items import LEFT, Item
from .prices import PriceTable
from .results import Adjustment
from .rules import Rule

_Q = Decimal("1e-10")


def cross_pair(
    rule: Rule, prices: PriceTable, a: Item, b: Item, verbose: bool = False
) -> Scored | None:
    """Score left ``a`` (any asset) against right ``b`` (another asset) at a's time."""
    if a.asset == b.asset or not sign_ok(rule, a.sign, b.sign):
        return None
    if rule.assets and not ({a.asset, b.asset} & rule.assets):
        return None
    days = lag(rule, a, b)
    if days > rule.date_window_days:
        return None
    rate = prices.rate(a.asset, b.asset, a.ts)
    if rate is None:
        return None
    converted = abs(a.amount) * rate
    target = abs(b.amount)
    gap = converted - target
    tol = rule.fx_rel * target + rule.abs_tol(b.asset)
    if abs(gap) > tol:
        return None
    amount_score = 1.0 - 0.5 * float(abs(gap) / tol) if tol else 1.0
    texts = text_scores(a, b, None, verbose)
    sims = {k: v["similarity"] for k, v in texts.items()} if verbose else texts
    date_score, date_detail = date_part(rule, days)
    score = round(combine(rule, {"amount": amount_score, "date": date_score, **sims}), 6)
    if not verbose:
        return Scored(a.one, b.one, score, rule.name, QUIET, NO_ADJ)
    q = gap.quantize(_Q).normalize()
    explanation: dict[str, Any] = {
        "amount": {
            "agree": True,
            "left": f"{canonical_amount(a.amount)} {a.asset}",
            "right": f"{canonical_amount(b.amount)} {b.asset}",
            "rate": canonical_amount(rate),
            "converted": canonical_amount(converted.quantize(_Q)),
            "difference": canonical_amount(q),
            "detail": f"converted at {canonical_amount(rate)} {b.asset}/{a.asset}, "
            f"differs by {canonical_amount(q)} {b.asset}",
        },
        "date": date_detail,
        **texts,
    }
    adj = [Adjustment("fx", b.asset, q * a.sign, f"rate {canonical_amount(rate)}")] if q else []
    return Scored((a.id,), (b.id,), score, rule.name, explanation, adj)


def generate(ctx: Ctx, rule: Rule, it: Item) -> tuple[list[Scored], list[int]]:
    quotes = ctx.prices.quotes.get(it.asset)
    if not quotes:
        return [], []
    other = ctx.other(it)
    cw = rule.calendar_window
    # Widened when probing from the right: the canonical rate is at the left's time.
    rel = float(rule.fx_rel) * (1 if it.side == LEFT else 3)
    out: list[Scored] = []
    links: list[int] = []
    for q in sorted(quotes):
        if rule.assets and not ({it.asset, q} & rule.assets):
            continue
        rate = ctx.prices.rate(it.asset, q, it.ts)
        if rate is None:
            continue
        conv = it.mag * float(rate)
        ab = float(rule.abs_tol(q))
        lo, hi = conv * (1 - rel) - ab, conv / max(1 - rel, 0.01) + ab
        ids = other.by_amount(
            q, signs_for(rule, it.sign), max(lo, 0.0), hi, it.day - cw, it.day + cw,
            it, ctx.own(it),
        )
        for oid in ids:
            if not ctx.is_open(oid):
                continue
            o = other.items[oid]
            a, b = (it, o) if it.side == LEFT else (o, it)
            s = cross_pair(rule, ctx.prices, a, b)
            if s is not None:
                out.append(s)
                links.append(oid)
    return out, links
