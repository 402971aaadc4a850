"""Match groups, their members, each record's state per source pair, and rejections.

The one owner of ``match_groups``, ``group_members``, ``pair_states`` and ``rejections``:
services call these functions (inside their own ``Store.tx``) and never write SQL on
those tables. The invariants, all kept here:

- a group's ``state`` is ``suggested`` (an engine proposal), ``confirmed``, ``rejected``,
  ``stale`` (a suggestion overtaken), ``undone`` or ``reopened`` (a confirmed group whose
  member a source really changed); only :func:`create_group` and :func:`set_state` write it;
- a record is in at most one *confirmed* group per pair: checked inside the writing
  transaction (:func:`check_free` raises :class:`~recon_tui.errors.GroupConflict`) and
  made impossible by the unique index ``group_members_one_confirmed``;
- a record's state in a pair (``pair_states``) is ``matched`` when that pair has a
  confirmed group holding it, ``suggested`` when the pair has a live suggestion holding it,
  else ``open``: :func:`refresh` derives it, and every write here ends with it, so the state
  of one pair never moves because of another pair's groups;
- a member keeps the content hash it had when grouped, so a reopen needs a real change.

Every ``IN (…)`` over ids goes through :func:`chunks` (no SQLite variable limit).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

from recon_tui.errors import DecisionError, GroupConflict
from recon_tui.model import Record, dumps, json_default
from recon_tui.store.audit import append_state_log
from recon_tui.store.bulk import without_triggers
from recon_tui.store.db import Connection, now_us
from recon_tui.store.errors import StoreError
from recon_tui.store.records import _SELECT, row_to_record
from recon_tui.store.schema import TOTALS_OF_NEW_SQL

CHUNK = 5000
STATES = ("open", "suggested", "matched")
GROUP_STATES = ("suggested", "confirmed", "rejected", "stale", "undone", "reopened")


def chunks(ids: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    """Sorted, distinct ids in slices small enough for one ``IN (…)``."""
    ordered = sorted({int(i) for i in ids})
    for i in range(0, len(ordered), size):
        yield ordered[i : i + size]


def marks(n: int) -> str:
    return ", ".join("?" * n)


@dataclass(slots=True, frozen=True)
class Member:
    record_id: int
    side: str  # "L" or "R"


@dataclass(slots=True)
class Group:
    id: int
    pair: str
    kind: str
    state: str
    origin: str
    rule: str | None
    score: float | None
    explanation: Any
    adjustments: Any
    reason: str | None
    note: str | None
    decided_by: str | None
    decided_us: int | None
    session_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


_GROUP_COLS = (
    "id, pair, kind, state, origin, rule, score, explanation, adjustments, reason, note, "
    "decided_by, decided_us, session_id"
)


def _group(row: Sequence[Any]) -> Group:
    return Group(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6],
        json.loads(row[7]) if row[7] else None, json.loads(row[8]) if row[8] else None,
        row[9], row[10], row[11], row[12], row[13],
    )  # fmt: skip


# --- reading groups ----------------------------------------------------------------------


def get_group(conn: Connection, group_id: int) -> Group:
    row = conn.execute(
        f"SELECT {_GROUP_COLS} FROM match_groups WHERE id = ?", (group_id,)
    ).fetchone()
    if row is None:
        raise DecisionError(f"no match group {group_id}")
    return _group(row)


def get_groups(conn: Connection, group_ids: Iterable[int]) -> dict[int, Group]:
    out: dict[int, Group] = {}
    for part in chunks(group_ids):
        for row in conn.execute(
            f"SELECT {_GROUP_COLS} FROM match_groups WHERE id IN ({marks(len(part))})", part
        ):
            out[row[0]] = _group(row)
    return out


def members(conn: Connection, group_id: int) -> list[Member]:
    return [
        Member(r, s)
        for r, s in conn.execute(
            "SELECT record_id, side FROM group_members WHERE group_id = ? ORDER BY side, record_id",
            (group_id,),
        )
    ]


def members_of(conn: Connection, group_ids: Iterable[int]) -> dict[int, list[Member]]:
    out: dict[int, list[Member]] = {}
    for part in chunks(group_ids):
        for g, r, s in conn.execute(
            f"SELECT group_id, record_id, side FROM group_members WHERE group_id IN "
            f"({marks(len(part))}) ORDER BY group_id, side, record_id", part,
        ):  # fmt: skip
            out.setdefault(g, []).append(Member(r, s))
    return out


def member_ids(conn: Connection, group_ids: Iterable[int]) -> list[int]:
    return sorted({m.record_id for ms in members_of(conn, group_ids).values() for m in ms})


def groups_touching(
    conn: Connection, pair: str | None, record_ids: Iterable[int], states: Sequence[str]
) -> list[int]:
    """Groups (of ``pair``, or of any pair) in one of ``states`` with a member among ids."""
    found: set[int] = set()
    st = marks(len(states))
    for part in chunks(record_ids):
        # CROSS JOIN pins the loop order, from the records' memberships to their groups:
        # with a plain JOIN the planner walked every suggestion of the pair (the
        # match_groups_pair_state index) for each call, 12 ms at 100k per side against
        # 0.04 ms (EXPLAIN QUERY PLAN); every confirm asked it twice.
        sql = (
            f"SELECT DISTINCT g.id FROM group_members m CROSS JOIN match_groups g "
            f"ON g.id = m.group_id WHERE m.record_id IN ({marks(len(part))}) AND g.state IN ({st})"
        )
        params: list[Any] = [*part, *states]
        if pair is not None:
            sql += " AND g.pair = ?"
            params.append(pair)
        found.update(g for (g,) in conn.execute(sql, params))
    return sorted(found)


def groups_of_record(conn: Connection, record_id: int) -> list[Group]:
    """The live (suggested or confirmed) groups of any pair holding the record."""
    return [
        _group(row)
        for row in conn.execute(
            f"SELECT {', '.join('g.' + c.strip() for c in _GROUP_COLS.split(','))} "
            "FROM group_members m JOIN match_groups g ON g.id = m.group_id "
            "WHERE m.record_id = ? AND g.state IN ('suggested', 'confirmed') ORDER BY g.id",
            (record_id,),
        )
    ]


def suggestions_of_record(
    conn: Connection, pair: str, record_id: int, limit: int | None = None
) -> list[tuple[Group, list[Member]]]:
    """The pair's live suggestions holding the record, best score first, with members."""
    cols = ", ".join("g." + c.strip() for c in _GROUP_COLS.split(","))
    rows = conn.execute(
        # CROSS JOIN pins the loop order: from the record's few memberships to their groups.
        # With a plain JOIN the planner preferred match_groups_pair_state (two equality
        # columns) and walked every suggestion of the pair for each record shown.
        f"SELECT {cols} FROM group_members m CROSS JOIN match_groups g ON m.group_id = g.id "
        "WHERE m.record_id = ? AND g.pair = ? AND g.state = 'suggested' "
        "ORDER BY g.score DESC, g.id LIMIT ?",
        (record_id, pair, -1 if limit is None else limit),
    ).fetchall()
    groups = [_group(r) for r in rows]
    by_id = members_of(conn, [g.id for g in groups])
    return [(g, by_id.get(g.id, [])) for g in groups]


