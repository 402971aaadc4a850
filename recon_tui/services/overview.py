"""What the headless service tells the outside: sources, runs, pairs, breaks, sessions and
the audit trail, as plain JSON-able data with amounts as exact decimal strings.

Pairs and sessions are aggregates over every record (about half a second per million rows),
so :class:`Overview` keeps them in a cache that a background thread refreshes whenever
another connection commits to the store (``PRAGMA data_version``), at most every
``min_interval`` seconds and at least once a minute (ages move with the clock). Sources,
runs, breaks and the audit head are read fresh on every call (indexed, milliseconds).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from recon_tui.model import SourcePair, canonical_amount
from recon_tui.store import Store, now_us, reports
from recon_tui.store import runs as runs_store
from recon_tui.store import summary as store_summary
from recon_tui.store.audit import head
from recon_tui.store.db import Connection
from recon_tui.store.pairs import get_pair, list_pairs
from recon_tui.store.sources import list_sources

log = logging.getLogger("recon_tui.overview")


def iso(us: int | None) -> str | None:
    if us is None:
        return None
    d = datetime.fromtimestamp(us // 1_000_000, UTC)
    # Hand-formatted: strftime dominated a page of a thousand breaks.
    return (f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:"
            f"{d.second:02d}.{us % 1_000_000:06d}Z")  # fmt: skip


def money(d: Decimal) -> str:
    return canonical_amount(d)


# --- fresh reads ---------------------------------------------------------------------------


def sources(store: Store, now: int | None = None) -> list[dict[str, Any]]:
    now = now or now_us()
    conn = store.connection()
    out = []
    for s in list_sources(store):
        last_sync = runs_store.last_run(conn, "sync", s.name)
        out.append({
            "name": s.name, "kind": s.kind, "label": s.label, "enabled": s.enabled,
            "health": s.health, "interval_s": s.interval_s,
            "last_sync": iso(s.last_sync_us), "last_success": iso(s.last_success_us),
            "last_error": s.last_error if s.health == "failing" else None,
            "last_error_at": iso(s.last_error_us),
            # The cursor is committed with each batch: its age is the time since the last
            # sync that got through.
            "cursor_age_s": None if s.last_success_us is None
            else round((now - s.last_success_us) / 1_000_000, 3),
            "has_cursor": s.cursor is not None,
            "last_run_id": last_sync.id if last_sync else None,
        })  # fmt: skip
    return out


def run_json(r: runs_store.RunRow) -> dict[str, Any]:
    return {
        "id": r.id, "kind": r.kind, "scope": r.scope, "origin": r.origin,
        "started_by": r.started_by, "parent_id": r.parent_id, "started": iso(r.started_us),
        "finished": iso(r.finished_us), "seconds": r.seconds, "outcome": r.outcome,
        "counts": {k: (v if isinstance(v, int | bool) or v is None else str(v))
                   for k, v in r.counts.items()},
        "error": r.error,
    }  # fmt: skip


def list_runs(store: Store, **filters: Any) -> list[dict[str, Any]]:
    return [run_json(r) for r in runs_store.list_runs(store.connection(), **filters)]


def get_run(store: Store, run_id: int) -> dict[str, Any] | None:
    r = runs_store.get_run(store.connection(), run_id)
    return run_json(r) if r else None


def audit(store: Store) -> dict[str, Any]:
    conn = store.connection()
    seq, h = head(conn)
    last = runs_store.last_run(conn, "verify")
    last_ok = runs_store.last_run(conn, "verify", outcome="ok")
    return {
        "head_seq": seq, "head_hash": h,
        "last_verify": None if last is None else {
            "run_id": last.id, "at": iso(last.finished_us or last.started_us),
            "outcome": last.outcome, "entries": last.counts.get("entries"),
            "problem": last.error, "origin": last.origin,
        },
        "last_ok_verify_at": iso(last_ok.finished_us) if last_ok else None,
    }  # fmt: skip


def breaks(
    store: Store, pair: SourcePair, *, side: str = "both", after: tuple[int, int] | None = None,
    limit: int = 100, text: str = "", asset: str = "", amount_min: str = "",
    amount_max: str = "", date_from: str = "", date_to: str = "", status: str = "unmatched",
    now: int | None = None, workbench: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """Unmatched items of a pair, oldest first, keyset-paged on (ts, id) across both sides.

    Filters are the workbench's (:class:`~recon_tui.services.workbench.PaneFilter`);
    ``ValueError`` names a bad one.
    """
    from recon_tui.services.panes import UNMATCHED, PaneFilter, PanesService, SortSpec

    filt = PaneFilter.parse(text=text, amount_min=amount_min, amount_max=amount_max,
                            date_from=date_from, date_to=date_to, asset=asset, status=status)
    if not set(filt.states) <= set(UNMATCHED):
        raise ValueError("status: breaks are 'unmatched', 'open' or 'suggested' items")
    now = now or now_us()
    panes = workbench or PanesService(store)
    sides = {"left": [("L", pair.left)], "right": [("R", pair.right)],
             "both": [("L", pair.left), ("R", pair.right)]}[side]  # fmt: skip
    rows = []
    for tag, s in sides:
        pager = panes.pager(pair, s, filt, SortSpec("ts"))
        page = pager.after(after, limit + 1) if after else pager.first(limit + 1)
        rows += [(r.sort_key, tag, r) for r in page]
    rows.sort(key=lambda x: x[0])
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{
        "id": r.id, "side": tag, "ts": iso(r.ts_us), "age_days": (now - r.ts_us) // reports.DAY_US,
        "asset": r.asset, "amount": money(r.amount), "kind": r.kind, "state": r.state,
        "status": r.status, "counterparty": r.counterparty, "reference": r.reference,
        "memo": r.memo, "external_id": r.external_id,
    } for _, tag, r in rows]  # fmt: skip
    nxt = f"{rows[-1][0][0]}.{rows[-1][0][1]}" if more and rows else None
    return {"pair": pair.name, "items": items, "next": nxt}


def pair_named(store: Store, name: str) -> SourcePair | None:
    return get_pair(store, name)


def parse_cursor(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    a, sep, b = text.partition(".")
    try:
        if not sep:
            raise ValueError
        return int(a), int(b)
    except ValueError:
        raise ValueError(f"after: '{text}' is not a cursor from a previous page") from None


# --- aggregates (cached) -----------------------------------------------------------------


STATES = ("open", "suggested", "matched")


def pair_summary(conn: Connection, pair: SourcePair, now: int,
                 totals: list[Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """One pair's figures: counts and exact amounts per side, state and asset from the
    maintained totals, break aging and the oldest break per asset from ``pair_states``."""
    if totals is None:
        totals = store_summary.pair_totals(conn, pair.name)
    by: dict[tuple[str, str, str], tuple[int, Decimal]] = {
        (t.side, t.state, t.asset): (t.count, t.amount) for t in totals if t.pair == pair.name
    }
    sides = {}
    unmatched: dict[str, list[Decimal]] = {}
    aging: dict[str, list[int]] = {}
    oldest: dict[str, int] = {}
    for i, (name, code, side) in enumerate((("left", "L", pair.left), ("right", "R", pair.right))):
        assets = sorted({a for (c, _, a) in by if c == code})
        counts = {st: sum(n for (c, s_, _), (n, _) in by.items() if c == code and s_ == st)
                  for st in STATES}  # fmt: skip
        sides[name] = {
            "label": side.label(), "counts": counts,
            "by_asset": [{
                "asset": a,
                **{f"{st}_count": by.get((code, st, a), (0, Decimal(0)))[0] for st in STATES},
                **{f"{st}_amount": money(by.get((code, st, a), (0, Decimal(0)))[1])
                   for st in STATES},
            } for a in assets],
        }  # fmt: skip
        for a in assets:
            un = sum((by.get((code, st, a), (0, Decimal(0)))[1] for st in reports.UNMATCHED),
                     Decimal(0))  # fmt: skip
            unmatched.setdefault(a, [Decimal(0), Decimal(0)])[i] += un
        side_aging = store_summary.side_aging(conn, pair.name, code, now)
        for a, buckets in side_aging.aging.items():
            tot = aging.setdefault(a, [0, 0, 0, 0])
            for k, n in enumerate(buckets):
                tot[k] += n
        for a, ts in side_aging.oldest_us.items():
            oldest[a] = min(ts, oldest.get(a, ts))
    per_asset = []
    for a in sorted(set(unmatched) | set(aging)):
        lu, ru = unmatched.get(a, [Decimal(0), Decimal(0)])
        buckets = aging.get(a, [0, 0, 0, 0])
        per_asset.append({
            "asset": a, "left_unmatched": money(lu), "right_unmatched": money(ru),
            "difference": money(lu - ru), "open_breaks": sum(buckets),
            "aging": dict(zip(reports.AGE_BUCKETS, buckets, strict=True)),
            "oldest_break_days": (now - oldest[a]) // reports.DAY_US if a in oldest else None,
        })  # fmt: skip
    total = [sum(aging.get(a, [0, 0, 0, 0])[k] for a in aging)
             for k in range(len(reports.AGE_BUCKETS))]  # fmt: skip
    return {
        "name": pair.name, "rules": pair.rules, "left": sides["left"], "right": sides["right"],
        "open_breaks": sum(total), "aging": dict(zip(reports.AGE_BUCKETS, total, strict=True)),
        "assets": per_asset,
    }  # fmt: skip


def sessions_summary(store: Store) -> list[dict[str, Any]]:
    from recon_tui.services import sessions as sessions_service

    conn = store.connection()
    out = []
    for s in sessions_service.list_sessions(conn):
        unresolved = len(sessions_service.unresolved(conn, s)) if s.state == "open" else 0
        close = s.summary.get("close", {}) if s.state == "closed" else {}
        totals = [
            {k: (str(v) if not isinstance(v, int) else v) for k, v in b.items()}
            for b in close.get("balances", {}).get("by_asset", [])
        ]
        out.append({
            "id": s.id, "name": s.name, "state": s.state, "owner": s.owner,
            "pairs": s.scope.pair_names, "start": iso(s.scope.start_us),
            "end": iso(s.scope.end_us), "opened": iso(s.opened_us), "closed": iso(s.closed_us),
            "unresolved": unresolved, "closing_totals": totals,
        })  # fmt: skip
    return out


class Overview:
    """The cached aggregates and their refresher thread (started by :meth:`start`)."""

    def __init__(self, store: Store, *, min_interval: float = 0.25, max_age: float = 60.0) -> None:
        self.store = store
        self.min_interval = min_interval
        self.max_age = max_age
        self._pairs: dict[str, dict[str, Any]] = {}
        self._pair_order: list[str] = []
        self._sessions: list[dict[str, Any]] = []
        self._at = 0.0
        self.computed_us: int | None = None
        self.compute_seconds = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._workbench: Any = None

    def workbench(self) -> Any:
        """One panes read service for the API's break pages (worker threads read through
        their own store connections)."""
        if self._workbench is None:
            from recon_tui.services.panes import PanesService

            self._workbench = PanesService(self.store)
        return self._workbench

    # --- reads -------------------------------------------------------------------------

    def pairs(self) -> list[dict[str, Any]]:
        self._ensure()
        with self._lock:
            return [self._pairs[n] for n in self._pair_order if n in self._pairs]

    def pair(self, name: str) -> dict[str, Any] | None:
        self._ensure()
        with self._lock:
            return self._pairs.get(name)

    def sessions(self) -> list[dict[str, Any]]:
        self._ensure()
        with self._lock:
            return list(self._sessions)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def _ensure(self) -> None:
        if not self._ready.is_set():
            if self._thread is None:
                self.refresh()
            else:
                self._ready.wait(timeout=30)

    # --- refresh -------------------------------------------------------------------------

    def refresh(self) -> None:
        started = time.perf_counter()
        now = now_us()
        conn = self.store.connection()
        pairs = list_pairs(self.store)
        totals = store_summary.pair_totals(conn)
        computed = {p.name: pair_summary(conn, p, now, totals) for p in pairs}
        sess = sessions_summary(self.store)
        with self._lock:
            self._pairs = computed
            self._pair_order = [p.name for p in pairs]
            self._sessions = sess
            self.computed_us = now
        self.compute_seconds = time.perf_counter() - started
        self._at = time.monotonic()
        self._ready.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="overview", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        last_version: int | None = None
        last_marks: tuple[Any, ...] | None = None
        while not self._stop.is_set():
            try:
                conn = self.store.connection()
                version = reports.data_version(conn)
                stale = time.monotonic() - self._at >= self.max_age
                if version != last_version or stale or not self._ready.is_set():
                    last_version = version
                    # Any commit moves data_version; only some can move the figures.
                    marks = reports.store_marks(conn)
                    if marks != last_marks or stale or not self._ready.is_set():
                        last_marks = marks
                        self.refresh()
            except Exception as exc:  # keep serving the last good figures
                log.warning("overview refresh failed: %s", exc)
            # Back off under a long recompute (a million rows) so it never hogs a core.
            self._stop.wait(max(self.min_interval, self.compute_seconds))


DURATION_BOUNDS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0)


def metrics_snapshot(store: Store, overview: Overview) -> dict[str, Any]:
    """What ``/metrics`` exposes: run outcomes and durations (whole history, from SQL),
    open breaks per pair and age bucket (the cached aggregates) and source health."""
    conn = store.connection()
    return {
        "runs": runs_store.outcome_counts(conn),
        "durations": runs_store.duration_histogram(conn, DURATION_BOUNDS),
        "bounds": DURATION_BOUNDS,
        "breaks": [(p["name"], b, n) for p in overview.pairs() for b, n in p["aging"].items()],
        "sources": [(s.name, s.health, s.last_success_us) for s in list_sources(store)],
        "overview_seconds": overview.compute_seconds,
    }
