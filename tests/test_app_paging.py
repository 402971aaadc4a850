"""Panes page correctly at any position (issue 13.1): a property-style Pilot test that
drives both panes of a 100k-row pair to random places, by every way a user moves (keys one
at a time, bursts of key repeat, far jumps, the scrollbar), and checks each shown row
against the store's own order."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from textual import events

from recon_tui.screens.workbench import WorkbenchScreen
from recon_tui.store import Store
from recon_tui.widgets.detail import DetailPane
from recon_tui.widgets.record_pane import RecordPane
from tests.bigstore import PAIR, big_store, expected_ids
from tests.workbench_fixtures import app_for, settle

pytestmark = pytest.mark.anyio
N = 100_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = big_store(tmp_path_factory.mktemp("big") / "big.db", N, N)
    yield store
    store.close()


def burst(app, key: str, n: int) -> None:  # type: ignore[no-untyped-def]
    """``n`` key events queued at once, as a held key repeats faster than the app draws."""
    for _ in range(n):
        event = events.Key(key, None)
        event.set_sender(app)
        app._driver.send_message(event)


def check_pane(pane: RecordPane, ids: list[int]) -> None:
    """Every visible line is the store's row at that position; the cursor row is known."""
    assert pane.count == len(ids)
    top = pane.scroll_offset.y
    assert top <= pane.cursor < top + pane.size.height, "the cursor is on screen"
    for y in range(pane.size.height):
        index = top + y
        if index >= len(ids):
            break
        row = pane.row_at(index)
        assert row is not None, f"row {index} not loaded (would show '…')"
        assert row.id == ids[index], f"row {index}: id {row.id}, store says {ids[index]}"
        assert not pane.render_line(y).text.startswith("…")
    assert pane.current is not None and pane.current.id == ids[pane.cursor]


@pytest.mark.parametrize("side", ["left", "right"])
async def test_random_positions_show_the_store_rows(big: Store, side: str) -> None:
    ids = expected_ids(big, side)
    assert len(ids) > 60_000
    rnd = random.Random(f"paging-{side}")
    app = app_for(big, PAIR)
    app.services.candidates.use_engine = False
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        wb = app.screen
        assert isinstance(wb, WorkbenchScreen)
        pane = wb.left if side == "left" else wb.right
        if side == "right":
            await pilot.press("tab")
        assert app.focused is pane
        # First the reported failure (every row '…' after 18-20 PgDn): 30 PgDn one at a
        # time, then 60 more held down.
        for _ in range(30):
            await pilot.press("pagedown")
        await settle(pilot)
        check_pane(pane, ids)
        burst(app, "pagedown", 60)
        await settle(pilot)
        check_pane(pane, ids)
        for _ in range(24):
            op = rnd.choice(["jump", "scrollbar", "burst-down", "burst-up", "keys", "end",
                             "home", "reload"])  # fmt: skip
            if op == "reload":  # after a decision: the screen re-read, then back up past it
                pane.reload()
                await settle(pilot, 1)
                check_pane(pane, ids)
                burst(app, "pageup", rnd.randrange(1, 12))
            elif op == "jump":  # e.g. "next suggested" far away: the cursor lands anywhere
                pane.move_to(rnd.randrange(len(ids)))
            elif op == "scrollbar":  # a drag: the view moves, then a click picks a row
                pane.scroll_to(y=rnd.randrange(len(ids)), animate=False, immediate=True)
                await settle(pilot)
                pane.move_to(pane.scroll_offset.y + rnd.randrange(pane.size.height))
            elif op == "burst-down":
                burst(app, rnd.choice(["pagedown", "down", "j"]), rnd.randrange(1, 80))
            elif op == "burst-up":
                burst(app, rnd.choice(["pageup", "up", "k"]), rnd.randrange(1, 80))
            elif op == "keys":
                await pilot.press(*rnd.choices(["pagedown", "pageup", "down", "up"], k=6))
            elif op == "end":
                await pilot.press("G")
            else:
                await pilot.press("g")
            await settle(pilot, 1)
            check_pane(pane, ids)
        await settle(pilot)
        # The detail pane follows the cursor to the right record.
        body = str(wb.query_one(DetailPane)._body.render())
        assert pane.current is not None and pane.current.external_id in body


async def test_descending_reload_keeps_the_first_row(big: Store) -> None:
    """A reload re-reads the window from its first row, inclusive, in either order."""
    app = app_for(big, PAIR)
    app.services.candidates.use_engine = False
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        pane = app.screen.left
        await pilot.press("o")  # date, newest first
        await settle(pilot)
        ids = expected_ids(big, "left", desc=True)
        pane.move_to(5_000)
        await settle(pilot)
        check_pane(pane, ids)
        pane.reload()
        await settle(pilot)
        check_pane(pane, ids)
