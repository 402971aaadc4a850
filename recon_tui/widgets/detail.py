"""The detail pane: the full canonical record, its notes and groups, and the raw payload
exactly as the source sent it."""

from __future__ import annotations

import json
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from recon_tui.formatting import dr_cr, fmt_exact, fmt_money, is_rounded

_FIELDS = ("kind", "status", "account", "counterparty", "reference", "memo", "txid", "address",
           "booking_date", "value_date")  # fmt: skip


def render_detail(d: dict[str, Any] | None) -> Text:
    if d is None:
        return Text("no record", style="italic")
    r = d["record"]
    t = Text()
    t.append(f"{r.source} · {r.external_id}\n", style="bold")
    t.append(f"{r.ts:%Y-%m-%d %H:%M:%S}Z  {dr_cr(r.amount)} ")
    t.append(f"{fmt_money(r.amount, r.asset)} {r.asset}", style="bold")
    if r.fee is not None:
        t.append(f"  fee {fmt_money(r.fee, r.fee_asset or r.asset)} {r.fee_asset or r.asset}")
    # The list rounds to the asset's display places; the record's own figure is here whole.
    t.append(f"\nexact        {fmt_exact(r.amount, r.asset)} {r.asset}")
    if is_rounded(r.amount, r.asset):
        t.append("  (rounded in the lists)", style="italic")
    if r.fee is not None and is_rounded(r.fee, r.fee_asset or r.asset):
        t.append(f"\nexact fee    {fmt_exact(r.fee)} {r.fee_asset or r.asset}")
    t.append(f"\nstate {d['state']}  v{d['version']}  id {r.id}")
    if d["removed"]:
        t.append("  REMOVED by source", style="bold")
    for name in _FIELDS:
        value = getattr(r, name)
        if value not in (None, ""):
            t.append(f"\n{name:<13}{value}")
    for k, v in sorted(r.attrs.items()):
        t.append(f"\n{k:<13}{v}")
    for g in d["groups"]:
        t.append(f"\ngroup {g['id']} {g['state']} {g['kind']}")
        if g["reason"]:
            t.append(f" ({g['reason']})")
    for n in d["notes"]:
        t.append(f"\nnote {n['at']}: {n['text']}")
    t.append("\n\nraw payload\n", style="bold")
    raw = r.raw
    t.append(json.dumps(raw, indent=2, ensure_ascii=False, sort_keys=True) if raw else "(none)")
    return t


class DetailPane(VerticalScroll):
    """Scrollable record detail (focusable so long payloads can be read by keyboard)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Detail"
        self._body = Static(Text("no record", style="italic"), id="detail-body")
        self._body.styles.min_height = "100%"
        self._height: int | None = None
        """Lines of the detail shown (None: unknown, or some line wraps)."""

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._body

    def show(self, detail: dict[str, Any] | None) -> None:
        text = render_detail(detail)
        # A detail as tall as the last one (no line wider than the body, so none wraps)
        # repaints the body only: a layout of the whole screen per item shown was the
        # better part of a confirm's frame.
        # The body is at least the pane's height (its ``min-height``), so a shorter one
        # is as tall as the pane.
        lines = text.plain.split("\n")
        width = self._body.content_region.width
        fits = width > 0 and max(cell_len(line) for line in lines) <= width
        height = max(len(lines), self.scrollable_content_region.height) if fits else None
        self._body.update(text, layout=height is None or height != self._height)
        self._height = height
