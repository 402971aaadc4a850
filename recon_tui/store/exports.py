"""Read queries of the streaming session export, on one read connection and one snapshot.

The export (:mod:`recon_tui.services.export`) reads a session's scope, its groups and its
decisions inside one read transaction of a connection of its own (:func:`snapshot`), so
writers keep working while it runs and everything it reads is one consistent state.
What it reads is staged in ``TEMP`` tables of that connection (memory: the store sets
``temp_store = MEMORY``; they vanish with the connection), so each pass is one SQL
statement streamed row by row, and Python never holds the session's records at once:

``x_scope``    (pair, id, side) of every in-scope record (a record may be in several pairs)
``x_groups``   the confirmed groups of the session's pairs with a member in scope, with
               their kind and pair (so the passes over one kind, and the totals, need no
               look-up in ``match_groups`` per group to find them)
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


FENCE_MS = 100
TWIN_CACHE_KIB = 2048
MAIN_CACHE_KIB = 32768
"""The twin's page cache: the check reads each page once or twice in order, so SQLite's
default 64 MiB would only add to the export's peak memory (measured: no slower)."""
"""How long :func:`snapshots` waits for SQLite's write lock to start its two reads in one
state; a writer holding it longer (an import's long transaction) means one connection."""


@contextlib.contextmanager
def snapshots(store: Store) -> Iterator[tuple[Connection, Connection | None]]:
    """Two fresh read connections in one and the same snapshot, for the export's reading
    and, beside it in a thread of its own, the store's audit check: the check then judges
    exactly the state the export writes. Both read transactions start while a third
    connection holds SQLite's write lock (``BEGIN IMMEDIATE``, for a millisecond or so), so
    no commit can fall between their starts; readers are never held up, writers wait that
    long. When the lock cannot be had within :data:`FENCE_MS` the second is ``None`` (the
    caller checks on the first). All are closed on exit."""
    conns: list[Connection] = []
    twin: Connection | None = None
    try:
        main = store.open_reader()
        conns.append(main)
        main.execute(f"PRAGMA cache_size = {-MAIN_CACHE_KIB}")
        fence: Connection | None = None
        with contextlib.suppress(Exception):  # no fence: one connection, as :func:`snapshot`
            twin = store.open_reader()
            conns.append(twin)
            twin.execute(f"PRAGMA cache_size = {-TWIN_CACHE_KIB}")
            fence = store.open_reader()
            conns.append(fence)
            fence.execute(f"PRAGMA busy_timeout = {FENCE_MS}")
            fence.execute("BEGIN IMMEDIATE")
        if fence is None or not fence.in_transaction:
            twin = None
        for conn in (main, twin):
            if conn is not None:
                conn.execute("BEGIN")
                conn.execute("SELECT count(*) FROM meta").fetchone()  # the snapshot starts
        if fence is not None and fence.in_transaction:
            fence.execute("ROLLBACK")
        yield main, twin
    finally:
        for conn in conns:
            with contextlib.suppress(Exception):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            with contextlib.suppress(Exception):
                conn.close()