def suggested_above(conn: Connection, pair: str, threshold: float) -> list[int]:
    return [
        g for (g,) in conn.execute(
            "SELECT id FROM match_groups WHERE pair = ? AND state = 'suggested' AND score >= ? "
            "ORDER BY score DESC, id", (pair, threshold),
        )
    ]  # fmt: skip


def confirmed_with_gap(conn: Connection, pair: str, limit: int) -> list[int]:
    """Ids of the pair's latest ``limit`` confirmed groups carrying an adjustment (a
    fee / rounding gap): what the matcher learns a fee schedule from."""
    return [g for (g,) in conn.execute(
        "SELECT id FROM match_groups WHERE pair = ? AND state = 'confirmed' "
        "AND adjustments IS NOT NULL AND adjustments NOT IN ('', '[]') ORDER BY id DESC "
        "LIMIT ?", (pair, limit))]  # fmt: skip


def group_counts(conn: Connection, pair: str) -> dict[str, int]:
    """``state:origin`` -> number of groups of the pair (for ``status``; from the totals
    the ``match_groups_count_*`` triggers keep)."""
    return dict(conn.execute(
        "SELECT state || ':' || origin, n FROM group_totals WHERE pair = ? AND n != 0",
        (pair,),
    ).fetchall())  # fmt: skip


