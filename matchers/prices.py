"""Price table for cross-asset matching: the rate of an asset in a quote at a time.

Hourly closes win over daily ones; a rate is only used when the price interval is
close to the record's timestamp (stale prices would make FX matches meaningless).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from recon_tui.model import Price

MAX_AGE = {"1h": timedelta(hours=2), "1d": timedelta(days=2)}


class PriceTable:
    """Closes per (base, quote), searchable by time; inverse pairs are derived."""

    def __init__(self, prices: Iterable[Price] = ()) -> None:
        series: dict[tuple[str, str, str], list[tuple[datetime, Decimal]]] = {}
        for p in prices:
            series.setdefault((p.base, p.quote, p.interval), []).append((p.ts, p.close))
        self._series = {k: sorted(v) for k, v in series.items()}
        self._ts = {k: [t for t, _ in v] for k, v in self._series.items()}
        self.quotes: dict[str, set[str]] = {}
        for base, quote, _ in self._series:
            self.quotes.setdefault(base, set()).add(quote)
            self.quotes.setdefault(quote, set()).add(base)

    def rate(self, base: str, quote: str, ts: datetime) -> Decimal | None:
        """Price of one ``base`` in ``quote`` at ``ts`` (None when no fresh price)."""
        for interval in ("1h", "1d"):
            direct = self._lookup((base, quote, interval), ts)
            if direct is not None:
                return direct
            inverse = self._lookup((quote, base, interval), ts)
            if inverse is not None:
                return Decimal(1) / inverse
        return None

    def _lookup(self, key: tuple[str, str, str], ts: datetime) -> Decimal | None:
        times = self._ts.get(key)
        if not times:
            return None
        i = bisect_right(times, ts) - 1
        if i < 0:
            return None
        t, close = self._series[key][i]
        return close if ts - t <= MAX_AGE[key[2]] else None
