"""Create or edit a source pair: its name, each side's source (and account), the rules.

Returns the :class:`~recon_tui.model.SourcePair` asked for; the dashboard has the pairs
service add or change it (in a worker) and shows a refusal as one line.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from recon_tui.model import Side, SourcePair
from recon_tui.screens.modal_base import Dialog


class PairFormScreen(Dialog[SourcePair | None]):
    def __init__(self, sources: list[str], pair: SourcePair | None = None) -> None:
        super().__init__()
        self.sources = sources
        self.pair = pair

    def compose(self) -> ComposeResult:
        p = self.pair
        with Vertical(classes="dialog", id="pair-dialog") as v:
            v.border_title = f"Edit pair {p.name}" if p else "New source pair"
            yield Static(f"Sources: {', '.join(self.sources) or '(none yet: add one on F4)'}",
                         classes="dialog-message")  # fmt: skip
            yield Label("Name")
            yield Input(p.name if p else "", id="pair-name", disabled=p is not None)
            yield Label("Left source · account (empty: every account)")
            yield Input(p.left.source if p else "", id="pair-left")
            yield Input((p.left.account or "") if p else "", id="pair-left-account")
            yield Label("Right source · account")
            yield Input(p.right.source if p else "", id="pair-right")
            yield Input((p.right.account or "") if p else "", id="pair-right-account")
            yield Label("Rules")
            yield Input(p.rules if p else "default", id="pair-rules")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Ctrl+S: save · Esc: cancel", classes="dialog-keys")

    def _value(self, wid: str) -> str:
        return self.query_one(f"#{wid}", Input).value.strip()

    def result(self) -> SourcePair:
        name = self._value("pair-name")
        left, right = self._value("pair-left"), self._value("pair-right")
        if not name or not left or not right:
            raise ValueError("a pair needs a name and a source on each side")
        return SourcePair(
            name, Side(left, self._value("pair-left-account") or None),
            Side(right, self._value("pair-right-account") or None),
            self._value("pair-rules") or "default",
        )  # fmt: skip
