"""Reconciliation sessions: open (snapshot), close (only when resolved; closing balances),
the read-only lock of closed sessions, reopen as a recorded decision, and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from recon_tui.cli import main
from recon_tui.model import Side, SourcePair, make_record
from recon_tui.services import sessions
from recon_tui.services.decisions import DecisionError, Decisions
from recon_tui.store import Store
from recon_tui.store.audit import verify
from recon_tui.store.records import apply_batch
from recon_tui.store.sources import add_pair, add_source
from tests.sessionkit import (
    OPERATOR,
    PAIR,
    closed_session,
    demo_store,
    resolve,
    store_totals,
    world_period,
)


def test_full_session_open_resolve_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, world = demo_store(tmp_path, monkeypatch)
    start, end = world_period(world)
    s = sessions.open_session(store, [PAIR], start, end, actor=OPERATOR)
    assert s.state == "open" and s.owner == OPERATOR
    p = world.pair(PAIR)
    left = store_totals(store, p.left.source, p.left.account, s.scope.start_us, s.scope.end_us)
    right = store_totals(store, p.right.source, p.right.account, s.scope.start_us, s.scope.end_us)
    opened = s.summary["open"]
    assert opened["records"] == sum(n for n, _ in left.values()) + sum(n for n, _ in right.values())
    snap = store.count("SELECT count(*) FROM session_records WHERE session_id = ? AND phase = 'open'",
                       (s.id,))  # fmt: skip
    assert snap == opened["records"]
    eur = next(t for t in opened["totals"] if t["asset"] == "EUR")
    assert Decimal(eur["left_total"]) == left["EUR"][1]
    assert Decimal(eur["right_total"]) == right["EUR"][1]

    # The demo has breaks nobody has explained yet: closing fails and lists them.
    with pytest.raises(sessions.CloseRefused) as refused:
        sessions.close_session(store, s.id)
    assert refused.value.unresolved and "unresolved" in str(refused.value)
    assert {r.state for r in refused.value.unresolved} <= {"open", "suggested"}
    assert sessions.get_session(store.connection(), s.id).state == "open"

    resolve(store, world, s)
    assert sessions.unresolved(store.connection(), s) == []
    closed = sessions.close_session(store, s.id, actor=OPERATOR)
    assert closed.state == "closed" and closed.closed_us
    bal = closed.summary["close"]["balances"]["by_asset"]
    eur_close = next(b for b in bal if b["asset"] == "EUR")
    assert Decimal(eur_close["left_total"]) == left["EUR"][1]
    assert Decimal(eur_close["right_total"]) == right["EUR"][1]
    assert Decimal(eur_close["difference"]) == left["EUR"][1] - right["EUR"][1]
    assert eur_close["unresolved_count"] == 0
    # Every difference is accounted for: adjustments, explained breaks, the period edge.
    assert Decimal(eur_close["unadjusted"]) == (
        Decimal(eur_close["difference"]) - Decimal(eur_close["adjustments"])
        + Decimal(eur_close["outside_period"]) - Decimal(eur_close["explained"])
    )  # fmt: skip
    actions = [a for (a,) in store.conn.execute("SELECT action FROM decisions ORDER BY seq")]
    assert actions.count("session_open") == 1 and actions[-1] == "session_close"
    assert verify(store.conn).ok and sessions.verify_all(store.conn).ok
    store.close()


def test_closed_session_refuses_decisions_and_reopen_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, world, s, _ = closed_session(tmp_path, monkeypatch)
    conn = store.connection()
    dec = Decisions(store, actor="bob")
    in_scope = sessions.scope_records(conn, s.scope)
    rid = in_scope[0].id
    explained_gid = conn.execute(
        "SELECT g.id FROM match_groups g WHERE g.kind = 'explained' AND g.state = 'confirmed' "
        "AND g.pair = ? LIMIT 1", (PAIR,)).fetchone()[0]  # fmt: skip
    before = store.count("SELECT count(*) FROM decisions")
    with pytest.raises(DecisionError, match="closed"):
        dec.add_note("late remark", record_id=rid)
    with pytest.raises(DecisionError, match="closed"):
        dec.add_note("on the session", session_id=s.id)
    with pytest.raises(DecisionError, match="closed"):
        dec.explain(PAIR, [rid], "other", "again")
    with pytest.raises(DecisionError, match="closed"):
        dec.manual_match(PAIR, [in_scope[0].id], [in_scope[-1].id], reason="fee", note="x")
    # The operator's own last decision cannot be undone either while the session is closed.
    with pytest.raises(DecisionError, match="closed"):
        Decisions(store, actor=OPERATOR).undo()
    assert store.count("SELECT count(*) FROM decisions") == before
    state = conn.execute("SELECT state FROM match_groups WHERE id = ?", (explained_gid,)).fetchone()
    assert state == ("confirmed",)

    # Records of another pair are not locked.
    other = world.pair("ledger-kraken")
    free = conn.execute("SELECT record_id FROM pair_states WHERE pair = ? AND side = 'R' "
                        "AND state != 'matched' LIMIT 1", (other.name,)).fetchone()  # fmt: skip
    if free:
        dec.add_note("fine", record_id=free[0])

    with pytest.raises(sessions.SessionError, match="reason"):
        sessions.reopen_session(store, s.id, "  ")
    reopened = sessions.reopen_session(store, s.id, "bank sent a corrected statement", actor="carol")
    assert reopened.state == "open" and reopened.summary["reopened"] == 1
    row = conn.execute("SELECT actor, action, reason, before, after FROM decisions "
                       "ORDER BY seq DESC LIMIT 1").fetchone()  # fmt: skip
    assert row[:3] == ("carol", "session_reopen", "bank sent a corrected statement")
    assert json.loads(row[3]) == {"state": "closed"} and json.loads(row[4]) == {"state": "open"}
    dec.add_note("now allowed", record_id=rid)
    with pytest.raises(sessions.SessionError, match="not closed"):
        sessions.reopen_session(store, s.id, "again")
    assert verify(store.conn).ok
    store.close()


def test_open_refuses_overlaps_unknown_pairs_and_bad_periods(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _world = demo_store(tmp_path, monkeypatch)
    sessions.open_session(store, [PAIR], "2026-09-01", "2026-10-01")
    with pytest.raises(sessions.SessionError, match="overlaps session 1"):
        sessions.open_session(store, [PAIR, "ledger-kraken"], "2026-09-15", "2026-10-15")
    sessions.open_session(store, [PAIR], "2026-10-01", "2026-11-01")  # adjacent is fine
    sessions.open_session(store, ["ledger-kraken"], "2026-09-15", "2026-10-15")
    with pytest.raises(sessions.SessionError, match="no source pair 'nope'"):
        sessions.open_session(store, ["nope"], "2026-09-01", "2026-10-01")
    with pytest.raises(sessions.SessionError, match="after its start"):
        sessions.open_session(store, ["ledger-wallet"], "2026-10-01", "2026-09-01")
    with pytest.raises(sessions.SessionError, match="not a date"):
        sessions.open_session(store, ["ledger-wallet"], "yesterday", "2026-09-01")
    with pytest.raises(sessions.SessionError, match="no session 99"):
        sessions.close_session(store, 99)
    store.close()


# --- a hand-built world: edges of the period, source edits, late arrivals -----------------

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _rec(source: str, ext: str, day: int, amount: str, **kw: object) -> object:
    return make_record(source=source, external_id=ext, kind="payment",
                       ts=T0.replace(day=day), asset="EUR", amount=amount, **kw)  # fmt: skip


@pytest.fixture
def small(store: Store) -> Store:
    add_source(store, "ledger", "csv")
    add_source(store, "bank", "csv")
    add_pair(store, SourcePair("lb", Side("ledger"), Side("bank")))
    apply_batch(store, "ledger", [_rec("ledger", "L1", 10, "100.00"), _rec("ledger", "L2", 31, "50"),
                                  _rec("ledger", "L3", 12, "-20.5")])  # fmt: skip
    apply_batch(store, "bank", [_rec("bank", "B1", 11, "99.50"), _rec("bank", "B2", 2, "50")])
    return store


def _id(store: Store, source: str, ext: str) -> int:
    return int(store.conn.execute("SELECT id FROM records WHERE source = ? AND external_id = ?",
                                  (source, ext)).fetchone()[0])  # fmt: skip


def test_balances_account_for_adjustments_breaks_and_the_period_edge(small: Store) -> None:
    store = small
    s = sessions.open_session(store, ["lb"], "2026-03-03", "2026-04-01", actor=OPERATOR)
    # In scope: L1, L2, L3 (left) and B1 (right); B2 (2 March) is before the period.
    assert s.summary["open"]["records"] == 4
    dec = Decisions(store, actor=OPERATOR)
    dec.manual_match("lb", [_id(store, "ledger", "L1")], [_id(store, "bank", "B1")],
                     reason="fee", note="bank charge 0.50")  # fmt: skip
    dec.manual_match("lb", [_id(store, "ledger", "L2")], [_id(store, "bank", "B2")])
    with pytest.raises(sessions.CloseRefused) as refused:
        sessions.close_session(store, s.id)
    assert [r.external_id for r in refused.value.unresolved] == ["L3"]
    dec.explain("lb", [_id(store, "ledger", "L3")], "write-off", "refund never claimed",
                session_id=s.id)  # fmt: skip
    closed = sessions.close_session(store, s.id)
    (b,) = closed.summary["close"]["balances"]["by_pair"]
    assert b == {
        "pair": "lb", "asset": "EUR", "left_count": 3, "left_total": "129.5",
        "right_count": 1, "right_total": "99.5", "difference": "30", "adjustments": "0.5",
        "explained": "-20.5", "explained_count": 1, "outside_period": "-50",
        "unadjusted": "0", "unresolved_count": 0,
    }  # fmt: skip


def test_close_reports_source_edits_and_late_arrivals(small: Store) -> None:
    store = small
    s = sessions.open_session(store, ["lb"], "2026-03-01", "2026-04-01",
                              as_of=datetime.now(UTC))  # fmt: skip
    dec = Decisions(store)
    dec.manual_match("lb", [_id(store, "ledger", "L1")], [_id(store, "bank", "B1")],
                     reason="fee", note="charge")  # fmt: skip
    dec.manual_match("lb", [_id(store, "ledger", "L2")], [_id(store, "bank", "B2")])
    dec.explain("lb", [_id(store, "ledger", "L3")], "timing", "settles next month")
    # The bank edits B1's text, and a record of the period arrives after the as-of time.
    apply_batch(store, "bank", [_rec("bank", "B1", 11, "99.50", memo="corrected")])
    apply_batch(store, "bank", [_rec("bank", "B9", 20, "7")])
    with pytest.raises(sessions.CloseRefused) as refused:
        sessions.close_session(store, s.id)
    assert [r.external_id for r in refused.value.unresolved] == ["B9"]
    dec.explain("lb", [_id(store, "bank", "B9")], "other", "interest", side="R")
    closed = sessions.close_session(store, s.id)
    changes = closed.summary["close"]["changes"]
    assert changes["changed_since_open"] == [_id(store, "bank", "B1")]
    assert changes["new_since_open"] == [_id(store, "bank", "B9")]
    assert changes["late_arrivals"] == [_id(store, "bank", "B9")]
    # A record arriving in the closed period is locked too.
    apply_batch(store, "bank", [_rec("bank", "B10", 21, "3")])
    with pytest.raises(DecisionError, match="closed"):
        dec.explain("lb", [_id(store, "bank", "B10")], "other", "x", side="R")
    assert sessions.locked_records(store.conn, [_id(store, "bank", "B10")]) == {
        _id(store, "bank", "B10"): s.id}


# --- CLI -----------------------------------------------------------------------------------


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_session_cli(small: Store, capsys: pytest.CaptureFixture[str],
                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    path = str(small.path)
    small.close()
    monkeypatch.setenv("RECON_TUI_PASSPHRASE", "test-passphrase")
    code, out, err = _cli(["--store", path, "session", "open", "--pair", "lb", "--from",
                           "2026-03-01", "--to", "2026-04-01", "--name", "March"], capsys)  # fmt: skip
    assert code == 0, err
    assert out.startswith("Opened session 1 'March'") and "5 records in scope" in out
    code, out, err = _cli(["--store", path, "session", "list"], capsys)
    assert code == 0 and "March" in out and "5 unresolved" in out
    code, out, err = _cli(["--store", path, "session", "list", "--json"], capsys)
    assert json.loads(out)[0]["state"] == "open"
    code, out, err = _cli(["--store", path, "session", "close", "1"], capsys)
    assert code == 1 and out.count("unresolved #") == 5
    assert err.count("\n") == 1 and "cannot close: 5 unresolved" in err and "Traceback" not in err
    code, out, err = _cli(["--store", path, "session", "open", "--pair", "lb", "--from",
                           "2026-03-05", "--to", "2026-03-06"], capsys)  # fmt: skip
    assert code == 1 and err.startswith("error: overlaps session 1") and err.count("\n") == 1
    code, out, err = _cli(["--store", path, "session", "close", "x"], capsys)
    assert code == 1 and "not a session id" in err
    code, out, err = _cli(["--store", path, "session", "reopen", "1", "--reason", "why"], capsys)
    assert code == 1 and "not closed" in err

    store = Store.open(Path(path), passphrase="test-passphrase")
    dec = Decisions(store)
    dec.manual_match("lb", [_id(store, "ledger", "L1")], [_id(store, "bank", "B1")],
                     reason="fee", note="charge")  # fmt: skip
    dec.manual_match("lb", [_id(store, "ledger", "L2")], [_id(store, "bank", "B2")])
    dec.explain("lb", [_id(store, "ledger", "L3")], "timing", "settles next month")
    store.close()
    code, out, err = _cli(["--store", path, "session", "show", "1"], capsys)
    assert code == 0 and "0 unresolved" in out
    code, out, err = _cli(["--store", path, "session", "close", "1"], capsys)
    assert code == 0 and out.startswith("Closed session 1 'March': 5 records") and "EUR" in out
    code, out, err = _cli(["--store", path, "session", "reopen", "1"], capsys)
    assert code == 2 and "--reason" in err
    code, out, err = _cli(["--store", path, "session", "reopen", "1", "--reason", "fix"], capsys)
    assert code == 0 and "Reopened session 1" in out
    code, out, err = _cli(["--store", path, "verify"], capsys)
    assert code == 0 and out.startswith("Audit trail intact")


# --- the sessions screen -------------------------------------------------------------------


@pytest.mark.anyio
async def test_sessions_screen_open_close_reopen(small: Store) -> None:
    from textual.app import App
    from textual.widgets import DataTable, Input

    from recon_tui.screens.sessions import SessionsScreen, UnresolvedScreen
    from tests.workbench_fixtures import settle

    store = small

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(SessionsScreen(store))

    app = Host()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one("#session-from", Input).value = "2026-03-01"
        app.screen.query_one("#session-to", Input).value = "2026-04-01"
        app.screen.query_one("#session-name", Input).value = "March"
        await pilot.press("ctrl+s")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        assert screen.query_one(DataTable).row_count == 1
        assert sessions.list_sessions(store.conn)[0].name == "March"
        await pilot.press("c", "enter")  # asks first; then unresolved: the list is shown
        await settle(pilot)
        assert isinstance(app.screen, UnresolvedScreen) and len(app.screen.items) == 5
        await pilot.press("escape")
        dec = Decisions(store)
        for ext in ("L1", "L2", "L3"):
            dec.explain("lb", [_id(store, "ledger", ext)], "other", "n/a")
        for ext in ("B1", "B2"):
            dec.explain("lb", [_id(store, "bank", ext)], "other", "n/a", side="R")
        await pilot.press("c", "enter")
        await settle(pilot)
        assert sessions.get_session(store.conn, 1).state == "closed"
        await pilot.press("R")
        await pilot.pause()
        app.screen.query_one("#reopen-reason", Input).value = "typo in a note"
        await pilot.press("enter")
        await settle(pilot)
        assert sessions.get_session(store.conn, 1).state == "open"
        last = store.conn.execute("SELECT action, reason FROM decisions ORDER BY seq DESC").fetchone()
        assert last == ("session_reopen", "typo in a note")
