"""Exact-key matcher: on-chain txid, exchange/bank reference, end-to-end id.

The strictest evidence: a shared key. Amounts must still agree within the rule's
tolerance (a differing fee becomes an explicit adjustment); a shared key with a wildly
different amount is not this rule's business (batches are caught by group rules).
"""

from __future__ import annotations

from .context import Ctx
from .explain import Scored, pair
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
        for oid in other.by_key(key, value):
            if not is_open(oid):
                continue
            o = other.items[oid]
            a, b = (it, o) if it.side == LEFT else (o, it)
            s = pair(rule, a, b, key)
            if s is not None and (oid not in found or s.score > found[oid].score):
                found[oid] = s
    return list(found.values()), list(found)
