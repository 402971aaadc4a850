"""What a screen shows is read once per thing shown: the dashboard's aggregates once when
it first appears (its paint waited for a second read before), and the candidates of an
item once per item the workbench shows, at its opening, on a move and after a confirm and
an undo (before: once at once and again after the cursor's debounce)."""

from __future__ import annotations

from typing import Any

import pytest

from recon_tui.screens.workbench import WorkbenchScreen
from recon_tui.services.candidates import CandidateService
from recon_tui.services.dashboard import DashboardService
from recon_tui.store import Store
from tests.workbench_fixtures import app_for, demo_store_fixture, settle  # noqa: F401

PAIR = "ledger-bank"
pytestmark = pytest.mark.anyio


def _count(monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> list[Any]:
    calls: list[Any] = []
    orig = getattr(cls, name)

    def counted(self, *a, **k):  # type: ignore[no-untyped-def]
        calls.append(a)
        return orig(self, *a, **k)

    monkeypatch.setattr(cls, name, counted)
    return calls


async def test_dashboard_reads_its_aggregates_once(store: Store,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    calls = _count(monkeypatch, DashboardService, "dashboard")
    app = app_for(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert app.screen.id == "dashboard"
        assert len(calls) == 1
        await pilot.press("enter")  # the workbench, then back: the dashboard reads again
        await settle(pilot)
        assert isinstance(app.screen, WorkbenchScreen)
        app.action_dashboard()
        await settle(pilot)
        assert len(calls) == 2


async def test_candidates_read_once_per_item_shown(store: Store,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    calls = _count(monkeypatch, CandidateService, "stored_first")
    app = app_for(store, PAIR)
    app.services.candidates.use_engine = False
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        wb = app.screen
        assert isinstance(wb, WorkbenchScreen)
        first = wb.left.current
        assert first is not None
        assert [a[1] for a in calls] == [first.id]
        await pilot.press("down")
        await settle(pilot)
        second = wb.left.current
        assert second is not None and second.id != first.id
        assert [a[1] for a in calls] == [first.id, second.id]
        await pilot.press("s")  # the next item with a suggestion
        await settle(pilot)
        assert wb.candidates.candidates and wb.candidates.candidates[0].group_id is not None
        n = len(calls)
        await pilot.press("enter")  # confirm: the group's items leave the pane
        await settle(pilot)
        now = wb.left.current
        # Once for the item now under the cursor (none: this demo's last open items were
        # the group's, so the pane is empty and shows no item).
        assert [a[1] for a in calls[n:]] == ([now.id] if now else [])
        n = len(calls)
        await pilot.press("u")  # undo: they are back, the cursor on one of them
        await settle(pilot)
        back = wb.left.current
        assert back is not None
        assert [a[1] for a in calls[n:]] == [back.id]
