"""The one candidate type: a ranked counterpart proposal for a focused record, either a
stored suggestion (``group_id`` set) or an on-demand engine candidate.

Differences are data (per asset, left minus right, exact); widgets format them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from recon_tui.services.panes import Row


@dataclass(slots=True)
class CandidateView:
    group_id: int | None
    left_ids: tuple[int, ...]
    right_ids: tuple[int, ...]
    score: float
    rule: str
    decision: str
    explanation: dict[str, Any]
    adjustments: list[dict[str, Any]]
    difference: dict[str, Decimal] = field(default_factory=dict)
    """Per asset: sum of the left members minus sum of the right ones (non-zero only)."""
    date_lag_days: int | None = None
    counterparts: list[Row] = field(default_factory=list)
    """The member rows (both sides), when read for a screen."""

    @property
    def ids(self) -> tuple[int, ...]:
        return self.left_ids + self.right_ids

    def _entries(self) -> list[tuple[str, dict[str, Any]]]:
        # The engine's ``decision`` entry is no field comparison: the shape line says it.
        return [(k, v) for k, v in self.explanation.items()
                if k != "decision" and isinstance(v, dict)]  # fmt: skip

    @property
    def agreed(self) -> list[str]:
        return [k for k, v in self._entries() if v.get("agree")]

    @property
    def disagreed(self) -> list[str]:
        # ``agree`` None is "missing on a side": no evidence either way, not a clash.
        return [k for k, v in self._entries() if v.get("agree") is False]
