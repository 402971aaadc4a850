"""The dashboard: each source's health (with live sync progress), and per source pair the
open / suggested / matched counts and amounts, the break aging and the difference per
asset. Aggregates load in a worker; the screen never waits on them."""

from __future__ import annotations

from decimal import Decimal

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from recon_tui import bindings
from recon_tui.formatting import fmt_money
from recon_tui.messages import StoreChanged, SyncFinished, SyncProgress
from recon_tui.model import SourcePair
from recon_tui.screens.pair_form import PairFormScreen
from recon_tui.services.bundle import services_of
from recon_tui.services.dashboard import AGING_BUCKETS, Dashboard, PairSummary
from recon_tui.services.search import oldest_break
from recon_tui.widgets.aging_chart import AgingChart
from recon_tui.widgets.key_footer import KeyFooter
from recon_tui.widgets.source_health import SourceHealthRow


def _counts(p: PairSummary, state: str) -> str:
    return f"{p.left.counts.get(state, 0):,}/{p.right.counts.get(state, 0):,}"


_STATES = (("open", "open"), ("suggested", "suggested"), ("matched", "matched"))
"""(state, column title) of the amounts table."""


def side_differences(p: PairSummary, state: str) -> dict[str, Decimal]:
    """Per asset: the left side's ``state`` amount minus the right side's."""
    left, right = p.left.amounts.get(state, {}), p.right.amounts.get(state, {})
    return {a: left.get(a, Decimal(0)) - right.get(a, Decimal(0))
            for a in sorted(set(left) | set(right))}  # fmt: skip


def difference_text(p: PairSummary) -> Table | Text:
    """Per side and asset: the amount of open, suggested and matched items; then, labelled
    apart, the open difference L − R (what is left to explain) and the suggested one (what
    the engine's suggestions would settle), each in its own column."""
    table = Table(box=None, pad_edge=False, expand=True, show_edge=False)
    table.add_column("", no_wrap=True, min_width=10)
    for _, title in _STATES:
        table.add_column(title, justify="right", no_wrap=True)
    for label, side in (("L", p.left), ("R", p.right)):
        assets = sorted({a for amounts in side.amounts.values() for a in amounts})
        for asset in assets:
            cells = [
                fmt_money(v, asset) if (v := side.amounts.get(state, {}).get(asset)) is not None
                else "·"
                for state, _ in _STATES
            ]
            table.add_row(f"{label} {asset}", *cells)
    if not table.row_count:
        return Text("nothing to reconcile yet")
    for a, v in side_differences(p, "open").items():
        table.add_row(Text(f"open L − R {a}", style="bold"), Text(fmt_money(v, a), style="bold"),
                      "", "")  # fmt: skip
    for a, v in side_differences(p, "suggested").items():
        table.add_row(Text(f"sugg. L − R {a}", style="bold"), "",
                      Text(fmt_money(v, a), style="bold"), "")  # fmt: skip
    return table


