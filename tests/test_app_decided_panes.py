"""After a confirm or an undo the panes show the store's true state although they no
longer re-read their screens: each pane updates its rows in place from the records the
write moved (``RecordPane.apply_decided``). Checked against a fresh read of the whole side,
row by row (id and state), with small pages so the window slides and decisions land inside
it, before it and after it, in both orders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from recon_tui.screens.workbench import WorkbenchScreen
from recon_tui.store import Store
from recon_tui.widgets import record_pane
from recon_tui.widgets.record_pane import RecordPane
from tests.workbench_fixtures import app_for, demo_store, settle

PAIR = "ledger-bank"
pytestmark = pytest.mark.anyio


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A demo store with a few hundred unmatched ledger lines (the window slides)."""
    s = demo_store(tmp_path, size=400)
    yield s
    s.close()


def check(wb: WorkbenchScreen) -> None:
    for pane in (wb.left, wb.right):
        assert isinstance(pane, RecordPane)
        fresh = pane.service.pager(pane.side, pane.filter, pane.sort).first(1_000_000)
        assert pane.count == len(fresh)
        loaded = [i for i in range(len(fresh) + 5) if pane.row_at(i) is not None]
        assert loaded or not fresh, (pane.id, len(fresh), pane._base, len(pane._rows), pane._at_end)
        for i in loaded:
            row = pane.row_at(i)
            assert row is not None and i < len(fresh), f"row {i} beyond the side's end"
            assert (row.id, row.state) == (fresh[i].id, fresh[i].state), f"row {i}"
    # The candidates and detail follow the row now under the cursor.
    current = wb.active.current
    assert wb._followed == (current.id if current else None)


def _small_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 6 in a window of 18 rows: a few keys move the window off the top."""
    monkeypatch.setattr(record_pane, "PAGE", 6)
    monkeypatch.setattr(record_pane, "WINDOW", 18)
    monkeypatch.setattr(record_pane, "FAR", 12)


@pytest.mark.parametrize("sort_keys", [(), ("o",), ("G", "tab")],
                         ids=["ascending", "descending", "other-pane-at-its-end"])
async def test_confirm_and_undo_leave_the_panes_as_the_store(
    store: Store, monkeypatch: pytest.MonkeyPatch, sort_keys: tuple[str, ...]
) -> None:
    _small_window(monkeypatch)
    app = app_for(store, PAIR)
    app.services.candidates.use_engine = False
    async with app.run_test(size=(160, 24)) as pilot:
        await settle(pilot)
        wb = app.screen
        assert isinstance(wb, WorkbenchScreen)
        for key in sort_keys:
            await pilot.press(key)
            await settle(pilot)
        if "G" in sort_keys:  # decided on the right: their ledger lines sort before the
            assert wb.left._base > 0, (wb.left.count, wb.left.cursor)  # left pane's window (at its end)
            assert app.focused is wb.right
        decided = 0
        for step in range(8):
            await pilot.press("s")  # the next item with a suggestion, anywhere in the pane
            await settle(pilot)
            if not wb.candidates.candidates:
                break
            await pilot.press("enter")
            await settle(pilot)
            assert "confirmed group" in str(wb.query_one("#wb-status").render())
            check(wb)
            decided += 1
            if step % 3 != 2:  # undo two of three: rows come back where they were
                await pilot.press("u")
                await settle(pilot)
                assert "undid confirm" in str(wb.query_one("#wb-status").render())
                check(wb)
        assert decided >= 3


@pytest.mark.parametrize("near", [None, 0], ids=["position-read-now", "position-read-in-a-worker"])
async def test_reload_after_rows_before_the_window_left_and_came_back(
    store: Store, monkeypatch: pytest.MonkeyPatch, near: int | None
) -> None:
    """A reload ('r', a match run, a sync) re-reads the screen from a row of the old window.
    Rows that left the pane before it (decided elsewhere: another session, a bulk confirm)
    or came back (their undo) move that row's index: the pane's rows stay the store's
    rows at each index, and the cursor stays on the row it was on."""
    _small_window(monkeypatch)
    if near is not None:  # the anchor's position is then always a worker's count
        monkeypatch.setattr(record_pane, "NEAR", near)
    app = app_for(store, PAIR)
    app.services.candidates.use_engine = False
    async with app.run_test(size=(160, 24)) as pilot:
        await settle(pilot)
        wb = app.screen
        assert isinstance(wb, WorkbenchScreen)
        pane = wb.left
        for _ in range(8):
            await pilot.press("pagedown")
        await settle(pilot)
        assert pane._base > 3, (pane._base, pane.cursor)  # the first rows are out of the window
        on = pane.current
        assert on is not None
        gone = [r.id for r in pane.pager.first(3)]
        decisions = app.services.decisions
        decisions.explain(PAIR, gone, "timing", "explained by another session", side="L")
        await pilot.press("r")
        await settle(pilot)
        check(wb)
        assert pane.current is not None and pane.current.id == on.id
        decisions.undo_outcome()
        await pilot.press("r")
        await settle(pilot)
        check(wb)
        assert pane.current is not None and pane.current.id == on.id
