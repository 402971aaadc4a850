"""Add a note to the focused record."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from recon_tui.screens.modal_base import Dialog


class NoteScreen(Dialog[str | None]):
    def __init__(self, summary: str) -> None:
        super().__init__()
        self.summary = summary

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="note-dialog") as v:
            v.border_title = "Add note"
            yield Static(self.summary, classes="dialog-message")
            yield Input(placeholder="note", id="note-text")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Enter: save · Esc: cancel", classes="dialog-keys")

    def result(self) -> str:
        text = self.query_one("#note-text", Input).value.strip()
        if not text:
            raise ValueError("the note is empty")
        return text