def all_group_states(conn: Connection) -> dict[int, str]:
    return dict(conn.execute("SELECT id, state FROM match_groups").fetchall())


def changed_since_grouped(conn: Connection, group_ids: Iterable[int]) -> dict[int, list[int]]:
    """Of the given groups, those with a member whose content really changed since it was
    grouped (another content hash, or removed by its source): group id -> those members."""
    out: dict[int, list[int]] = {}
    for part in chunks(group_ids):
        for g, rid in conn.execute(
            f"SELECT m.group_id, m.record_id FROM group_members m JOIN records r ON r.id = m.record_id "
            f"WHERE m.group_id IN ({marks(len(part))}) AND (r.removed = 1 OR m.content_hash IS NULL "
            f"OR m.content_hash != r.content_hash) ORDER BY 1, 2", part,
        ):  # fmt: skip
            out.setdefault(g, []).append(rid)
    return out


# --- per-pair record state ---------------------------------------------------------------


def states(conn: Connection, pair: str, record_ids: Iterable[int]) -> dict[int, tuple[str, bool]]:
    """record id -> (state in the pair, live) for the ids that are on a side of the pair."""
    out: dict[int, tuple[str, bool]] = {}
    for part in chunks(record_ids):
        for rid, state, live in conn.execute(
            f"SELECT record_id, state, live FROM pair_states WHERE pair = ? AND record_id IN "
            f"({marks(len(part))})", [pair, *part],
        ):  # fmt: skip
            out[rid] = (state, bool(live))
    return out


def state_of(conn: Connection, pair: str, record_id: int) -> str | None:
    row = conn.execute(
        "SELECT state FROM pair_states WHERE pair = ? AND record_id = ?", (pair, record_id)
    ).fetchone()
    return row[0] if row else None


def record_pairs(conn: Connection, record_id: int) -> dict[str, tuple[str, str, int | None]]:
    """pair -> (side, state, confirmed group id) of every pair the record is on."""
    return {
        p: (s, st, g)
        for p, s, st, g in conn.execute(
            "SELECT pair, side, state, group_id FROM pair_states WHERE record_id = ? ORDER BY pair",
            (record_id,),
        )
    }


def pairs_of_records(conn: Connection, record_ids: Iterable[int]) -> dict[str, list[int]]:
    """pair -> the given ids that lie on one of its sides."""
    out: dict[str, list[int]] = {}
    for part in chunks(record_ids):
        for pair, rid in conn.execute(
            f"SELECT pair, record_id FROM pair_states WHERE record_id IN ({marks(len(part))})",
            part,
        ):
            out.setdefault(pair, []).append(rid)
    return out


