"""Value-range and similarity matchers (1:1): amount within tolerance or fee range, date
within a (business-day aware) window, plus reference / counterparty / memo similarity.

Both share candidate generation through the amount/date blocking cells; they differ by
rule settings (a similarity rule sets ``min_similarity`` and weighs text heavily, which
is what lets the reference or counterparty decide between equal-amount decoys).
"""

from __future__ import annotations

from .context import Ctx
from .explain import Scored, pair, signs_for
from .items import LEFT, Item
from .rules import Rule

_EPS = 1e-9


def amount_window(rule: Rule, mag: float, asset: str) -> tuple[float, float]:
    """A float range surely containing every |amount| the rule could accept against
    ``mag`` (rounding and fee gaps both ways, relative to the larger amount)."""
    rel = float(max(rule.amount_rel, rule.fee_rel_max))
    ab = float(max(rule.abs_tol(asset), rule.fee_cap(asset)))
    lo = mag * (1 - rel) - ab
    hi = (mag + ab) / (1 - rel) if rel < 1 else float("inf")
    return max(lo - _EPS * mag - 1e-12, 0.0), hi + _EPS * mag + 1e-12


def generate(ctx: Ctx, rule: Rule, it: Item) -> tuple[list[Scored], list[int]]:
    if rule.assets and it.asset not in rule.assets:
        return [], []
    lo, hi = amount_window(rule, it.mag, it.asset)
    cw = rule.calendar_window
    other = ctx.other(it)
    ids = other.by_amount(
        it.asset, signs_for(rule, it.sign), lo, hi, it.day - cw, it.day + cw, it, ctx.own(it)
    )
    out: list[Scored] = []
    links: list[int] = []
    is_open = ctx.is_open
    for oid in ids:
        if not is_open(oid):
            continue
        o = other.items[oid]
        s = pair(rule, it, o) if it.side == LEFT else pair(rule, o, it)
        if s is not None:
            out.append(s)
            links.append(oid)
    return out, links


