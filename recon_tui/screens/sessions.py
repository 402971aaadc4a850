"""The sessions screen: list reconciliation sessions, open one for a pair and period, close
the selected one (showing what is still unresolved when it cannot), reopen it with a
reason, export it (``e``) and see its audit trail (``a``).

The work is :mod:`recon_tui.services.sessions`; this screen only asks and shows.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, SelectionList, Static

from recon_tui import bindings
from recon_tui.errors import SessionError
from recon_tui.screens.audit import AuditScreen
from recon_tui.screens.export import ExportScreen
from recon_tui.screens.modal_base import Dialog
from recon_tui.services.bundle import Services, bundle_for, services_of
from recon_tui.services.sessions import (
    CloseRefused,
    ScopedRecord,
    Session,
    iso,
    iso_day,
    parse_when,
)

SESSIONS_BINDINGS = bindings.SESSIONS


class OpenSessionDialog(Dialog[dict[str, Any] | None]):
    """Asks for the pairs, the period ``[from, to)`` and an optional name."""

    def __init__(self, pairs: list[str]) -> None:
        super().__init__()
        self.pairs = pairs

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="open-session-dialog") as v:
            v.border_title = "Open a reconciliation session"
            yield Label("Source pairs (Space: choose)")
            yield SelectionList[str](*((p, p, i == 0) for i, p in enumerate(self.pairs)),
                                     id="session-pairs")  # fmt: skip
            yield Label("From (YYYY-MM-DD, UTC, included)")
            yield Input(placeholder="2026-10-01", id="session-from")
            yield Label("To (YYYY-MM-DD, UTC, excluded)")
            yield Input(placeholder="2026-11-01", id="session-to")
            yield Label("Name (optional)")
            yield Input(placeholder="e.g. October bank", id="session-name")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Enter in the name or Ctrl+S: open · Esc: cancel", classes="dialog-keys")

    def result(self) -> dict[str, Any]:
        chosen = list(self.query_one(SelectionList).selected)
        if not chosen:
            raise ValueError("choose at least one source pair")
        start = self.query_one("#session-from", Input).value.strip()
        end = self.query_one("#session-to", Input).value.strip()
        parse_when(start)  # SessionError is a ValueError: shown as the error line
        parse_when(end)
        name = self.query_one("#session-name", Input).value.strip() or None
        return {"pairs": chosen, "start": start, "end": end, "name": name}


class ReopenDialog(Dialog[str | None]):
    """Asks why a closed session is reopened (the reason goes into the audit trail)."""

    def __init__(self, summary: str) -> None:
        super().__init__()
        self.summary = summary

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="reopen-dialog") as v:
            v.border_title = "Reopen session"
            yield Static(self.summary, classes="dialog-message")
            yield Input(placeholder="reason (required)", id="reopen-reason")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Enter: reopen · Esc: cancel", classes="dialog-keys")

    def result(self) -> str:
        reason = self.query_one("#reopen-reason", Input).value.strip()
        if not reason:
            raise ValueError("reopening needs a reason")
        return reason


class UnresolvedScreen(ModalScreen[None]):
    """What keeps a session from closing: its unresolved in-scope records."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, title: str, items: list[ScopedRecord]) -> None:
        super().__init__()
        self.title_line = title
        self.items = items

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="unresolved-dialog") as v:
            v.border_title = "Unresolved"
            yield Static(self.title_line, classes="dialog-message")
            with VerticalScroll():
                shown = self.items[:500]
                text = "\n".join(r.line() for r in shown) or "Nothing unresolved."
                if len(self.items) > len(shown):
                    text += f"\n… and {len(self.items) - len(shown):,} more"
                yield Static(text, id="unresolved-list")
            yield Static("Match or explain these in the workbench · Esc: close",
                         classes="dialog-keys")  # fmt: skip

    def action_close(self) -> None:
        self.dismiss(None)


