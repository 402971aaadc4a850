"""Break aging as a small bar chart: unmatched items per age bucket. Focusable: ↑↓ choose
a bucket and Enter (the dashboard's) opens its oldest break in the workbench."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from recon_tui.services.dashboard import AGING_BUCKETS

BAR = 16


def aging_text(buckets: list[int], cursor: int | None = None) -> Text:
    """One line per bucket: label, a bar scaled to the largest bucket, the count."""
    top = max(buckets) if buckets and max(buckets) > 0 else 1
    t = Text(no_wrap=True)
    for i, (label, n) in enumerate(zip(AGING_BUCKETS, buckets, strict=True)):
        filled = round(BAR * n / top)
        if i:
            t.append("\n")
        t.append("▸" if i == cursor else " ", style="bold")
        t.append(f"{label:>6} ", style="reverse" if i == cursor else "")
        t.append("█" * filled, style="bold")
        t.append("·" * (BAR - filled), style="dim")
        t.append(f" {n:,}")
    return t


class AgingChart(Static, can_focus=True):
    bucket: reactive[int] = reactive(0)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.buckets: list[int] = [0] * len(AGING_BUCKETS)

    def show(self, buckets: list[int]) -> None:
        self.buckets = list(buckets)
        self._draw()

    def _draw(self) -> None:
        self.update(aging_text(self.buckets, self.bucket if self.has_focus else None))

    def watch_bucket(self) -> None:
        self._draw()

    def on_focus(self) -> None:
        self._draw()

    def on_blur(self) -> None:
        self._draw()

    def action_cursor_down(self) -> None:
        self.bucket = min(self.bucket + 1, len(self.buckets) - 1)

    def action_cursor_up(self) -> None:
        self.bucket = max(self.bucket - 1, 0)