class DashboardScreen(Screen[None]):
    BINDINGS = bindings.DASHBOARD
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self) -> None:
        super().__init__(id="dashboard")
        self.data: Dashboard | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with VerticalScroll(id="dash-body"):
            with Vertical(id="dash-sources") as s:
                s.border_title = "Sources"
                yield Static("loading…", id="dash-sources-empty")
            yield DataTable(id="dash-pairs", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="dash-lower"):
                aging = AgingChart("", id="dash-aging")
                aging.border_title = "Break aging"
                yield aging
                diff = Static("", id="dash-diff")
                diff.border_title = "Amounts and difference"
                yield diff
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#dash-pairs", DataTable)
        table.border_title = "Source pairs (Enter: open)"
        table.add_columns("pair", "left vs right", "open L/R", "sugg. L/R", "matched L/R")
        table.focus()  # arrows choose a pair straight away

    def on_screen_resume(self) -> None:
        # Also sent when the screen is first pushed: the first load is this one (loading
        # in on_mount too read the aggregates twice, and the paint waited for the second).
        self.load()

    @work(thread=True, exclusive=True, group="dashboard")
    def load(self) -> None:
        services = services_of(self.app)
        data = services.dashboard.dashboard(services.now_us())
        self.app.call_from_thread(self.show, data)

    def show(self, data: Dashboard) -> None:
        self.data = data
        box = self.query_one("#dash-sources", Vertical)
        # Update rows in place (mount only new sources): no remove/mount churn on refresh.
        empty = self.query_one("#dash-sources-empty", Static)
        empty.update("" if data.sources else "no sources yet: press F4 to add one")
        empty.display = not data.sources
        rows = {r.health.info.name: r for r in self.query(SourceHealthRow)}
        for h in data.sources:
            if h.info.name in rows:
                rows[h.info.name].show(h, data.now_us)
            else:
                box.mount(SourceHealthRow(h, data.now_us))
        table = self.query_one("#dash-pairs", DataTable)
        row = table.cursor_row
        table.clear()
        for p in data.pairs:
            table.add_row(
                p.pair.name, Text(f"{p.pair.left.label()} vs {p.pair.right.label()}"),
                _counts(p, "open"), _counts(p, "suggested"), _counts(p, "matched"),
                key=p.pair.name,
            )  # fmt: skip
        # A fixed height: an auto-height table whose scrollbars come and go can oscillate.
        table.styles.height = min(len(data.pairs) + 4, 16)
        if data.pairs:
            table.move_cursor(row=min(row, len(data.pairs) - 1))
            self._show_pair(data.pairs[min(row, len(data.pairs) - 1)])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.data and 0 <= event.cursor_row < len(self.data.pairs):
            self._show_pair(self.data.pairs[event.cursor_row])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_pair()

    def _show_pair(self, p: PairSummary) -> None:
        aging = self.query_one("#dash-aging", AgingChart)
        aging.border_title = f"Break aging · {p.pair.name}"
        aging.show(p.aging)
        diff = self.query_one("#dash-diff", Static)
        diff.border_title = f"Amounts and difference · {p.pair.name}"
        diff.update(difference_text(p))

    def _pair(self) -> PairSummary | None:
        if not self.data or not self.data.pairs:
            return None
        row = self.query_one("#dash-pairs", DataTable).cursor_row
        return self.data.pairs[min(max(row, 0), len(self.data.pairs) - 1)]

    def action_open_pair(self) -> None:
        p = self._pair()
        if p is None:
            self.notify("no source pairs yet", severity="warning")
            return
        chart = self.query_one("#dash-aging", AgingChart)
        if chart.has_focus:
            self._open_break(p, chart.bucket)
            return
        self.app.open_workbench(p.pair.name)  # type: ignore[attr-defined]

    def _open_break(self, p: PairSummary, bucket: int) -> None:
        """Enter on an age bucket: the workbench at that bucket's oldest break."""
        services = services_of(self.app)
        row = oldest_break(services.panes.for_pair(p.pair), p.pair, bucket, services.now_us())
        if row is None:
            self.notify(f"no breaks aged {AGING_BUCKETS[bucket]} in {p.pair.name}")
            return
        self.app.open_workbench(p.pair.name, record_id=row.id)  # type: ignore[attr-defined]

    def action_cursor_down(self) -> None:
        target = self.focused
        if target is not None and hasattr(target, "action_cursor_down"):
            target.action_cursor_down()

    def action_cursor_up(self) -> None:
        target = self.focused
        if target is not None and hasattr(target, "action_cursor_up"):
            target.action_cursor_up()

    # --- pairs ----------------------------------------------------------------------------

    def action_new_pair(self) -> None:
        sources = [s.info.name for s in self.data.sources] if self.data else []
        self.app.push_screen(PairFormScreen(sources), lambda p: self._save_pair(p, new=True))

    def action_edit_pair(self) -> None:
        if not self.data or not self.data.pairs:
            self.notify("no source pairs yet: p makes one", severity="warning")
            return
        row = self.query_one("#dash-pairs", DataTable).cursor_row
        pair = self.data.pairs[min(row, len(self.data.pairs) - 1)].pair
        sources = [s.info.name for s in self.data.sources]
        self.app.push_screen(PairFormScreen(sources, pair), lambda p: self._save_pair(p, new=False))

    def _save_pair(self, pair: SourcePair | None, *, new: bool) -> None:
        if pair is not None:
            self._write_pair(pair, new)

    @work(thread=True, group="pairs")
    def _write_pair(self, pair: SourcePair, new: bool) -> None:
        pairs = services_of(self.app).pairs
        try:
            if new:
                pairs.add(pair)
            else:
                pairs.edit(pair.name, left=pair.left, right=pair.right, rules=pair.rules)
        except ValueError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self.notify, f"pair '{pair.name}' {'added' if new else 'saved'}")
        self.app.call_from_thread(self.load)

    def action_sync_now(self) -> None:
        self.app.sync_now()  # type: ignore[attr-defined]

    def action_run_matching(self) -> None:
        self.app.run_matching()  # type: ignore[attr-defined]

    def action_reload(self) -> None:
        self.load()

    def action_export(self) -> None:
        self.app.action_export()  # type: ignore[attr-defined]

    def on_sync_progress(self, event: SyncProgress) -> None:
        for row in self.query(SourceHealthRow):
            if row.health.info.name == event.source:
                row.progress(event.done, event.total)

    def on_sync_finished(self, event: SyncFinished) -> None:
        for row in self.query(SourceHealthRow):
            row.finished()
        self.load()

    def on_store_changed(self, event: StoreChanged) -> None:
        self.load()
