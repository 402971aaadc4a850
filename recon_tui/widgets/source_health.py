"""One source's health line on the dashboard, with a progress bar while it syncs."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from recon_tui.formatting import ago
from recon_tui.services.workbench import SourceHealth

HEALTH_MARK = {"ok": "✔ ok", "failing": "✗ failing", "never synced": "– never"}


def health_text(h: SourceHealth, now_us: int) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"{h.info.name:<10} ", style="bold")
    t.append(f"{HEALTH_MARK.get(h.health, h.health):<10} ")
    t.append(f"{h.records:>9,} rec  synced {ago(h.info.last_sync_us, now_us)}")
    if h.info.last_error and h.health == "failing":
        t.append(f"  {h.info.last_error}")
    return t


class SourceHealthRow(Horizontal):
    """A source's name, health, record count and last sync; a progress bar during sync."""

    def __init__(self, health: SourceHealth, now_us: int) -> None:
        super().__init__(id=f"health-{health.info.name}", classes="health-row")
        self.health = health
        self.now_us = now_us

    def compose(self) -> ComposeResult:
        yield Static(health_text(self.health, self.now_us), classes="health-text")
        # A determinate bar until progress arrives: an indeterminate one animates forever.
        yield ProgressBar(total=1, show_eta=False, classes="health-progress")

    def show(self, health: SourceHealth, now_us: int) -> None:
        self.health, self.now_us = health, now_us
        # Not composed yet (mounted a moment ago): compose will use the new values.
        for w in self.query(".health-text").results(Static):
            w.update(health_text(health, now_us))

    def progress(self, done: int, total: int | None) -> None:
        bar = self.query_one(ProgressBar)
        self.add_class("-syncing")
        bar.update(total=total, progress=done)

    def finished(self) -> None:
        self.remove_class("-syncing")
