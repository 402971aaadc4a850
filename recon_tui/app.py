"""The Textual application shell: screens are installed here, the work lives in services."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static

from recon_tui.store import Store


class ReconApp(App[None]):
    """recon-tui's app; constructed with an open store."""

    TITLE = "recon-tui"

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("recon-tui — dashboard coming with the workbench issue", id="placeholder")
        yield Footer()