def check_free(conn: Connection, pair: str, record_ids: Sequence[int],
               *, ignore_group: int | None = None) -> None:  # fmt: skip
    """Refuse unless every record is on a side of ``pair``, live, and in no confirmed group
    of that pair (other than ``ignore_group``). Called inside the writing transaction, so
    the answer holds until it commits."""
    ids = sorted(set(record_ids))
    found = states(conn, pair, ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise DecisionError(
            f"record(s) {', '.join(map(str, missing[:5]))} are not on a side of pair '{pair}'"
        )
    gone = [i for i in ids if not found[i][1]]
    if gone:
        raise DecisionError(f"record(s) {', '.join(map(str, gone[:5]))} were removed by their source")
    taken: list[int] = []
    for part in chunks(ids):
        sql = (f"SELECT record_id FROM group_members WHERE pair = ? AND confirmed = 1 "
               f"AND record_id IN ({marks(len(part))})")  # fmt: skip
        params: list[Any] = [pair, *part]
        if ignore_group is not None:
            sql += " AND group_id != ?"
            params.append(ignore_group)
        taken.extend(r for (r,) in conn.execute(sql, params))
    if taken:
        raise GroupConflict(f"record(s) {', '.join(map(str, sorted(taken)[:5]))} are already matched")


def refresh(conn: Connection, record_ids: Iterable[int], pair: str | None = None) -> None:
    """Derive the records' state (and confirmed group) in ``pair`` (or every pair they are
    on) from that pair's groups."""
    for part in chunks(record_ids):
        where = f"record_id IN ({marks(len(part))})"
        params: list[Any] = list(part)
        if pair is not None:
            where = "pair = ? AND " + where
            params.insert(0, pair)
        conn.execute(
            f"""UPDATE pair_states SET
                group_id = (SELECT m.group_id FROM group_members m WHERE m.pair = pair_states.pair
                            AND m.record_id = pair_states.record_id AND m.confirmed = 1),
                state = CASE
                    WHEN EXISTS (SELECT 1 FROM group_members m WHERE m.pair = pair_states.pair
                                 AND m.record_id = pair_states.record_id AND m.confirmed = 1)
                        THEN 'matched'
                    WHEN EXISTS (SELECT 1 FROM group_members m JOIN match_groups g
                                 ON g.id = m.group_id WHERE m.record_id = pair_states.record_id
                                 AND m.pair = pair_states.pair AND g.state = 'suggested')
                        THEN 'suggested'
                    ELSE 'open' END
                WHERE {where}""",
            params,
        )


def reset_unmatched(conn: Connection, pair: str) -> None:
    """Every record of the pair not in a confirmed group back to ``open`` (a full run's
    start, after its suggestions went stale)."""
    conn.execute(
        "UPDATE pair_states SET state = 'open', group_id = NULL WHERE pair = ? "
        "AND state = 'suggested'", (pair,),
    )  # fmt: skip


BULK_TRIGGERS = ("state_log_group_new", "state_log_member_add", "pair_states_upd",
                 "match_groups_count_ins")
"""The per-row triggers a bulk writer does the work of itself (:func:`_bulk`)."""


@contextmanager
def _bulk(conn: Connection, *names: str) -> Iterator[set[str]]:
    """Run the body, in the caller's transaction, without the named per-row triggers (of
    :data:`BULK_TRIGGERS`), which come back before the body's statements can commit; the
    body does their work itself, set-based, for those of them the store has (yielded).
    See :mod:`recon_tui.store.bulk` for why and how."""
    unknown = set(names) - set(BULK_TRIGGERS)
    if unknown:
        raise ValueError(f"not a bulk writer's trigger: {', '.join(sorted(unknown))}")
    with without_triggers(conn, names) as dropped:
        yield dropped


def recount_totals(conn: Connection, pair: str) -> None:
    """The pair's ``pair_totals`` afresh from its ``pair_states`` rows (what the trigger
    would have left, counted at once)."""
    conn.execute("DELETE FROM pair_totals WHERE pair = ?", (pair,))
    conn.execute(TOTALS_OF_NEW_SQL.format(where="pair = ?"), (pair,))


RECOUNT_SHARE = 20
""":func:`set_states` recounts the pair's totals at once instead of by trigger when it
changes at least one row in this many of the pair's (a row's trigger costs ~12 us, a
recount ~0.6 us a row of the pair)."""


def set_states(conn: Connection, pair: str, rows: Iterable[tuple[str, int | None, int]]) -> None:
    """Fast path for the engine's own writes: (state, group id, record id) set directly.

    Only for states the caller just made true in this transaction (a group it created);
    never turns a matched record into anything else. Rows go in record-id order (the
    table's key: neighbouring pages, not a random walk); a big batch goes without the
    totals trigger and recounts the pair's totals once (:data:`RECOUNT_SHARE`).
    """
    params = sorted(((s, g, pair, r) for s, g, r in rows), key=lambda t: t[3])
    if not params:
        return
    sql = ("UPDATE pair_states SET state = ?, group_id = ? WHERE pair = ? AND record_id = ? "
           "AND state != 'matched'")  # fmt: skip
    (size,) = conn.execute(
        "SELECT coalesce(sum(n), 0) FROM pair_totals WHERE pair = ?", (pair,)).fetchone()  # fmt: skip
    if len(params) * RECOUNT_SHARE < int(size):
        conn.executemany(sql, params)
        return
    with _bulk(conn, "pair_states_upd"):
        conn.executemany(sql, params)
        recount_totals(conn, pair)


def iter_unmatched(conn: Connection, pair: str, side: str, batch: int = 20_000, *,
                   raw: bool = True) -> Iterator[Record]:  # fmt: skip
    """The live records of a pair side that no confirmed group of the pair holds (what the
    engine works on), keyset-paged by id (bounded memory). ``raw=False`` leaves out the
    source's raw payload (the engine never reads it: neither read nor decoded then)."""
    cols = ", ".join("NULL" if c.strip() == "raw" and not raw else "r." + c.strip()
                     for c in _SELECT.split(","))  # fmt: skip
    last = 0
    while True:
        rows = conn.execute(
            f"SELECT {cols} FROM pair_states s JOIN records r ON r.id = s.record_id "
            "WHERE s.pair = ? AND s.record_id > ? AND s.side = ? AND s.live = 1 "
            "AND s.state != 'matched' ORDER BY s.record_id LIMIT ?",
            (pair, last, side, batch),
        ).fetchall()
        if not rows:
            return
        for row in rows:
            yield row_to_record(row)
        last = rows[-1][0]


def unmatched_of(conn: Connection, pair: str, record_ids: Iterable[int]) -> dict[int, str]:
    """Of the ids, the live ones on a side of ``pair`` not matched there: id -> side."""
    out: dict[int, str] = {}
    for part in chunks(record_ids):
        for rid, side in conn.execute(
            f"SELECT record_id, side FROM pair_states WHERE pair = ? AND live = 1 AND "
            f"state != 'matched' AND record_id IN ({marks(len(part))})", [pair, *part],
        ):  # fmt: skip
            out[rid] = side
    return out


# --- writing groups ----------------------------------------------------------------------


_INSERT_MEMBERS = (
    "INSERT INTO group_members (group_id, record_id, side, pair, confirmed, content_hash) "
    "SELECT ?, id, ?, ?, ?, content_hash FROM records WHERE id = ?"
)
"""A member row, with the content hash its record has now (a reopen needs a real change)."""
_INSERT_MEMBER_VALUES = (
    "INSERT INTO group_members (group_id, record_id, side, pair, confirmed, content_hash) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
"""A member row with its content hash read beforehand (:func:`create_groups`)."""


def _member_rows(gid: int, pair: str, confirmed: int, left_ids: Sequence[int],
                 right_ids: Sequence[int]) -> list[tuple[int, str, str, int, int]]:  # fmt: skip
    """The parameters of :data:`_INSERT_MEMBERS` for one group's members, left then right."""
    return ([(gid, "L", pair, confirmed, r) for r in left_ids]
            + [(gid, "R", pair, confirmed, r) for r in right_ids])  # fmt: skip


def create_group(
    conn: Connection,
    pair: str,
    left_ids: Sequence[int],
    right_ids: Sequence[int],
    *,
    state: str,
    origin: str,
    kind: str = "match",
    rule: str | None = None,
    score: float | None = None,
    explanation: Any = None,
    adjustments: Any = None,
    decided_by: str | None = None,
    reason: str | None = None,
    note: str | None = None,
    session_id: int | None = None,
    update_states: bool = True,
    check: bool = True,
) -> int:
    """Insert a group and its members; a confirmed one only over free records (checked
    here, in the caller's transaction, unless the caller checked them all at once:
    ``check`` off; the unique index holds either way). Refreshes the members' state in
    the pair unless ``update_states`` is off (a bulk writer that sets states itself)."""
    if state not in GROUP_STATES:
        raise ValueError(f"unknown group state {state!r}")
    ids = [*left_ids, *right_ids]
    if state == "confirmed" and check:
        check_free(conn, pair, ids)
    now = now_us()
    cur = conn.execute(
        "INSERT INTO match_groups (pair, kind, state, origin, rule, score, explanation, "
        "adjustments, created_us, decided_us, decided_by, reason, note, session_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (pair, kind, state, origin, rule, score,
         dumps(explanation) if explanation is not None else None,
         dumps(adjustments) if adjustments is not None else None, now,
         now if state == "confirmed" else None, decided_by, reason, note, session_id),
    )  # fmt: skip
    gid = int(cur.lastrowid or 0)
    confirmed = 1 if state == "confirmed" else 0
    conn.executemany(_INSERT_MEMBERS, _member_rows(gid, pair, confirmed, left_ids, right_ids))
    if update_states:
        refresh(conn, ids, pair)
    return gid


@dataclass(slots=True, frozen=True)
class NewGroup:
    """One group for :func:`create_groups` (the engine's bulk write of a run's results)."""

    left_ids: Sequence[int]
    right_ids: Sequence[int]
    state: str
    rule: str | None = None
    score: float | None = None
    explanation: Any = None
    adjustments: Any = None
    decided_by: str | None = None


def _fast_dumps(obj: Any) -> str:
    """``model.dumps`` at a fraction of the cost (orjson) for the engine's explanations:
    the same compact JSON for what they hold (str keys, Decimals as strings via the same
    default); anything orjson refuses (a non-str key, an int beyond 64 bits, NaN) falls
    back to ``dumps``. The text is only ever parsed back, never hashed as text."""
    try:
        return orjson.dumps(obj, default=json_default).decode()
    except (TypeError, orjson.JSONEncodeError):
        return dumps(obj)


def create_groups(conn: Connection, pair: str, new: Sequence[NewGroup], *,
                  origin: str, kind: str = "match") -> list[int]:  # fmt: skip
    """Insert many groups and their members at once: what :func:`create_group` with
    ``check`` and ``update_states`` off does for each, in two statements instead of two
    per group (a full run writes ~100k groups; the per-call overhead was a third of it).

    Ids are assigned as SQLite assigns them (one past the largest), in the given order;
    the caller holds the write transaction, so nobody else takes them meanwhile. The state
    log's rows are appended here (:func:`_bulk`), as its insert triggers write them (each
    group's row, then each member's in record order, with the same chained MACs); the group totals'
    triggers fire as for one group, and the unique index still refuses a record in two
    confirmed groups of the pair."""
    if not new:
        return []
    for g in new:
        if g.state not in GROUP_STATES:
            raise ValueError(f"unknown group state {g.state!r}")
    (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM match_groups").fetchone()
    now = now_us()
    ids = list(range(int(top) + 1, int(top) + 1 + len(new)))
    rows: list[tuple[int, str, str, int, int]] = []
    for gid, g in zip(ids, new, strict=True):
        rows += _member_rows(gid, pair, 1 if g.state == "confirmed" else 0,
                             g.left_ids, g.right_ids)  # fmt: skip
    # Members in record order: the record lookup, its foreign key and two of the three
    # indexes then walk the store's pages forward instead of at random (a full run's
    # ~170k members at 100k demo size: 5.8 -> 4.3 s); the rowid order means nothing.
    rows.sort(key=itemgetter(4))
    with _bulk(conn, "state_log_group_new", "state_log_member_add",
               "match_groups_count_ins") as dropped:  # fmt: skip
        conn.executemany(
            "INSERT INTO match_groups (id, pair, kind, state, origin, rule, score, "
            "explanation, adjustments, created_us, decided_us, decided_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(gid, pair, kind, g.state, origin, g.rule, g.score,
              _fast_dumps(g.explanation) if g.explanation is not None else None,
              _fast_dumps(g.adjustments) if g.adjustments is not None else None, now,
              now if g.state == "confirmed" else None, g.decided_by)
             for gid, g in zip(ids, new, strict=True)],
        )  # fmt: skip
        if "match_groups_count_ins" in dropped:  # the count trigger's upserts, per state
            conn.executemany(
                "INSERT INTO group_totals (pair, state, origin, n) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (pair, state, origin) DO UPDATE SET n = n + excluded.n",
                [(pair, state, origin, n) for state, n in Counter(g.state for g in new).items()],
            )  # fmt: skip
        # The members' content hashes read in one statement, in this transaction (what
        # _INSERT_MEMBERS's per-row SELECT reads): 12.9 -> 6.6 us a member, measured on
        # the 100k demo's ledger-kraken run (183k members).
        hashes = dict(conn.execute(
            "SELECT r.id, r.content_hash FROM json_each(?) j CROSS JOIN records r "
            "ON r.id = j.value", (json.dumps(sorted({row[4] for row in rows})),)))  # fmt: skip
        missing = sum(1 for row in rows if row[4] not in hashes)
        if missing:  # a member whose record is not in the store: write nothing
            raise StoreError(f"pair {pair}: {missing} group members name no "
                             "record of the store; nothing was written")  # fmt: skip
        conn.executemany(_INSERT_MEMBER_VALUES, [(gid, rid, side, p, c, hashes[rid])
                                                 for gid, side, p, c, rid in rows])  # fmt: skip
        # The state log as the insert triggers would have written it (each group's row,
        # in id order, then each member's, in insert order).
        append_state_log(conn, [
            *(("group", gid, "state", g.state) for gid, g in zip(ids, new, strict=True)
              if "state_log_group_new" in dropped),
            *(("member", gid, "add", f"{side}{rid}") for gid, side, _p, _c, rid in rows
              if "state_log_member_add" in dropped),
        ])  # fmt: skip
    return ids


