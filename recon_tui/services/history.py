"""Decision history: the decisions of the log touching a record (or its groups), a group,
or a session's scope (what the audit screen and the export list)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from recon_tui.store import groups as store_groups
from recon_tui.store.db import Connection
from recon_tui.store.groups import GROUP_STATES
from recon_tui.store.sessions import get_session, scope_records, snapshot_ids

DECISION_COLS = (
    "seq", "at_us", "actor", "actor_kind", "action", "pair", "group_id", "record_ids",
    "session_id", "before", "after", "reason", "note", "prev_hash", "hash",
)  # fmt: skip


def _decision(row: Sequence[Any]) -> dict[str, Any]:
    d = dict(zip(DECISION_COLS, row, strict=True))
    for k in ("record_ids", "before", "after"):
        d[k] = json.loads(d[k]) if d[k] else None
    return d


def _all_decisions(conn: Connection) -> Iterator[dict[str, Any]]:
    for row in conn.execute(f"SELECT {', '.join(DECISION_COLS)} FROM decisions ORDER BY seq"):
        yield _decision(row)


def _touches(d: dict[str, Any], records: set[int], groups: set[int], bulk: dict[int, list[int]],
             ) -> bool:  # fmt: skip
    if d["group_id"] is not None and d["group_id"] in groups:
        return True
    if d["record_ids"] and not records.isdisjoint(d["record_ids"]):
        return True
    after, before = d["after"] or {}, d["before"] or {}
    if isinstance(after, dict) and not groups.isdisjoint(after.get("groups") or ()):
        return True
    if d["action"] == "undo" and isinstance(before, dict) and before.get("seq") in bulk:
        return not groups.isdisjoint(bulk[before["seq"]])
    return False


def decisions_for(
    conn: Connection,
    *,
    record_id: int | None = None,
    group_id: int | None = None,
    session_id: int | None = None,
) -> list[dict[str, Any]]:
    """The decisions touching a record (or its groups), a group, or a session's scope.

    A session's decisions are those naming it plus those touching a record in its scope
    (now or in its snapshots) or a group with such a member.
    """
    records: set[int] = set()
    groups: set[int] = set()
    if record_id is not None:
        records.add(record_id)
        groups.update(store_groups.groups_touching(conn, None, [record_id], GROUP_STATES))
    if group_id is not None:
        groups.add(group_id)
    if session_id is not None:
        s = get_session(conn, session_id)
        records.update(r.id for r in scope_records(conn, s.scope))
        records.update(snapshot_ids(conn, s.id))
        groups.update(store_groups.groups_touching(conn, None, records, GROUP_STATES))
    bulk: dict[int, list[int]] = {}
    out = []
    for d in _all_decisions(conn):
        after = d["after"] if isinstance(d["after"], dict) else {}
        if after.get("groups"):
            bulk[d["seq"]] = list(after["groups"])
        named = session_id is not None and d["session_id"] == session_id
        if named or _touches(d, records, groups, bulk):
            out.append(d)
    return out




def recent(conn: Connection, n: int) -> list[dict[str, Any]]:
    """The newest ``n`` decisions, oldest first."""
    rows = conn.execute(
        f"SELECT {', '.join(DECISION_COLS)} FROM decisions ORDER BY seq DESC LIMIT ?", (n,)
    ).fetchall()
    return [_decision(r) for r in rows][::-1]
