"""A pair's saved filters: Enter applies the highlighted one to the pane; a name and
Ctrl+S saves the pane's current filter under it; Delete removes the highlighted one."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from recon_tui.screens.modal_base import Dialog
from recon_tui.services import saved_filters
from recon_tui.services.panes import PaneFilter


class SavedFiltersScreen(Dialog[PaneFilter | None]):
    """Returns the filter to apply (the saved one chosen, or the current one just saved)."""

    BINDINGS = [Binding("delete", "delete_filter", "Delete", show=False)]

    def __init__(self, pair: str, current: PaneFilter) -> None:
        super().__init__()
        self.pair = pair
        self.current = current
        self.names: list[str] = []
        self.filters: dict[str, PaneFilter] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="saved-filters-dialog") as v:
            v.border_title = f"Saved filters · {self.pair}"
            yield OptionList(id="saved-list")
            yield Label(f"Save the pane's filter ({self.current.describe() or 'none'}) as")
            yield Input(placeholder="name, e.g. big card payments", id="saved-name")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Enter: apply · Delete: remove · name + Ctrl+S: save · Esc: close",
                         classes="dialog-keys")  # fmt: skip

    def on_mount(self) -> None:
        self._load()
        super().on_mount()

    def _store(self):  # type: ignore[no-untyped-def]
        return self.app.store  # type: ignore[attr-defined]

    def _load(self) -> None:
        self.filters = saved_filters.list_filters(self._store(), self.pair)
        self.names = list(self.filters)
        lst = self.query_one("#saved-list", OptionList)
        lst.clear_options()
        if not self.names:
            lst.add_option(Option("no saved filters yet", disabled=True))
            return
        lst.add_options(Option(f"{n}  ·  {f.describe()}", id=n) for n, f in self.filters.items())
        lst.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id in self.filters:
            self.dismiss(self.filters[event.option.id])

    def action_delete_filter(self) -> None:
        lst = self.query_one("#saved-list", OptionList)
        if self.names and lst.highlighted is not None and lst.has_focus:
            saved_filters.delete_filter(self._store(), self.pair, self.names[lst.highlighted])
            self._load()

    def result(self) -> PaneFilter:
        name = self.query_one("#saved-name", Input).value
        saved_filters.save_filter(self._store(), self.pair, name, self.current)
        self.app.notify(f"filter '{' '.join(name.split())}' saved for {self.pair}")
        return self.current
