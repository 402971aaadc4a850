"""The sessions screen (F5) in the operator's flow: it comes back on the session last looked
at (each F5 opens a new screen; the cursor used to jump back to session 1 after every trip
to the workbench)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from recon_tui.screens.sessions import SessionsScreen
from recon_tui.store import Store
from tests.workbench_fixtures import (  # noqa: F401 (fixtures)
    app_for,
    demo_store_fixture,
    settle,
)

pytestmark = pytest.mark.anyio


async def test_f5_comes_back_on_the_session_last_highlighted(store: Store) -> None:
    app = app_for(store)
    pairs = app.services.sessions.pair_names()
    first = app.services.sessions.open([pairs[0]], "2026-09-01", "2026-10-01")
    second = app.services.sessions.open([pairs[1]], "2026-09-01", "2026-10-01")
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen) and screen.selected().id == first.id  # type: ignore[union-attr]
        await pilot.press("j")
        await settle(pilot)
        assert screen.selected().id == second.id  # type: ignore[union-attr]
        await pilot.press("f2")
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        again = app.screen
        assert isinstance(again, SessionsScreen) and again is not screen
        assert again.selected().id == second.id  # type: ignore[union-attr]
        assert again.query_one(DataTable).cursor_row == 1
