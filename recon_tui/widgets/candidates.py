"""The candidates pane: ranked counterparts of the focused record, with why they match."""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from recon_tui.formatting import fmt_amounts, fmt_money, us_to_dt
from recon_tui.services.candidate_view import CandidateView as Candidate

MAX_MEMBERS = 200
"""Members listed per candidate; beyond this a group is not read line by line anyway."""


def candidate_difference(c: Candidate) -> str:
    """Left minus right of the candidate's members, per asset, at display precision."""
    return fmt_amounts(dict(sorted(c.difference.items())))


def describe(c: Candidate, rank: int, focused_id: int | None) -> Text:
    """Two or three lines: score and counterparts; fields agreed; difference and lag."""
    t = Text(no_wrap=True, overflow="ellipsis")
    kind = "stored" if c.group_id is not None else "engine"
    shape = f"{len(c.left_ids)}:{len(c.right_ids)}"
    t.append(f"#{rank} ", style="bold")
    t.append(f"{c.score:.2f} ", style="bold")
    t.append(f"{c.rule or '-'} {shape} {kind}/{c.decision}")
    # Every member, the focused one included and marked (the pane scrolls): a counterpart
    # hidden behind "… and 4 more" while lines stood empty was how mistakes were made.
    members = sorted(c.counterparts, key=lambda r: (r.id not in c.left_ids, r.ts_us, r.id))
    for r in members[:MAX_MEMBERS]:
        side = "L" if r.id in c.left_ids else "R"
        t.append(f"\n {'▸' if r.id == focused_id else ' '}{side} {us_to_dt(r.ts_us):%Y-%m-%d} ")
        t.append(f"{fmt_money(r.amount, r.asset):>17} {r.asset:<5} ")
        t.append(f"{r.external_id} ", style="bold")
        t.append((r.counterparty or r.reference or r.memo or r.kind)[:40])
    if len(members) > MAX_MEMBERS:
        t.append(f"\n  … and {len(members) - MAX_MEMBERS:,} more (the detail lists them)")
    agree = " ".join(f"✓{k}" for k in c.agreed)
    disagree = " ".join(f"✗{k}" for k in c.disagreed)
    lag = "-" if c.date_lag_days is None else f"{c.date_lag_days}d"
    t.append(f"\n  L − R {candidate_difference(c)} · lag {lag}")
    if agree or disagree:
        t.append(f" · {agree} {disagree}".rstrip())
    for adj in c.adjustments[:2]:
        asset = str(adj.get("asset") or "")
        try:
            amount = fmt_money(Decimal(str(adj.get("amount"))), asset)
        except ArithmeticError:
            amount = str(adj.get("amount"))
        t.append(f" · adj {adj.get('kind')} {amount} {asset}")
    return t


class CandidatesPane(OptionList):
    """Focusable list of candidates; the highlighted one is what Enter and x act on."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)
    """The list's height changes with each item's candidates; the pane's own size does not
    (CSS), so a new list repaints the pane and its scrollbar, not the whole screen's layout
    (a scrollbar appearing or going still is one: ``show_vertical_scrollbar``)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.candidates: list[Candidate] = []
        self.border_title = "Candidates"

    def show(self, candidates: list[Candidate], focused_id: int | None, note: str = "") -> None:
        self.candidates = candidates
        self.clear_options()
        if not candidates:
            self.add_option(Option(Text(note or "no candidates for this item", style="italic"),
                                   disabled=True))  # fmt: skip
            self.border_title = "Candidates"
            return
        self.add_options(
            Option(describe(c, i + 1, focused_id), id=str(i)) for i, c in enumerate(candidates)
        )
        self.highlighted = 0
        self.border_title = f"Candidates ({len(candidates)})"

    @property
    def selected(self) -> Candidate | None:
        if not self.candidates:
            return None
        i = self.highlighted if self.highlighted is not None else 0
        return self.candidates[i] if 0 <= i < len(self.candidates) else None
