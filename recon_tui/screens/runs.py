"""The runs screen (F6): the run history of the store (every sync, match, export and verify,
from the CLI, the app or the service) and the service's schedule.

Reads :mod:`recon_tui.services.overview` and :mod:`recon_tui.services.scheduler` in a
worker; ``r`` reloads, ``f`` shows only failed runs.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from recon_tui import bindings


class RunsScreen(Screen[None]):
    """Run history (newest first) above the schedule."""

    BINDINGS = bindings.RUNS
    CSS_PATH = "runs.tcss"
    LIMIT = 200

    def __init__(self) -> None:
        super().__init__(id="runs")
        self.rows: list[dict[str, Any]] = []
        self.only_failed = False

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="schedule-table", cursor_type="row")
        yield Static("", id="runs-detail")
        yield Footer()

    def on_mount(self) -> None:
        runs = self.query_one("#runs-table", DataTable)
        runs.border_title = "Runs (newest first)"
        runs.add_columns("id", "started (UTC)", "kind", "scope", "outcome", "seconds", "origin",
                         "started by", "counts")  # fmt: skip
        sched = self.query_one("#schedule-table", DataTable)
        sched.border_title = "Schedule (recon-tui schedule set …)"
        sched.add_columns("job", "when", "full", "default")
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self._load(self.only_failed)

    def action_toggle_failed(self) -> None:
        self.only_failed = not self.only_failed
        self.action_reload()

    def action_back(self) -> None:
        self.app.action_dashboard()  # type: ignore[attr-defined]

    @work(thread=True, exclusive=True, group="runs")
    def _load(self, only_failed: bool) -> None:
        from recon_tui.services.overview import list_runs
        from recon_tui.services.scheduler import effective_schedule

        store = self.app.store  # type: ignore[attr-defined]
        rows = list_runs(store, outcome="failed" if only_failed else None, limit=self.LIMIT)
        entries = effective_schedule(store)
        self.app.call_from_thread(self._show, rows, entries)

    def _show(self, rows: list[dict[str, Any]], entries: list[Any]) -> None:
        self.rows = rows
        table = self.query_one("#runs-table", DataTable)
        table.clear()
        table.border_title = "Failed runs" if self.only_failed else "Runs (newest first)"
        for r in rows:
            secs = f"{r['seconds']:.2f}" if r["seconds"] is not None else "…"
            counts = " ".join(f"{k}={v}" for k, v in sorted(r["counts"].items()))
            table.add_row(str(r["id"]), (r["started"] or "")[:19].replace("T", " "), r["kind"],
                          r["scope"] or "", r["outcome"], secs, r["origin"], r["started_by"],
                          counts, key=str(r["id"]))  # fmt: skip
        sched = self.query_one("#schedule-table", DataTable)
        sched.clear()
        for e in entries:
            sched.add_row(e.job, e.when(), "yes" if e.full else "", "yes" if e.default else "")
        self._detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "runs-table":
            self._detail(event.cursor_row)

    def _detail(self, row: int = 0) -> None:
        detail = self.query_one("#runs-detail", Static)
        if not self.rows:
            detail.update("No runs yet: sync (S on the dashboard) or start 'recon-tui serve'.")
            return
        r = self.rows[min(max(row, 0), len(self.rows) - 1)]
        parent = f" (part of run {r['parent_id']})" if r["parent_id"] else ""
        lines = [f"Run {r['id']} {r['kind']} {r['scope'] or ''}{parent}: {r['outcome']}, "
                 f"{r['origin']} / {r['started_by']}, finished {r['finished'] or '…'}"]  # fmt: skip
        if r["error"]:
            lines.append(f"error: {r['error']}")
        detail.update("\n".join(lines))
