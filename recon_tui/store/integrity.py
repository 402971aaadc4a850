"""The store's state rebuilt from its logs and compared with its tables (``verify``'s state
check, and what ``export`` refuses on).

Two logs, both keyed (see :mod:`recon_tui.store.audit`):

- the **decisions log**: a confirmed group's members are the ``record_ids`` of the decision
  that confirmed it (``auto_confirm``, ``confirm``, ``manual_match``, ``explain``; the union
  over a ``bulk_confirm``'s groups), and a ``reopened`` group needs its ``reopen`` decision;
- the **state log** (``state_log``, written by triggers): every group's state and members,
  every record's version and content hash, every session's state, each row sealed by an
  HMAC chained to the one before.

Each check yields one line naming the place (which group, record or session), what the log
says and what the table says, in a stable order, so the first line is the first difference.
Tables and columns relied on: ``match_groups (id, state)``, ``group_members (group_id,
record_id, side)``, ``records (id, version, content_hash, rev)``, ``sessions (id, state)``,
``decisions (seq, action, group_id, record_ids, before, after)``, ``state_log``, and
``meta.state_log_from`` (where the state log starts: older groups, sessions and record
revisions are legacy and checked by the decisions log only).
"""

from __future__ import annotations

import hmac
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from recon_tui.store.audit import key_of, state_mac
from recon_tui.store.db import Connection

if TYPE_CHECKING:
    from recon_tui.store.watermark import LogWalk

CONFIRMING = ("auto_confirm", "confirm", "manual_match", "explain")
DECIDED = ("confirmed", "rejected", "undone", "reopened")


def state_problems(conn: Connection, walk: LogWalk | None = None,
                   scope: GroupScope | None = None) -> list[str]:
    """Every disagreement between the tables and the two logs, the first difference first
    (state log seals, then groups, records and sessions against the state log, then
    confirmed groups against their decisions).

    With ``walk`` (the cheap check, :mod:`recon_tui.store.watermark`) the seals are checked
    only after the verified watermark (the rows below it by their digest), and the whole-file
    page check is left to the full walk (pages are HMAC-checked by SQLCipher as they are
    read); the tables are still compared with the whole state log. ``scope`` (see
    :func:`touched_scope`) limits the comparison of confirmed groups with their decisions to
    the groups whose story moved since the watermark."""
    if walk is not None:
        walk.state_log()
        if walk.problem is not None:
            return [walk.problem]  # a forged or altered state log: replaying it would mislead
        return (replay_problems(conn) + decision_member_problems(conn, scope)
                + reopen_problems(conn, scope))  # fmt: skip
    pages = page_problems(conn)
    if pages:
        return pages  # damaged pages: nothing read from them can be trusted
    chain = state_log_problems(conn)
    if chain:
        return chain  # a forged or altered state log: replaying it would mislead
    return replay_problems(conn) + decision_member_problems(conn) + reopen_problems(conn)


def page_problems(conn: Connection) -> list[str]:
    """Pages of the encrypted file whose HMAC fails (damage or tampering below SQL)."""
    try:
        rows = conn.execute("PRAGMA cipher_integrity_check").fetchall()
    except Exception:  # a plain SQLite connection (tests, tools) has no such pragma
        return []
    return [f"the store file is damaged: {r[0]}" for r in rows[:5]]


# --- the state log's own seals ---------------------------------------------------------


def state_log_problems(conn: Connection) -> list[str]:
    """The first state-log row whose keyed MAC or link is wrong (at most one line)."""
    if not _has_table(conn, "state_log"):
        return []
    key = key_of(conn)
    prev: str | None = None
    last_seq = 0
    for seq, kind, ref, field, value, mac in conn.execute(
        "SELECT seq, kind, ref, field, value, mac FROM state_log ORDER BY seq"
    ):
        if key is None:
            return ["the state log cannot be checked: the audit key is not loaded"]
        if seq != last_seq + 1:
            return [f"state log entry {last_seq + 1} is missing (next is {seq})"]
        want = state_mac(key.key, kind, ref, field, value, prev)
        if not hmac.compare_digest(want, str(mac)):
            return [f"state log entry {seq} ({kind} {ref} {field} {value}) was altered or "
                    f"forged: its keyed MAC does not match"]  # fmt: skip
        prev, last_seq = str(mac), seq
    return []


