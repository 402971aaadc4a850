"""The workbench of one source pair: both sides' unmatched items, the candidates of the
focused item and its detail; every decision by keyboard.

The screen only arranges widgets and routes keys: rows through the panes service,
candidates through the candidates service, decisions through the decisions service (all
from the app's :class:`~recon_tui.services.bundle.Services`); writes run in workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Header, Static

from recon_tui import bindings
from recon_tui.errors import DecisionError
from recon_tui.formatting import fmt_amounts, fmt_money, us_to_dt
from recon_tui.messages import MarksChanged, RowHighlighted, StoreChanged, SyncFinished
from recon_tui.model import SourcePair
from recon_tui.screens.confirm import ConfirmScreen
from recon_tui.screens.explain import ExplainScreen
from recon_tui.screens.filter import FilterScreen
from recon_tui.screens.manual_match import ManualMatchScreen
from recon_tui.screens.note import NoteScreen
from recon_tui.screens.reject import RejectScreen
from recon_tui.screens.saved_filters import SavedFiltersScreen
from recon_tui.screens.search import SearchScreen
from recon_tui.services import writeoff
from recon_tui.services.bundle import Services, services_of
from recon_tui.services.candidate_view import CandidateView
from recon_tui.services.decisions import Outcome
from recon_tui.services.panes import PaneFilter, Row, SortSpec
from recon_tui.widgets.candidates import CandidatesPane, candidate_difference
from recon_tui.widgets.detail import DetailPane
from recon_tui.widgets.key_footer import KeyFooter
from recon_tui.widgets.record_pane import RecordPane

SORTS = [SortSpec("ts"), SortSpec("ts", True), SortSpec("amount"), SortSpec("amount", True)]
DEBOUNCE_S = 0.06
"""Candidates and detail follow the cursor after it rests this long (key repeat stays fast)."""
DEFAULT_THRESHOLD = "0.90"


def row_summary(row: Row) -> str:
    return (f"{row.external_id} · {row.ts_us and _date(row)} · "
            f"{fmt_money(row.amount, row.asset)} {row.asset} · {row.text[:50]}")  # fmt: skip


def _date(row: Row) -> str:
    return f"{us_to_dt(row.ts_us):%Y-%m-%d}"


class WorkbenchScreen(Screen[None]):
    BINDINGS = bindings.WORKBENCH
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self, pair: SourcePair, record_id: int | None = None) -> None:
        super().__init__(id="workbench")
        self.pair = pair
        self._start_record = record_id
        self._timer: Timer | None = None
        self._focused_row: Row | None = None
        self._followed: int | None = None
        """The record whose candidates and detail were last loaded (``_follow``)."""
        self._cand_generation = 0
        self._moved_at = 0.0
        """monotonic() of the last cursor announcement (a move within the debounce of the
        previous one is key repeat)."""
        self._follow_queued = False

    @property
    def services(self) -> Services:
        return services_of(self.app)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="wb-panes"):
            panes = self.services.panes.for_pair(self.pair)
            yield RecordPane(panes, self.pair.left, "L", id="left")
            yield RecordPane(panes, self.pair.right, "R", id="right")
        with Horizontal(id="wb-lower"):
            yield CandidatesPane(id="candidates")
            yield DetailPane(id="detail")
        yield Static("", id="wb-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"{self.pair.name}: {self.pair.left.label()} vs {self.pair.right.label()}"
        self.title = "recon-tui"
        self.left.set_query()
        self.right.set_query()
        self.active = self.left
        self.left.focus()
        if self._start_record is not None:
            self.show_record(self._start_record)
        # Candidates and detail of the first item now, not after the cursor's debounce
        # (the panes' first announcements then find them loaded).
        self._focused_row = self.active.current
        self._follow()

    def show_record(self, record_id: int) -> bool:
        """Put the cursor on a record of this pair (the pane of its side, showing its state,
        by date): where Enter on an unresolved item, an audit entry, a break of the aging
        chart or a search hit leads."""
        panes = self.services.panes
        detail = panes.record_detail(record_id, self.pair.name)
        rows = panes.rows([record_id], self.pair.name)
        if detail is None or not rows:
            self.notify(f"record {record_id} is not in the store", severity="warning")
            return False
        rec = detail["record"]
        pane = next((p for p in (self.left, self.right) if p.side.admits(rec)), None)
        if pane is None:
            self.notify(f"{rec.external_id} is on neither side of {self.pair.name}",
                        severity="warning")  # fmt: skip
            return False
        status = "matched" if detail["state"] == "matched" else "unmatched"
        if pane.filter.status != status or not pane.filter.is_default() or pane.sort != SortSpec():
            pane.set_query(filt=PaneFilter(status=status), sort=SortSpec())
        pane.select_row(rows[0])
        self.active = pane
        pane.focus()
        self._status(f"at {rec.source} {rec.external_id}")
        return True

    # --- widgets -----------------------------------------------------------------------

    @property
    def left(self) -> RecordPane:
        return self.query_one("#left", RecordPane)

    @property
    def right(self) -> RecordPane:
        return self.query_one("#right", RecordPane)

    @property
    def candidates(self) -> CandidatesPane:
        return self.query_one("#candidates", CandidatesPane)

    def _status(self, text: str) -> None:
        # One line high whatever it says: no layout of the screen for it.
        self.query_one("#wb-status", Static).update(text, layout=False)

    # --- following the cursor ------------------------------------------------------------

    @on(RowHighlighted)
    def _row_highlighted(self, event: RowHighlighted) -> None:
        pane = event.pane
        if pane.has_focus or pane is getattr(self, "active", None):
            self.active = pane
            self._focused_row = event.row
            if self._timer is None and (event.row.id if event.row else None) == self._followed:
                return  # shown already (a reload's or the first page's announcement)
            if self._timer is not None:
                self._timer.stop()
                self._timer = None
            now = time.monotonic()
            resting, self._moved_at = now - self._moved_at >= DEBOUNCE_S, now
            if resting and not self._follow_queued:
                # The first move after a rest: follow right after the frame that shows
                # the cursor (waiting out the debounce first was 60 ms of every
                # candidates lookup); moves while keys repeat wait for the rest.
                self._follow_queued = True
                self.call_after_refresh(self._follow_queued_row)
            else:
                self._timer = self.set_timer(DEBOUNCE_S, self._follow)

    def _follow_queued_row(self) -> None:
        self._follow_queued = False
        if self._timer is None:  # else a later move's debounce follows the row it rests on
            self._follow()

    def _follow(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        row = self._focused_row
        self._followed = row.id if row else None
        detail = self.services.panes.record_detail(row.id, self.pair.name) if row else None
        self.query_one("#detail", DetailPane).show(detail)
        self._cand_generation += 1
        if row is None:
            self.candidates.show([], None, "no item")
            return
        # Stored suggestions now, in this frame (indexed reads); the engine, when it may
        # add more, in a worker. A worker for the stored ones too cost two thread hops
        # per item shown, the better part of a confirm's latency under load.
        stored, more = self.services.candidates.stored_first(self.pair.name, row.id)
        if not more:
            self.candidates.show(stored, row.id)
            return
        self.candidates.show(stored, row.id, "looking for candidates…")
        self._load_candidates(self._cand_generation, row.id)

    @work(thread=True, exclusive=True, group="candidates")
    def _load_candidates(self, generation: int, record_id: int) -> None:
        found = self.services.candidates.candidates(self.pair.name, record_id)
        self.app.call_from_thread(self._show_candidates, generation, record_id, found)

    def _show_candidates(self, generation: int, record_id: int, found: list[CandidateView]) -> None:
        if generation == self._cand_generation:
            self.candidates.show(found, record_id)

    def _chosen_candidate(self) -> CandidateView | None:
        """The highlighted candidate when the candidates pane has focus, else the best."""
        cands = self.candidates
        if cands.has_focus:
            return cands.selected
        return cands.candidates[0] if cands.candidates else None

    @on(MarksChanged)
    def _marks_changed(self, event: MarksChanged) -> None:
        """Both panes' borders: each side's marked count and sum (the pane's own), and the
        running difference L − R while both sides have marks."""
        lt, rt = self.left.marked_totals(), self.right.marked_totals()
        note = ""
        if lt and rt:
            diff = {a: lt.get(a, Decimal(0)) - rt.get(a, Decimal(0))
                    for a in sorted(set(lt) | set(rt))}  # fmt: skip
            note = "marked L − R " + fmt_amounts(diff)
        self.left.show_marks_note(note)
        self.right.show_marks_note(note)

    # --- refreshing ------------------------------------------------------------------------

    def refresh_data(self, reason: str = "decision") -> None:
        self.left.reload()
        self.right.reload()
        # Follow the active pane's row now (it may be another record: the decided one
        # left the pane); the reloads' announcements then find it loaded, so the
        # candidates are read once, not again after the debounce.
        self._focused_row = self.active.current
        self._follow()

    def on_store_changed(self, event: StoreChanged) -> None:
        self.refresh_data(event.reason)

    def on_sync_finished(self, event: SyncFinished) -> None:
        self.refresh_data("sync")

    def _decided(self, outcome: str | Outcome) -> None:
        done = outcome if isinstance(outcome, Outcome) else Outcome(outcome)
        self._status(done.message)
        if done.record_ids and done.pair in (None, self.pair.name):
            # From what the write returned: the moved rows change in place (one indexed
            # read), not both panes' screens read and painted again.
            before = dict(done.states_before) if done.states_before is not None else None
            self.left.apply_decided(done.record_ids, before)
            self.right.apply_decided(done.record_ids, before)
            self._focused_row = self.active.current
            self._follow()
        else:
            self.refresh_data()
        # No toast: the status line says it, in the same frame. A toast per decision was
        # a layout of the screen to mount it and another when it timed out, seconds later,
        # in the middle of the next decisions (a burst of confirms stacked a dozen).

    def _failed(self, exc: Exception) -> None:
        self.notify(str(exc), severity="error")
        self._status(str(exc))

    # --- decisions -------------------------------------------------------------------------
    # Every write runs in a worker (it may wait on the store's write lock while a sync or a
    # match run holds it); the outcome comes back on the UI thread.

    @work(thread=True, group="decide")
    def _decide(self, what: Callable[[], str | Outcome],
                after: Callable[[], None] | None = None) -> None:  # fmt: skip
        try:
            message = what()
        except (DecisionError, ValueError) as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        if after is not None:
            self.app.call_from_thread(after)
        self.app.call_from_thread(self._decided, message)

    def _ask_dissolving(self, ids: list[int], go: Callable[[], None], keep: int | None = None) -> None:
        """Say first which suggestions an action would dissolve; go on when agreed."""
        lost = self.services.decisions.dissolves(self.pair.name, ids, keep=keep)
        if not lost:
            go()
            return
        shown = "; ".join(d.line() for d in lost[:3]) + (
            f" and {len(lost) - 3} more" if len(lost) > 3 else "")  # fmt: skip

        def done(result: tuple[bool, str] | None) -> None:
            if result is not None:
                go()

        self.app.push_screen(ConfirmScreen(
            "Dissolve suggestions?", f"This also dissolves {shown}. Undo brings them back.",
        ), done)  # fmt: skip

    def action_confirm(self) -> None:
        cand = self._chosen_candidate()
        if cand is None:
            self.notify("no suggestion for this item", severity="warning")
            return
        candidates = self.services.candidates

        def confirm() -> Outcome:  # in the worker: the write leaves the UI free
            # Competing suggestions of these records go with a confirm (that is what
            # choosing one means): no question, but the message says how many (the
            # write's own result), and undo restores them.
            return candidates.confirm(self.pair.name, cand)

        self._decide(confirm)

    def action_reject(self) -> None:
        cand = self._chosen_candidate()
        if cand is None:
            self.notify("no suggestion to reject", severity="warning")
            return
        candidates = self.services.candidates

        def done(result: tuple[str, str | None] | None) -> None:
            if result is None or cand is None:
                return
            reason, note = result

            def reject() -> str:
                candidates.reject(self.pair.name, cand, reason, note)
                return f"rejected ({reason}); it will not be suggested again"

            self._decide(reject)

        names = ", ".join(r.external_id for r in cand.counterparts[:4])
        summary = (f"{cand.rule or 'suggestion'} {cand.score:.2f} · {names} · "
                   f"L − R {candidate_difference(cand)}")  # fmt: skip
        self.app.push_screen(RejectScreen(summary), done)

    def action_manual_match(self) -> None:
        left, right = list(self.left.marked), list(self.right.marked)
        if len(left) + len(right) < 2:
            self.notify(
                "mark items with Space first: both sides, or a posting and its reversal",
                severity="warning",
            )
            return
        panes, decisions = self.services.panes, self.services.decisions
        lt, rt = panes.totals(left), panes.totals(right)
        diff = panes.difference(lt, rt)

        def clear() -> None:
            self.left.clear_marks()
            self.right.clear_marks()

        def done(result: tuple[str | None, str | None] | None) -> None:
            if result is None:
                return
            reason, note = result

            def match() -> str:
                gid = decisions.manual_match(self.pair.name, left, right, reason=reason, note=note)
                return f"matched {len(left)}:{len(right)} by hand (group {gid})"

            self._ask_dissolving([*left, *right], lambda: self._decide(match, clear))

        policy = writeoff.policy(self.services.store, self.pair.name)
        gross = writeoff.gross_of(lt, rt)

        def check(reason: str | None) -> str | None:
            return writeoff.check(policy, self.pair.name, diff, gross, reason)

        self.app.push_screen(ManualMatchScreen(lt, rt, diff, len(left), len(right), check), done)

    def action_undo(self) -> None:
        self._decide(self.services.decisions.undo_outcome)

    def _focused_record(self) -> Row | None:
        return self.active.current

    def action_note(self) -> None:
        row = self._focused_record()
        if row is None:
            self.notify("no item to annotate", severity="warning")
            return
        decisions = self.services.decisions

        def done(text: str | None) -> None:
            if not text or row is None:
                return

            def note() -> str:
                decisions.add_note(text, record_id=row.id)
                return f"note added to {row.external_id}"

            self._decide(note)

        self.app.push_screen(NoteScreen(row_summary(row)), done)

    def action_explain(self) -> None:
        pane = self.active
        rows = list(pane.marked.values()) or ([pane.current] if pane.current else [])
        if not rows:
            self.notify("no item to explain", severity="warning")
            return
        ids = [r.id for r in rows if r is not None]
        summary = row_summary(rows[0]) if len(rows) == 1 else f"{len(rows)} marked items"
        decisions = self.services.decisions

        def done(result: tuple[str, str] | None) -> None:
            if result is None:
                return
            reason, note = result

            def explain() -> str:
                gid = decisions.explain(self.pair.name, ids, reason, note, side=pane.code)
                return f"break explained as {reason} (group {gid})"

            self._ask_dissolving(ids, lambda: self._decide(explain, pane.clear_marks))

        self.app.push_screen(ExplainScreen(summary), done)

    def action_accept_all(self) -> None:
        filt = self.left.filter
        candidates = self.services.candidates

        def preview(value: str) -> str:
            threshold = _threshold(value)
            n = len(candidates.suggestions_above(self.pair, threshold, filt))
            return f"{n:,} suggestion(s) would be confirmed"

        def done(result: tuple[bool, str] | None) -> None:
            if result is None:
                return
            try:
                threshold = _threshold(result[1])
            except ValueError as exc:
                self._failed(exc)
                return
            self._bulk_confirm(threshold, filt)

        scope = filt.describe() or "no filter"
        self.app.push_screen(ConfirmScreen(
            "Accept all suggestions",
            f"Confirm every suggestion of {self.pair.name} scoring at least the threshold "
            f"({scope}).", value_label="Score threshold (0-1)", value=DEFAULT_THRESHOLD,
            preview=preview,
        ), done)  # fmt: skip

    @work(thread=True, exclusive=True, group="bulk")
    def _bulk_confirm(self, threshold: float, filt: PaneFilter) -> None:
        services = self.services
        ids = services.candidates.suggestions_above(self.pair, threshold, filt)
        n = services.decisions.bulk_confirm(ids) if ids else 0
        self.app.call_from_thread(
            self._decided, f"confirmed {n:,} suggestion(s) scoring ≥ {threshold:.2f}"
        )

    # --- navigation and view ---------------------------------------------------------------

    def action_next_suggested(self) -> None:
        pane = self.active
        cur = pane.current
        row = pane.pager.next_suggested(cur.sort_key if cur else None)
        if row is None:
            self.notify("no items with suggestions here", severity="information")
            return
        pane.select_row(row)
        pane.focus()

    def action_filter(self) -> None:
        pane = self.active

        def done(filt: PaneFilter | None) -> None:
            if filt is not None:
                pane.set_query(filt=filt)
                pane.focus()

        self.app.push_screen(FilterScreen(pane.filter, pane.side.label()), done)

    def action_search(self) -> None:
        """Search both sides of the pair; Enter on a hit puts the cursor on it."""

        def done(record_id: int | None) -> None:
            if record_id is not None:
                self.show_record(record_id)

        self.app.push_screen(SearchScreen(self.pair), done)

    def action_saved_filters(self) -> None:
        """This pair's named filters: apply one to the focused pane, or save its filter."""
        pane = self.active

        def done(filt: PaneFilter | None) -> None:
            if filt is not None:
                pane.set_query(filt=filt)
                pane.focus()

        self.app.push_screen(SavedFiltersScreen(self.pair.name, pane.filter), done)

    def on_option_list_option_selected(self, event: Any) -> None:
        # Enter on a highlighted candidate confirms it (the list takes Enter first).
        if event.option_list is self.candidates:
            event.stop()
            self.action_confirm()

    def action_cycle_sort(self) -> None:
        pane = self.active
        i = SORTS.index(pane.sort) if pane.sort in SORTS else -1
        pane.set_query(sort=SORTS[(i + 1) % len(SORTS)])

    def action_toggle_detail(self) -> None:
        self.toggle_class("-show-detail")

    def action_clear_marks(self) -> None:
        self.left.clear_marks()
        self.right.clear_marks()

    def action_reload(self) -> None:
        self.refresh_data("reload")

    def action_audit(self) -> None:
        """The audit trail of the focused record (every decision that touched it)."""
        from recon_tui.screens.audit import AuditScreen

        row = self._focused_record()
        if row is None:
            self.notify("no record under the cursor", severity="warning")
            return
        self.app.push_screen(AuditScreen(record_id=row.id))

    def action_export(self) -> None:
        self.app.action_export()  # type: ignore[attr-defined]

    def action_run_matching(self) -> None:
        self.app.run_matching([self.pair.name])  # type: ignore[attr-defined]


def _threshold(value: str) -> float:
    try:
        t = float(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a score between 0 and 1") from None
    if not 0 <= t <= 1:
        raise ValueError("the threshold is a score between 0 and 1")
    return t
