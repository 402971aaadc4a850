"""The sessions screen: list reconciliation sessions, open one for a pair and period, close
the selected one (showing what is still unresolved when it cannot), reopen it with a
reason, export it (``e``) and see its audit trail (``a``).

The work is :mod:`recon_tui.services.sessions`; this screen only asks and shows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Header, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from recon_tui import bindings
from recon_tui.errors import SessionError
from recon_tui.formatting import fmt_money, us_to_dt
from recon_tui.screens.audit import AuditScreen
from recon_tui.screens.confirm import ConfirmScreen
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
from recon_tui.widgets.key_footer import KeyFooter
from recon_tui.widgets.tick_list import TickList

SESSIONS_BINDINGS = bindings.SESSIONS


def last_full_month(today: date) -> tuple[date, date]:
    """``[first day of last month, first day of this month)``: a new session's default."""
    first = today.replace(day=1)
    return (first - timedelta(days=1)).replace(day=1), first


class OpenSessionDialog(Dialog[dict[str, Any] | None]):
    """Asks for the pairs, the period ``[from, to)`` and an optional name."""

    def __init__(self, pairs: list[str], today: date | None = None) -> None:
        super().__init__()
        self.pairs = pairs
        self.today = today or datetime.now(UTC).date()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="open-session-dialog") as v:
            v.border_title = "Open a reconciliation session"
            yield Label("Source pairs (Space: tick or untick; ✓ is in the session)")
            yield TickList[str](*((p, p, i == 0) for i, p in enumerate(self.pairs)),
                                id="session-pairs")  # fmt: skip
            start, end = last_full_month(self.today)
            yield Label("From (YYYY-MM-DD, UTC, included)")
            yield Input(start.isoformat(), id="session-from")
            yield Label("To (YYYY-MM-DD, UTC, excluded)")
            yield Input(end.isoformat(), id="session-to")
            yield Label("Name (optional)")
            yield Input(placeholder="e.g. October bank", id="session-name")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Enter in the name or Ctrl+S: open · Esc: cancel", classes="dialog-keys")

    def result(self) -> dict[str, Any]:
        chosen = list(self.query_one(TickList).selected)
        if not chosen:
            raise ValueError("choose at least one source pair")
        start = self.query_one("#session-from", Input).value.strip()
        end = self.query_one("#session-to", Input).value.strip()
        for name, value in (("From", start), ("To", end)):
            if not value:
                raise ValueError(f"{name}: give a date (YYYY-MM-DD)")
            try:
                parse_when(value)
            except ValueError:
                raise ValueError(f"{name}: '{value}' is not a date (YYYY-MM-DD)") from None
        if parse_when(start) >= parse_when(end):
            raise ValueError("To: must be after From (To is excluded)")
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


def unresolved_text(r: ScopedRecord) -> Text:
    """One unresolved item: pair and side, date, amount (display places, separators),
    external id, state."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"{r.pair} {r.side} ", style="bold")
    t.append(f"{us_to_dt(r.ts_us):%Y-%m-%d} {fmt_money(r.amount, r.asset):>18} {r.asset:<5} ")
    t.append(f"{r.source}:{r.external_id}", style="bold")
    t.append(f"  {r.state}")
    return t


def accepted_lines(acc: dict[str, Any] | None) -> list[str]:
    """The session's accepted differences: groups matched with a fee, FX, rounding or a
    write-off, per asset (display places) and reason."""
    if acc is None:
        return []
    if not acc.get("groups"):
        return ["Accepted differences: none (every match balances exactly)"]
    lines = [f"Accepted differences: {acc['groups']:,} matched group(s) with a difference"]
    for a in acc["by_asset"]:
        asset = a["asset"]
        reasons = "  ".join(
            f"{r['reason']} {r['groups']:,} · {fmt_money(Decimal(r['amount']), asset)}"
            for r in a["by_reason"]
        )
        lines.append(f"  {asset:<6} {a['groups']:,} group(s) · "
                     f"{fmt_money(Decimal(a['amount']), asset)}   {reasons}")  # fmt: skip
    return lines


class UnresolvedScreen(ModalScreen[None]):
    """What keeps a session from closing: its unresolved in-scope records. Enter on one
    opens it in its pair's workbench."""

    HELP_ID = "unresolved"
    BINDINGS = bindings.UNRESOLVED
    SHOWN = 2000

    def __init__(self, title: str, items: list[ScopedRecord]) -> None:
        super().__init__()
        self.title_line = title
        self.items = items

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="unresolved-dialog") as v:
            v.border_title = "Unresolved"
            yield Static(self.title_line, classes="dialog-message")
            shown = self.items[: self.SHOWN]
            lst = OptionList(*(Option(unresolved_text(r), id=str(i)) for i, r in enumerate(shown)),
                             id="unresolved-list")  # fmt: skip
            if not shown:
                lst.add_option(Option("Nothing unresolved.", disabled=True))
            yield lst
            more = len(self.items) - len(shown)
            yield Static((f"{more:,} more not listed · " if more > 0 else "")
                         + "Enter: open in the workbench · Esc: close", classes="dialog-keys")  # fmt: skip

    def on_mount(self) -> None:
        lst = self.query_one(OptionList)
        self.set_focus(lst)
        if self.items:
            lst.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_open_record()

    def action_open_record(self) -> None:
        lst = self.query_one(OptionList)
        if not self.items or lst.highlighted is None:
            return
        r = self.items[lst.highlighted]
        self.dismiss(None)
        self.app.open_workbench(r.pair, record_id=r.id)  # type: ignore[attr-defined]

    def action_close(self) -> None:
        self.dismiss(None)


