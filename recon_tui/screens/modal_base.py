"""The shared shape of the app's dialogs: Escape cancels, Ctrl+S submits, Enter in the last
field submits, and a one-line error shows what to fix."""

from __future__ import annotations

from typing import Any, TypeVar

from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static

from recon_tui import bindings

T = TypeVar("T")


class Dialog(ModalScreen[T]):
    """Base of every modal: subclasses implement :meth:`result` (raise ValueError to refuse)."""

    BINDINGS = bindings.MODAL

    def result(self) -> Any:
        raise NotImplementedError

    def error(self, message: str) -> None:
        self.query_one("#dialog-error", Static).update(message)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_mount(self) -> None:
        # Start in the first field, not on the scrolling container around the fields.
        # ``set_focus`` now, not ``widget.focus()``: that one is queued behind the keys the
        # user typed while the dialog opened, which then reached no field and were lost.
        for widget in self.query("Input, OptionList, SelectionList, Select, Checkbox, Switch"):
            if widget.focusable:
                self.set_focus(widget)
                break

    def action_submit(self) -> None:
        try:
            value = self.result()
        except ValueError as exc:
            self.error(str(exc))
            return
        self.dismiss(value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        if inputs and event.input is not inputs[-1]:
            self.focus_next()
            return
        self.action_submit()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        # Choosing a reason moves on to the note.
        event.stop()
        self.focus_next()
