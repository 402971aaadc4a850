"""Read-only aggregates for the service's API, metrics and webhooks (no writes here).

One query per side of a pair: counts, exact amount sums and break aging per state, asset
and age bucket. Amounts are summed exactly: rows with at most 8 decimals through their
integer ``amount_e8`` in SQL (exact at that scale, and done in C), the few finer rows (ETH
wei) as Decimals in Python. An int64 overflow falls back to Decimals for the whole side.

The integrator may point these at per-pair summaries kept by the store once they exist;
the shapes returned here are what the API promises.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from recon_tui.model import Side
from recon_tui.store.db import Connection, DatabaseError
from recon_tui.store.records import side_clause

AGE_BOUNDS_DAYS = (1, 7, 30)
AGE_BUCKETS = ("0-1d", "2-7d", "8-30d", "30d+")
"""Same buckets as the dashboard's aging chart."""

DAY_US = 86_400_000_000
E8 = Decimal("1e-8")
_FINE = "(instr(amount, '.') > 0 AND length(amount) - instr(amount, '.') > 8)"


@dataclass(slots=True)
class SideAggregate:
    """state -> asset -> (count, sum); and, for unmatched rows, asset -> bucket -> count."""

    counts: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    sums: dict[str, dict[str, Decimal]] = field(default_factory=lambda: defaultdict(dict))
    aging: dict[str, list[int]] = field(default_factory=dict)
    oldest_open_us: dict[str, int] = field(default_factory=dict)


def _bucket_sql(now_us: int) -> str:
    d1, d7, d30 = (now_us - b * DAY_US for b in AGE_BOUNDS_DAYS)
    # Age in whole days as the dashboard counts it: (now - ts) // day.
    return (f"CASE WHEN ts_us > {d1 - DAY_US} THEN 0 WHEN ts_us > {d7 - DAY_US} THEN 1 "
            f"WHEN ts_us > {d30 - DAY_US} THEN 2 ELSE 3 END")  # fmt: skip


def side_aggregate(conn: Connection, side: Side, now_us: int) -> SideAggregate:
    where, params = side_clause(side)
    bucket = _bucket_sql(now_us)
    agg = SideAggregate()
    rows: list[tuple[str, str, int, int, Decimal, int]] = []
    fine_where: str | None = None
    fine_params: tuple[Any, ...] = ()
    try:
        # One pass: counts, integer sums of the rows exact at 1e-8, and how many are finer.
        fine_assets = set()
        for state, asset, b, n, s, oldest, fine in conn.execute(
            f"SELECT state, asset, {bucket}, count(*), "
            f"sum(CASE WHEN {_FINE} THEN 0 ELSE amount_e8 END), min(ts_us), "
            f"sum({_FINE}) FROM records WHERE {where} GROUP BY 1, 2, 3", params,
        ):  # fmt: skip
            rows.append((state, asset, b, n - fine, Decimal(s) * E8, oldest))
            if fine:
                fine_assets.add(asset)
        if fine_assets:
            marks = ", ".join("?" * len(fine_assets))
            fine_where = f"{where} AND {_FINE} AND asset IN ({marks})"
            fine_params = (*params, *sorted(fine_assets))
    except DatabaseError:  # integer overflow of sum(): Decimals for the whole side
        rows = []
        fine_where, fine_params = where, params
    if fine_where is not None:
        for state, asset, b, amount, ts in conn.execute(
            f"SELECT state, asset, {bucket}, amount, ts_us FROM records WHERE {fine_where}",
            fine_params,
        ):
            rows.append((state, asset, b, 1, Decimal(amount), ts))
    for state, asset, b, n, total, oldest in rows:
        counts = agg.counts[state]
        counts[asset] = counts.get(asset, 0) + n
        sums = agg.sums[state]
        sums[asset] = sums.get(asset, Decimal(0)) + total
        if state != "matched" and n:
            agg.aging.setdefault(asset, [0, 0, 0, 0])[b] += n
            if oldest < agg.oldest_open_us.get(asset, oldest + 1):
                agg.oldest_open_us[asset] = oldest
    return agg


def data_version(conn: Connection) -> int:
    """Changes whenever another connection commits (SQLite's ``PRAGMA data_version``)."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def store_marks(conn: Connection) -> tuple[Any, ...]:
    """What changes when record states, amounts or sessions may have: the store revision
    (source changes), the audit head (every decision, sessions included) and the newest
    finished match or sync run (engine suggestions carry no decision). Token use, run
    starts and webhook deliveries leave it alone."""
    meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('rev', 'audit_head')"))
    runs = conn.execute(
        "SELECT max(finished_us) FROM runs WHERE kind IN ('match', 'sync')").fetchone()[0]  # fmt: skip
    return meta.get("rev"), meta.get("audit_head"), runs


def breaks_older_than(conn: Connection, side: Side, cutoff_us: int) -> int:
    """Unmatched records of a side dated before ``cutoff_us`` (index range per state)."""
    where, params = side_clause(side)
    return int(conn.execute(
        f"SELECT count(*) FROM records WHERE {where} AND state IN ('open', 'suggested') "
        "AND ts_us < ?", (*params, cutoff_us),
    ).fetchone()[0])  # fmt: skip