class SessionsScreen(Screen[None]):
    """Reconciliation sessions of the store."""

    BINDINGS = SESSIONS_BINDINGS

    def __init__(self, services: object | None = None) -> None:
        super().__init__(id="sessions")
        self._services = bundle_for(services)
        self.rows: list[Session] = []
        self.accepted: dict[int, dict[str, Any]] = {}
        """Accepted differences per session id (read with the sessions)."""

    @property
    def services(self) -> Services:
        return self._services if self._services is not None else services_of(self.app)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield DataTable(id="sessions-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="sessions-detail")
        yield KeyFooter()

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
        self.accepted = {s.id: svc.accepted_differences(s) for s in self.rows}
        for s in self.rows:
            todo = len(svc.unresolved(s)) if s.state == "open" else 0
            table.add_row(
                str(s.id), s.state, s.name, ", ".join(s.scope.pair_names),
                iso_day(s.scope.start_us), iso_day(s.scope.end_us), s.owner,
                f"{todo:,}" if s.state == "open" else "", (iso(s.closed_us) or "")[:16],
                key=str(s.id),
            )  # fmt: skip
        if self.rows:
            # Back on the session last looked at (the screen is new each time F5 opens it).
            last = getattr(self.app, "last_session_id", None)
            at = next((i for i, s in enumerate(self.rows) if s.id == last), None)
            row = at if at is not None and keep <= 0 else keep
            table.move_cursor(row=min(max(row, 0), len(self.rows) - 1))
        self._show_detail()

    def selected(self) -> Session | None:
        if not self.rows:
            return None
        row = self.query_one(DataTable).cursor_row
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        s = self.selected()
        if s is not None and hasattr(self.app, "last_session_id"):
            setattr(self.app, "last_session_id", s.id)  # noqa: B010 (any App, not only ours)
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
                a = b["asset"]

                def m(key: str, a: str = a, b: dict[str, Any] = b) -> str:
                    return fmt_money(Decimal(str(b[key])), a)

                # Every term of unadjusted = L − R − adjusted + outside period − explained,
                # so the line adds up as read (a match whose counterpart lies outside the
                # period accounts for most of a short period's L − R).
                lines.append(f"  {a:<6} L {m('left_total')}  R {m('right_total')}  "
                             f"L − R {m('difference')}  adjusted {m('adjustments')}  "
                             f"outside period {m('outside_period')}  "
                             f"explained {m('explained')}  unadjusted {m('unadjusted')}")  # fmt: skip
        lines.extend(accepted_lines(self.accepted.get(s.id)))
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

        now_us = getattr(self.app, "now_us", None)
        today = us_to_dt(now_us()).date() if now_us else None
        self.app.push_screen(OpenSessionDialog(pairs, today), opened)

    @work(thread=True, group="sessions")
    def _open(self, spec: dict[str, Any]) -> None:
        try:
            s = self.services.sessions.open(spec["pairs"], spec["start"], spec["end"],
                                            name=spec["name"], say=self._waiting)  # fmt: skip
        except SessionError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self._done, f"opened session {s.id} '{s.name}' for "
                                  f"{', '.join(s.scope.pair_names)}: "
                                  f"{s.summary['open']['records']:,} records in scope")  # fmt: skip

    def _waiting(self, line: str) -> None:
        """From a worker: another run holds the store ("waiting for match (pid …)…")."""
        self.app.call_from_thread(self.notify, line, severity="warning")

    def _done(self, message: str) -> None:
        self.notify(message)
        self.action_reload()

    def action_close_session(self) -> None:
        s = self.selected()
        if s is None:
            return
        if s.state != "open":
            self.notify(f"session {s.id} is {s.state}, not open", severity="warning")
            return

        def answered(result: tuple[bool, str] | None) -> None:
            if result is not None:
                self._close(s.id)

        self.app.push_screen(ConfirmScreen(
            "Close session",
            f"Close session {s.id} '{s.name}' ({s.scope.label()})? Its figures are frozen "
            "and it can be exported; reopening later needs a reason.",
        ), answered)  # fmt: skip

    @work(thread=True, group="sessions")
    def _close(self, session_id: int) -> None:
        try:
            closed = self.services.sessions.close(session_id, say=self._waiting)
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
            self.services.sessions.reopen(session_id, reason, say=self._waiting)
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

    def action_cursor_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
