"""Search both sides of the pair (Ctrl+F): type text, an amount or ``#id``, Enter; the hits
of both sides are listed with their side, date, amount and external id; Enter on a hit
puts the workbench cursor on it."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from recon_tui.formatting import fmt_money, us_to_dt
from recon_tui.model import SourcePair
from recon_tui.screens.modal_base import Dialog
from recon_tui.services.bundle import services_of
from recon_tui.services.search import Hit, search_pair


def hit_text(h: Hit) -> Text:
    r = h.row
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"{h.code} ", style="bold")
    t.append(f"{us_to_dt(r.ts_us):%Y-%m-%d} {fmt_money(r.amount, r.asset):>18} {r.asset:<5} ")
    t.append(f"{r.external_id}  ", style="bold")
    t.append(f"{r.state:<9} {r.text[:40]}")
    return t


class SearchScreen(Dialog[int | None]):
    """Returns the chosen record's id."""

    def __init__(self, pair: SourcePair) -> None:
        super().__init__()
        self.pair = pair
        self.hits: list[Hit] = []
        self._generation = 0

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="search-dialog") as v:
            v.border_title = f"Search {self.pair.name} (both sides)"
            yield Input(placeholder="text, amount (1,250.00) or #id", id="search-query")
            yield OptionList(id="search-hits")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Enter: search · ↓ then Enter: go to the hit · Esc: close",
                         classes="dialog-keys")  # fmt: skip

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        query = event.value.strip()
        if not query:
            self.error("query: type text, an amount or #id")
            return
        self.error("searching…")
        self._generation += 1
        self._search(self._generation, query)

    @work(thread=True, exclusive=True, group="search")
    def _search(self, generation: int, query: str) -> None:
        hits = search_pair(services_of(self.app).panes, self.pair, query)
        self.app.call_from_thread(self._show, generation, query, hits)

    def _show(self, generation: int, query: str, hits: list[Hit]) -> None:
        if generation != self._generation:
            return
        self.hits = hits
        lst = self.query_one("#search-hits", OptionList)
        lst.clear_options()
        lst.add_options(Option(hit_text(h), id=str(i)) for i, h in enumerate(hits))
        self.error("" if hits else f"nothing matches '{query}' on either side")
        if hits:
            lst.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_submit()

    def result(self) -> int:
        lst = self.query_one("#search-hits", OptionList)
        if not self.hits or lst.highlighted is None:
            raise ValueError("no hit chosen: search first, then ↓ and Enter")
        return self.hits[lst.highlighted].row.id
