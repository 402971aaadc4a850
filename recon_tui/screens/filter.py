"""Filter a pane by text, amount range (magnitude), date range, asset and status."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Input, Label, Select, Static

from recon_tui.screens.modal_base import Dialog
from recon_tui.services.workbench import STATE_CHOICES, PaneFilter


class FilterScreen(Dialog[PaneFilter | None]):
    """Returns the new :class:`PaneFilter` (all fields empty: no filter)."""

    def __init__(self, current: PaneFilter, side_label: str) -> None:
        super().__init__()
        self.current = current
        self.side_label = side_label

    def compose(self) -> ComposeResult:
        f = self.current
        with Vertical(classes="dialog", id="filter-dialog") as v:
            v.border_title = f"Filter {self.side_label}"
            with Grid(id="filter-grid"):
                yield Label("Text")
                yield Input(f.text, placeholder="counterparty, reference, memo, id",
                            id="filter-text")  # fmt: skip
                yield Label("|Amount| ≥")
                yield Input(_s(f.amount_min), placeholder="e.g. 100", id="filter-min")
                yield Label("|Amount| ≤")
                yield Input(_s(f.amount_max), placeholder="e.g. 5000", id="filter-max")
                yield Label("From date")
                yield Input(_s(f.date_from), placeholder="YYYY-MM-DD", id="filter-from")
                yield Label("To date")
                yield Input(_s(f.date_to), placeholder="YYYY-MM-DD", id="filter-to")
                yield Label("Asset")
                yield Input(f.asset or "", placeholder="EUR, BTC…", id="filter-asset")
                yield Label("Status")
                yield Select([(k, k) for k in STATE_CHOICES], value=f.status,
                             allow_blank=False, compact=True, id="filter-status")  # fmt: skip
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Enter/Tab: next field · Ctrl+S: apply · Esc: cancel",
                         classes="dialog-keys")  # fmt: skip

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter applies from any field: filters are usually one field.
        event.stop()
        self.action_submit()

    def result(self) -> PaneFilter:
        def val(name: str) -> str:
            return self.query_one(f"#filter-{name}", Input).value

        status = self.query_one("#filter-status", Select).value
        return PaneFilter.parse(
            text=val("text"), amount_min=val("min"), amount_max=val("max"),
            date_from=val("from"), date_to=val("to"), asset=val("asset"),
            status=str(status),
        )  # fmt: skip


def _s(v: object) -> str:
    return "" if v is None else str(v)
