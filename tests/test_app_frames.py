"""What a key in the workbench paints: the lines it changed, not the whole screen.

Textual keeps updating the screen beneath the top one; the dashboard under the workbench,
woken by any message, passed its own repaint on as a repaint of the whole workbench, so
every cursor key composed a full frame. The app has no background screen under an opaque
one (a dialog still shows the workbench beneath it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual._compositor import LayoutUpdate

from recon_tui.screens.filter import FilterScreen
from recon_tui.screens.workbench import WorkbenchScreen
from recon_tui.store import Store
from tests.workbench_fixtures import app_for, demo_store, demo_store_fixture, settle  # noqa: F401

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


@pytest.fixture
def big_demo(tmp_path: Path) -> Iterator[Store]:
    """A demo store with a few hundred unmatched ledger lines (more than a screen)."""
    s = demo_store(tmp_path, size=400)
    yield s
    s.close()


async def test_a_confirm_repaints_the_changed_lines_and_the_new_count(big_demo: Store) -> None:
    """A 1:1 confirm takes the item out of the pane: the lines from its row down and the
    border title (the count) are painted again, the lines above it are not; the title shows
    the new count on screen."""
    app = app_for(big_demo, "ledger-bank")
    app.services.candidates.use_engine = False
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        wb = app.screen
        assert isinstance(wb, WorkbenchScreen)
        pane = wb.left
        for _ in range(30):  # a 1:1 suggestion of an item a few lines down the screen
            await pilot.press("s")
            await settle(pilot)
            cands = wb.candidates.candidates
            if pane.cursor - pane.scroll_offset.y >= 3 and cands and len(cands[0].ids) == 2:
                break
        y_decided = pane.cursor - pane.scroll_offset.y
        assert y_decided >= 3 and len(wb.candidates.candidates[0].ids) == 2
        count, left = pane.count, len(wb.candidates.candidates[0].left_ids)
        assert count is not None and count > pane.size.height
        drawn: list[int] = []
        draw = pane.render_line

        def render_line(y: int) -> Any:
            drawn.append(y)
            return draw(y)

        pane.render_line = render_line  # type: ignore[method-assign]
        await pilot.press("enter")
        await settle(pilot)
        assert "confirmed group" in str(wb.query_one("#wb-status").render())
        assert pane.count == count - left
        assert drawn and min(drawn) >= y_decided, (y_decided, sorted(set(drawn)))
        screen = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert f"· {count - left:,} unmatched" in screen
        assert f"· {count:,} unmatched" not in screen.split("\n")[pane.region.y]
