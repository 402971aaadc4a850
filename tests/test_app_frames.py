"""What a key in the workbench paints: the lines it changed, not the whole screen.

Textual keeps updating the screen beneath the top one; the dashboard under the workbench,
woken by any message, passed its own repaint on as a repaint of the whole workbench, so
every cursor key composed a full frame. The app has no background screen under an opaque
one (a dialog still shows the workbench beneath it)."""

from __future__ import annotations

from typing import Any

import pytest
from textual._compositor import LayoutUpdate

from recon_tui.screens.filter import FilterScreen
from recon_tui.screens.workbench import WorkbenchScreen
from recon_tui.store import Store
from tests.workbench_fixtures import app_for, demo_store_fixture, settle  # noqa: F401

pytestmark = pytest.mark.anyio


async def test_a_cursor_key_over_the_dashboard_repaints_lines_not_the_screen(
    store: Store,
) -> None:
    app = app_for(store)  # the dashboard first, the workbench opened over it
    app.services.candidates.use_engine = False
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        wb = app.screen
        assert isinstance(wb, WorkbenchScreen)
        assert [s.id for s in app.screen_stack][-2:] == ["dashboard", "workbench"]
        frames: list[Any] = []
        shown = app._display

        def display(screen: Any, renderable: Any) -> None:
            if renderable is not None:
                frames.append(renderable)
            shown(screen, renderable)

        app._display = display  # type: ignore[method-assign]
        start = wb.left.cursor
        for _ in range(4):
            await pilot.press("down")
            await settle(pilot)
        assert wb.left.cursor == start + 4
        assert frames, "the moves were painted"
        full = [f for f in frames if isinstance(f, LayoutUpdate)]
        assert not full, f"{len(full)} of {len(frames)} frames repainted the whole screen"
        # A dialog still shows the workbench beneath it.
        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.screen, FilterScreen)
        assert app._background_screens == [wb]
