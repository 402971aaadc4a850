"""Numbers and times for people (screens, widgets and the CLI's text output).

Services hand over exact ``Decimal`` amounts and integer microseconds; this module alone
turns them into text: every amount at its asset's *display precision* (fiat 2, BTC 8,
ETH 8 by default), with thousands separators and a true minus sign; the exact value (all
the digits the source sent) where one record is shown in full.

Display precision is configurable: ``RECON_TUI_PLACES="ETH=6,SOL=4"`` in the environment,
or :func:`configure` (the app and the CLI call it once).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

DEFAULT_PLACES: dict[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "SEK": 2, "NOK": 2,
    "DKK": 2, "PLN": 2, "JPY": 0, "USDT": 6, "USDC": 6,
    "BTC": 8, "ETH": 8, "SOL": 9, "XRP": 6,
}  # fmt: skip
"""Display places per asset; an asset not listed shows :data:`OTHER_PLACES`."""

OTHER_PLACES = 8
MIN_SHOWN = 8
"""Kept for the services' re-export: the fewest places an asset finer than 8 shows."""
MINUS = "\u2212"  # a real minus sign: distinct from a hyphen, and visible without colour

PLACES: dict[str, int] = dict(DEFAULT_PLACES)
"""The places in force (defaults, then ``RECON_TUI_PLACES``, then :func:`configure`)."""


def parse_places(text: str) -> dict[str, int]:
    """``"ETH=6, SOL=4"`` -> ``{"ETH": 6, "SOL": 4}``; ``ValueError`` names the bad entry."""
    out: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        asset, sep, places = part.partition("=")
        if not sep or not asset.strip() or not places.strip().isdigit() or int(places) > 18:
            raise ValueError(f"display places: '{part}' is not ASSET=N (N from 0 to 18)")
        out[asset.strip().upper()] = int(places)
    return out


def configure(places: Mapping[str, int] | None = None) -> None:
    """Reset to the defaults, then the environment, then ``places``."""
    PLACES.clear()
    PLACES.update(DEFAULT_PLACES)
    env = os.environ.get("RECON_TUI_PLACES", "")
    if env:
        PLACES.update(parse_places(env))
    if places:
        PLACES.update({k.upper(): int(v) for k, v in places.items()})


configure()


def places_for(asset: str) -> int:
    return PLACES.get(asset.upper(), OTHER_PLACES)


def _grouped(q: Decimal, places: int) -> str:
    return f"{abs(q):,.{places}f}"


def fmt_money(amount: Decimal, asset: str, *, signed: bool = True) -> str:
    """``amount`` at its asset's display places, thousands separated, with a true minus:
    ``−115.24158329`` for an 18-place ETH amount, ``1,249.29`` for EUR."""
    places = places_for(asset)
    q = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    text = _grouped(q, places)
    return MINUS + text if signed and q < 0 else text


def fmt_exact(amount: Decimal, asset: str = "") -> str:
    """Every digit of ``amount`` (thousands separated, true minus, never rounded), padded
    to at least the asset's display places: the detail pane's figure."""
    places = max(places_for(asset) if asset else 0, -amount.as_tuple().exponent)  # type: ignore[operator]
    text = _grouped(amount, places)
    return MINUS + text if amount < 0 else text


def is_rounded(amount: Decimal, asset: str) -> bool:
    """Whether :func:`fmt_money` hides digits of ``amount`` (the detail says so)."""
    places = places_for(asset)
    return amount != amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def fmt_amounts(by_asset: Mapping[str, Decimal], *, zero: str = "0") -> str:
    """Per-asset amounts on one line (``1,250.00 EUR, −0.00150000 BTC``); nonzero only."""
    return ", ".join(f"{fmt_money(v, a)} {a}" for a, v in by_asset.items() if v != 0) or zero


fmt_difference = fmt_amounts


def fmt_count(n: int) -> str:
    return f"{n:,}"


def dr_cr(amount: Decimal) -> str:
    """DR for money out (negative), CR for money in: readable without colour."""
    return "DR" if amount < 0 else "CR"


def us_to_dt(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def ago(us: int | None, now_us: int) -> str:
    """'never', '12s ago', '5m ago', '3h ago', '2d ago' relative to the given now."""
    if us is None:
        return "never"
    s = max(0, (now_us - us) // 1_000_000)
    if s < 60:
        return f"{s}s ago"
    if s < 3600:
        return f"{s // 60}m ago"
    if s < 86400:
        return f"{s // 3600}h ago"
    return f"{s // 86400}d ago"
