"""Maintained summaries: live records per source (``source_totals``) and counts and exact
amounts per pair, side, state and asset (``pair_totals``), both kept by triggers in the
same transaction as every change; break aging is counted off the ``pair_states_ts`` index.

Amounts are summed as three exact integers (units, the first nine decimals, the next
nine): no float anywhere, and reading them back is a few rows, not a scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from recon_tui.store.db import Connection
from recon_tui.store.reports import AGE_BOUNDS_DAYS, DAY_US, SideAging

_NANO = Decimal(10) ** -9
_ATTO = Decimal(10) ** -18


@dataclass(slots=True, frozen=True)
class Total:
    pair: str
    side: str
    state: str
    asset: str
    count: int
    amount: Decimal


def source_counts(conn: Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT source, live FROM source_totals").fetchall())


def open_count(conn: Connection, pairs: list[str]) -> int:
    """Live records not matched, over both sides of the given pairs (a few rows read)."""
    if not pairs:
        return 0
    marks = ", ".join("?" * len(pairs))
    row = conn.execute(f"SELECT coalesce(sum(n), 0) FROM pair_totals WHERE state != 'matched' "
                       f"AND pair IN ({marks})", pairs).fetchone()  # fmt: skip
    return int(row[0])


def pair_totals(conn: Connection, pair: str | None = None) -> list[Total]:
    sql = "SELECT pair, side, state, asset, n, units, nano, atto FROM pair_totals WHERE n != 0"
    params: tuple[str, ...] = ()
    if pair is not None:
        sql += " AND pair = ?"
        params = (pair,)
    return [
        Total(p, s, st, a, n, Decimal(u) + Decimal(nn) * _NANO + Decimal(at) * _ATTO)
        for p, s, st, a, n, u, nn, at in conn.execute(sql + " ORDER BY 1, 2, 3, 4", params)
    ]


def aging_counts(conn: Connection, pair: str, side: str, states: tuple[str, ...],
                 bounds_us: list[int]) -> list[int]:  # fmt: skip
    """Live records of a pair side in ``states`` per age bucket: ``bounds_us`` are the
    descending ts limits (newest first); bucket i holds ts in (bounds[i], bounds[i-1]].

    The newer buckets are counted off the ``pair_states_ts`` index; the oldest one (a
    backlog's biggest by far: counting it was 0.6 s at 1M per side) is the maintained
    total (``pair_totals``, live rows only, like this count) less the newer buckets."""
    out = []
    for i in range(len(bounds_us)):
        hi = bounds_us[i - 1] if i else None
        lo = bounds_us[i]
        n = 0
        for state in states:
            sql = ("SELECT count(*) FROM pair_states WHERE pair = ? AND side = ? AND state = ? "
                   "AND live = 1 AND ts_us > ?")  # fmt: skip
            params: list[object] = [pair, side, state, lo]
            if hi is not None:
                sql += " AND ts_us <= ?"
                params.append(hi)
            n += int(conn.execute(sql, params).fetchone()[0])
        out.append(n)
    marks = ", ".join("?" * len(states))
    total = conn.execute(
        f"SELECT coalesce(sum(n), 0) FROM pair_totals WHERE pair = ? AND side = ? "
        f"AND state IN ({marks})", (pair, side, *states)).fetchone()[0]  # fmt: skip
    out.append(int(total) - sum(out))
    return out


def side_aging(conn: Connection, pair: str, side: str, now_us: int,
               states: tuple[str, ...] = ("open", "suggested")) -> SideAging:  # fmt: skip
    """Break aging per asset of one pair side ('L' or 'R'), and each asset's oldest break,
    without a pass over the backlog: the same figures as grouping every unmatched row
    (:func:`recon_tui.store.reports.side_aging`, 0.55 s per side at 100k, ~5 s at 1M).

    - The three newer buckets (age up to 30 days) are one range of the ``pair_states_ts``
      index per state: the last month's rows only.
    - The oldest bucket is the maintained per-asset total (``pair_totals``, live rows
      only) less the newer buckets.
    - The oldest break of an asset whose breaks are all of the last month comes with
      those ranges; for the others it is the first row met walking the same index from
      the oldest ts, which stops as soon as each of them has been seen (at once, unless
      one asset's old breaks are far younger than another's: then the walk reads the
      rows between).
    """
    out = SideAging()
    marks = ", ".join("?" * len(states))
    totals: dict[str, int] = {}
    present: dict[str, set[str]] = {}
    """state -> the assets that have breaks in that state."""
    for state, asset, n in conn.execute(
        f"SELECT state, asset, n FROM pair_totals WHERE pair = ? AND side = ? AND n > 0 "
        f"AND state IN ({marks})", (pair, side, *states),
    ):  # fmt: skip
        totals[asset] = totals.get(asset, 0) + int(n)
        present.setdefault(state, set()).add(asset)
        out.aging.setdefault(asset, [0, 0, 0, 0])
    # Age in whole days as the dashboard counts it, (now - ts) // day: bucket k holds
    # ts > now - (bound_k + 1) days; older than the last bound is the oldest bucket.
    edges = [now_us - (b + 1) * DAY_US for b in AGE_BOUNDS_DAYS]
    case = f"CASE WHEN ts_us > {edges[0]} THEN 0 WHEN ts_us > {edges[1]} THEN 1 ELSE 2 END"
    recent: dict[tuple[str, str], int] = {}
    """(state, asset) -> the oldest break of the last month."""
    for state in states:
        for asset, b, n, oldest in conn.execute(
            f"SELECT asset, {case}, count(*), min(ts_us) FROM pair_states WHERE pair = ? "
            "AND side = ? AND state = ? AND live = 1 AND ts_us > ? GROUP BY 1, 2",
            (pair, side, state, edges[-1]),
        ):  # fmt: skip
            out.aging.setdefault(asset, [0, 0, 0, 0])[b] += int(n)
            key = (state, asset)
            recent[key] = min(int(oldest), recent.get(key, int(oldest)))
    for asset, buckets in out.aging.items():
        buckets[3] = totals.get(asset, 0) - sum(buckets[:3])
    old_assets = {a for a, buckets in out.aging.items() if buckets[3] > 0}
    for (_, asset), ts in recent.items():
        if asset not in old_assets and ts < out.oldest_us.get(asset, ts + 1):
            out.oldest_us[asset] = ts  # all its breaks are of the last month: known
    for state in states:
        # Only assets with breaks older than a month need the walk.
        wanted = set(present.get(state, ())) & old_assets
        if not wanted:
            continue
        cur = conn.execute(
            "SELECT asset, ts_us FROM pair_states WHERE pair = ? AND side = ? AND state = ? "
            "AND live = 1 ORDER BY ts_us, record_id", (pair, side, state))  # fmt: skip
        for asset, ts in cur:
            if asset in wanted:
                wanted.discard(asset)
                if ts < out.oldest_us.get(asset, ts + 1):
                    out.oldest_us[asset] = int(ts)
                if not wanted:
                    break
        cur.close()
    return out
