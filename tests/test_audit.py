"""The tamper-evident audit trail: every decision kind is logged with who, when, what and
why; editing any decision row or deleting the newest is caught by ``verify`` (and at app
start), and match-group states that disagree with the log are reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recon_tui.cli import main
from recon_tui.services import sessions
from recon_tui.services.decisions import Decisions
from recon_tui.store import Store
from recon_tui.store.audit import verify
from tests.sessionkit import OPERATOR, PAIR, closed_session, demo_store, world_period


@pytest.fixture
def session_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    store, _world, s, _done = closed_session(tmp_path, monkeypatch)
    sessions.reopen_session(store, s.id, "late bank correction", actor=OPERATOR)
    yield store
    store.close()


def _tamper(store: Store, sql: str, *params: object) -> None:
    with store.tx() as conn:  # what an attacker with the key does: drop the guards first
        conn.execute("DROP TRIGGER IF EXISTS decisions_no_update")
        conn.execute("DROP TRIGGER IF EXISTS decisions_no_delete")
        conn.execute(sql, params)


def _seq_of(store: Store, action: str, which: str = "min") -> int:
    """The first (or last) decision of one of the ``|``-separated actions."""
    actions = action.split("|")
    marks = ", ".join("?" * len(actions))
    return int(store.conn.execute(f"SELECT {which}(seq) FROM decisions WHERE action IN ({marks})",
                                  actions).fetchone()[0])  # fmt: skip


ROWS = [
    ("first", lambda s: 1),
    ("engine auto-confirm", lambda s: _seq_of(s, "auto_confirm", "max")),
    ("session open", lambda s: _seq_of(s, "session_open")),
    ("operator explain", lambda s: _seq_of(s, "explain")),
    ("operator match", lambda s: _seq_of(s, "manual_match|confirm")),
    ("session close", lambda s: _seq_of(s, "session_close")),
    ("last (reopen)", lambda s: _seq_of(s, "session_reopen")),
]
FIELDS = [
    ("note", "'forged'"),
    ("actor", "'mallory'"),
    ("at_us", "at_us + 1"),
    ("after", "'{\"state\":\"rejected\"}'"),
    ("reason", "'tampered'"),  # a value no decision has: the edit must change the row
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_editing_any_decision_row_breaks_verify_there(
    session_store: Store, row: tuple[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    store = session_store
    assert verify(store.conn).ok
    seq = row[1](store)  # type: ignore[operator]
    column, value = FIELDS[seq % len(FIELDS)]
    _tamper(store, f"UPDATE decisions SET {column} = {value} WHERE seq = ?", seq)
    result = verify(store.conn)
    assert not result.ok and result.broken_at == seq
    assert "altered" in (result.problem or "")
    line = sessions.startup_check(store)
    assert line is not None and f"BROKEN at decision {seq}" in line
    path = str(store.path)
    with pytest.raises(SystemExit) as info:
        main(["--store", path, "verify"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert f"BROKEN at decision {seq}" in err and err.count("\n") == 1 and "Traceback" not in err


def test_rewriting_a_row_and_its_hash_breaks_the_next_link(session_store: Store) -> None:
    store = session_store
    seq = _seq_of(store, "explain")
    _tamper(store, "UPDATE decisions SET note = 'forged', hash = ? WHERE seq = ?", "f" * 64, seq)
    result = verify(store.conn)
    assert not result.ok and result.broken_at in (seq, seq + 1)


def test_deleting_the_newest_decisions_is_detected(session_store: Store) -> None:
    store = session_store
    last = _seq_of(store, "session_reopen")
    _tamper(store, "DELETE FROM decisions WHERE seq = ?", last)
    result = verify(store.conn)
    assert not result.ok and result.broken_at == last
    assert "deleted from the end" in (result.problem or "")
    _tamper(store, "DELETE FROM decisions WHERE seq >= ?", last - 3)
    result = verify(store.conn)
    assert not result.ok and result.broken_at == last - 3
    assert f"entries {last - 3}-{last} deleted" in (result.problem or "")
    assert "BROKEN" in (sessions.startup_check(store) or "")


def test_deleting_a_middle_decision_is_detected(session_store: Store) -> None:
    store = session_store
    seq = _seq_of(store, "session_open")
    _tamper(store, "DELETE FROM decisions WHERE seq = ?", seq)
    result = verify(store.conn)
    assert not result.ok and result.broken_at == seq and "missing" in (result.problem or "")


def test_group_states_must_agree_with_the_log(session_store: Store,
                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    store = session_store
    assert sessions.verify_all(store.conn).ok and sessions.startup_check(store) is None
    engine_gid = store.conn.execute(
        "SELECT id FROM match_groups WHERE origin = 'engine' AND state = 'confirmed' LIMIT 1"
    ).fetchone()[0]
    with store.tx() as conn:  # flip states behind the log's back
        conn.execute("UPDATE match_groups SET state = 'rejected' WHERE id = ?", (engine_gid,))
        forged = conn.execute("SELECT id FROM match_groups WHERE state IN ('suggested', 'stale') "
                              "LIMIT 1").fetchone()  # fmt: skip
        if forged:
            conn.execute("UPDATE match_groups SET state = 'confirmed' WHERE id = ?", (forged[0],))
    report = sessions.verify_all(store.conn)
    assert verify(store.conn).ok and not report.ok  # the chain itself is intact
    assert f"group {engine_gid} is rejected but the log says confirmed" in report.state_problems
    if forged:
        assert f"group {forged[0]} is confirmed but no decision says so" in report.state_problems
    assert (sessions.startup_check(store) or "").startswith("Audit warning: group")
    with pytest.raises(SystemExit) as info:
        main(["--store", str(store.path), "verify"])
    assert info.value.code == 1
    out, err = capsys.readouterr()
    assert "disagree with the decisions log" in err and f"group {engine_gid}" in out


def test_a_session_flipped_open_behind_the_log_is_reported(session_store: Store) -> None:
    store = session_store
    sid = sessions.list_sessions(store.conn)[0].id
    sessions.close_session(store, sid, actor=OPERATOR)
    with store.tx() as conn:  # lift the read-only lock in SQL
        conn.execute("UPDATE sessions SET state = 'open' WHERE id = ?", (sid,))
    report = sessions.verify_all(store.conn)
    assert not report.ok and f"session {sid} is open but the log says closed" in report.state_problems


def test_every_decision_kind_records_who_when_what_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, world = demo_store(tmp_path, monkeypatch)
    conn = store.connection()
    start, end = world_period(world)
    s = sessions.open_session(store, [PAIR], start, end, actor="alice")
    dec = Decisions(store, actor="alice")
    sugg = [g for (g,) in conn.execute(
        "SELECT id FROM match_groups WHERE state = 'suggested' AND pair = ? ORDER BY id",
        (PAIR,))]  # fmt: skip
    open_ids = [r.id for r in sessions.unresolved(conn, s) if r.state == "open"]
    if len(sugg) >= 2:
        dec.confirm(sugg[0], note="looks right")
        dec.undo()
        dec.reject(sugg[1], "wrong-amount", note="off by a zero")
    dec.add_note("asked the bank", record_id=open_ids[0])
    gid = dec.explain(PAIR, [open_ids[0]], "write-off", "below threshold", session_id=s.id)
    rows = [sessions._decision(r) for r in conn.execute(
        f"SELECT {', '.join(sessions.DECISION_COLS)} FROM decisions WHERE actor = 'alice' "
        "ORDER BY seq")]  # fmt: skip
    by_action = {d["action"]: d for d in rows}
    for d in rows:
        assert d["actor"] == "alice" and d["actor_kind"] == "operator" and d["at_us"] > 0
    assert by_action["session_open"]["after"]["state"] == "open"
    assert by_action["session_open"]["after"]["records"] == s.summary["open"]["records"]
    assert by_action["explain"]["group_id"] == gid and by_action["explain"]["reason"] == "write-off"
    assert by_action["explain"]["note"] == "below threshold"
    assert by_action["note"]["note"] == "asked the bank"
    if len(sugg) >= 2:
        assert by_action["confirm"]["before"] == {"state": "suggested"}
        assert by_action["confirm"]["after"]["state"] == "confirmed"
        # Every group the decision moved, so that undo can restore exactly these.
        assert [sugg[0], "suggested", "confirmed"] in by_action["confirm"]["after"]["changes"]
        assert by_action["undo"]["before"]["action"] == "confirm"
        assert by_action["reject"]["reason"] == "wrong-amount"
    engine = conn.execute("SELECT actor, actor_kind, reason, after FROM decisions "
                          "WHERE action = 'auto_confirm' LIMIT 1").fetchone()  # fmt: skip
    assert engine[0] == "engine" and "rule" in engine[2] and json.loads(engine[3])["rule"]
    # The session's audit view sees the operator's decisions on its records.
    mine = sessions.decisions_for(conn, session_id=s.id)
    assert {"session_open", "explain", "note"} <= {d["action"] for d in mine}
    assert [d["seq"] for d in sessions.decisions_for(conn, group_id=gid)] == [by_action["explain"]["seq"]]
    assert by_action["note"]["seq"] in {d["seq"] for d in sessions.decisions_for(conn, record_id=open_ids[0])}
    assert sessions.verify_all(conn).ok
    store.close()


@pytest.mark.anyio
async def test_audit_screen_lists_a_sessions_decisions(session_store: Store) -> None:
    from textual.app import App
    from textual.widgets import DataTable, Static

    from recon_tui.screens.audit import AuditScreen

    store = session_store
    sid = sessions.list_sessions(store.conn)[0].id
    expected = sessions.decisions_for(store.conn, session_id=sid)
    screen = AuditScreen(store, session_id=sid)

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(screen)

    app = Host()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = screen.query_one(DataTable)
        assert table.row_count == len(expected) > 0
        detail = str(screen.query_one("#audit-detail", Static).render())
        assert "session_reopen" in detail and "late bank correction" in detail
        await pilot.press("v")
        await pilot.pause()
        assert "intact" in str(screen.query_one("#audit-status", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is not screen
