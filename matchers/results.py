"""What the engine hands back: proposals, candidates, adjustments, run results.

Scores are floats in [0, 1] (a ranking, not money); every amount is a ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Adjustment:
    """An explicit difference inside tolerance: never silently absorbed.

    ``amount`` is left total minus right total (in ``asset``), signed from the left
    side's view; ``kind`` is ``fee``, ``fx`` or ``rounding``.
    """

    kind: str
    asset: str
    amount: Decimal
    note: str = ""


@dataclass(slots=True)
class Proposal:
    """A proposed match group: left ids against right ids, scored and explained.

    ``decision`` is ``auto`` (safe to confirm) or ``suggest`` (operator decides);
    ``alternatives`` lists competing proposals for the same records when ambiguous.
    """

    left_ids: tuple[int, ...]
    right_ids: tuple[int, ...]
    score: float
    rule: str
    decision: str
    explanation: dict[str, Any]
    adjustments: list[Adjustment] = field(default_factory=list)
    alternatives: list[Proposal] = field(default_factory=list)

    @property
    def ids(self) -> frozenset[int]:
        return frozenset(self.left_ids) | frozenset(self.right_ids)

    def key(self) -> tuple[tuple[int, ...], tuple[int, ...], str]:
        """Identity of the group regardless of score (for comparisons and dedup)."""
        return (self.left_ids, self.right_ids, self.rule)


@dataclass(slots=True)
class Candidate:
    """A ranked counterpart for one open record (the operator's pick list)."""

    record_id: int
    left_ids: tuple[int, ...]
    right_ids: tuple[int, ...]
    score: float
    rule: str
    explanation: dict[str, Any]
    adjustments: list[Adjustment] = field(default_factory=list)

    @property
    def counterpart_ids(self) -> tuple[int, ...]:
        """The ids on the other side from ``record_id`` (the proposed counterparts)."""
        return self.right_ids if self.record_id in self.left_ids else self.left_ids


@dataclass(slots=True)
class MatchResult:
    """Proposals of one run plus counters (blocks, fallbacks, timings)."""

    proposals: list[Proposal]
    stats: dict[str, Any]

    @property
    def auto(self) -> list[Proposal]:
        return [p for p in self.proposals if p.decision == "auto"]

    @property
    def suggestions(self) -> list[Proposal]:
        return [p for p in self.proposals if p.decision == "suggest"]
