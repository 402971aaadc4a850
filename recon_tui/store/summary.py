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
    descending ts limits (newest first); bucket i holds ts in (bounds[i], bounds[i-1]]."""
    out = []
    edges = [None, *bounds_us, None]
    for i in range(len(edges) - 1):
        hi, lo = edges[i], edges[i + 1]
        n = 0
        for state in states:
            sql = ("SELECT count(*) FROM pair_states WHERE pair = ? AND side = ? AND state = ? "
                   "AND live = 1")  # fmt: skip
            params: list[object] = [pair, side, state]
            if hi is not None:
                sql += " AND ts_us <= ?"
                params.append(hi)
            if lo is not None:
                sql += " AND ts_us > ?"
                params.append(lo)
            n += int(conn.execute(sql, params).fetchone()[0])
        out.append(n)
    return out
