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
    amounts comma-joined) over the members of the staged groups."""
    yield from conn.execute(
        "SELECT g.pair, g.kind, m.side, r.asset, "
        "EXISTS (SELECT 1 FROM x_scope s WHERE s.pair = g.pair AND s.id = r.id) AS ins, "
        "count(*), group_concat(r.amount) FROM x_groups x JOIN match_groups g ON g.id = x.id "
        "JOIN group_members m ON m.group_id = g.id JOIN records r ON r.id = m.record_id "
        "GROUP BY 1, 2, 3, 4, 5"
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


# --- rows formatted in SQL ------------------------------------------------------------
#
# The big tables go out as JSON (one object per item), CSV rows and spreadsheet cells.
# Building them as Python objects cost ~100 µs a row; here SQLite's own functions make the
# JSON text and the cell XML in C, and hand the CSV fields over already neutralised: text
# that a spreadsheet would run as a formula gets a leading ``'`` (as
# ``services.export.safe_cell`` does for the small tables), so Python only writes.
# Spreadsheet cells carry ``#R#`` for the row number (filled in by the writer); ``#`` in
# text is written as ``&#35;`` so the placeholder cannot be forged.

_TRIGGERS = "(61, 43, 45, 64, 9, 13)"  # = + - @ tab CR


def _is_decimal(x: str) -> str:
    body = f"(CASE WHEN {x} GLOB '-*' THEN substr({x}, 2) ELSE {x} END)"
    return (f"({body} GLOB '[0-9]*' AND {body} NOT GLOB '*[^0-9.]*' "
            f"AND {body} NOT GLOB '*.*.*' AND {body} NOT GLOB '*.')")  # fmt: skip


def _neutral(x: str, numeric: bool) -> str:
    cond = f"unicode({x}) IN {_TRIGGERS}"
    if numeric:
        cond += f" AND NOT {_is_decimal(x)}"
    return f"(CASE WHEN {cond} THEN char(39) || {x} ELSE {x} END)"


_XML_SPECIAL = "'*[&<>#]*'"


def _xml_text(x: str) -> str:
    # Excel keeps at most 32,767 characters of a cell; most text needs no escaping at all.
    return (f"(CASE WHEN {x} NOT GLOB {_XML_SPECIAL} AND length({x}) <= 32767 THEN {x} "
            f"ELSE replace(replace(replace(replace(substr({x}, 1, 32767), '&', '&amp;'), '<', "
            f"'&lt;'), '>', '&gt;'), '#', '&#35;') END)")  # fmt: skip


def iso_sql(x: str) -> str:
    """SQL for ``sessions.iso`` of a µs timestamp (``…Z``, µs only when not zero)."""
    return (f"(CASE WHEN {x} IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S', "
            f"{x} / 1000000 - ({x} % 1000000 < 0), 'unixepoch') || CASE WHEN {x} % 1000000 = 0 "
            f"THEN '' ELSE printf('.%06d', ({x} % 1000000 + 1000000) % 1000000) END || 'Z' END)")  # fmt: skip


def _score_sql(x: str) -> str:
    # Six places are plenty for a score, and decimal text never has an exponent.
    return (f"(CASE WHEN {x} IS NULL THEN NULL ELSE "
            f"rtrim(rtrim(printf('%.6f', {x}), '0'), '.') END)")  # fmt: skip


def _col(i: int) -> str:
    out, n = "", i + 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def _formatted(columns: Sequence[tuple[str, str, str]], source: str, order: str,
               keep: Sequence[str] = ()) -> str:  # fmt: skip
    """One query: per row of ``source`` (FROM … WHERE …, with ``?`` parameters) in
    ``order``, the ``keep`` expressions, the JSON object, one CSV field per column and
    the spreadsheet cells of ``columns``: (JSON key, SQL expression, type) where type is
    ``text``, ``number`` (decimal text), ``int``, ``bool`` (0/1) or ``json`` (already
    JSON, only in the object). A key starting with ``-`` is left out of the JSON object.

    Each value is computed once: the base values, their neutralised text, and the
    formatting are three nested selects that SQLite may not flatten (``OFFSET 0``), so they
    stream as co-routines instead of repeating every expression in every use."""
    base = [f"{e} AS k{i}" for i, e in enumerate(keep)]
    base += [f"{expr} AS v{i}" for i, (_, expr, _) in enumerate(columns)]
    mid = [f"k{i}" for i in range(len(keep))]
    obj: list[str] = []
    line: list[str] = []
    cells: list[str] = []
    for i, (key, _, kind) in enumerate(columns):
        v, t = f"v{i}", f"t{i}"
        mid.append(v)
        if not key.startswith("-"):
            if kind == "bool":
                obj.append(f"'{key}', json(CASE WHEN {v} THEN 'true' ELSE 'false' END)")
            else:
                obj.append(f"'{key}', " + (f"json({v})" if kind == "json" else v))
        if kind == "json":
            continue
        col = _col(len(line))
        if kind == "int":
            line.append(v)
            cells.append(f"CASE WHEN {v} IS NULL THEN '' ELSE concat('<c r=\"{col}#R#\"><v>', "
                         f"{v}, '</v></c>') END")  # fmt: skip
            continue
        mid.append(f"(CASE WHEN {v} THEN 'true' ELSE 'false' END) AS {t}" if kind == "bool"
                   else f"{_neutral(v, kind == 'number')} AS {t}")  # fmt: skip
        line.append(t)
        cells.append(f"CASE WHEN {t} IS NULL THEN '' ELSE concat('<c r=\"{col}#R#\" "
                     f"t=\"inlineStr\"><is><t xml:space=\"preserve\">', {_xml_text(t)}, "
                     "'</t></is></c>') END")  # fmt: skip
    outer = [f"k{i}" for i in range(len(keep))]
    # concat() builds each text in one allocation (a chain of || copies it at every step).
    # CSV fields go out as columns: Python's csv writer quotes them faster than SQL can.
    outer += [f"json_object({', '.join(obj)})", *line, f"concat({', '.join(cells)})"]
    return (f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(mid)} FROM "
            f"(SELECT {', '.join(base)} {source} ORDER BY {order} LIMIT -1 OFFSET 0) "
            f"LIMIT -1 OFFSET 0)")  # fmt: skip


_IN_SCOPE = "EXISTS (SELECT 1 FROM x_scope s WHERE s.id = r.id)"
_GROUP = (
    ("group_id", "g.id", "int"), ("pair", "g.pair", "text"), ("kind", "g.kind", "text"),
    ("state", "g.state", "text"), ("origin", "g.origin", "text"), ("rule", "g.rule", "text"),
    ("score", _score_sql("g.score"), "number"), ("decided_by", "g.decided_by", "text"),
    ("decided_at", iso_sql("g.decided_us"), "text"), ("reason", "g.reason", "text"),
    ("note", "g.note", "text"),
)  # fmt: skip
_MEMBER = (
    ("record_id", "r.id", "int"), ("side", "m.side", "text"), ("in_scope", _IN_SCOPE, "bool"),
    ("source", "r.source", "text"), ("account", "r.account", "text"),
    ("external_id", "r.external_id", "text"), ("kind", "r.kind", "text"),
    ("ts", iso_sql("r.ts_us"), "text"), ("asset", "r.asset", "text"),
    ("amount", "r.amount", "number"), ("fee", "r.fee", "number"),
    ("fee_asset", "r.fee_asset", "text"), ("status", "r.status", "text"),
    ("booking_date", "r.booking_date", "text"), ("value_date", "r.value_date", "text"),
    ("reference", "r.reference", "text"), ("counterparty", "r.counterparty", "text"),
    ("txid", "r.txid", "text"), ("memo", "r.memo", "text"),
)  # fmt: skip
_GROUP_JSON = ("json_object(" + ", ".join(f"'{k}', {e}" for k, e, _ in _GROUP)
               + ", 'adjustments', json('[]'))")  # fmt: skip
_MEMBERS_SQL = _formatted(
    [*((f"-{k}", e, t) for k, e, t in _GROUP), *_MEMBER],
    "FROM x_groups x JOIN match_groups g ON g.id = x.id AND g.kind = ? "
    "JOIN group_members m ON m.group_id = g.id JOIN records r ON r.id = m.record_id",
    "g.id, m.side, r.ts_us, r.id", keep=("g.id", "g.adjustments", _GROUP_JSON),
)


def group_members(conn: Connection, kind: str) -> Iterator[tuple[Any, ...]]:
    """(group id, adjustments JSON text, group JSON with ``"adjustments": []``, member
    JSON, *CSV fields, cells) per member of each staged group of ``kind``, ordered by group,
    side, time and id (a group's members are consecutive). The CSV fields and the cells
    hold the group's columns, then the member's."""
    yield from conn.execute(_MEMBERS_SQL, (kind,))


_UNRESOLVED = (
    ("record_id", "r.id", "int"), ("pair", "s.pair", "text"), ("side", "s.side", "text"),
    ("source", "r.source", "text"), ("account", "r.account", "text"),
    ("external_id", "r.external_id", "text"), ("kind", "r.kind", "text"),
    ("ts", iso_sql("r.ts_us"), "text"), ("asset", "r.asset", "text"),
    ("amount", "r.amount", "number"), ("state", "s.state", "text"),
)  # fmt: skip
_UNRESOLVED_SQL = _formatted(
    _UNRESOLVED, "FROM x_scope s JOIN records r ON r.id = s.id "
    "WHERE s.pair = ? AND s.state != 'matched'", "s.side, r.ts_us, r.id",
)


def unresolved(conn: Connection, pairs: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """(JSON, *CSV fields, cells) of the in-scope records not matched, per pair (in the
    session's order), left side first, by time and id."""
    for pair in pairs:
        yield from conn.execute(_UNRESOLVED_SQL, (pair,))


_DECISION = (
    ("seq", "d.seq", "int"), ("at", iso_sql("d.at_us"), "text"), ("at_us", "d.at_us", "int"),
    ("actor", "d.actor", "text"), ("actor_kind", "d.actor_kind", "text"),
    ("action", "d.action", "text"), ("pair", "d.pair", "text"),
    ("group_id", "d.group_id", "int"), ("record_ids", "d.record_ids", "text"),
    ("session_id", "d.session_id", "int"), ("before", "d.before", "text"),
    ("after", "d.after", "text"), ("reason", "d.reason", "text"), ("note", "d.note", "text"),
    ("prev_hash", "d.prev_hash", "text"), ("hash", "d.hash", "text"),
)  # fmt: skip
_DECISION_SQL = _formatted(
    _DECISION, "FROM x_decisions x JOIN decisions d ON d.seq = x.seq", "d.seq")


def decisions(conn: Connection) -> Iterator[tuple[Any, ...]]:
    """(JSON, *CSV fields, cells) of the staged decisions, by seq; ``record_ids``, ``before``
    and ``after`` are the exact JSON text that was hashed, as strings."""
    yield from conn.execute(_DECISION_SQL)


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
