"""Explain a break: an item with no counterpart gets a reason and a note
(:meth:`Decisions.explain`)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList, Static

from recon_tui.screens.modal_base import Dialog
from recon_tui.services.decisions import EXPLAIN_REASONS


class ExplainScreen(Dialog[tuple[str, str] | None]):
    """Returns ``(reason, note)``; the note is required."""

    def __init__(self, summary: str) -> None:
        super().__init__()
        self.summary = summary

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="explain-dialog") as v:
            v.border_title = "Explain break"
            yield Static(self.summary, classes="dialog-message")
            yield Label("Reason (↑↓, Enter)")
            yield OptionList(*EXPLAIN_REASONS, id="explain-reason")
            yield Label("Note (required)")
            yield Input(placeholder="what happened", id="explain-note")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Enter in the note or Ctrl+S: save · Esc: cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0

    def result(self) -> tuple[str, str]:
        i = self.query_one(OptionList).highlighted
        note = self.query_one("#explain-note", Input).value.strip()
        if i is None:
            raise ValueError("choose a reason")
        if not note:
            raise ValueError("an explained break needs a note")
        return (EXPLAIN_REASONS[i], note)
