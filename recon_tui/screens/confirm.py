"""A yes/no dialog, optionally with one value to enter (e.g. the score threshold of
'accept all'); a live line can say what the value would do."""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from recon_tui.screens.modal_base import Dialog


class ConfirmScreen(Dialog[tuple[bool, str] | None]):
    """Returns ``(True, value)`` on OK, ``None`` on cancel."""

    def __init__(
        self, title: str, message: str, *, value_label: str | None = None, value: str = "",
        preview: Callable[[str], str] | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.title_text = title
        self.message = message
        self.value_label = value_label
        self.value = value
        self.preview = preview

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm-dialog") as v:
            v.border_title = self.title_text
            yield Static(self.message, classes="dialog-message")
            if self.value_label is not None:
                yield Label(self.value_label)
                yield Input(self.value, id="confirm-value")
                yield Static("", id="confirm-preview")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Enter or Ctrl+S: OK · Esc: cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        if self.value_label is not None:
            self._update_preview(self.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._update_preview(event.value)

    def _update_preview(self, value: str) -> None:
        if self.preview is not None:
            try:
                text = self.preview(value)
            except ValueError as exc:
                text = str(exc)
            self.query_one("#confirm-preview", Static).update(text)

    def key_enter(self, event: events.Key) -> None:
        if self.value_label is None:
            # Stopped: unstopped, the Enter would bubble on to the app and run the binding
            # of whatever screen the answer opens (Enter there too).
            event.stop()
            self.action_submit()

    def result(self) -> tuple[bool, str]:
        if self.value_label is None:
            return (True, "")
        return (True, self.query_one("#confirm-value", Input).value)