def set_state(
    conn: Connection,
    group_id: int,
    state: str,
    *,
    decided_by: str | None = None,
    reason: str | None = None,
    note: str | None = None,
    clear_decision: bool = False,
    update_states: bool = True,
) -> Group:
    """Move a group to ``state`` (the only writer of a group's state); returns the group as
    it was. Confirming re-checks, in this transaction, that its members are still free;
    a confirmed group takes its members' current content as the content it agreed on."""
    if state not in GROUP_STATES:
        raise ValueError(f"unknown group state {state!r}")
    before = get_group(conn, group_id)
    ids = [m.record_id for m in members(conn, group_id)]
    if state == "confirmed" and before.state != "confirmed":
        check_free(conn, before.pair, ids, ignore_group=group_id)
        conn.execute(
            "UPDATE group_members SET content_hash = (SELECT r.content_hash FROM records r "
            "WHERE r.id = group_members.record_id) WHERE group_id = ?", (group_id,),
        )  # fmt: skip
    sets = ["state = ?"]
    params: list[Any] = [state]
    if clear_decision:
        sets += ["decided_us = NULL", "decided_by = NULL", "reason = NULL"]
    elif decided_by is not None:
        sets += ["decided_us = ?", "decided_by = ?"]
        params += [now_us(), decided_by]
    if reason is not None:
        sets.append("reason = ?")
        params.append(reason)
    if note is not None:
        sets.append("note = ?")
        params.append(note)
    conn.execute(f"UPDATE match_groups SET {', '.join(sets)} WHERE id = ?", [*params, group_id])
    if update_states:
        refresh(conn, ids, before.pair)
    return before


