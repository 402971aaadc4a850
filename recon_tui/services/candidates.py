"""Candidates for the focused record: the pair's stored suggestions first, then the warm
engine's on-demand ones, as :class:`~recon_tui.services.candidate_view.CandidateView`
with their member rows and exact per-asset difference; and accepting or rejecting one.

Engine lookups may be slow (the first builds the pair's engine): call from a worker.
Thread workers cannot be cancelled, so two lookups may overlap; the engines are not
thread-safe, so every engine call holds one lock.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from recon_tui.errors import DecisionError
from recon_tui.model import SourcePair
from recon_tui.services.candidate_view import CandidateView
from recon_tui.services.decisions import Decisions, Outcome
from recon_tui.services.panes import (
    PaneFilter,
    PanesService,
    Row,
    SortSpec,
    pane_query,
    replace_status,
)
from recon_tui.store import Store
from recon_tui.store import groups as store_groups
from recon_tui.store import panes as store_panes
from recon_tui.store.db import Connection

if TYPE_CHECKING:
    from recon_tui.services.matching import MatchService


def _sum(rows: list[Row]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        out[r.asset] += r.amount
    return dict(out)


def stored_views(conn: Connection, pair: str, record_id: int,
                 limit: int | None = None) -> list[CandidateView]:  # fmt: skip
    """The pair's live suggested groups holding the record, best score first, as views
    (what ``services.matching.stored_suggestions`` gives, read here without importing the
    matching engine: that import, numpy and rapidfuzz, took 0.3-0.6 s of the first
    candidates lookup, inside the pair's opening)."""
    out: list[CandidateView] = []
    for g, members in store_groups.suggestions_of_record(conn, pair, record_id, limit):
        expl = g.explanation or {}
        date = expl.get("date", {}) if isinstance(expl, dict) else {}
        lag = date.get("lag_days") if isinstance(date, dict) else None
        out.append(CandidateView(
            g.id, tuple(m.record_id for m in members if m.side == "L"),
            tuple(m.record_id for m in members if m.side == "R"), float(g.score or 0.0),
            g.rule or "", "suggest", expl, g.adjustments or [],
            date_lag_days=int(lag) if isinstance(lag, int | float) else None,
        ))  # fmt: skip
    return out


class CandidateService:
    def __init__(self, store: Store, panes: PanesService, *, use_engine: bool = True) -> None:
        self.store = store
        self.panes = panes
        self.use_engine = use_engine
        """Ask the matching engine for on-demand candidates (off: stored suggestions only)."""
        self._match: MatchService | None = None
        self._lock = threading.Lock()

    def match_service(self) -> MatchService | None:
        """One matching service for the app (it keeps each pair's engine warm)."""
        if not self.use_engine:
            return None
        if self._match is None:
            # Imported on first use: the engine (numpy, rapidfuzz) is not needed to paint.
            from recon_tui.services.matching import MatchService

            self._match = MatchService(self.store)
        return self._match

    def _complete(self, pair: str, c: CandidateView) -> CandidateView:
        """Fill in the member rows, the per-asset difference and the date lag."""
        rows = self.panes.rows([*c.left_ids, *c.right_ids], pair)
        by_id = {r.id: r for r in rows}
        left = [by_id[i] for i in c.left_ids if i in by_id]
        right = [by_id[i] for i in c.right_ids if i in by_id]
        diff = self.panes.difference(_sum(left), _sum(right))
        c.difference = {a: v for a, v in diff.items() if v != 0}
        c.counterparts = rows
        if c.date_lag_days is None and left and right:
            lag = abs(max(r.ts_us for r in right) - min(r.ts_us for r in left))
            c.date_lag_days = lag // 86_400_000_000
        return c

    def stored(self, pair: str, record_id: int, k: int = 10) -> list[CandidateView]:
        """Live stored suggestions of the pair containing the record, best first."""
        return [self._complete(pair, v)
                for v in stored_views(self.panes.conn(), pair, record_id, limit=k)]  # fmt: skip

    def stored_first(self, pair: str, record_id: int, k: int = 5
                     ) -> tuple[list[CandidateView], bool]:  # fmt: skip
        """The stored suggestions of the record (index reads, ~1-2 ms at 1M per side: fine
        on the UI thread) and whether the engine may still add some (then
        :meth:`candidates`, in a worker, gives the full list)."""
        stored = self.stored(pair, record_id, k=max(k, 10))
        return stored, self.use_engine and len(stored) < k

    def candidates(self, pair: str, record_id: int, k: int = 5) -> list[CandidateView]:
        """Ranked candidates: stored suggestions first, then the engine's, k in all."""
        stored = self.stored(pair, record_id, k=max(k, 10))
        room = max(0, k - len(stored))
        svc = self.match_service()
        if svc is None or room == 0:
            return stored
        seen = {(c.left_ids, c.right_ids) for c in stored}
        try:
            with self._lock:
                views = svc.engine_candidates(pair, record_id, k, exclude=seen)
        except Exception:  # the engine failing must not take the workbench down
            return stored
        return [*stored, *(self._complete(pair, v) for v in views[:room])]

    def accept(self, pair: str, cand: CandidateView, note: str | None = None) -> int:
        """Confirm a candidate: a stored suggestion directly, an engine candidate stored
        first (then confirmed)."""
        if cand.group_id is not None:
            Decisions(self.store).confirm(cand.group_id, note=note)
            return cand.group_id
        svc = self.match_service()
        if svc is None:
            raise DecisionError("this candidate needs the matching service to be accepted")
        with self._lock:
            return int(svc.accept(pair, cand, note=note))

    def confirm(self, pair: str, cand: CandidateView, note: str | None = None) -> Outcome:
        """Accept a candidate and say what it did: the line the operator reads and the
        records whose state moved (empty for an engine candidate: the screen re-reads).

        A stored suggestion is one write, whose own result names the suggestions it
        dissolved; an engine candidate asks first (it has no stored group yet)."""
        if cand.group_id is not None:
            done = Decisions(self.store).confirm(cand.group_id, note=note)
            lost = len(done.changes) - 1
            also = f"; {lost} competing suggestion(s) dissolved" if lost else ""
            return replace(done, message=f"confirmed group {cand.group_id} "
                                         f"(score {cand.score:.2f}){also}")  # fmt: skip
        lost = len(Decisions(self.store).dissolves(pair, list(cand.ids)))
        also = f"; {lost} competing suggestion(s) dissolved" if lost else ""
        gid = self.accept(pair, cand, note)
        return Outcome(f"confirmed group {gid} (score {cand.score:.2f}){also}", pair=pair)

    def reject(self, pair: str, cand: CandidateView, reason: str, note: str | None = None) -> None:
        if cand.group_id is not None:
            Decisions(self.store).reject(cand.group_id, reason, note=note)
            return
        svc = self.match_service()
        if svc is None:
            raise DecisionError("this candidate needs the matching service to be rejected")
        with self._lock:
            svc.reject(pair, cand, reason, note=note)

    def suggestions_above(self, pair: SourcePair, threshold: float,
                          filt: PaneFilter | None = None) -> list[int]:  # fmt: skip
        """Stored suggestions of ``pair`` scoring at least ``threshold`` whose left-side
        members all pass the current filter (what 'accept all' applies to)."""
        filt = filt or PaneFilter()
        conn = self.panes.conn()
        gids = store_groups.suggested_above(conn, pair.name, threshold)
        if filt.is_default() or not gids:
            return gids
        members = store_groups.members_of(conn, gids)
        left = {g: [m.record_id for m in ms if m.side == "L"] for g, ms in members.items()}
        q = pane_query(pair.name, "L", replace_status(filt, "suggested"), SortSpec())
        shown = store_panes.passing(conn, q, [i for ids in left.values() for i in ids])
        return [g for g in gids if left.get(g) and all(i in shown for i in left[g])]
