"""What every matcher sees: both sides' indexes, prices, settings and run counters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .blocking import SideIndex
from .items import Item
from .prices import PriceTable


@dataclass(slots=True)
class Ctx:
    sides: tuple[SideIndex, SideIndex]
    prices: PriceTable
    stats: Counter[str]
    is_open: Callable[[int], bool]
    memo: dict[Any, Any] = field(default_factory=dict)
    """Per-context cache (group searches): valid while ``is_open`` does not change."""
    fees: Any = None
    """The engine's learned fee schedule (``matchers.fees.FeeSchedule``) or None."""
    keep: dict[Any, Any] | None = None
    """A full run's cache across its fixpoint passes (None elsewhere): results of pure
    searches keyed by everything they read (``groups.search`` by the single and the
    open members it was given, ``groups._partition`` by peers and lines), so a pass
    repeats none whose inputs did not change."""

    def item(self, item_id: int) -> Item | None:
        it = self.sides[0].items.get(item_id)
        return it if it is not None else self.sides[1].items.get(item_id)

    def other(self, it: Item) -> SideIndex:
        return self.sides[1 - it.side]

    def own(self, it: Item) -> SideIndex:
        return self.sides[it.side]
