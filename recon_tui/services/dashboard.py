"""The dashboard and ``status``: source health and, per pair, counts and exact amounts per
side, state and asset, break aging and the unmatched difference.

Both read the same :func:`pair_counts` from the maintained summaries
(:mod:`recon_tui.store.summary`): a few rows and sixteen index range counts per pair, not
a pass over the records, so it costs milliseconds at a million records per side.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from recon_tui.model import SourcePair
from recon_tui.store import Store
from recon_tui.store import summary as store_summary
from recon_tui.store.pairs import list_pairs_in
from recon_tui.store.sources import SourceInfo, list_sources

AGING_BUCKETS = ("0-1d", "2-7d", "8-30d", "30d+")
_DAY = 86_400_000_000
UNMATCHED = ("open", "suggested")


def aging_bucket(age_days: int) -> int:
    if age_days <= 1:
        return 0
    if age_days <= 7:
        return 1
    if age_days <= 30:
        return 2
    return 3


@dataclass(slots=True)
class SideSummary:
    counts: dict[str, int] = field(
        default_factory=lambda: {s: 0 for s in ("open", "suggested", "matched")}
    )
    amounts: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    """state -> asset -> sum of amounts."""


@dataclass(slots=True)
class PairSummary:
    pair: SourcePair
    left: SideSummary
    right: SideSummary
    aging: list[int]
    """Unmatched items of both sides per :data:`AGING_BUCKETS`."""
    difference: dict[str, Decimal]
    """Per asset: unmatched left total minus unmatched right total."""


@dataclass(slots=True)
class SourceHealth:
    info: SourceInfo
    records: int

    @property
    def health(self) -> str:
        return self.info.health


@dataclass(slots=True)
class Dashboard:
    sources: list[SourceHealth]
    pairs: list[PairSummary]
    now_us: int


def pair_counts(store: Store, now_us: int) -> list[PairSummary]:
    """Every pair's summary, from the maintained totals (the one source of both the
    dashboard's and ``status``'s numbers)."""
    conn = store.connection()
    by_pair: dict[str, dict[str, SideSummary]] = defaultdict(
        lambda: {"L": SideSummary(), "R": SideSummary()}
    )
    for t in store_summary.pair_totals(conn):
        side = by_pair[t.pair][t.side]
        side.counts[t.state] = side.counts.get(t.state, 0) + t.count
        side.amounts.setdefault(t.state, {})[t.asset] = t.amount
    bounds = [now_us - 2 * _DAY, now_us - 8 * _DAY, now_us - 31 * _DAY]
    out = []
    for p in list_pairs_in(conn):
        sides = by_pair[p.name]
        aging = [0, 0, 0, 0]
        for code in ("L", "R"):
            for i, n in enumerate(store_summary.aging_counts(conn, p.name, code, UNMATCHED, bounds)):
                aging[i] += n
        unmatched = []
        for code in ("L", "R"):
            acc: dict[str, Decimal] = defaultdict(Decimal)
            for state in UNMATCHED:
                for asset, v in sides[code].amounts.get(state, {}).items():
                    acc[asset] += v
            unmatched.append(acc)
        assets = sorted(set(unmatched[0]) | set(unmatched[1]))
        diff = {a: unmatched[0].get(a, Decimal(0)) - unmatched[1].get(a, Decimal(0)) for a in assets}
        out.append(PairSummary(p, sides["L"], sides["R"], aging, diff))
    return out


def source_health(store: Store) -> list[SourceHealth]:
    counts = store_summary.source_counts(store.connection())
    return [SourceHealth(s, counts.get(s.name, 0)) for s in list_sources(store)]


class DashboardService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def dashboard(self, now_us: int) -> Dashboard:
        """Source health and per-pair counts, amounts, aging and differences (ms: read
        from the maintained summaries)."""
        return Dashboard(source_health(self.store), pair_counts(self.store, now_us), now_us)