def set_states_of_groups(conn: Connection, group_ids: Iterable[int], state: str) -> list[int]:
    """Bulk state change without decision fields (stale/suggested moves of engine groups);
    returns the member ids, whose pair states the caller refreshes."""
    gids = sorted(set(group_ids))
    for part in chunks(gids):
        conn.execute(
            f"UPDATE match_groups SET state = ? WHERE id IN ({marks(len(part))})", [state, *part]
        )
    return member_ids(conn, gids)


def stale_overlapping(
    conn: Connection, pair: str, record_ids: Iterable[int], keep: int | None = None
) -> list[int]:
    """Mark the pair's live suggestions sharing a record with ``record_ids`` stale (except
    ``keep``); returns the groups staled. States are the caller's to refresh."""
    groups = [g for g in groups_touching(conn, pair, record_ids, ("suggested",)) if g != keep]
    set_states_of_groups(conn, groups, "stale")
    return groups


def stale_engine_suggestions(
    conn: Connection, pair: str, record_ids: Iterable[int] | None = None
) -> list[int]:
    """The pair's live engine suggestions (all, or those touching ``record_ids``) go stale;
    returns their member ids."""
    if record_ids is None:
        gids = [g for (g,) in conn.execute(
            "SELECT id FROM match_groups WHERE pair = ? AND state = 'suggested' "
            "AND origin = 'engine'", (pair,))]  # fmt: skip
    else:
        touching = groups_touching(conn, pair, record_ids, ("suggested",))
        engine = get_groups(conn, touching)
        gids = [g for g, row in engine.items() if row.origin == "engine"]
    return set_states_of_groups(conn, gids, "stale")


