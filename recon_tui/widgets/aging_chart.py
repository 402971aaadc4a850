"""Break aging as a small bar chart: unmatched items per age bucket."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from recon_tui.services.workbench import AGING_BUCKETS

BAR = 16


def aging_text(buckets: list[int]) -> Text:
    """One line per bucket: label, a bar scaled to the largest bucket, the count."""
    top = max(buckets) if buckets and max(buckets) > 0 else 1
    t = Text(no_wrap=True)
    for i, (label, n) in enumerate(zip(AGING_BUCKETS, buckets, strict=True)):
        filled = round(BAR * n / top)
        if i:
            t.append("\n")
        t.append(f"{label:>6} ")
        t.append("█" * filled, style="bold")
        t.append("·" * (BAR - filled), style="dim")
        t.append(f" {n:,}")
    return t


class AgingChart(Static):
    def show(self, buckets: list[int]) -> None:
        self.update(aging_text(buckets))
