"""The services the app holds, one per job, in one typed bundle (``app.services``).

Screens and widgets reach the store only through these (``services_of(self.app)``), so no
screen reads a table or knows how a decision is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from recon_tui.services.audit import AuditService
from recon_tui.services.candidates import CandidateService
from recon_tui.services.dashboard import DashboardService
from recon_tui.services.decisions import Decisions
from recon_tui.services.pairs import PairService
from recon_tui.services.panes import PanesService
from recon_tui.services.sessions import SessionService
from recon_tui.store import Store


@dataclass(slots=True)
class Services:
    store: Store
    panes: PanesService
    dashboard: DashboardService
    candidates: CandidateService
    decisions: Decisions
    sessions: SessionService
    audit: AuditService
    pairs: PairService
    clock: Callable[[], int] = field(default=lambda: time.time_ns() // 1000)
    """Now, in µs (the app pins it in tests and snapshots)."""

    def now_us(self) -> int:
        return self.clock()

    @classmethod
    def for_store(cls, store: Store, *, use_engine: bool = True,
                  clock: Callable[[], int] | None = None) -> Services:  # fmt: skip
        panes = PanesService(store)
        extra = {"clock": clock} if clock is not None else {}
        return cls(
            store=store, panes=panes, dashboard=DashboardService(store),
            candidates=CandidateService(store, panes, use_engine=use_engine),
            decisions=Decisions(store, reader=panes.conn),
            sessions=SessionService(store, reader=panes.conn),
            audit=AuditService(store, reader=panes.conn), pairs=PairService(store), **extra,
        )  # fmt: skip

    def close(self) -> None:
        self.panes.close()


def services_of(app: object) -> Services:
    """The bundle an app holds (what every screen calls)."""
    found = getattr(app, "services", None)
    if not isinstance(found, Services):
        raise RuntimeError("this app holds no recon-tui services")
    return found


def bundle_for(given: object | None) -> Services | None:
    """A screen made outside the app (tests, a host app) may be handed a store instead of
    the bundle: the bundle for it (stored suggestions only, no engine)."""
    if given is None or isinstance(given, Services):
        return given
    if not isinstance(given, Store):
        raise TypeError(f"expected Services or Store, not {type(given).__name__}")
    return Services.for_store(given, use_engine=False)