def store_rev(conn: Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'rev'").fetchone()
    return int(row[0]) if row and row[0] else 0


def stage_scope(conn: Connection, pairs: Sequence[tuple[str, Side, Side]], start_us: int,
                end_us: int, session_id: int) -> None:  # fmt: skip
    """Fill ``x_scope``, ``x_groups`` and ``x_touched`` for a session's pairs and period."""
    conn.execute("CREATE TEMP TABLE x_scope (pair TEXT NOT NULL, id INTEGER NOT NULL, "
                 "side TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (pair, id)) "
                 "WITHOUT ROWID")  # fmt: skip
    conn.execute("CREATE INDEX temp.x_scope_id ON x_scope (id)")
    for name, left, right in pairs:
        for code, side in (("L", left), ("R", right)):
            where, params = side_clause(side)
            where = " AND ".join(f"r.{c.strip()}" for c in where.split(" AND "))
            # The record's state in this pair (``open`` when the pair holds none for it).
            conn.execute(
                "INSERT OR IGNORE INTO x_scope (pair, id, side, state) SELECT ?, r.id, ?, "
                "coalesce(ps.state, 'open') FROM records r LEFT JOIN pair_states ps "
                f"ON ps.pair = ? AND ps.record_id = r.id WHERE {where} AND r.ts_us >= ? "
                "AND r.ts_us < ?", (name, code, name, *params, start_us, end_us),
            )  # fmt: skip
    conn.execute("CREATE TEMP TABLE x_groups (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
                 "pair TEXT NOT NULL, origin TEXT, decided_by TEXT, adj INTEGER NOT NULL)")  # fmt: skip
    marks = ", ".join("?" * len(pairs))
    conn.execute(
        "INSERT OR IGNORE INTO x_groups (id, kind, pair, origin, decided_by, adj) SELECT g.id, "
        "g.kind, g.pair, g.origin, g.decided_by, g.adjustments IS NOT NULL FROM x_scope s "
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


# --- aggregates ----------------------------------------------------------------------


def scope_totals(conn: Connection) -> Iterator[tuple[str, str, str, int, int, str]]:
    """(pair, side, asset, count, not matched, amounts comma-joined) of the scope; the
    caller sums the exact decimals (SQL would sum them as floats)."""
    yield from conn.execute(
        "SELECT s.pair, s.side, r.asset, count(*), sum(s.state != 'matched'), "
        "group_concat(r.amount) FROM x_scope s JOIN records r ON r.id = s.id GROUP BY 1, 2, 3"
    )


def member_totals(conn: Connection) -> Iterator[tuple[str, str, str, str, int, int, str]]:
    """(group pair, group kind, member side, asset, in the pair's scope 0/1, count,
    amounts comma-joined) over the members of the staged groups (CROSS JOIN: from the
    staged groups out, never a scan of every record in the store)."""
    yield from conn.execute(
        "SELECT x.pair, x.kind, m.side, r.asset, "
        "EXISTS (SELECT 1 FROM x_scope s WHERE s.pair = x.pair AND s.id = r.id) AS ins, "
        "count(*), group_concat(r.amount) FROM x_groups x "
        "CROSS JOIN group_members m ON m.group_id = x.id "
        "CROSS JOIN records r ON r.id = m.record_id GROUP BY 1, 2, 3, 4, 5"
    )


def group_adjustments(conn: Connection) -> Iterator[tuple[int, str, str, str]]:
    """(group id, pair, kind, adjustments JSON) of the staged groups that have some."""
    yield from conn.execute(
        "SELECT g.id, g.pair, g.kind, g.adjustments FROM x_groups x "
        "CROSS JOIN match_groups g ON g.id = x.id WHERE x.adj AND g.adjustments IS NOT NULL "
        "ORDER BY x.id"
    )


def accepted_groups(conn: Connection) -> list[tuple[int, str]]:
    """(id, adjustments JSON) by id of the groups whose adjustments the session accepted,
    exactly those of :func:`recon_tui.store.sessions.accepted_differences` (a confirmed
    match group of one of the session's pairs with adjustments, holding a live confirmed
    member in that pair's scope), found among the staged groups: every such group is one
    (a member in scope, confirmed, of a session pair), so only the few staged groups with
    adjustments are looked at, not the whole scope again."""
    return conn.execute(
        "SELECT g.id, g.adjustments FROM x_groups x CROSS JOIN match_groups g ON g.id = x.id "
        "WHERE x.adj AND x.kind != 'explained' AND g.adjustments IS NOT NULL "
        "AND g.state = 'confirmed' AND EXISTS (SELECT 1 FROM group_members m "
        "JOIN x_scope s ON s.pair = m.pair AND s.id = m.record_id WHERE m.group_id = g.id "
        "AND m.pair = g.pair AND m.confirmed = 1) ORDER BY x.id"
    ).fetchall()  # fmt: skip


def group_counts(conn: Connection) -> list[tuple[str | None, str, str, int]]:
    """(decided_by, origin, kind, count) over the staged groups."""
    return conn.execute(
        "SELECT decided_by, origin, kind, count(*) FROM x_groups GROUP BY 1, 2, 3"
    ).fetchall()


def explained_in_scope(conn: Connection) -> int:
    """In-scope records that are members of a staged explained group."""
    return int(conn.execute(
        "SELECT count(DISTINCT m.record_id) FROM x_groups x CROSS JOIN group_members m "
        "ON m.group_id = x.id WHERE x.kind = 'explained' "
        "AND m.record_id IN (SELECT id FROM x_scope)"
    ).fetchone()[0])  # fmt: skip


# --- rows for the big tables -----------------------------------------------------------
#
# The big tables (group members, unresolved records, decisions) are read as raw columns and
# formatted in Python (``services.export``): SQLite building the JSON text, CSV fields and
# cell XML itself spent ~200 µs a row in expression evaluation and string copies. SQL adds
# only what it decides cheaply on its own values: a ``needs quoting`` flag per row, true
# when some text field starts with a character a spreadsheet would run as a formula
# (``= + - @`` tab CR) and, for number columns, is not also an exact decimal (``-12.50`` is
# an amount). Python then looks at the fields of the rare flagged rows only.

_TRIGGERS = "(61, 43, 45, 64, 9, 13)"  # = + - @ tab CR


def _is_decimal(x: str) -> str:
    body = f"(CASE WHEN {x} GLOB '-*' THEN substr({x}, 2) ELSE {x} END)"
    return (f"({body} GLOB '[0-9]*' AND {body} NOT GLOB '*[^0-9.]*' "
            f"AND {body} NOT GLOB '*.*.*' AND {body} NOT GLOB '*.')")  # fmt: skip


def _flag(text: Sequence[str], numbers: Sequence[str] = ()) -> str:
    """SQL: true when one of ``text`` (or, not an exact decimal, one of ``numbers``) starts
    with a formula trigger. The text columns are tested as one: joined with a unit
    separator before each, one GLOB finds a trigger after any separator (a test per
    column cost more than reading the row)."""
    terms = []
    if text:
        joined = ", ".join(f"char(31), {x}" for x in text)
        # '*' US '[' - = + @ TAB CR ']' '*'
        terms.append(f"concat({joined}) GLOB char(42, 31, 91, 45, 61, 43, 64, 9, 13, 93, 42)")
    terms += [f"({x} GLOB char(91, 61, 43, 64, 9, 13, 93, 42) OR ({x} GLOB '-*' AND NOT "
              f"{_is_decimal(x)}))" for x in numbers]  # fmt: skip
    return f"({' OR '.join(terms)})"


def _iso(x: str) -> str:
    """SQL for ``sessions.iso`` of a µs timestamp (``…Z``, µs only when not zero; the
    expression the SQL-formatted export used, held equal to Python's by
    ``tests/test_export_equivalence.py``). Formatted here, so on the export's reading
    thread (see ``services.export._ReadAhead``), not on the one that writes the files."""
    return (f"(CASE WHEN {x} IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S', "
            f"{x} / 1000000 - ({x} % 1000000 < 0), 'unixepoch') || CASE WHEN {x} % 1000000 = 0 "
            f"THEN '' ELSE printf('.%06d', ({x} % 1000000 + 1000000) % 1000000) END || 'Z' END)")  # fmt: skip


def _csv(x: str) -> str:
    """SQL for one value as the csv module writes it (``QUOTE_MINIMAL``, ``doublequote``):
    a text holding a comma, a double quote, CR or LF in double quotes, its quotes doubled;
    anything else as it is (NULL is empty, integers their digits, in ``concat``)."""
    return (f"(CASE WHEN {x} GLOB char(42, 91, 44, 34, 13, 10, 93, 42) THEN "
            f"'\"' || replace({x}, '\"', '\"\"') || '\"' ELSE {x} END)")  # fmt: skip


def csv_line(values: Sequence[str], end: str = "char(13, 10)", plain: Sequence[str] = ()
             ) -> str:  # fmt: skip
    """SQL for ``values`` as one CSV line as ``csv.writer`` writes it (comma-separated,
    ``end`` after the last: CRLF, or ``','`` for the first part of a line). Made on the
    reading thread, in C, so the exporting thread only joins the lines; a row that needs
    neutralising (its ``needs quoting`` flag) is formatted by the csv module instead.
    ``plain``: values that never need quoting (an ``INTEGER PRIMARY KEY``, an ISO time, a
    constant), left without the test."""
    parts = ", ',', ".join(v if v in plain else _csv(v) for v in values)
    return f"concat({parts}, {end})"


GROUP_COLUMNS = ("id", "pair", "kind", "state", "origin", "rule", "score", "decided_by",
                 "decided_us", "reason", "note", "adjustments")  # fmt: skip
# Decimal text with six places at most (never ``1e-07``), as every export has written it.
_SCORE = ("(CASE WHEN g.score IS NULL THEN NULL ELSE "
          "rtrim(rtrim(printf('%.6f', g.score), '0'), '.') END)")  # fmt: skip
_GROUP_SELECT = {"score": _SCORE, "decided_us": _iso("g.decided_us")}
_GROUP_CSV = [_GROUP_SELECT.get(c, "g." + c) for c in GROUP_COLUMNS[:11]]
_GROUPS_SQL = (
    f"SELECT {', '.join(_GROUP_SELECT.get(c, 'g.' + c) for c in GROUP_COLUMNS)}, "
    f"{_flag([f'g.{c}' for c in (*GROUP_COLUMNS[1:6], 'decided_by', 'reason', 'note')])}, "
    f"{csv_line(_GROUP_CSV, repr(','), ['g.id', *_GROUP_SELECT.values()])} "
    "FROM x_groups x CROSS JOIN match_groups g ON g.id = x.id WHERE x.kind = ? ORDER BY x.id"
)  # fmt: skip
MEMBER_COLUMNS = ("group_id", "record_id", "side", "in_scope", "source", "account",
                  "external_id", "kind", "ts_us", "asset", "amount", "fee", "fee_asset",
                  "status", "booking_date", "value_date", "reference", "counterparty",
                  "txid", "memo")  # fmt: skip
_MEMBER_TEXT = ["r.source", "r.account", "r.external_id", "r.kind", "r.asset", "r.fee_asset",
                "r.status", "r.booking_date", "r.value_date", "r.reference",
                "r.counterparty", "r.txid", "r.memo"]  # fmt: skip
# The member's CSV fields (``services.export.MEMBER_FIELDS``), as the member row holds them.
_MEMBER_CSV = ["r.id", "m.side", "(CASE WHEN EXISTS (SELECT 1 FROM x_scope s WHERE s.id = r.id) "
               "THEN 'true' ELSE 'false' END)", "r.source", "r.account", "r.external_id",
               "r.kind", _iso("r.ts_us"), "r.asset", "r.amount", "r.fee", "r.fee_asset",
               "r.status", "r.booking_date", "r.value_date", "r.reference", "r.counterparty",
               "r.txid", "r.memo"]  # fmt: skip
# Members in group order (x_groups' key, then group_members' own key order): no sort of
# the whole table in SQL; the writer orders each group's few members by side, time, id.
# CROSS JOIN fixes the loop order: the temp tables have no statistics, and the planner
# would otherwise scan ``records`` and sort the result.
_MEMBERS_SQL = (
    "SELECT m.group_id, r.id, m.side, EXISTS (SELECT 1 FROM x_scope s WHERE s.id = r.id), "
    "r.source, r.account, r.external_id, r.kind, r.ts_us, r.asset, r.amount, r.fee, "
    "r.fee_asset, r.status, r.booking_date, r.value_date, r.reference, r.counterparty, "
    f"r.txid, r.memo, {_flag(_MEMBER_TEXT, ['r.amount', 'r.fee'])}, {_iso('r.ts_us')}, "
    f"{csv_line(_MEMBER_CSV[:2], repr(','), plain=_MEMBER_CSV[:1])}, "
    f"{csv_line(_MEMBER_CSV[3:7], repr(','))}, concat(',', {csv_line(_MEMBER_CSV[8:])}) "
    "FROM x_groups x CROSS JOIN group_members m ON m.group_id = x.id "
    "CROSS JOIN records r ON r.id = m.record_id WHERE x.kind = ? ORDER BY x.id"
)  # fmt: skip
_ROWS = 4_096  # rows per fetchmany


def _stream(conn: Connection, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
    cur = conn.execute(sql, params)
    while rows := cur.fetchmany(_ROWS):
        yield from rows


def groups(conn: Connection, kind: str) -> Iterator[tuple[Any, ...]]:
    """(*``GROUP_COLUMNS``, needs quoting, the first eleven columns as the start of a CSV
    line) per staged group of ``kind``, by id; ``decided_us`` comes as its ISO text."""
    return _stream(conn, _GROUPS_SQL, (kind,))


def group_members(conn: Connection, kind: str) -> Iterator[tuple[Any, ...]]:
    """(*``MEMBER_COLUMNS``, needs quoting, ``ts_us`` as ISO text, then the member's CSV
    fields as the rest of a line in three pieces, see :func:`csv_line`: those before
    ``in_scope`` with their comma, those between it and ``ts``
    with theirs, and those after ``ts`` with the comma before them and the line's end)
    per member of each staged group of ``kind``, in group id order (a group's members are
    consecutive, in no particular order). The writer puts ``in_scope`` and the ISO time,
    which it has as columns already, between the pieces: SQLite would compute both a
    second time for the line (~0.6 s of the 500k-record export's reading thread)."""
    return _stream(conn, _MEMBERS_SQL, (kind,))


UNRESOLVED_COLUMNS = ("record_id", "pair", "side", "source", "account", "external_id",
                      "kind", "ts_us", "asset", "amount", "state")  # fmt: skip
_UNRESOLVED_TEXT = ("source", "account", "external_id", "kind", "asset")
_UNRESOLVED_CSV = ["r.id", "s.pair", "s.side", *(f"r.{c}" for c in _UNRESOLVED_TEXT[:4]),
                   _iso("r.ts_us"), "r.asset", "r.amount", "s.state"]  # fmt: skip
_UNRESOLVED_SQL = (
    "SELECT r.id, s.pair, s.side, r.source, r.account, r.external_id, r.kind, "
    f"{_iso('r.ts_us')}, r.asset, r.amount, s.state, "
    f"{_flag(['s.pair', 's.state', *(f'r.{c}' for c in _UNRESOLVED_TEXT)], ['r.amount'])}, "
    f"{csv_line(_UNRESOLVED_CSV, plain=['r.id', _iso('r.ts_us')])} "
    "FROM x_scope s JOIN records r ON r.id = s.id WHERE s.pair = ? AND s.state != 'matched' "
    "ORDER BY s.side, r.ts_us, r.id"
)  # fmt: skip


def unresolved(conn: Connection, pairs: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """(*``UNRESOLVED_COLUMNS``, needs quoting, the CSV line; ``ts_us`` as ISO text) of the in-scope
    records not matched, per pair (in the session's order), left side first, by time and
    id."""
    for pair in pairs:
        yield from _stream(conn, _UNRESOLVED_SQL, (pair,))


DECISION_COLUMNS = ("seq", "at_us", "actor", "actor_kind", "action", "pair", "group_id",
                    "record_ids", "session_id", "before", "after", "reason", "note",
                    "prev_hash", "hash")  # fmt: skip
_DECISION_CSV = ["d.seq", _iso("d.at_us"), *(f"d.{c}" for c in DECISION_COLUMNS[1:])]
_DECISIONS_SQL = (
    f"SELECT d.seq, {_iso('d.at_us')}, {', '.join('d.' + c for c in DECISION_COLUMNS[1:])}, "
    f"{_flag([f'd.{c}' for c in DECISION_COLUMNS if c not in ('seq', 'at_us', 'group_id', 'session_id')])}, "
    f"{csv_line(_DECISION_CSV, plain=_DECISION_CSV[:2])} "
    "FROM x_decisions x CROSS JOIN decisions d ON d.seq = x.seq ORDER BY x.seq"
)  # fmt: skip


def decisions(conn: Connection) -> Iterator[tuple[Any, ...]]:
    """(seq, ``at_us`` as ISO text, *``DECISION_COLUMNS[1:]``, needs quoting, the CSV line) of the
    staged decisions, by seq;
    ``record_ids``, ``before`` and ``after`` are the exact JSON text that was hashed."""
    return _stream(conn, _DECISIONS_SQL)


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
