"""Keys typed fast are kept, in order (issues 13.6 and 16): a burst of keys, queued before
the app has read any of them (as ``tmux send-keys`` or a fast typist delivers them), lands
where it would have landed typed slowly, whether it opens the dialog or arrives in an open
one (where a Tab used to look dropped: the text after it went to the first field).

``pilot.press`` waits for the app to go idle after every key, so it never shows these
races; :func:`typed` queues the whole burst on the driver at once, with the characters a
terminal sends (Tab is ``\\t``, Enter ``\\r``)."""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Input

from recon_tui import paths
from recon_tui.screens.dashboard import DashboardScreen
from recon_tui.screens.filter import FilterScreen
from recon_tui.screens.pair_form import PairFormScreen
from recon_tui.screens.sessions import OpenSessionDialog, SessionsScreen
from recon_tui.screens.source_form import SourceFormScreen
from recon_tui.screens.workbench import WorkbenchScreen
from recon_tui.services import sources as source_kinds
from recon_tui.store import Store
from recon_tui.widgets.tick_list import TickList
from tests.workbench_fixtures import (  # noqa: F401 (fixtures)
    app_for,
    demo_store,
    demo_store_fixture,
    eventually,
    settle,
)

PAIR = "ledger-bank"
pytestmark = pytest.mark.anyio


CHARS = {"space": " ", "tab": "\t", "enter": "\r", "escape": "\x1b", "ctrl+s": "\x13"}


def typed(app, *keys: str) -> None:  # type: ignore[no-untyped-def]
    """Queue every key at once, as a fast typist (or a paste of keys) does."""
    for key in keys:
        char = CHARS.get(key, key if len(key) == 1 else None)
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)


@pytest.mark.parametrize("run", range(3))
async def test_text_tab_text_typed_while_the_filter_opens(store: Store, run: int) -> None:
    app = app_for(store, PAIR)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        typed(app, "slash", "A", "c", "tab", "1", "0")

        def check() -> None:
            assert isinstance(app.screen, FilterScreen)
            assert app.screen.query_one("#filter-text", Input).value == "Ac"
            assert app.screen.query_one("#filter-min", Input).value == "10"
            assert app.focused is app.screen.query_one("#filter-min", Input)

        await eventually(pilot, check)


async def test_note_typed_ahead_and_saved(store: Store) -> None:
    app = app_for(store, PAIR)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        wb = app.screen
        assert isinstance(wb, WorkbenchScreen)
        row = wb.left.current
        typed(app, "n", *"wire", "space", *"late", "enter")

        def check() -> None:
            assert isinstance(app.screen, WorkbenchScreen)
            notes = store.connection().execute("SELECT record_id, text FROM notes").fetchall()
            assert notes == [(row.id, "wire late")]

        await eventually(pilot, check)


def _is(screen: object, kind: type) -> None:
    assert isinstance(screen, kind), f"{type(screen).__name__} is not {kind.__name__}"


def _one(items: list[object]) -> None:
    assert len(items) == 1, items


