"""Read queries of the streaming session export, on one read connection and one snapshot.

The export (:mod:`recon_tui.services.export`) reads a session's scope, its groups and its
decisions inside one read transaction of a connection of its own (:func:`snapshot`), so
writers keep working while it runs and everything it reads is one consistent state.
What it reads is staged in ``TEMP`` tables of that connection (memory: the store sets
``temp_store = MEMORY``; they vanish with the connection), so each pass is one SQL
statement streamed row by row, and Python never holds the session's records at once:

``x_scope``    (pair, id, side) of every in-scope record (a record may be in several pairs)
``x_groups``   the confirmed groups of the session's pairs with a member in scope
``x_touched``  every group with a member among the scope or the session's snapshots
``x_decisions`` the seqs of the decisions that concern the session (see
               :func:`stage_decisions`, the same rule as ``sessions.decisions_for``)

The SQL on ``records``, ``match_groups``, ``group_members`` and ``decisions`` is kept
here, beside the tables' owners, so a change of those tables has one place to follow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from recon_tui.model import Side
from recon_tui.store.db import Connection, Store
from recon_tui.store.records import side_clause


@contextlib.contextmanager
def snapshot(store: Store) -> Iterator[Connection]:
    """A fresh read connection inside one read transaction (a WAL snapshot: writers go on,
    this connection keeps seeing the state of its first read). Closed on exit."""
    conn = store.open_reader()
    try:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM meta").fetchone()  # the snapshot starts here
        yield conn
    finally:
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")
        conn.close()


def store_rev(conn: Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'rev'").fetchone()
    return int(row[0]) if row and row[0] else 0


def stage_scope(conn: Connection, pairs: Sequence[tuple[str, Side, Side]], start_us: int,
                end_us: int, session_id: int) -> None:  # fmt: skip
    """Fill ``x_scope``, ``x_groups`` and ``x_touched`` for a session's pairs and period."""
    conn.execute("CREATE TEMP TABLE x_scope (pair TEXT NOT NULL, id INTEGER NOT NULL, "
                 "side TEXT NOT NULL, PRIMARY KEY (pair, id)) WITHOUT ROWID")  # fmt: skip
    conn.execute("CREATE INDEX temp.x_scope_id ON x_scope (id)")
    for name, left, right in pairs:
        for code, side in (("L", left), ("R", right)):
            where, params = side_clause(side)
            conn.execute(
                f"INSERT OR IGNORE INTO x_scope (pair, id, side) SELECT ?, id, ? FROM records "
                f"WHERE {where} AND ts_us >= ? AND ts_us < ?",
                (name, code, *params, start_us, end_us),
            )  # fmt: skip
    conn.execute("CREATE TEMP TABLE x_groups (id INTEGER PRIMARY KEY)")
    marks = ", ".join("?" * len(pairs))
    conn.execute(
        "INSERT OR IGNORE INTO x_groups (id) SELECT g.id FROM x_scope s "
        "JOIN group_members m ON m.record_id = s.id JOIN match_groups g ON g.id = m.group_id "
        f"WHERE g.state = 'confirmed' AND g.pair IN ({marks})", [p[0] for p in pairs],
    )  # fmt: skip
    conn.execute("CREATE TEMP TABLE x_ids (id INTEGER PRIMARY KEY)")
    conn.execute("INSERT OR IGNORE INTO x_ids (id) SELECT id FROM x_scope")
    conn.execute("INSERT OR IGNORE INTO x_ids (id) SELECT record_id FROM session_records "
                 "WHERE session_id = ?", (session_id,))  # fmt: skip
    conn.execute("CREATE TEMP TABLE x_touched (id INTEGER PRIMARY KEY)")
    conn.execute("INSERT OR IGNORE INTO x_touched (id) SELECT m.group_id FROM x_ids i "
                 "JOIN group_members m ON m.record_id = i.id")  # fmt: skip


def stage_decisions(conn: Connection, session_id: int) -> None:
    """Fill ``x_decisions``: decisions naming the session, or touching a record in its
    scope or snapshots, or a group with such a member (by ``group_id``, ``record_ids`` or
    ``after.groups``), and undos of a bulk decision over such groups."""
    conn.execute("CREATE TEMP TABLE x_decisions (seq INTEGER PRIMARY KEY)")
    touching = (
        "d.group_id IN (SELECT id FROM x_touched) "
        "OR EXISTS (SELECT 1 FROM json_each(d.record_ids) j WHERE j.value IN "
        "(SELECT id FROM x_ids)) "
        "OR (json_type(d.after) = 'object' AND EXISTS (SELECT 1 FROM "
        "json_each(d.after, '$.groups') j WHERE j.value IN (SELECT id FROM x_touched)))"
    )
    conn.execute(
        f"INSERT INTO x_decisions (seq) SELECT d.seq FROM decisions d WHERE d.session_id = ? "
        f"OR {touching}", (session_id,),
    )  # fmt: skip
    # An undo of a bulk confirm names the bulk decision only by seq (in ``before``).
    conn.execute(
        "INSERT OR IGNORE INTO x_decisions (seq) SELECT u.seq FROM decisions u "
        "JOIN decisions d ON d.seq = json_extract(u.before, '$.seq') "
        "WHERE u.action = 'undo' AND json_type(u.before) = 'object' "
        "AND json_type(d.after) = 'object' AND EXISTS (SELECT 1 FROM "
        "json_each(d.after, '$.groups') j WHERE j.value IN (SELECT id FROM x_touched))"
    )  # fmt: skip


def scope_amounts(conn: Connection) -> Iterator[tuple[str, str, str, str, str]]:
    """(pair, side, asset, amount, state) of every in-scope record."""
    yield from conn.execute(
        "SELECT s.pair, s.side, r.asset, r.amount, r.state FROM x_scope s "
        "JOIN records r ON r.id = s.id"
    )


