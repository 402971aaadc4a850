"""Lists lead to records (issue 16.4) and dialogs say what they mean (16.5): Enter on an
unresolved item, an audit entry, an aging bucket or a search hit opens the workbench at
that record; saved filters; new-session defaults and field-named errors; closing asks
first; the export dialog proposes the documents folder and refuses recon-tui's own."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, OptionList

from recon_tui.screens.audit import AuditScreen
from recon_tui.screens.confirm import ConfirmScreen
from recon_tui.screens.export import CHECKOUT, ExportScreen, default_folder, refuse_folder
from recon_tui.screens.saved_filters import SavedFiltersScreen
from recon_tui.screens.search import SearchScreen
from recon_tui.screens.sessions import (
    OpenSessionDialog,
    SessionsScreen,
    UnresolvedScreen,
    last_full_month,
)
from recon_tui.screens.workbench import WorkbenchScreen
from recon_tui.services import saved_filters, sessions
from recon_tui.services.decisions import Decisions
from recon_tui.services.panes import PaneFilter
from recon_tui.store import Store
from tests.workbench_fixtures import (  # noqa: F401 (fixtures)
    NOW,
    app_for,
    demo_store,
    demo_store_fixture,
    settle,
)

PAIR = "ledger-bank"
pytestmark = pytest.mark.anyio


def at(app) -> tuple[WorkbenchScreen, int | None]:  # type: ignore[no-untyped-def]
    wb = app.screen
    assert isinstance(wb, WorkbenchScreen), type(wb)
    row = wb.active.current
    return wb, (row.id if row else None)


async def test_enter_on_an_unresolved_item_opens_it(store: Store) -> None:
    sessions.open_session(store, [PAIR], "2026-08-01", "2026-11-01", name="Q3")
    app = app_for(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        await pilot.press("u")
        await settle(pilot)
        lst = app.screen
        assert isinstance(lst, UnresolvedScreen) and len(lst.items) > 3
        await pilot.press("down", "down")
        target = lst.items[2]
        await pilot.press("enter")
        await settle(pilot)
        wb, rid = at(app)
        assert wb.pair.name == target.pair and rid == target.id
        pane = wb.left if target.side == "L" else wb.right
        assert wb.active is pane and app.focused is pane


async def test_enter_on_an_audit_entry_opens_its_record(store: Store) -> None:
    rid = store.connection().execute(
        "SELECT record_id FROM pair_states WHERE pair = ? AND side = 'R' AND state != 'matched' "
        "ORDER BY record_id LIMIT 1", (PAIR,)).fetchone()[0]  # fmt: skip
    Decisions(store).add_note("call the bank", record_id=rid)
    app = app_for(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.push_screen(AuditScreen())
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert table.cursor_row == table.row_count - 1  # the newest entry: the note
        await pilot.press("enter")
        await settle(pilot)
        wb, got = at(app)
        assert got == rid and wb.active is wb.right


async def test_audit_names_records_by_external_id(store: Store) -> None:
    rid, ext = store.connection().execute(
        "SELECT id, external_id FROM records WHERE source = 'bank' ORDER BY id LIMIT 1"
    ).fetchone()
    Decisions(store).add_note("n", record_id=rid)
    app = app_for(store)
    async with app.run_test(size=(200, 48)) as pilot:
        await settle(pilot)
        app.push_screen(AuditScreen(record_id=rid))
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        cells = [str(c) for c in table.get_row_at(table.row_count - 1)]
        assert any(ext in c for c in cells), cells


async def test_enter_on_an_aging_bucket_opens_its_oldest_break(store: Store) -> None:
    app = app_for(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        dash = app.screen
        buckets = dash.data.pairs[0].aging
        bucket = max(range(len(buckets)), key=lambda i: (buckets[i] > 0, i))
        await pilot.press("tab")  # to the aging chart
        chart = dash.query_one("#dash-aging")
        assert app.focused is chart
        for _ in range(bucket):
            await pilot.press("j")
        assert chart.bucket == bucket
        await pilot.press("enter")
        await settle(pilot)
        wb, rid = at(app)
        assert rid is not None and wb.pair.name == dash.data.pairs[0].pair.name


async def test_search_both_sides_and_go_to_a_hit(store: Store) -> None:
    bank = store.connection().execute(
        "SELECT r.id, r.external_id FROM records r JOIN pair_states s ON s.record_id = r.id "
        "AND s.pair = ? AND s.side = 'R' AND s.state != 'matched' ORDER BY r.id LIMIT 1",
        (PAIR,)).fetchone()  # fmt: skip
    app = app_for(store, PAIR)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+f")
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen)
        await pilot.press(*bank[1], "enter")
        await settle(pilot)
        dialog = app.screen
        assert any(h.row.id == bank[0] and h.code == "R" for h in dialog.hits)
        i = next(i for i, h in enumerate(dialog.hits) if h.row.id == bank[0])
        dialog.query_one(OptionList).highlighted = i
        await pilot.press("tab", "enter")
        await settle(pilot)
        wb, rid = at(app)
        assert rid == bank[0] and wb.active is wb.right


async def test_search_by_amount_finds_both_sides(store: Store) -> None:
    amount = store.connection().execute(
        "SELECT l.amount FROM records l JOIN records r ON r.amount = l.amount AND "
        "r.source = 'bank' WHERE l.source = 'ledger' AND l.account = 'bank-eur' LIMIT 1"
    ).fetchone()[0]
    from recon_tui.services.search import search_pair

    app = app_for(store, PAIR)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        hits = search_pair(app.services.panes, app.screen.pair, f"{abs(float(amount)):,.2f}")
        assert {"L", "R"} <= {h.code for h in hits if h.why == "amount"}


async def test_saved_filters_per_pair(store: Store) -> None:
    app = app_for(store, PAIR)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        wb = app.screen
        wb.left.set_query(filt=PaneFilter(text="Payward"))
        await settle(pilot)
        narrowed = wb.left.count
        await pilot.press("F")
        await settle(pilot)
        assert isinstance(app.screen, SavedFiltersScreen)
        await pilot.press("tab", *"exchange funding", "ctrl+s")
        await settle(pilot)
        assert saved_filters.list_filters(store, PAIR) == {
            "exchange funding": PaneFilter(text="Payward")}  # fmt: skip
        assert saved_filters.list_filters(store, "ledger-kraken") == {}
        wb.left.set_query(filt=PaneFilter())
        await settle(pilot)
        assert wb.left.count > narrowed
        await pilot.press("F")
        await settle(pilot)
        await pilot.press("enter")  # the first saved filter
        await settle(pilot)
        assert wb.left.filter == PaneFilter(text="Payward") and wb.left.count == narrowed


def test_last_full_month() -> None:
    assert last_full_month(date(2026, 11, 14)) == (date(2026, 10, 1), date(2026, 11, 1))
    assert last_full_month(date(2026, 1, 1)) == (date(2025, 12, 1), date(2026, 1, 1))


async def test_new_session_defaults_and_field_errors(store: Store) -> None:
    app = app_for(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, OpenSessionDialog)
        start, end = last_full_month(NOW.date())
        assert dialog.query_one("#session-from", Input).value == start.isoformat()
        assert dialog.query_one("#session-to", Input).value == end.isoformat()
        dialog.query_one("#session-to", Input).value = ""
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "To: give a date" in str(dialog.query_one("#dialog-error").content)
        dialog.query_one("#session-to", Input).value = "31/10"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "To: '31/10' is not a date" in str(dialog.query_one("#dialog-error").content)
        dialog.query_one("#session-to", Input).value = end.isoformat()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        assert [s.scope.start_us for s in sessions.list_sessions(store.connection())] == [
            sessions.parse_when(start.isoformat())]  # fmt: skip


async def test_closing_a_session_asks_first(store: Store) -> None:
    s = sessions.open_session(store, [PAIR], "2026-08-01", "2026-08-02", name="tiny")
    app = app_for(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert sessions.get_session(store.connection(), s.id).state == "open"


async def test_export_dialog_folder(store: Store, tmp_path: Path) -> None:
    assert refuse_folder(CHECKOUT / "out") is not None
    assert refuse_folder(CHECKOUT) is not None
    assert refuse_folder(tmp_path / "x") is None
    s = sessions.open_session(store, [PAIR], "2026-08-01", "2026-11-01", name="Q3")
    app = app_for(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.push_screen(ExportScreen(store, s.id))
        await settle(pilot)
        dialog = app.screen
        out = dialog.query_one("#export-out", Input)
        assert out.value == str(default_folder())
        out.value = str(CHECKOUT / "exports")
        await pilot.press("ctrl+s")
        await pilot.pause()
        error = str(dialog.query_one("#dialog-error").content)
        assert "recon-tui's own folder" in error
        out.value = str(tmp_path / "q3")
        await pilot.press("ctrl+s")
        await pilot.pause()
        error = str(dialog.query_one("#dialog-error").content)
        assert "tick Draft" in error and "--" not in error