# --- tables against the state log ------------------------------------------------------


def _has_table(conn: Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return row.fetchone() is not None


def _log_from(conn: Connection) -> dict[str, int]:
    row = conn.execute("SELECT value FROM meta WHERE key = 'state_log_from'").fetchone()
    try:
        data = json.loads(row[0]) if row else {}
    except ValueError:
        data = {}
    return {k: int(data.get(k) or 0) for k in ("group", "session", "rev")}


def _members_text(members: Iterable[str]) -> str:
    ms = sorted(members, key=lambda m: (m[0], int(m[1:])))
    return ", ".join(ms) if ms else "none"


_LAST_EVENTS = (
    # Each ref's newest event (the row of ``max(seq)``: SQLite takes bare columns from the
    # row of a lone ``max()``): what replaying the log in order leaves of it.
    "WITH le AS MATERIALIZED (SELECT kind, ref, field, value FROM (SELECT kind, ref, field, "
    "value, max(seq) FROM state_log WHERE kind IN ('group', 'session', 'record') "
    "GROUP BY kind, ref)), "
    "lg AS (SELECT ref, CASE WHEN field = 'state' THEN value END AS v FROM le "
    "WHERE kind = 'group') "
    # Groups the log knows whose table state differs, the legacy ones, the flagged ones ...
    "SELECT 'group', lg.ref, 1, lg.v, g.state FROM lg LEFT JOIN match_groups g ON g.id = lg.ref "
    "WHERE lg.ref <= ?1 OR g.state IS NOT lg.v OR lg.ref IN (SELECT value FROM json_each(?2)) "
    # ... the table's groups that the log never named (past the legacy ones), flagged ones ...
    "UNION ALL SELECT 'group', g.id, 0, NULL, g.state FROM match_groups g "
    "WHERE g.id NOT IN (SELECT ref FROM lg) AND ((g.id > ?1 AND g.state IS NOT NULL) "
    "OR g.id IN (SELECT value FROM json_each(?2))) "
    # ... and every session's and record's newest event.
    "UNION ALL SELECT kind, ref, field, value, NULL FROM le WHERE kind != 'group'"
)


def _last_events(conn: Connection, legacy: int, flagged: set[int]
                 ) -> tuple[dict[int, tuple[str | None, str | None]],
                            dict[str, dict[int, tuple[str, Any]]]]:  # fmt: skip
    """The groups whose state can yield a line, ``gid -> (logged state, table state)``
    (logged ``None``: the log's newest event of it is not a state, or there is none; table
    ``None``: no such row), and per kind (session, record) each ref's newest event
    ``(field, value)``, in one pass over the state log computed in C.

    The groups that agree (nearly all) are left out in SQL, so neither the log's nor the
    table's half a million group states reach Python: in are those whose logged state
    differs from the table's, the legacy ones, the table's groups the log never named (past
    the legacy ones), and the ``flagged`` ones (their members differ)."""
    groups: dict[int, tuple[str | None, str | None]] = {}
    out: dict[str, dict[int, tuple[str, Any]]] = {"session": {}, "record": {}}
    for kind, ref, a, b, state in conn.execute(
        _LAST_EVENTS, (legacy, json.dumps(sorted(flagged)))
    ):
        if kind == "group":
            groups[ref] = (b if a else None, state)
        else:
            out[kind][ref] = (a, b)
    return groups, out


def replay_problems(conn: Connection) -> list[str]:
    """Replay the state log and compare each group, record and session with its table row.

    Replaying keeps, of each group, session and record, only its newest event, and of each
    member its newest add or remove: SQL works those out (:func:`_last_events`,
    :func:`_member_differences`), so Python holds member sets only for the groups whose
    members differ, and the legacy groups' events (a group older than the log, whose first
    members were never logged, is checked on its logged members only)."""
    if not _has_table(conn, "state_log"):
        return []
    since = _log_from(conn)
    legacy = since["group"]
    extra_gids, missing_gids = _member_differences(conn, legacy)
    flagged = extra_gids | missing_gids
    groups, newest = _last_events(conn, legacy, flagged)
    s_state = {ref: value if field == "state" else None
               for ref, (field, value) in newest.pop("session").items()}  # fmt: skip
    r_version: dict[int, str] = {ref: value for ref, (_f, value) in newest.pop("record").items()}
    g_members: dict[int, set[str]] = defaultdict(set)
    # Each member's last logged event per (legacy) group.
    g_last: dict[int, dict[str, bool]] = defaultdict(dict)
    if legacy > 0 or flagged:
        for ref, field, value in conn.execute(
            "SELECT ref, field, value FROM state_log WHERE kind = 'member' ORDER BY seq"
        ):
            if ref <= legacy:
                g_last[ref][value] = field == "add"
            elif ref in flagged:
                if field == "add":
                    g_members[ref].add(value)
                else:
                    g_members[ref].discard(value)
    out: list[str] = []
    # Groups: state and members.
    t_members: dict[int, set[str]] = defaultdict(set)
    for gid, member in conn.execute("SELECT group_id, side || record_id FROM group_members "
                                    "WHERE group_id <= ?", (legacy,)):  # fmt: skip
        t_members[gid].add(member)
    for gid in sorted(flagged):
        for (member,) in conn.execute("SELECT side || record_id FROM group_members "
                                      "WHERE group_id = ?", (gid,)):  # fmt: skip
            t_members[gid].add(member)
    # The groups that can yield a line (see _last_events: a state that differs, a legacy
    # group, members that differ of a group the log or the table knows); every other agrees.
    candidates = set(groups) | {g for g in flagged if g in t_members}
    for gid in sorted(candidates):
        logged, table = groups.get(gid, (None, None))
        if logged != table:
            out.append(f"group {gid}: the state log says {_state(logged)}, "
                       f"the table says {_state(table)}")  # fmt: skip
            continue
        lm, tm = g_members.get(gid, set()), t_members.get(gid, set())
        if gid <= legacy:  # legacy: its first members predate the log
            last = g_last.get(gid, {})
            wrong = sorted(m for m, added in last.items() if added != (m in tm))
            if wrong:
                out.append(f"group {gid} ({table}): the state log and the table disagree on "
                           f"members {_members_text(wrong)}")  # fmt: skip
            continue
        if lm != tm:
            extra, missing = sorted(tm - lm), sorted(lm - tm)
            what = "; ".join(
                [f"member {m} added" for m in extra] + [f"member {m} removed" for m in missing]
            )
            out.append(f"group {gid} ({table}): the state log says members "
                       f"{_members_text(lm)}, the table says {_members_text(tm)} ({what})")  # fmt: skip
    # Records: version and content hash.
    for rid in sorted(r_version):
        row = conn.execute("SELECT version, content_hash FROM records WHERE id = ?", (rid,))
        found = row.fetchone()
        table = f"{found[0]}:{found[1]}" if found else None
        if table != r_version[rid]:
            out.append(f"record {rid}: the state log says version {_version(r_version[rid])}, "
                       f"the table says {_version(table)}")  # fmt: skip
    for rid, version, h in conn.execute(
        "SELECT id, version, content_hash FROM records WHERE version > 1 AND rev > ?",
        (since["rev"],),
    ):
        if rid not in r_version:
            out.append(f"record {rid}: the table says version {version}:{h}, but the state "
                       f"log has no change of it")  # fmt: skip
    # Sessions.
    t_sessions = dict(conn.execute("SELECT id, state FROM sessions").fetchall())
    for sid in sorted(set(s_state) | {s for s in t_sessions if s > since["session"]}):
        logged, table = s_state.get(sid), t_sessions.get(sid)
        if logged != table:
            out.append(f"session {sid}: the state log says {_state(logged)}, "
                       f"the table says {_state(table)}")  # fmt: skip
    return out


def _member_differences(conn: Connection, legacy: int) -> tuple[set[int], set[int]]:
    """Groups above ``legacy`` with a table member the replayed log lacks, and with a logged
    member the table lacks. A member's replayed presence is its last event (``max(seq)``'s
    row: SQLite takes a bare column from the row of a lone ``max()``)."""
    rows = conn.execute(
        "WITH lm AS MATERIALIZED (SELECT ref AS gid, value AS m FROM (SELECT ref, value, "
        "field, max(seq) FROM state_log WHERE kind = 'member' AND ref > ?1 "
        "GROUP BY ref, value) WHERE field = 'add'), "
        "tm AS MATERIALIZED (SELECT group_id AS gid, side || record_id AS m FROM group_members "
        "WHERE group_id > ?1) "
        "SELECT DISTINCT 'T', gid FROM (SELECT gid, m FROM tm EXCEPT SELECT gid, m FROM lm) "
        "UNION ALL SELECT DISTINCT 'L', gid FROM (SELECT gid, m FROM lm EXCEPT "
        "SELECT gid, m FROM tm)", (legacy,),
    ).fetchall()  # fmt: skip
    return {g for w, g in rows if w == "T"}, {g for w, g in rows if w == "L"}


def _state(value: str | None) -> str:
    return value if value is not None else "no such row"


def _version(value: str | None) -> str:
    return value.replace(":", " hash ", 1) if value else "no such record"


# --- confirmed groups against their decisions ------------------------------------------


def loads(text: str | bytes) -> Any:
    """``json.loads`` at a fraction of the cost (orjson) for the app's own JSON, with the
    same result and errors on anything orjson refuses (ints beyond 64 bits, NaN)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _json(text: str | None) -> Any:
    try:
        return loads(text) if text else None
    except ValueError:
        return None


def _ids(text: str | None) -> set[int]:
    ids = _json(text)
    return set(map(int, ids)) if isinstance(ids, list) else set()


def _bulk_confirms(conn: Connection) -> dict[int, set[int]]:
    """Each group of a bulk confirm -> the union of that (newest such) confirm's members."""
    in_bulk: dict[int, set[int]] = {}
    for rids, after in conn.execute(
        "SELECT record_ids, after FROM decisions WHERE action = 'bulk_confirm' ORDER BY seq"
    ):
        ids = _ids(rids)
        a = _json(after)
        for g in [int(g) for g in a.get("groups", [])] if isinstance(a, dict) else []:
            in_bulk[g] = ids
    return in_bulk


def _single_differences(conn: Connection, scope: GroupScope | None = None) -> set[int]:
    """Confirmed groups whose members may differ from the ``record_ids`` of their newest
    single confirming decision, worked out in SQL (``json_each``); anything SQL would judge
    differently from Python's ``int`` (not an array, not integers, not JSON) is included,
    so the exact check in Python sees every group that can differ, and few others. With
    ``scope``, only its groups (through the ``decisions_group`` index)."""
    marks = ", ".join("?" * len(CONFIRMING))
    within, params = "", list[Any](CONFIRMING)
    if scope is not None:
        within = (" AND (group_id <= ? OR group_id IN (SELECT value FROM json_each(?)))")
        params += [scope.legacy, scope.json()]
    return {g for (g,) in conn.execute(
        "WITH lastd AS MATERIALIZED (SELECT group_id AS gid, record_ids AS rids, max(seq) "
        f"FROM decisions WHERE action IN ({marks}) AND group_id IS NOT NULL{within} "
        "GROUP BY group_id), "
        "conf AS MATERIALIZED (SELECT l.gid, l.rids FROM lastd l JOIN match_groups g "
        "ON g.id = l.gid WHERE g.state = 'confirmed'), "
        "ok AS MATERIALIZED (SELECT gid, rids FROM conf WHERE rids IS NOT NULL "
        "AND json_valid(rids) AND json_type(rids) = 'array'), "
        "want AS MATERIALIZED (SELECT o.gid, j.value AS rid, j.type AS t FROM ok o, "
        "json_each(o.rids) j), "
        "have AS MATERIALIZED (SELECT m.group_id AS gid, m.record_id AS rid FROM group_members m "
        "JOIN conf c ON c.gid = m.group_id) "
        "SELECT gid FROM conf WHERE gid NOT IN (SELECT gid FROM ok) "
        "UNION SELECT gid FROM want WHERE t != 'integer' "
        "UNION SELECT gid FROM (SELECT gid, rid FROM have EXCEPT SELECT gid, rid FROM want) "
        "UNION SELECT gid FROM (SELECT gid, rid FROM want EXCEPT SELECT gid, rid FROM have)",
        params,
    )}  # fmt: skip


def decision_member_problems(conn: Connection, scope: GroupScope | None = None) -> list[str]:
    """Confirmed groups whose members are not those their confirming decision names (the
    newest single confirm of the group, or the newest bulk confirm that names it); with
    ``scope`` (:func:`touched_scope`), of its groups only."""
    in_bulk = _bulk_confirms(conn)
    candidates = _single_differences(conn, scope) | set(in_bulk)
    if scope is not None:
        candidates = {g for g in candidates if scope.holds(g)}
    marks = ", ".join("?" * len(CONFIRMING))
    out: list[str] = []
    for gid in sorted(candidates):
        state = conn.execute("SELECT state FROM match_groups WHERE id = ?", (gid,)).fetchone()
        if state is None or state[0] != "confirmed":
            continue
        have = {r for (r,) in conn.execute(
            "SELECT record_id FROM group_members WHERE group_id = ?", (gid,))}  # fmt: skip
        if gid in in_bulk:
            want = in_bulk[gid]
            if have <= want:
                continue  # a bulk confirm names only the union of its groups' members
        else:
            row = conn.execute(
                f"SELECT record_ids FROM decisions WHERE group_id = ? AND action IN ({marks}) "
                "ORDER BY seq DESC LIMIT 1", (gid, *CONFIRMING),
            ).fetchone()  # fmt: skip
            if row is None:
                continue  # no confirming decision: the group-state check reports it
            want = _ids(row[0])
        if have != want:
            extra, missing = sorted(have - want), sorted(want - have)
            what = "; ".join([f"record {r} added" for r in extra]
                             + [f"record {r} missing" for r in missing])  # fmt: skip
            out.append(f"group {gid} (confirmed): its decision says records "
                       f"{', '.join(map(str, sorted(want))) or 'none'}, the table says "
                       f"{', '.join(map(str, sorted(have))) or 'none'} ({what})")  # fmt: skip
    return out


def reopen_problems(conn: Connection, scope: GroupScope | None = None) -> list[str]:
    """``reopened`` groups whose newest decision is not the ``reopen`` that says so (the
    group-state check lets confirmed -> reopened pass; a deleted reopen must not); with
    ``scope`` (:func:`touched_scope`), of its groups only (no scan of every group)."""
    # Each reopened group's newest decision, through the decisions_group index: as many
    # look-ups as there are reopened groups, not a pass over the whole log.
    newest: dict[int, str] = {}
    if scope is None:
        reopened = [gid for (gid,) in conn.execute(
            "SELECT id FROM match_groups WHERE state = 'reopened' ORDER BY id")]  # fmt: skip
    else:
        reopened = [gid for (gid,) in conn.execute(  # a rowid range and look-ups
            "SELECT id FROM match_groups WHERE id <= ? AND state = 'reopened' UNION "
            "SELECT g.id FROM json_each(?) j CROSS JOIN match_groups g ON g.id = j.value "
            "WHERE g.state = 'reopened' ORDER BY 1", (scope.legacy, scope.json()))]  # fmt: skip
    for gid in reopened:
        row = conn.execute("SELECT action FROM decisions WHERE group_id = ? ORDER BY seq DESC "
                           "LIMIT 1", (gid,)).fetchone()  # fmt: skip
        if row is not None:
            newest[gid] = row[0]
    out = []
    for gid in reopened:
        if newest.get(gid) != "reopen":
            says = f"its last decision is {newest[gid]}" if gid in newest else "no decision"
            out.append(f"group {gid}: the table says reopened, but {says} (no reopen logged)")
    return out


# --- what moved since the verified watermark ---------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupScope:
    """The groups whose logged story may have moved since the verified watermark (see
    :func:`touched_scope`): those named in ``touched``, and every legacy group (id up to
    ``legacy``, older than the state log, whose state the replay cannot check in full)."""

    touched: frozenset[int]
    legacy: int

    def holds(self, gid: int | None) -> bool:
        return gid is not None and (gid <= self.legacy or gid in self.touched)

    def json(self) -> str:
        return json.dumps(sorted(self.touched))

    def group_states(self, conn: Connection) -> dict[int, str]:
        """id -> state of the scope's groups in ``match_groups`` (a rowid range and
        look-ups, not a scan)."""
        return dict(conn.execute(
            "SELECT id, state FROM match_groups WHERE id <= ? UNION SELECT g.id, g.state "
            "FROM json_each(?) j CROSS JOIN match_groups g ON g.id = j.value",
            (self.legacy, self.json())).fetchall())  # fmt: skip


def touched_scope(conn: Connection, state_seq: int, decision_seq: int) -> GroupScope | None:
    """The groups that the comparison of match groups with their *decisions* must look at
    again, given that both logs were checked up to ``state_seq``/``decision_seq`` and the
    tables agreed with both then (a sealed watermark is only ever earned by a check that
    passed): every group named by a state-log ``group`` or ``member`` row after
    ``state_seq``, or by a decision after ``decision_seq`` (its ``group_id``, the groups of
    its ``after``, and for an undo the groups of the decision it undid), plus the legacy
    groups. ``None`` (compare everything) when a new decision's JSON is not as the app
    writes it.

    Why the rest cannot have moved: the replay (:func:`replay_problems`, still over the whole
    state log) shows each table equal to the state log now; a group that no state-log row
    after the watermark names has the same state and members in the log, so in the table, as
    when the check passed; and no decision after the watermark names it, so what its
    decisions say of it is unchanged too. Its agreement then is its agreement now."""
    legacy = _log_from(conn)["group"]
    touched = {int(ref) for (ref,) in conn.execute(
        "SELECT DISTINCT ref FROM state_log WHERE seq > ? AND kind IN ('group', 'member')",
        (state_seq,))}  # fmt: skip
    try:
        for gid, action, before, after in conn.execute(
            "SELECT group_id, action, before, after FROM decisions WHERE seq > ?",
            (decision_seq,),
        ):
            if gid is not None:
                touched.add(int(gid))
            texts = [after]
            b = loads(before) if before else None
            if action == "undo" and isinstance(b, dict) and b.get("seq"):
                row = conn.execute("SELECT group_id, after FROM decisions WHERE seq = ?",
                                   (int(b["seq"]),)).fetchone()  # fmt: skip
                if row is not None:
                    if row[0] is not None:
                        touched.add(int(row[0]))
                    texts.append(row[1])
            for text in texts:
                a = loads(text) if text else None
                if isinstance(a, dict) and a.get("groups"):
                    touched.update(int(g) for g in a["groups"])
    except (ValueError, TypeError):
        return None  # not the app's own JSON: let the whole comparison judge it
    return GroupScope(frozenset(touched), legacy)