def values(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {str(i.id): i.value for i in app.screen.query(Input)}


@pytest.mark.parametrize("opened_first", [False, True], ids=["while-opening", "in-open-dialog"])
async def test_pair_form_burst_keeps_every_tab(store: Store, opened_first: bool) -> None:
    app = app_for(store)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        if opened_first:
            await pilot.press("p")
            await settle(pilot)
            assert isinstance(app.screen, PairFormScreen)
        burst = ("tab", "tab", *"bank", "enter", "enter", *"default2")
        typed(app, *(() if opened_first else ("p",)), *"lb", "tab", *"ledger", *burst)

        def check() -> None:
            assert isinstance(app.screen, PairFormScreen)
            got = values(app)
            assert (got["pair-name"], got["pair-left"], got["pair-left-account"]) == (
                "lb", "ledger", "")  # fmt: skip
            assert (got["pair-right"], got["pair-right-account"]) == ("bank", "")
            # Enter moved on twice, in order (a field selects its text on focus: typing
            # replaces it)
            assert got["pair-rules"] == "default2"
            assert app.focused is app.screen.query_one("#pair-rules", Input)

        await eventually(pilot, check)


async def test_pair_form_burst_ending_in_ctrl_s_saves_every_field(store: Store) -> None:
    app = app_for(store)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        typed(app, "p", *"lb", "tab", *"ledger", "tab", *"bank-eur", "tab", *"bank", "ctrl+s")
        await eventually(
            pilot, lambda: _one([p for p in app.services.pairs.list() if p.name == "lb"])
        )
        await eventually(pilot, lambda: _is(app.screen, DashboardScreen))
        (pair,) = [p for p in app.services.pairs.list() if p.name == "lb"]
        assert (pair.left.source, pair.left.account, pair.right.source) == ("ledger", "bank-eur",
                                                                          "bank")  # fmt: skip


@pytest.mark.parametrize("opened_first", [False, True], ids=["while-opening", "in-open-dialog"])
async def test_source_form_burst_keeps_every_tab(store: Store, opened_first: bool) -> None:
    app = app_for(store)
    downs = ["down"] * source_kinds.kinds().index("csv")
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        if opened_first:
            typed(app, "a", *downs, "enter")
            await settle(pilot)
            assert isinstance(app.screen, SourceFormScreen)
            typed(app, *"bk", "tab", *"st.csv", "tab", "tab", *"bank-eur")
        else:
            typed(app, "a", *downs, "enter", *"bk", "tab", *"st.csv", "tab", "tab", *"bank-eur")

        def check() -> None:
            assert isinstance(app.screen, SourceFormScreen)
            got = values(app)
            assert (got["src-name"], got["set-path"], got["set-account"]) == (
                "bk", "st.csv", "bank-eur")  # fmt: skip

        await eventually(pilot, check)


async def test_filter_burst_in_open_dialog_keeps_the_tab(store: Store) -> None:
    app = app_for(store, PAIR)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.screen, FilterScreen)
        typed(app, *"Ac", "tab", *"10", "tab", *"900", "shift+tab", "shift+tab", "end", *"me")

        def check() -> None:
            got = values(app)
            assert (got["filter-text"], got["filter-min"], got["filter-max"]) == (
                "Acme", "10", "900")  # fmt: skip

        await eventually(pilot, check)


@pytest.mark.parametrize("opened_first", [False, True], ids=["while-opening", "in-open-dialog"])
async def test_session_burst_opens_for_every_ticked_pair(store: Store, opened_first: bool) -> None:
    """Every pair ticked in one burst (down, space, … ctrl+s) is in the opened session's
    scope: the toggles used to land after the dialog had read its choice (issue 16)."""
    app = app_for(store)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        pairs = app.services.sessions.pair_names()
        assert len(pairs) >= 3
        ticks = ["down", "space"] * (len(pairs) - 1)  # the first pair starts ticked
        if opened_first:
            await pilot.press("n")
            await settle(pilot)
            assert isinstance(app.screen, OpenSessionDialog)
            typed(app, *ticks, "ctrl+s")
        else:
            typed(app, "n", *ticks, "ctrl+s")
        await eventually(pilot, lambda: _is(app.screen, SessionsScreen))
        await eventually(pilot, lambda: _one(app.services.sessions.all()))
        (session,) = app.services.sessions.all()
        assert sorted(session.scope.pair_names) == sorted(pairs)


async def test_session_dialog_shows_which_pairs_are_ticked(store: Store) -> None:
    """A ticked pair reads differently from an unticked one without colour (every row
    showed the same ``X``), and untick/tick follow the keys."""
    app = app_for(store)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f5", "n")
        await settle(pilot)
        ticks = app.screen.query_one(TickList)

        def marks() -> list[str]:
            return [ticks.render_line(y).text[:3] for y in range(ticks.option_count)]

        assert marks()[0] != marks()[1]
        first, other = marks()[0], marks()[1]
        assert "✓" in first and "✓" not in other
        typed(app, "space", "down", "space")

        def check() -> None:
            assert list(ticks.selected) == [app.services.sessions.pair_names()[1]]
            assert "✓" not in marks()[0] and "✓" in marks()[1]

        await eventually(pilot, check)


async def test_keys_still_queued_when_the_app_closes_do_not_crash_it(store: Store) -> None:
    """Keys still queued when the app closes (typed ahead of a quit) arrive after the last
    screen is gone: they are dropped, and the app closes cleanly (asking for the screen
    raised ScreenStackError, which wrote a crash report)."""
    app = app_for(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        typed(app, "p", *"lb", "tab", *"ledger", "tab", *"bank-eur", "tab", *"bank", "ctrl+s")
    assert app._exception is None
    assert not list(paths.crash_dir().glob("crash-*.txt"))
