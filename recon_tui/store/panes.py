"""The reads behind a pane: keyset pages, counts and positions of one pair side's records
in one or more states, under a filter, in ts or amount order; and the rows and detail of
given records.

Pages run over the ``pair_states_ts`` / ``pair_states_amount`` indexes (pair, side, state,
key, id): one ``UNION ALL`` arm per state with a shared ``ORDER BY``, which SQLite merges
(``MERGE (UNION ALL)``) instead of sorting, so a page costs the same few ms at any size.
An unfiltered count is read from ``pair_totals`` (maintained by triggers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recon_tui.store.db import Connection
from recon_tui.store.groups import chunks, marks

ROW_COLUMNS = (
    "s.record_id, r.ts_us, r.asset, r.amount, r.kind, s.state, r.status, r.counterparty, "
    "r.reference, r.memo, r.external_id"
)
"""After the sort key: what :class:`recon_tui.services.panes.Row` holds, in order."""


@dataclass(frozen=True, slots=True)
class PaneQuery:
    """One pane's rows: a pair side, its states, a filter (already as store values) and the
    sort (``ts_us`` or ``amount_e8``)."""

    pair: str
    side: str
    states: tuple[str, ...]
    column: str = "ts_us"
    desc: bool = False
    text_like: str | None = None
    abs_min_e8: int | None = None
    abs_max_e8: int | None = None
    ts_from_us: int | None = None
    ts_before_us: int | None = None
    asset: str | None = None

    @property
    def filtered(self) -> bool:
        return any(v is not None for v in (self.text_like, self.abs_min_e8, self.abs_max_e8,
                                           self.ts_from_us, self.ts_before_us, self.asset))

    def _extra(self) -> tuple[str, list[Any]]:
        sql: list[str] = []
        params: list[Any] = []
        if self.text_like is not None:
            sql.append(
                "(r.counterparty LIKE ? ESCAPE '\\' OR r.reference LIKE ? ESCAPE '\\' OR r.memo "
                "LIKE ? ESCAPE '\\' OR r.external_id LIKE ? ESCAPE '\\' OR r.txid LIKE ? ESCAPE '\\')"
            )
            params += [self.text_like] * 5
        if self.abs_min_e8 is not None:
            sql.append("abs(s.amount_e8) >= ?")
            params.append(self.abs_min_e8)
        if self.abs_max_e8 is not None:
            sql.append("abs(s.amount_e8) <= ?")
            params.append(self.abs_max_e8)
        if self.ts_from_us is not None:
            sql.append("s.ts_us >= ?")
            params.append(self.ts_from_us)
        if self.ts_before_us is not None:
            sql.append("s.ts_us < ?")
            params.append(self.ts_before_us)
        if self.asset is not None:
            sql.append("s.asset = ?")
            params.append(self.asset)
        return "".join(" AND " + s for s in sql), params

    def arms(self, keyset: tuple[int, int] | None, op: str) -> tuple[list[str], list[Any]]:
        """One ``WHERE`` per state (and its parameters, in order)."""
        extra, extra_params = self._extra()
        col = "s." + self.column
        wheres: list[str] = []
        params: list[Any] = []
        for state in self.states or ("none",):
            w = f"s.pair = ? AND s.side = ? AND s.state = ? AND s.live = 1{extra}"
            params += [self.pair, self.side, state, *extra_params]
            if keyset is not None:
                w += f" AND ({col}, s.record_id) {op} (?, ?)"
                params += list(keyset)
            wheres.append(w)
        return wheres, params


_FROM = "FROM pair_states s JOIN records r ON r.id = s.record_id"


def page(conn: Connection, q: PaneQuery, keyset: tuple[int, int] | None, forward: bool,
         limit: int, offset: int = 0) -> list[tuple[Any, ...]]:  # fmt: skip
    """Rows (sort key first, then :data:`ROW_COLUMNS`) after/before ``keyset``."""
    asc = forward != q.desc
    wheres, params = q.arms(keyset, ">" if asc else "<")
    order = "ASC" if asc else "DESC"
    sql = " UNION ALL ".join(
        f"SELECT s.{q.column} AS k, {ROW_COLUMNS} {_FROM} WHERE {w}" for w in wheres
    ) + f" ORDER BY 1 {order}, 2 {order} LIMIT ? OFFSET ?"
    rows = conn.execute(sql, [*params, limit, offset]).fetchall()
    return rows if forward else rows[::-1]


def count(conn: Connection, q: PaneQuery) -> int:
    if not q.filtered:
        row = conn.execute(
            f"SELECT sum(n) FROM pair_totals WHERE pair = ? AND side = ? AND state IN "
            f"({marks(len(q.states))})", (q.pair, q.side, *q.states),
        ).fetchone()  # fmt: skip
        return int(row[0] or 0)
    wheres, params = q.arms(None, ">")
    sql = "SELECT sum(c) FROM (" + " UNION ALL ".join(
        f"SELECT count(*) AS c {_FROM} WHERE {w}" for w in wheres) + ")"  # fmt: skip
    return int(conn.execute(sql, params).fetchone()[0] or 0)


def position(conn: Connection, q: PaneQuery, key: tuple[int, int]) -> int:
    """How many rows sort before ``key`` (O(position): a worker's job at scale)."""
    wheres, params = q.arms(key, "<" if not q.desc else ">")
    sql = "SELECT sum(c) FROM (" + " UNION ALL ".join(
        f"SELECT count(*) AS c {_FROM} WHERE {w}" for w in wheres) + ")"  # fmt: skip
    return int(conn.execute(sql, params).fetchone()[0] or 0)


def rows_by_id(conn: Connection, pair: str | None, ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """Rows (ts first, then :data:`ROW_COLUMNS`) of the given records, in the order given;
    the state is the one in ``pair`` (``open`` where the pair has none)."""
    found: dict[int, tuple[Any, ...]] = {}
    cols = ROW_COLUMNS.replace("s.record_id", "r.id").replace("s.state", "coalesce(s.state, 'open')")
    for part in chunks(ids):
        for row in conn.execute(
            f"SELECT r.ts_us, {cols} FROM records r LEFT JOIN pair_states s ON s.pair = ? "
            f"AND s.record_id = r.id WHERE r.id IN ({marks(len(part))})", [pair, *part],
        ):  # fmt: skip
            found[row[1]] = row
    return [found[i] for i in ids if i in found]


def record_meta(conn: Connection, record_id: int) -> tuple[int, bool] | None:
    """(version, removed) of a record."""
    row = conn.execute("SELECT version, removed FROM records WHERE id = ?", (record_id,)).fetchone()
    return (int(row[0]), bool(row[1])) if row else None


def side_rows(conn: Connection, q: PaneQuery, ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """Rows (sort key first, then :data:`ROW_COLUMNS`, then 1 if the pane query shows the
    row, else 0) of those ``ids`` that lie on the query's pair side: what a pane needs to
    update its rows in place after a decision moved these records. Index reads by
    ``pair_states`` primary key, one per id."""
    extra, extra_params = q._extra()
    states = q.states or ("none",)
    out: list[tuple[Any, ...]] = []
    for part in chunks(ids):
        out += conn.execute(
            f"SELECT s.{q.column}, {ROW_COLUMNS}, CASE WHEN s.state IN ({marks(len(states))}) "
            f"AND s.live = 1{extra} THEN 1 ELSE 0 END {_FROM} WHERE s.pair = ? AND s.side = ? "
            f"AND s.record_id IN ({marks(len(part))})",
            [*states, *extra_params, q.pair, q.side, *part],
        ).fetchall()  # fmt: skip
    return out


def passing(conn: Connection, q: PaneQuery, ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` the pane query shows (its pair side, states and filter)."""
    wheres, params = q.arms(None, ">")
    per = len(params) // len(wheres)
    out: set[int] = set()
    for part in chunks(ids):
        for i, w in enumerate(wheres):
            out.update(r for (r,) in conn.execute(
                f"SELECT s.record_id {_FROM} WHERE {w} AND s.record_id IN ({marks(len(part))})",
                [*params[i * per : (i + 1) * per], *part]))  # fmt: skip
    return out
