"""The replay's member check and the confirmed groups' check against their decisions, done
in SQL (``integrity._member_differences``, ``_single_differences``), say exactly what the
Python versions said: the earlier code is kept here as the oracle, and both run on stores
tampered in each way a member can go wrong (and with decisions' record ids edited)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from recon_tui.services import sessions
from recon_tui.store import Store, integrity
from recon_tui.store.integrity import CONFIRMING, _json, _log_from, _members_text, _state
from tests.sessionkit import OPERATOR, closed_session
from tests.test_integrity_tamper import attacker


def oracle_group_problems(conn: Any) -> list[str]:
    """The group part of ``replay_problems`` before the SQL member check (verbatim)."""
    rows = conn.execute("SELECT kind, ref, field, value FROM state_log ORDER BY seq")
    since = _log_from(conn)
    g_state: dict[int, str | None] = {}
    g_members: dict[int, set[str]] = defaultdict(set)
    # Each member's last logged event per group: for a group older than the log (its first
    # members never logged) only these can be checked; the decisions log covers the rest.
    g_last: dict[int, dict[str, bool]] = defaultdict(dict)
    s_state: dict[int, str | None] = {}
    r_version: dict[int, str] = {}
    legacy = since["group"]
    for kind, ref, field, value in rows:  # members first: most of the log
        if kind == "member":
            if field == "add":
                g_members[ref].add(value)
            else:
                g_members[ref].discard(value)
            if ref <= legacy:  # only a legacy group's check reads these
                g_last[ref][value] = field == "add"
        elif kind == "group":
            g_state[ref] = value if field == "state" else None
        elif kind == "session":
            s_state[ref] = value if field == "state" else None
        elif kind == "record":
            r_version[ref] = value
    out: list[str] = []
    # Groups: state and members.
    t_state = dict(conn.execute("SELECT id, state FROM match_groups").fetchall())
    t_members: dict[int, set[str]] = defaultdict(set)
    for gid, member in conn.execute("SELECT group_id, side || record_id FROM group_members"):
        t_members[gid].add(member)
    for gid in sorted(set(g_state) | {g for g in t_state if g > since["group"]}
                      | {g for g in t_members if g > since["group"]}):  # fmt: skip
        logged, table = g_state.get(gid), t_state.get(gid)
        if logged != table:
            out.append(f"group {gid}: the state log says {_state(logged)}, "
                       f"the table says {_state(table)}")  # fmt: skip
            continue
        lm, tm = g_members.get(gid, set()), t_members.get(gid, set())
        if gid <= since["group"]:  # legacy: its first members predate the log
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
    return out


def oracle_confirming(conn: Any) -> tuple[dict[int, set[int]], list[tuple[list[int], set[int]]]]:
    """Members each confirmed group had when its decision confirmed it, and the bulk confirms
    (their groups and the union of their members)."""
    single: dict[int, set[int]] = {}
    bulk: list[tuple[list[int], set[int]]] = []
    for action, gid, rids, after in conn.execute(
        "SELECT action, group_id, record_ids, after FROM decisions WHERE action IN "
        f"({', '.join('?' * (len(CONFIRMING) + 1))}) ORDER BY seq", (*CONFIRMING, "bulk_confirm"),
    ):  # fmt: skip
        ids = _json(rids)
        ids = set(map(int, ids)) if isinstance(ids, list) else set()
        if action == "bulk_confirm":
            a = _json(after)
            groups = [int(g) for g in a.get("groups", [])] if isinstance(a, dict) else []
            bulk.append((groups, ids))
        elif gid is not None:
            single[int(gid)] = ids
    return single, bulk


def oracle_decision_member_problems(conn: Any) -> list[str]:
    """Confirmed groups whose members are not those their confirming decision names."""
    single, bulk = oracle_confirming(conn)
    members: dict[int, set[int]] = defaultdict(set)
    confirmed = [g for (g,) in conn.execute(
        "SELECT id FROM match_groups WHERE state = 'confirmed' ORDER BY id")]  # fmt: skip
    for gid, rid in conn.execute(
        "SELECT m.group_id, m.record_id FROM group_members m JOIN match_groups g "
        "ON g.id = m.group_id WHERE g.state = 'confirmed'"
    ):
        members[gid].add(rid)
    in_bulk: dict[int, set[int]] = {}
    for groups, ids in bulk:
        for g in groups:
            in_bulk[g] = ids
    out: list[str] = []
    for gid in confirmed:
        have = members.get(gid, set())
        if gid in single and gid not in in_bulk:
            want = single[gid]
        elif gid in in_bulk:
            want = in_bulk[gid]
            if have <= want:
                continue  # a bulk confirm names only the union of its groups' members
        else:
            continue  # no confirming decision: the group-state check reports it
        if have != want:
            extra, missing = sorted(have - want), sorted(want - have)
            what = "; ".join([f"record {r} added" for r in extra]
                             + [f"record {r} missing" for r in missing])  # fmt: skip
            out.append(f"group {gid} (confirmed): its decision says records "
                       f"{', '.join(map(str, sorted(want))) or 'none'}, the table says "
                       f"{', '.join(map(str, sorted(have))) or 'none'} ({what})")  # fmt: skip
    return out


def _groups(problems: list[str]) -> list[str]:
    return [p for p in problems if p.startswith("group ")]


def _some(store: Store, sql: str) -> Any:
    return store.conn.execute(sql).fetchone()


TAMPERS: list[tuple[str, Callable[[Store], list[str]]]] = [
    ("member added", lambda s: [
        f"INSERT INTO group_members (group_id, record_id, side) VALUES "
        f"({_some(s, 'SELECT max(id) FROM match_groups')[0]}, "
        f"{_some(s, 'SELECT max(id) FROM records')[0]}, 'R')"]),
    ("member removed", lambda s: [
        "DELETE FROM group_members WHERE rowid = (SELECT min(rowid) FROM group_members)"]),
    ("member moved", lambda s: [
        "UPDATE group_members SET group_id = (SELECT max(id) FROM match_groups) "
        "WHERE rowid = (SELECT min(rowid) FROM group_members)"]),
    ("side flipped", lambda s: [
        "UPDATE group_members SET side = CASE side WHEN 'L' THEN 'R' ELSE 'L' END "
        "WHERE rowid = (SELECT max(rowid) FROM group_members)"]),
    ("group deleted, members left", lambda s: [
        "DELETE FROM match_groups WHERE id = (SELECT min(group_id) FROM group_members)"]),
    ("members of no group", lambda s: [
        "INSERT INTO group_members (group_id, record_id, side) VALUES (999999, 1, 'L')"]),
    ("group and its members deleted", lambda s: [
        "DELETE FROM group_members WHERE group_id = (SELECT max(group_id) FROM group_members)",
        "DELETE FROM match_groups WHERE id NOT IN (SELECT group_id FROM group_members) "
        "AND id = (SELECT max(id) FROM match_groups)"]),
    ("state changed", lambda s: [
        "UPDATE match_groups SET state = 'rejected' WHERE id = (SELECT min(id) FROM "
        "match_groups WHERE state = 'confirmed')"]),
]


@pytest.mark.parametrize("name,tamper", TAMPERS, ids=[t[0] for t in TAMPERS])
def test_the_sql_member_check_says_what_the_python_replay_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
    tamper: Callable[[Store], list[str]],
) -> None:
    store, _world, s, _done = closed_session(tmp_path, monkeypatch)
    try:
        sessions.reopen_session(store, s.id, "late bank correction", actor=OPERATOR)
        assert _groups(integrity.replay_problems(store.conn)) == oracle_group_problems(store.conn) == []
        statements = tamper(store)
        conn = attacker(store)
        for sql in statements:
            conn.execute(sql)
        conn.close()
        want = oracle_group_problems(store.conn)
        assert want, name  # the tamper must show
        assert _groups(integrity.replay_problems(store.conn)) == want
        assert (integrity.decision_member_problems(store.conn)
                == oracle_decision_member_problems(store.conn))  # fmt: skip
    finally:
        store.close()


@pytest.mark.parametrize("rids", ["[1,2,3]", "[]", "not json", "{\"a\":1}", "[\"7\"]", None])
def test_the_sql_decision_check_says_what_the_python_one_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rids: str | None
) -> None:
    store, _world, _s, _done = closed_session(tmp_path, monkeypatch)
    try:
        assert integrity.decision_member_problems(store.conn) == []
        conn = attacker(store)
        conn.execute("UPDATE decisions SET record_ids = ? WHERE seq = (SELECT max(seq) FROM "
                     "decisions WHERE action = 'auto_confirm')", (rids,))  # fmt: skip
        conn.close()
        want = oracle_decision_member_problems(store.conn)
        assert want
        assert integrity.decision_member_problems(store.conn) == want
    finally:
        store.close()
