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