class SessionsScreen(Screen[None]):
    """Reconciliation sessions of the store."""

    BINDINGS = SESSIONS_BINDINGS

    def __init__(self, services: object | None = None) -> None:
        super().__init__(id="sessions")
        self._services = bundle_for(services)
        self.rows: list[Session] = []

    @property
    def services(self) -> Services:
        return self._services if self._services is not None else services_of(self.app)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield DataTable(id="sessions-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="sessions-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.border_title = "Reconciliation sessions (n: new)"
        table.add_columns("id", "state", "name", "pairs", "from", "to (excl.)", "owner",
                          "unresolved", "closed")  # fmt: skip
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    # --- data ----------------------------------------------------------------------------

    def action_reload(self) -> None:
        svc = self.services.sessions
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        self.rows = svc.all()
        for s in self.rows:
            todo = len(svc.unresolved(s)) if s.state == "open" else 0
            table.add_row(
                str(s.id), s.state, s.name, ", ".join(s.scope.pair_names),
                iso_day(s.scope.start_us), iso_day(s.scope.end_us), s.owner,
                f"{todo:,}" if s.state == "open" else "", (iso(s.closed_us) or "")[:16],
                key=str(s.id),
            )  # fmt: skip
        if self.rows:
            table.move_cursor(row=min(max(keep, 0), len(self.rows) - 1))
        self._show_detail()

    def selected(self) -> Session | None:
        if not self.rows:
            return None
        row = self.query_one(DataTable).cursor_row
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#sessions-detail", Static)
        s = self.selected()
        if s is None:
            detail.update("No sessions yet. Press n to open one for a pair and period.")
            return
        lines = [f"Session {s.id} '{s.name}' — {s.state}, owner {s.owner}",
                 f"Scope {s.scope.label()}, as of {iso(s.scope.as_of_us)}"]  # fmt: skip
        close = s.summary.get("close") if s.state == "closed" else None
        if close:
            for b in close["balances"]["by_asset"]:
                lines.append(f"  {b['asset']:<6} L {b['left_total']}  R {b['right_total']}  "
                             f"diff {b['difference']}  adj {b['adjustments']}  "
                             f"explained {b['explained']}  unadjusted {b['unadjusted']}")  # fmt: skip
        detail.update("\n".join(lines))

    # --- actions -------------------------------------------------------------------------

    # Opening, closing and reopening write (and may wait on the store's write lock while a
    # sync or a match run holds it): each runs in a worker and reports back here.

    def action_new_session(self) -> None:
        pairs = self.services.sessions.pair_names()
        if not pairs:
            self.notify("no source pairs yet", severity="warning")
            return

        def opened(spec: dict[str, Any] | None) -> None:
            if spec is not None:
                self._open(spec)

        self.app.push_screen(OpenSessionDialog(pairs), opened)

    @work(thread=True, group="sessions")
    def _open(self, spec: dict[str, Any]) -> None:
        try:
            s = self.services.sessions.open(spec["pairs"], spec["start"], spec["end"],
                                            name=spec["name"])  # fmt: skip
        except SessionError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self._done, f"opened session {s.id} '{s.name}': "
                                  f"{s.summary['open']['records']:,} records in scope")  # fmt: skip

    def _done(self, message: str) -> None:
        self.notify(message)
        self.action_reload()

    def action_close_session(self) -> None:
        s = self.selected()
        if s is not None:
            self._close(s.id)

    @work(thread=True, group="sessions")
    def _close(self, session_id: int) -> None:
        try:
            closed = self.services.sessions.close(session_id)
        except CloseRefused as exc:
            self.app.call_from_thread(self._refused, exc)
            return
        except SessionError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self._done, f"closed session {closed.id} '{closed.name}'")

    def _refused(self, exc: CloseRefused) -> None:
        self.notify(str(exc), severity="error")
        self.app.push_screen(UnresolvedScreen(str(exc), exc.unresolved))

    def action_reopen_session(self) -> None:
        s = self.selected()
        if s is None:
            return
        if s.state != "closed":
            self.notify(f"session {s.id} is {s.state}, not closed", severity="warning")
            return

        def reopened(reason: str | None) -> None:
            if reason:
                self._reopen(s.id, reason)

        self.app.push_screen(ReopenDialog(f"Session {s.id} '{s.name}'"), reopened)

    @work(thread=True, group="sessions")
    def _reopen(self, session_id: int, reason: str) -> None:
        try:
            self.services.sessions.reopen(session_id, reason)
        except SessionError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self._done, f"reopened session {session_id}")

    def action_unresolved(self) -> None:
        s = self.selected()
        if s is None:
            return
        items = self.services.sessions.unresolved(s)
        self.app.push_screen(UnresolvedScreen(
            f"Session {s.id} '{s.name}': {len(items):,} unresolved", items))  # fmt: skip

    def action_export(self) -> None:
        s = self.selected()
        if s is None:
            self.notify("no session to export", severity="warning")
            return
        self.app.push_screen(ExportScreen(self.services, s.id),
                             self.app.run_export)  # type: ignore[attr-defined]

    def action_audit(self) -> None:
        s = self.selected()
        if s is not None:
            self.app.push_screen(AuditScreen(self.services, session_id=s.id))

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
