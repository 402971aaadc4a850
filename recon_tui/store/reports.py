"""Read-only aggregates for the service's API, metrics and webhooks (no writes here).

Counts and exact amounts per pair, side, state and asset come from the maintained
``pair_totals`` (:mod:`recon_tui.store.summary`); what those do not hold — break aging and
the oldest break *per asset* — is one grouped range over a pair side's unmatched rows of
``pair_states`` (the ``pair_states_ts`` index), so a refresh costs O(unmatched), not
O(records).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recon_tui.store.db import Connection

AGE_BOUNDS_DAYS = (1, 7, 30)
AGE_BUCKETS = ("0-1d", "2-7d", "8-30d", "30d+")
"""Same buckets as the dashboard's aging chart."""

DAY_US = 86_400_000_000
UNMATCHED = ("open", "suggested")


@dataclass(slots=True)
class SideAging:
    """asset -> unmatched count per age bucket, and asset -> oldest unmatched ts."""

    aging: dict[str, list[int]] = field(default_factory=dict)
    oldest_us: dict[str, int] = field(default_factory=dict)


def _bucket_sql(now_us: int) -> str:
    d1, d7, d30 = (now_us - b * DAY_US for b in AGE_BOUNDS_DAYS)
    # Age in whole days as the dashboard counts it: (now - ts) // day.
    return (f"CASE WHEN ts_us > {d1 - DAY_US} THEN 0 WHEN ts_us > {d7 - DAY_US} THEN 1 "
            f"WHEN ts_us > {d30 - DAY_US} THEN 2 ELSE 3 END")  # fmt: skip


def side_aging(conn: Connection, pair: str, side: str, now_us: int) -> SideAging:
    """Break aging per asset of one pair side ('L' or 'R')."""
    out = SideAging()
    for state in UNMATCHED:  # one index range per state
        for asset, b, n, oldest in conn.execute(
            f"SELECT asset, {_bucket_sql(now_us)}, count(*), min(ts_us) FROM pair_states "
            "WHERE pair = ? AND side = ? AND state = ? AND live = 1 GROUP BY 1, 2",
            (pair, side, state),
        ):  # fmt: skip
            out.aging.setdefault(asset, [0, 0, 0, 0])[b] += n
            if oldest < out.oldest_us.get(asset, oldest + 1):
                out.oldest_us[asset] = oldest
    return out


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


def breaks_older_than(conn: Connection, pair: str, cutoff_us: int) -> int:
    """Unmatched records of a pair (both sides) dated before ``cutoff_us`` (index ranges)."""
    return int(conn.execute(
        "SELECT count(*) FROM pair_states WHERE pair = ? AND side IN ('L', 'R') "
        "AND state IN ('open', 'suggested') AND live = 1 AND ts_us < ?", (pair, cutoff_us),
    ).fetchone()[0])  # fmt: skip