# --- rejections --------------------------------------------------------------------------


def rejection_key(ids: Iterable[int]) -> str:
    return ",".join(str(i) for i in sorted(set(ids)))


def add_rejection(conn: Connection, pair: str, ids: Iterable[int], actor: str,
                  reason: str | None) -> None:  # fmt: skip
    conn.execute(
        "INSERT OR IGNORE INTO rejections (key, pair, decided_us, decided_by, reason) "
        "VALUES (?, ?, ?, ?, ?)",
        (rejection_key(ids), pair, now_us(), actor, reason),
    )


def remove_rejection(conn: Connection, pair: str, ids: Iterable[int]) -> None:
    conn.execute("DELETE FROM rejections WHERE pair = ? AND key = ?", (pair, rejection_key(ids)))


def rejected_sets(conn: Connection, pair: str) -> set[frozenset[int]]:
    return {
        frozenset(int(x) for x in key.split(","))
        for (key,) in conn.execute("SELECT key FROM rejections WHERE pair = ?", (pair,))
    }


def member_amounts(conn: Connection, group_ids: Iterable[int]
                   ) -> dict[int, list[tuple[str, int, str, str]]]:  # fmt: skip
    """group id -> its members as (side, record id, asset, amount text)."""
    out: dict[int, list[tuple[str, int, str, str]]] = {}
    for part in chunks(group_ids):
        for gid, side, rid, asset, amount in conn.execute(
            f"SELECT m.group_id, m.side, r.id, r.asset, r.amount FROM group_members m "
            f"JOIN records r ON r.id = m.record_id WHERE m.group_id IN ({marks(len(part))}) "
            f"ORDER BY m.group_id", part,
        ):  # fmt: skip
            out.setdefault(gid, []).append((side, rid, asset, amount))
    return out


def doubled_groups(conn: Connection) -> list[int]:
    """Confirmed groups a migration found holding a record that an older confirmed group of
    the pair holds too (from before the unique index): to be reopened on record."""
    return [g for (g,) in conn.execute("SELECT group_id FROM doubled_groups ORDER BY 1")]


def forget_doubled(conn: Connection, group_ids: Iterable[int]) -> None:
    for part in chunks(group_ids):
        conn.execute(f"DELETE FROM doubled_groups WHERE group_id IN ({marks(len(part))})", part)
