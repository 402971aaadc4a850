"""Pairs created and edited from the dashboard (p / P), through the pairs service."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from recon_tui.app import ReconApp
from recon_tui.screens.pair_form import PairFormScreen
from recon_tui.store import Store
from recon_tui.store.sources import add_source
from tests.workbench_fixtures import settle

pytestmark = pytest.mark.anyio


async def test_new_pair_from_the_dashboard_is_validated_and_saved(store: Store) -> None:
    add_source(store, "ledger", "ledger")
    add_source(store, "bank", "csv")
    app = ReconApp(store)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, PairFormScreen)
        for wid, value in (("pair-name", "lb"), ("pair-left", "ledger"), ("pair-right", "nowhere")):
            app.screen.query_one(f"#{wid}", Input).value = value
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.services.pairs.list() == []  # refused: no such source (one line shown)
        await pilot.press("p")
        await pilot.pause()
        for wid, value in (("pair-name", "lb"), ("pair-left", "ledger"), ("pair-right", "bank")):
            app.screen.query_one(f"#{wid}", Input).value = value
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert [p.name for p in app.services.pairs.list()] == ["lb"]
        await pilot.press("P")
        await pilot.pause()
        app.screen.query_one("#pair-right-account", Input).value = "acct-1"
        await pilot.press("ctrl+s")
        await settle(pilot)
        (pair,) = app.services.pairs.list()
        assert pair.right.account == "acct-1"
