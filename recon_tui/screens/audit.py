"""The audit view: the decisions behind a record, a match group or a session (or the newest
decisions of the store), who made them, when, what changed and why — and a chain check.

A modal, so it opens over the workbench or the sessions screen and closes with Escape.
"""

from __future__ import annotations

import json
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from recon_tui import bindings
from recon_tui.errors import SessionError
from recon_tui.services.bundle import Services, bundle_for, services_of
from recon_tui.services.sessions import iso

RECENT = 500
"""Without a record, group or session the view lists this many newest decisions."""

AUDIT_BINDINGS = bindings.AUDIT


def _short(value: Any, limit: int = 60) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def change_text(d: dict[str, Any]) -> str:
    """``before → after`` in one short line (states where the entries have them)."""
    before, after = d.get("before"), d.get("after")
    b = before.get("state") if isinstance(before, dict) and "state" in before else before
    a = after.get("state") if isinstance(after, dict) and "state" in after else after
    if b is None and a is None:
        return ""
    return f"{_short(b, 24) or '∅'} → {_short(a, 30) or '∅'}"


class AuditScreen(ModalScreen[None]):
    """Decisions for ``record_id``, ``group_id`` or ``session_id`` (the newest ones if none)."""

    HELP_ID = "audit"
    BINDINGS = AUDIT_BINDINGS

    def __init__(
        self,
        services: object | None = None,
        record_id: int | None = None,
        group_id: int | None = None,
        session_id: int | None = None,
    ) -> None:
        super().__init__()
        self._services = bundle_for(services)
        self.record_id = record_id
        self.group_id = group_id
        self.session_id = session_id
        self.rows: list[dict[str, Any]] = []
        self._names: dict[int, str] = {}

    @property
    def services(self) -> Services:
        return self._services if self._services is not None else services_of(self.app)

    def title_text(self) -> str:
        if self.record_id is not None:
            return f"Decisions touching record {self.record_id}"
        if self.group_id is not None:
            return f"Decisions on match group {self.group_id}"
        if self.session_id is not None:
            return f"Decisions of session {self.session_id}"
        return f"The newest {RECENT} decisions"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="audit-dialog") as v:
            v.border_title = "Audit trail"
            yield Static(self.title_text(), id="audit-title", classes="dialog-message")
            yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="audit-detail")
            yield Static("", id="audit-status")
            yield Static("↑↓: select · Enter: open the record · v: verify the chain · Esc: close",
                         classes="dialog-keys")  # fmt: skip

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("seq", "when (UTC)", "who", "kind", "action", "pair", "group",
                          "records", "change", "why")  # fmt: skip
        self.load()
        table.focus()

    def load(self) -> None:
        try:
            rows = self.services.audit.decisions(record_id=self.record_id, group_id=self.group_id,
                                                 session_id=self.session_id, recent=RECENT)  # fmt: skip
        except SessionError as exc:
            self.query_one("#audit-status", Static).update(str(exc))
            rows = []
        self.rows = rows
        names = self._external_ids(rows)
        table = self.query_one(DataTable)
        table.clear()
        for d in rows:
            why = " · ".join(x for x in (d["reason"], d["note"]) if x)
            rids = d["record_ids"] or []
            table.add_row(
                str(d["seq"]), (iso(d["at_us"]) or "")[:19].replace("T", " "),
                d["actor"], d["actor_kind"], d["action"], d["pair"] or "",
                "" if d["group_id"] is None else str(d["group_id"]),
                _short(", ".join(names.get(i, f"#{i}") for i in rids), 32), change_text(d),
                _short(why, 50),
                key=str(d["seq"]),
            )  # fmt: skip
        if not rows:
            self.query_one("#audit-detail", Static).update("No decisions yet.")
        else:
            table.move_cursor(row=len(rows) - 1)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not 0 <= event.cursor_row < len(self.rows):
            return
        d = self.rows[event.cursor_row]
        lines = [
            f"#{d['seq']} {d['action']} by {d['actor']} ({d['actor_kind']}) at {iso(d['at_us'])}",
            ("records " + ", ".join(f"{self._names.get(i, '?')} (#{i})" for i in d["record_ids"])
             if d["record_ids"] else ""),
            f"session {d['session_id']}" if d["session_id"] is not None else "",
            f"before {_short(d['before'], 200)}" if d["before"] is not None else "",
            f"after  {_short(d['after'], 200)}" if d["after"] is not None else "",
            f"reason {d['reason']}" if d["reason"] else "",
            f"note   {d['note']}" if d["note"] else "",
            f"hash   {d['hash'][:32]}…  prev {d['prev_hash'][:16]}…",
        ]  # fmt: skip
        self.query_one("#audit-detail", Static).update("\n".join(x for x in lines if x))

    def action_verify(self) -> None:
        self.query_one("#audit-status", Static).update("verifying the chain…")
        self._verify()

    @work(thread=True, exclusive=True, group="verify")
    def _verify(self) -> None:
        """The chain walk reads every decision: off the UI thread."""
        report = self.services.audit.verify()
        self.app.call_from_thread(self._verified, report)

    def _verified(self, report: Any) -> None:
        status = self.query_one("#audit-status", Static)
        if report.ok:
            status.update(f"Audit trail intact: {report.entries:,} decisions, "
                          f"head {report.head[:16]}.")  # fmt: skip
        else:
            status.update("\n".join(report.lines()[:4]))

    def _external_ids(self, rows: list[dict[str, Any]]) -> dict[int, str]:
        """Record id -> its external id (the bank's, the file's), for every entry shown."""
        ids = sorted({i for d in rows for i in (d["record_ids"] or [])})
        names: dict[int, str] = {}
        for k in range(0, len(ids), 500):
            names.update((r.id, r.external_id) for r in self.services.panes.rows(ids[k : k + 500]))
        self._names = names
        return names

    def action_open_record(self) -> None:
        """Enter on an entry: its (first) record in its pair's workbench."""
        row = self.query_one(DataTable).cursor_row
        if not 0 <= row < len(self.rows):
            return
        d = self.rows[row]
        rids = d["record_ids"] or []
        if not rids:
            self.notify("this entry names no record", severity="warning")
            return
        pair = d["pair"] or self._pair_of(rids[0])
        if pair is None:
            self.notify(f"record {rids[0]} is in no pair", severity="warning")
            return
        self.dismiss(None)
        self.app.open_workbench(pair, record_id=rids[0])  # type: ignore[attr-defined]

    def _pair_of(self, record_id: int) -> str | None:
        detail = self.services.panes.record_detail(record_id)
        return next(iter(detail["pairs"]), None) if detail else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_record()

    def action_close(self) -> None:
        self.dismiss(None)

