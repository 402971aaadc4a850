"""Match the marked items by hand: both sides' totals and the difference per asset; a
non-zero difference needs a reason (fee, FX, rounding, write-off…) and a note, and is
stored as an explicit adjustment on the group."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList, Static

from recon_tui.formatting import fmt_money
from recon_tui.screens.modal_base import Dialog
from recon_tui.services.decisions import DIFFERENCE_REASONS


def totals_table(
    left: dict[str, Decimal], right: dict[str, Decimal], diff: dict[str, Decimal],
    n_left: int, n_right: int,
) -> Table:  # fmt: skip
    t = Table(box=None, pad_edge=False, expand=False)
    t.add_column("asset")
    t.add_column(f"left ({n_left})", justify="right")
    t.add_column(f"right ({n_right})", justify="right")
    t.add_column("difference", justify="right")
    for asset, d in diff.items():
        t.add_row(
            asset, fmt_money(left.get(asset, Decimal(0)), asset),
            fmt_money(right.get(asset, Decimal(0)), asset),
            fmt_money(d, asset) + ("" if d == 0 else " ≠"),
        )  # fmt: skip
    return t


class ManualMatchScreen(Dialog[tuple[str | None, str | None] | None]):
    """Returns ``(reason, note)`` (both ``None`` when the sides balance and no note)."""

    def __init__(
        self, left: dict[str, Decimal], right: dict[str, Decimal], diff: dict[str, Decimal],
        n_left: int, n_right: int, check: Callable[[str | None], str | None] | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.check = check
        """The pair's write-off policy: a refusal line for a reason, or None."""
        self.left, self.right, self.diff = left, right, diff
        self.n_left, self.n_right = n_left, n_right
        self.balanced = all(v == 0 for v in diff.values())

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="match-dialog") as v:
            v.border_title = "Match marked items"
            yield Static(totals_table(self.left, self.right, self.diff, self.n_left,
                                      self.n_right), id="match-totals")  # fmt: skip
            if self.balanced:
                yield Static("The sides balance.", classes="dialog-message")
                yield Label("Note (optional)")
            else:
                yield Static("The sides differ: give a reason and a note. Beyond the pair's "
                             "write-off limit only a reason whose own limit covers the "
                             "difference is accepted.", classes="dialog-message")  # fmt: skip
                yield Label("Reason for the difference (↑↓, Enter)")
                yield OptionList(*DIFFERENCE_REASONS, id="match-reason")
                yield Label("Note (required)")
            yield Input(placeholder="note", id="match-note")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Enter in the note or Ctrl+S: match · Esc: cancel",
                         classes="dialog-keys")  # fmt: skip

    def on_mount(self) -> None:
        if not self.balanced:
            self.query_one(OptionList).highlighted = 0
        else:
            self.query_one("#match-note", Input).focus()

    def result(self) -> tuple[str | None, str | None]:
        note = self.query_one("#match-note", Input).value.strip() or None
        if self.balanced:
            return (None, note)
        i = self.query_one(OptionList).highlighted
        if i is None:
            raise ValueError("reason: choose one for the difference")
        reason = DIFFERENCE_REASONS[i]
        if self.check is not None and (refusal := self.check(reason)):
            raise ValueError(refusal)
        if not note:
            raise ValueError("note: a difference needs a note saying why")
        return (reason, note)
