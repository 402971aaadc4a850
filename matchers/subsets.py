"""Exact subset sums for the group searches (n:1 / 1:n and n:m netting).

Amounts become integers at one common scale, so the meet-in-the-middle searches add and
compare ints instead of Decimals, and still decide exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal


def scale_for(values: Iterable[Decimal]) -> int:
    """The power of ten that makes every value an integer (1 for whole numbers)."""
    places = 0
    for v in values:
        exp = v.as_tuple().exponent
        if isinstance(exp, int) and -exp > places:
            places = -exp
    return int(10**places)


def subset_sums(values: list[int], max_count: int) -> list[tuple[int, int, int]]:
    """(sum, bitmask, size) of every subset of ``values`` with at most ``max_count``."""
    sums = [(0, 0, 0)]
    for b, v in enumerate(values):
        bit = 1 << b
        sums += [(t + v, m | bit, c + 1) for t, m, c in sums if c < max_count]
    return sums
