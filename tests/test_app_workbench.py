"""The workbench driven through the keyboard (Pilot); each test asserts the store after."""

from __future__ import annotations

import json

import pytest

from recon_tui.screens.help import HelpScreen
from recon_tui.screens.workbench import WorkbenchScreen
from recon_tui.services.decisions import rejection_key
from recon_tui.store import Store
from recon_tui.widgets.record_pane import RecordPane
from tests.workbench_fixtures import (  # noqa: F401 (fixtures)
    agree_if_asked,
    app_for,
    demo_store,
    demo_store_fixture,
    settle,
)

PAIR = "ledger-bank"
pytestmark = pytest.mark.anyio


def q(store: Store, sql: str, *params: object) -> list[tuple]:
    return store.connection().execute(sql, params).fetchall()


def _wb(app) -> WorkbenchScreen:  # type: ignore[no-untyped-def]
    assert isinstance(app.screen, WorkbenchScreen)
    return app.screen


async def test_confirm_then_undo(store: Store) -> None:
    app = app_for(store, PAIR)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("s")  # next item with a suggestion
        await settle(pilot)
        wb = _wb(app)
        cand = wb.candidates.candidates[0]
        assert cand.group_id is not None
        await pilot.press("enter")
        await settle(pilot)
        assert q(store, "SELECT state FROM match_groups WHERE id = ?", cand.group_id) == [
            ("confirmed",)
        ]
        assert q(store, "SELECT action FROM decisions ORDER BY seq DESC LIMIT 1") == [("confirm",)]
        await pilot.press("u")
        await settle(pilot)
        assert q(store, "SELECT state FROM match_groups WHERE id = ?", cand.group_id) == [
            ("suggested",)
        ]


async def test_reject_with_reason_is_not_suggested_again(store: Store) -> None:
    app = app_for(store, PAIR)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        wb = _wb(app)
        row = wb.left.current
        cand = wb.candidates.candidates[0]
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("down", "enter")  # reason: wrong-amount; Enter moves to the note
        await pilot.press(*"not ours")
        await pilot.press("enter")
        await settle(pilot)
        assert q(store, "SELECT state, reason, note FROM match_groups WHERE id = ?",
                 cand.group_id) == [("rejected", "wrong-amount", "not ours")]  # fmt: skip
        key = rejection_key([*cand.left_ids, *cand.right_ids])
        assert q(store, "SELECT count(*) FROM rejections WHERE key = ?", key) == [(1,)]
        # Neither stored suggestions nor the engine offer the rejected set again.
        again = app.services.candidates.candidates(PAIR, row.id)
        assert all((c.left_ids, c.right_ids) != (cand.left_ids, cand.right_ids) for c in again)


async def test_manual_match_n_to_1_with_fee(store: Store) -> None:
    # A pair whose fee limit covers whatever these three items differ by (the default
    # limits are tested in test_app_writeoff.py).
    from decimal import Decimal

    from recon_tui.services import writeoff

    wide = writeoff.Limit({}, Decimal(100))
    writeoff.set_limits(store, PAIR, writeoff.Policy(writeoff.DEFAULT.limit, {"fee": wide}))
    app = app_for(store, PAIR)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        wb = _wb(app)
        left_ids = [wb.left.row_at(0).id, wb.left.row_at(1).id]
        await pilot.press("space", "space")  # mark two ledger items (cursor moves on)
        await pilot.press("tab")
        await settle(pilot)
        right_id = wb.right.current.id
        await pilot.press("space")
        await pilot.press("m")
        await pilot.pause()
        await pilot.press("enter")  # reason: fee (first), then the note
        await pilot.press(*"bank fee")
        await pilot.press("enter")
        await settle(pilot)
        await agree_if_asked(pilot)
        rows = q(store, "SELECT id, reason, note, adjustments, origin FROM match_groups "
                 "WHERE origin = 'manual'")  # fmt: skip
        assert len(rows) == 1
        gid, reason, note, adjustments, _ = rows[0]
        assert (reason, note) == ("fee", "bank fee")
        adj = json.loads(adjustments)
        assert adj and adj[0]["kind"] == "fee" and adj[0]["asset"] == "EUR"
        members = q(store, "SELECT record_id, side FROM group_members WHERE group_id = ? "
                    "ORDER BY side, record_id", gid)  # fmt: skip
        assert members == [*sorted((i, "L") for i in left_ids), (right_id, "R")]
        assert not wb.left.marked and not wb.right.marked


