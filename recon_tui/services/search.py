"""Search both sides of a pair at once (the workbench's Ctrl+F): by text (counterparty,
reference, memo, external id, txid), by amount (a number finds that magnitude exactly),
or by internal id (``#123``). Unmatched items first, then matched ones.

Built on the panes' own pagers, so a hit is exactly a row a pane can show."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from recon_tui.model import SourcePair
from recon_tui.services.panes import PaneFilter, PanesService, Row

LIMIT = 50
"""Hits per side and state (the dialog shows the first ones; a sharper query finds more)."""


@dataclass(frozen=True, slots=True)
class Hit:
    code: str  # "L" or "R"
    row: Row
    why: str  # "text", "amount" or "id"


def query_filters(query: str) -> list[tuple[str, PaneFilter]]:
    """The filters a query means: text always, an exact magnitude when it is a number."""
    q = query.strip()
    if not q:
        return []
    out: list[tuple[str, PaneFilter]] = [("text", PaneFilter(text=q))]
    try:
        amount = abs(Decimal(q.replace(",", "").replace("\u2212", "-")))
    except InvalidOperation:
        return out
    if amount.is_finite():
        out.append(("amount", PaneFilter(amount_min=amount, amount_max=amount)))
    return out


def search_pair(panes: PanesService, pair: SourcePair, query: str, limit: int = LIMIT
                ) -> list[Hit]:  # fmt: skip
    """Hits on both sides, each record once (a worker's job: text search scans the side)."""
    hits: list[Hit] = []
    seen: set[int] = set()
    q = query.strip()
    if q.startswith("#") and q[1:].isdigit():
        rid = int(q[1:])
        for row in panes.rows([rid], pair.name):
            detail = panes.record_detail(rid, pair.name)
            rec = detail["record"] if detail else None
            for code, side in (("L", pair.left), ("R", pair.right)):
                if rec is not None and side.admits(rec):
                    hits.append(Hit(code, row, "id"))
        return hits
    for why, filt in query_filters(q):
        for status in ("unmatched", "matched"):
            f = PaneFilter(filt.text, filt.amount_min, filt.amount_max, status=status)
            for code, side in (("L", pair.left), ("R", pair.right)):
                for row in panes.pager(pair, side, f).first(limit):
                    if row.id not in seen:
                        seen.add(row.id)
                        hits.append(Hit(code, row, why))
    return hits


# --- breaks by age ------------------------------------------------------------------------

DAY_US = 86_400_000_000
BUCKET_DAYS = ((0, 1), (2, 7), (8, 30), (31, None))
"""Age (whole days) bounds of each aging bucket, as the dashboard counts them."""


def oldest_break(panes: Any, pair: SourcePair, bucket: int, now_us: int) -> Row | None:
    """The oldest unmatched item of either side whose age falls in ``bucket``: where Enter
    on a bar of the dashboard's aging chart leads. Two keyset probes per side."""
    lo, hi = BUCKET_DAYS[bucket]
    found: list[Row] = []
    for side in (pair.left, pair.right):
        pager = panes.pager(side)  # a PairPanes: the pair's own pager of that side
        # Ages at most ``hi`` days are timestamps after now - (hi + 1) days.
        rows = pager.first(1) if hi is None else pager.after((now_us - (hi + 1) * DAY_US, 2**62), 1)
        found += [r for r in rows if lo <= (now_us - r.ts_us) // DAY_US <= (hi or 10**9)]
    return min(found, key=lambda r: (r.ts_us, r.id), default=None)