def member_amounts(conn: Connection) -> Iterator[tuple[str, str, str, str, str, int]]:
    """(group pair, group kind, member side, asset, amount, in the pair's scope 0/1) of
    every member of the staged groups."""
    yield from conn.execute(
        "SELECT g.pair, g.kind, m.side, r.asset, r.amount, "
        "EXISTS (SELECT 1 FROM x_scope s WHERE s.pair = g.pair AND s.id = r.id) "
        "FROM x_groups x JOIN match_groups g ON g.id = x.id "
        "JOIN group_members m ON m.group_id = g.id JOIN records r ON r.id = m.record_id"
    )


def group_adjustments(conn: Connection) -> Iterator[tuple[int, str, str, str]]:
    """(group id, pair, kind, adjustments JSON) of the staged groups that have some."""
    yield from conn.execute(
        "SELECT g.id, g.pair, g.kind, g.adjustments FROM x_groups x "
        "JOIN match_groups g ON g.id = x.id WHERE g.adjustments IS NOT NULL ORDER BY g.id"
    )


def group_counts(conn: Connection) -> list[tuple[str | None, str, str, int]]:
    """(decided_by, origin, kind, count) over the staged groups."""
    return conn.execute(
        "SELECT g.decided_by, g.origin, g.kind, count(*) FROM x_groups x "
        "JOIN match_groups g ON g.id = x.id GROUP BY 1, 2, 3"
    ).fetchall()


def explained_in_scope(conn: Connection) -> int:
    """In-scope records that are members of a staged explained group."""
    return int(conn.execute(
        "SELECT count(DISTINCT m.record_id) FROM x_groups x JOIN match_groups g "
        "ON g.id = x.id AND g.kind = 'explained' JOIN group_members m ON m.group_id = g.id "
        "WHERE m.record_id IN (SELECT id FROM x_scope)"
    ).fetchone()[0])  # fmt: skip


MEMBER_COLUMNS = (
    "group_id", "pair", "kind", "state", "origin", "rule", "score", "decided_by", "decided_us",
    "reason", "note", "adjustments", "side", "record_id", "in_scope", "source", "account",
    "external_id", "record_kind", "ts_us", "asset", "amount", "fee", "fee_asset", "status",
    "booking_date", "value_date", "reference", "counterparty", "txid", "memo",
)  # fmt: skip


def group_members(conn: Connection, kind: str) -> Iterator[tuple[Any, ...]]:
    """Rows of :data:`MEMBER_COLUMNS`, one per member of each staged group of ``kind``,
    ordered by group, side, time and id (a group's members are consecutive)."""
    yield from conn.execute(
        "SELECT g.id, g.pair, g.kind, g.state, g.origin, g.rule, g.score, g.decided_by, "
        "g.decided_us, g.reason, g.note, g.adjustments, m.side, r.id, "
        "EXISTS (SELECT 1 FROM x_scope s WHERE s.id = r.id), r.source, r.account, "
        "r.external_id, r.kind, r.ts_us, r.asset, r.amount, r.fee, r.fee_asset, r.status, "
        "r.booking_date, r.value_date, r.reference, r.counterparty, r.txid, r.memo "
        "FROM x_groups x JOIN match_groups g ON g.id = x.id AND g.kind = ? "
        "JOIN group_members m ON m.group_id = g.id JOIN records r ON r.id = m.record_id "
        "ORDER BY g.id, m.side, r.ts_us, r.id", (kind,),
    )  # fmt: skip


UNRESOLVED_COLUMNS = ("record_id", "pair", "side", "source", "account", "external_id", "kind",
                      "ts_us", "asset", "amount", "state")  # fmt: skip


def unresolved(conn: Connection, pairs: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """Rows of :data:`UNRESOLVED_COLUMNS`: in-scope records not matched, per pair (in the
    session's order), left side first, by time and id."""
    for pair in pairs:
        yield from conn.execute(
            "SELECT r.id, s.pair, s.side, r.source, r.account, r.external_id, r.kind, r.ts_us, "
            "r.asset, r.amount, r.state FROM x_scope s JOIN records r ON r.id = s.id "
            "WHERE s.pair = ? AND r.state != 'matched' ORDER BY s.side, r.ts_us, r.id", (pair,),
        )  # fmt: skip


DECISION_COLUMNS = ("seq", "at_us", "actor", "actor_kind", "action", "pair", "group_id",
                    "record_ids", "session_id", "before", "after", "reason", "note",
                    "prev_hash", "hash")  # fmt: skip


def decisions(conn: Connection) -> Iterator[tuple[Any, ...]]:
    """Rows of :data:`DECISION_COLUMNS` of the staged decisions, by seq (JSON fields as
    the exact text that was hashed)."""
    yield from conn.execute(
        f"SELECT {', '.join('d.' + c for c in DECISION_COLUMNS)} FROM x_decisions x "
        "JOIN decisions d ON d.seq = x.seq ORDER BY d.seq"
    )


def decision_counts(conn: Connection) -> tuple[list[tuple[str, str, str, int]],
                                              tuple[int, str] | None]:  # fmt: skip
    """(actor, actor_kind, action, count) of the staged decisions, and the last one's
    (seq, hash)."""
    counts = conn.execute(
        "SELECT d.actor, d.actor_kind, d.action, count(*) FROM x_decisions x "
        "JOIN decisions d ON d.seq = x.seq GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ).fetchall()
    last = conn.execute("SELECT d.seq, d.hash FROM decisions d WHERE d.seq = "
                        "(SELECT max(seq) FROM x_decisions)").fetchone()  # fmt: skip
    return counts, (int(last[0]), str(last[1])) if last else None