async def test_manual_match_refuses_difference_without_note(store: Store) -> None:
    app = app_for(store, PAIR)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("space", "tab", "space", "m")
        await pilot.pause()
        await pilot.press("enter", "enter")  # fee, then Enter on an empty note
        await pilot.pause()
        assert q(store, "SELECT count(*) FROM match_groups WHERE origin = 'manual'") == [(0,)]
        await pilot.press("escape")


async def test_note_filter_and_explain(store: Store) -> None:
    app = app_for(store, PAIR)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        wb = _wb(app)
        first = wb.left.current
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"call the bank")
        await pilot.press("enter")
        await settle(pilot)
        assert q(store, "SELECT record_id, text FROM notes") == [(first.id, "call the bank")]
        before = wb.left.count
        name = first.counterparty.split()[0]
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*name)
        await pilot.press("enter")
        await settle(pilot)
        assert wb.left.filter.text == name
        assert 0 < wb.left.count < before
        assert all(name in wb.left.row_at(i).text for i in range(wb.left.count))
        # Explain the (filtered) focused break: reason timing, with a note.
        target = wb.left.current
        await pilot.press("b")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.press(*"arrives next week")
        await pilot.press("enter")
        await settle(pilot)
        await agree_if_asked(pilot)
        assert q(store, "SELECT kind, reason, note FROM match_groups WHERE origin = 'manual'") == [
            ("explained", "timing", "arrives next week")
        ]
        assert q(store, "SELECT state FROM pair_states WHERE pair = ? AND record_id = ?",
                 PAIR, target.id) == [("matched",)]  # fmt: skip


async def test_accept_all_above_threshold_only(store: Store) -> None:
    app = app_for(store, PAIR)
    before = dict(q(store, "SELECT id, score FROM match_groups WHERE pair = ? "
                   "AND state = 'suggested'", PAIR))  # fmt: skip
    assert before
    threshold = sorted(before.values())[len(before) // 2]
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("A")
        await pilot.pause()
        await pilot.press("ctrl+a", "ctrl+k", *f"{threshold:.4f}"[:6], "enter")
        await settle(pilot)
    states = dict(q(store, "SELECT id, state FROM match_groups WHERE pair = ?", PAIR))
    t = float(f"{threshold:.4f}"[:6])
    above = [g for g, s in before.items() if s >= t]
    below = [g for g, s in before.items() if s < t]
    assert above and all(states[g] in ("confirmed", "stale") for g in above)
    assert any(states[g] == "confirmed" for g in above)
    assert all(states[g] == "suggested" for g in below)


async def test_moves_tab_help_and_export(store: Store) -> None:
    app = app_for(store, PAIR)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        wb = _wb(app)
        pane = wb.left
        await pilot.press("j", "down", "j")
        assert pane.cursor == 3
        await pilot.press("k")
        assert pane.cursor == 2
        await pilot.press("G")
        await settle(pilot)
        assert pane.cursor == pane.count - 1
        await pilot.press("g")
        assert pane.cursor == 0
        await pilot.press("pagedown")
        assert pane.cursor > 1
        await pilot.press("pageup")
        assert pane.cursor == 0
        await pilot.press("o")  # sort by amount
        assert pane.sort.key == "ts" and pane.sort.desc
        await pilot.press("tab")
        assert isinstance(app.focused, RecordPane) and app.focused.id == "right"
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("e")  # export screen, or a notice while it does not exist
        await pilot.pause()


async def test_dashboard_opens_pair(store: Store) -> None:
    app = app_for(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.screen.id == "dashboard"
        await pilot.press("enter")
        await settle(pilot)
        assert _wb(app).pair.name == PAIR
        await pilot.press("f2")
        await pilot.pause()
        assert app.screen.id == "dashboard"
        await pilot.press("f4")
        await pilot.pause()
        assert app.screen.id == "sources"
