"""Reject the focused suggestion: pick a reason code, optionally add a note."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList, Static

from recon_tui.screens.modal_base import Dialog
from recon_tui.services.decisions import REJECT_REASONS


class RejectScreen(Dialog[tuple[str, str | None] | None]):
    """Returns ``(reason, note)``."""

    def __init__(self, summary: str) -> None:
        super().__init__()
        self.summary = summary

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="reject-dialog") as v:
            v.border_title = "Reject suggestion"
            yield Static(self.summary, classes="dialog-message")
            yield Label("Reason (↑↓, Enter)")
            yield OptionList(*REJECT_REASONS, id="reject-reason")
            yield Label("Note (optional)")
            yield Input(placeholder="why", id="reject-note")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Enter in the note or Ctrl+S: reject · Esc: cancel",
                         classes="dialog-keys")  # fmt: skip

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0

    def result(self) -> tuple[str, str | None]:
        i = self.query_one(OptionList).highlighted
        if i is None:
            raise ValueError("choose a reason")
        note = self.query_one("#reject-note", Input).value.strip()
        return (REJECT_REASONS[i], note or None)
