"""Keys typed while a dialog opens are kept (issue 13.6): a burst of keys, queued before
the app has drawn anything, lands where it would have landed typed slowly."""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Input

from recon_tui.screens.filter import FilterScreen
from recon_tui.screens.workbench import WorkbenchScreen
from recon_tui.store import Store
from tests.workbench_fixtures import (  # noqa: F401 (fixtures)
    app_for,
    asyncio_backend,
    demo_store,
    demo_store_fixture,
    settle,
)

PAIR = "ledger-bank"
pytestmark = pytest.mark.anyio


def typed(app, *keys: str) -> None:  # type: ignore[no-untyped-def]
    """Queue every key at once, as a fast typist (or a paste of keys) does."""
    for key in keys:
        char = " " if key == "space" else key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)


@pytest.mark.parametrize("run", range(3))
async def test_text_tab_text_typed_while_the_filter_opens(store: Store, run: int) -> None:
    app = app_for(store, PAIR)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        typed(app, "slash", "A", "c", "tab", "1", "0")
        await settle(pilot)
        assert isinstance(app.screen, FilterScreen)
        assert app.screen.query_one("#filter-text", Input).value == "Ac"
        assert app.screen.query_one("#filter-min", Input).value == "10"
        assert app.focused is app.screen.query_one("#filter-min", Input)


async def test_note_typed_ahead_and_saved(store: Store) -> None:
    app = app_for(store, PAIR)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        wb = app.screen
        assert isinstance(wb, WorkbenchScreen)
        row = wb.left.current
        typed(app, "n", *"wire", "space", *"late", "enter")
        await settle(pilot)
        assert isinstance(app.screen, WorkbenchScreen)
        notes = store.connection().execute("SELECT record_id, text FROM notes").fetchall()
        assert notes == [(row.id, "wire late")]
