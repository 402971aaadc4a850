"""What the engine hands back: proposals, candidates, adjustments, run results.

Scores are floats in [0, 1] (a ranking, not money); every amount is a ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


@dataclass(slots=True, init=False)
class Proposal:
    """A proposed match group: left ids against right ids, scored and explained.

    ``decision`` is ``auto`` (safe to confirm) or ``suggest`` (operator decides);
    ``alternatives`` lists competing proposals for the same records when ambiguous (an
    empty tuple, shared, when there are none: most proposals of a run have none).

    ``explanation`` and ``adjustments`` are either given, or built on each access by
    ``explain`` (the engine's verbose re-score over the records it captured): a full
    run of a million records makes ~700k proposals, and their explanations (~3 KB
    each) would otherwise be held all at once. ``extra`` entries are merged into a
    built explanation (the engine's ``decision`` entry).
    """

    left_ids: tuple[int, ...]
    right_ids: tuple[int, ...]
    score: float
    rule: str
    decision: str
    alternatives: Sequence[Proposal]
    _explanation: dict[str, Any] | None
    _adjustments: list[Adjustment] | None
    _explain: Callable[[], tuple[dict[str, Any], list[Adjustment]]] | None
    _extra: dict[str, Any] | None
    _ids: frozenset[int] | None = field(compare=False, repr=False)

    def __init__(
        self,
        left_ids: tuple[int, ...],
        right_ids: tuple[int, ...],
        score: float,
        rule: str,
        decision: str,
        explanation: dict[str, Any] | None = None,
        adjustments: list[Adjustment] | None = None,
        alternatives: Sequence[Proposal] | None = None,
        *,
        explain: Callable[[], tuple[dict[str, Any], list[Adjustment]]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.left_ids = left_ids
        self.right_ids = right_ids
        self.score = score
        self.rule = rule
        self.decision = decision
        self.alternatives = alternatives if alternatives is not None else ()
        self._explain = explain
        self._extra = extra
        self._ids = None
        if explain is None:
            self._explanation = {**(explanation or {}), **(extra or {})}
            self._adjustments = adjustments if adjustments is not None else []
        else:
            self._explanation = explanation
            self._adjustments = adjustments

    @property
    def explanation(self) -> dict[str, Any]:
        if self._explanation is not None:
            return self._explanation
        assert self._explain is not None
        expl, _ = self._explain()
        if self._extra:
            expl.update(self._extra)
        return expl

    def explained(self) -> tuple[dict[str, Any], list[Adjustment]]:
        """(explanation, adjustments) from one verbose re-score, where reading both
        properties would run it twice (a writer storing every proposal of a run)."""
        if self._explain is None or (
                self._explanation is not None and self._adjustments is not None):
            return self.explanation, self.adjustments
        expl, adjs = self._explain()
        if self._extra:
            expl.update(self._extra)
        return (expl if self._explanation is None else self._explanation,
                adjs if self._adjustments is None else self._adjustments)

    @property
    def adjustments(self) -> list[Adjustment]:
        if self._adjustments is not None:
            return self._adjustments
        assert self._explain is not None
        return self._explain()[1]

    @property
    def ids(self) -> frozenset[int]:
        # Asked many times a proposal (a run's decisions, the writer): built once; the
        # member tuples are set once, by the constructor.
        ids = self._ids
        if ids is None:
            ids = self._ids = frozenset((*self.left_ids, *self.right_ids))
        return ids

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
        """The ids on the other side from ``record_id`` (the proposed counterparts); for
        a one-sided group (a reversal pair), the other ids of its side."""
        if not self.left_ids or not self.right_ids:
            return tuple(i for i in self.left_ids + self.right_ids if i != self.record_id)
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
