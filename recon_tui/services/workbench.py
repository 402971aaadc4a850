"""Older import path of the workbench's names, kept so callers written before the service
layer was split by job keep working. New code imports from the modules named here:

- panes and their pager: :mod:`recon_tui.services.panes`;
- candidates: :mod:`recon_tui.services.candidates` (the one type is
  :class:`~recon_tui.services.candidate_view.CandidateView`);
- the dashboard: :mod:`recon_tui.services.dashboard`;
- money and time formatting: :mod:`recon_tui.formatting`.

There is no app-wide ``WorkbenchService`` any more: the app holds a
:class:`~recon_tui.services.bundle.Services` bundle.
"""

from __future__ import annotations

from recon_tui.formatting import (
    MIN_SHOWN,
    MINUS,
    PLACES,
    ago,
    dr_cr,
    fmt_difference,
    fmt_money,
    places_for,
    us_to_dt,
)
from recon_tui.services.candidate_view import CandidateView
from recon_tui.services.dashboard import (
    AGING_BUCKETS,
    Dashboard,
    PairSummary,
    SideSummary,
    SourceHealth,
    aging_bucket,
)
from recon_tui.services.panes import (
    STATE_CHOICES,
    UNMATCHED,
    PairPanes,
    PaneFilter,
    PanesService,
    Row,
    SidePager,
    SortSpec,
)

Candidate = CandidateView
WorkbenchService = PairPanes
"""The type a pane is given (a :class:`PairPanes` in fact; both have ``pager``)."""

__all__ = [
    "AGING_BUCKETS",
    "MINUS",
    "MIN_SHOWN",
    "PLACES",
    "STATE_CHOICES",
    "UNMATCHED",
    "Candidate",
    "CandidateView",
    "Dashboard",
    "PairPanes",
    "PairSummary",
    "PaneFilter",
    "PanesService",
    "Row",
    "SidePager",
    "SideSummary",
    "SortSpec",
    "SourceHealth",
    "WorkbenchService",
    "aging_bucket",
    "ago",
    "dr_cr",
    "fmt_difference",
    "fmt_money",
    "places_for",
    "us_to_dt",
]  # fmt: skip
