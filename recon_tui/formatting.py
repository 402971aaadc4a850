"""Formatting of money and times for people (screens, widgets and the CLI's text output):
amounts at their asset's precision with a true minus sign, DR/CR, relative ages.

Pure functions over data; services hand over Decimals and microseconds, never text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

# --- amounts -----------------------------------------------------------------------------

PLACES: dict[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "JPY": 0,
    "BTC": 8, "ETH": 18, "USDT": 6, "USDC": 6, "SOL": 9, "XRP": 6,
}  # fmt: skip
"""Display precision per asset; unknown assets show 8 places (most crypto) trimmed."""

MIN_SHOWN = 6
"""Assets finer than this (ETH, 18) are trimmed of trailing zeros down to this many places."""

MINUS = "\u2212"  # a real minus sign: distinct from a hyphen, and visible without colour


def places_for(asset: str) -> int:
    return PLACES.get(asset, 8)


def fmt_money(amount: Decimal, asset: str, *, signed: bool = True) -> str:
    """An amount at its asset's precision (ETH trimmed sensibly), with a true minus sign."""
    places = places_for(asset)
    q = amount.quantize(Decimal(1).scaleb(-places)) if places <= 18 else amount
    text = f"{abs(q):,.{places}f}"
    if places > 8 and "." in text:
        # 18-place wei amounts are unreadable; drop zeros nobody typed, keep MIN_SHOWN.
        whole, frac = text.split(".")
        frac = frac.rstrip("0").ljust(MIN_SHOWN, "0")
        text = f"{whole}.{frac}"
    if signed and q < 0:
        return MINUS + text
    return text


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




def fmt_difference(diff: dict[str, Decimal]) -> str:
    """Per-asset differences as one line ("0" when every asset nets to zero)."""
    return ", ".join(f"{fmt_money(v, a)} {a}" for a, v in diff.items() if v != 0) or "0"
