"""The source form driven from the keyboard: typed settings render as their options ask
(switch, select, input), a wrong value is named under its field, the draft is validated
by the sources service, and the sources screen saves it off the UI thread."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Input, Select, Static, Switch

from recon_tui.screens.source_form import SourceDraft, SourceFormScreen
from recon_tui.screens.sources import SourcesScreen
from recon_tui.store import Store
from recon_tui.store.sources import get_source
from tests.workbench_fixtures import app_for, settle

pytestmark = pytest.mark.anyio


async def test_csv_form_widgets_errors_and_save(store: Store, tmp_path: Path) -> None:
    sample = tmp_path / "s.csv"
    sample.write_text("Date,Amount\n2024-01-02,€12.50\n2024-01-03,-1.00\n")
    app = app_for(store)
    async with app.run_test(size=(140, 60)) as pilot:
        await app.push_screen(SourcesScreen())
        await settle(pilot)
        screen = app.screen
        form = SourceFormScreen("csv")
        results: list[SourceDraft | None] = []
        await app.push_screen(form, lambda d: (results.append(d), screen._save(d)))  # type: ignore[attr-defined]
        await settle(pilot)
        assert isinstance(form.query_one("#set-debit_positive"), Switch)
        assert isinstance(form.query_one("#set-header"), Select)
        assert isinstance(form.query_one("#set-skip_lines"), Input)
        form.query_one("#set-skip_lines", Input).value = "two"
        await settle(pilot)
        err = form.query_one("#err-skip_lines", Static)
        assert err.has_class("-shown") and "'two' is not a whole number" in str(err.render())
        form.query_one("#set-skip_lines", Input).value = "0"
        form.query_one("#src-name", Input).value = "bank"
        form.query_one("#set-path", Input).value = str(sample)
        form.query_one("#set-date_column", Input).value = "Date"
        await settle(pilot)
        form.action_submit()  # no amount mapping yet: refused, one line, nothing returned
        await settle(pilot)
        assert results == []
        assert "amount_column" in str(form.query_one("#dialog-error", Static).render())
        form.query_one("#set-amount_column", Input).value = "Amount"
        form.query_one("#set-header", Select).value = "yes"
        form.query_one("#set-debit_positive", Switch).value = True
        await settle(pilot)
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(form.query_one("#source-preview", Static).content)
        preview = console.export_text()
        assert "-12.50 EUR" in preview  # the € is the currency; debit_positive flips it
        form.action_submit()
        await settle(pilot, rounds=3)
        assert results and results[0] is not None and results[0].settings["header"] == "yes"
        info = get_source(store, "bank")
        assert info is not None and info.settings["debit_positive"] is True
        assert info.settings["header"] == "yes"
