"""Tolerance has limits (issue 16.6): the write-off policy of a pair, pure, plus the read
and write of its settings.

A manual match whose sides differ is accepted when the difference is within the pair's
write-off limit. Beyond it, only a typed reason whose own limit covers the difference
(fee, fx, rounding, write-off) lets it through; a note alone never does. Each limit has an
absolute part (in the asset's units, per asset) and a relative part (a fraction of the
gross, the larger side's total): a difference is within a limit when it is within every
part that is set. Defaults below; a pair's own limits live on its row (``source_pairs.
writeoff``, JSON, ``NULL`` for the defaults).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from recon_tui.formatting import fmt_money
from recon_tui.store import Store
from recon_tui.store import pairs as store_pairs
from recon_tui.store.db import Connection

FIAT = ("EUR", "USD", "GBP", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "USDT", "USDC")


def _per_asset(fiat: str, btc: str | None = None, eth: str | None = None) -> dict[str, Decimal]:
    out = {a: Decimal(fiat) for a in FIAT}
    if btc is not None:
        out["BTC"] = Decimal(btc)
    if eth is not None:
        out["ETH"] = Decimal(eth)
    return out


@dataclass(frozen=True, slots=True)
class Limit:
    """``absolute`` per asset (an asset not named has no absolute bound) and ``relative``,
    a fraction of the gross (``None``: no relative bound). Neither set: nothing is within."""

    absolute: Mapping[str, Decimal] = field(default_factory=dict)
    relative: Decimal | None = None

    def covers(self, asset: str, difference: Decimal, gross: Decimal) -> bool:
        d = abs(difference)
        cap = self.absolute.get(asset)
        if cap is None and self.relative is None:
            return False
        if cap is not None and d > cap:
            return False
        return self.relative is None or d <= self.relative * abs(gross)

    def describe(self, asset: str) -> str:
        parts = []
        if (cap := self.absolute.get(asset)) is not None:
            parts.append(f"{fmt_money(cap, asset)} {asset}")
        if self.relative is not None:
            parts.append(f"{percent(self.relative)} of the gross")
        return " and ".join(parts) or "none"

    def to_json(self) -> dict[str, Any]:
        return {"absolute": {a: str(v) for a, v in self.absolute.items()},
                "relative": None if self.relative is None else str(self.relative)}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Limit:
        rel = data.get("relative")
        return cls({str(a).upper(): Decimal(str(v)) for a, v in (data.get("absolute") or {}).items()},
                   None if rel in (None, "") else Decimal(str(rel)))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Policy:
    limit: Limit
    """The pair's write-off limit: any reason within it."""
    reasons: Mapping[str, Limit]
    """A typed reason's own limit, for a difference beyond the pair's."""

    def to_json(self) -> dict[str, Any]:
        return {"limit": self.limit.to_json(),
                "reasons": {k: v.to_json() for k, v in self.reasons.items()}}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Policy:
        reasons = dict(DEFAULT.reasons)
        reasons.update({k: Limit.from_json(v) for k, v in (data.get("reasons") or {}).items()})
        limit = Limit.from_json(data["limit"]) if data.get("limit") else DEFAULT.limit
        return cls(limit, reasons)


DEFAULT = Policy(
    limit=Limit(_per_asset("1.00", "0.0001", "0.001"), Decimal("0.001")),
    reasons={
        "fee": Limit(_per_asset("25.00", "0.001", "0.01"), Decimal("0.01")),
        "fx": Limit({}, Decimal("0.02")),
        "rounding": Limit(_per_asset("0.05", "0.000001", "0.00001"), Decimal("0.0001")),
        "write-off": Limit(_per_asset("10.00", "0.0002", "0.002"), Decimal("0.005")),
    },
)
"""Defaults: 1.00 and 0.1% for anything; fee 25.00 and 1%; FX 2%; rounding 0.05 and 0.01%;
write-off 10.00 and 0.5% (fiat; BTC and ETH scaled; other assets relative only)."""


def percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).quantize(Decimal('0.01')).normalize():f}%"


def check(policy: Policy, pair: str, difference: Mapping[str, Decimal],
          gross: Mapping[str, Decimal], reason: str | None) -> str | None:  # fmt: skip
    """``None`` when the difference may be accepted with ``reason``; else the one line
    that says why not (the figure, the limit it is over, what to do)."""
    over = {a: d for a, d in difference.items()
            if d != 0 and not policy.limit.covers(a, d, gross.get(a, Decimal(0)))}  # fmt: skip
    if not over:
        return None
    own = policy.reasons.get(reason or "")
    if own is not None and all(own.covers(a, d, gross.get(a, Decimal(0))) for a, d in over.items()):
        return None
    asset, d = next(iter(over.items()))
    g = abs(gross.get(asset, Decimal(0)))
    share = f" ({percent(abs(d) / g)} of {fmt_money(g, asset)})" if g else ""
    line = (f"difference {fmt_money(d, asset)} {asset}{share} is over {pair}'s write-off "
            f"limit ({policy.limit.describe(asset)})")  # fmt: skip
    if own is not None:
        line += f" and over the {reason} limit ({own.describe(asset)})"
    else:
        line += f"; '{reason or 'no reason'}' has no limit of its own"
    allowed = [k for k, v in policy.reasons.items() if v.covers(asset, d, g)]
    hint = f"reason {' or '.join(allowed)} covers it" if allowed else "no reason covers it"
    return f"{line}: {hint}; otherwise correct the marks or explain a break"


def gross_of(left: Mapping[str, Decimal], right: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Per asset, the larger side's total in magnitude: what a relative limit is of."""
    return {a: max(abs(left.get(a, Decimal(0))), abs(right.get(a, Decimal(0))))
            for a in set(left) | set(right)}  # fmt: skip


# --- settings ------------------------------------------------------------------------------


def limits_for(conn: Connection, pair: str) -> Policy:
    """The pair's policy (the defaults where it sets none)."""
    stored = store_pairs.writeoff_of(conn, pair)
    return DEFAULT if not stored else Policy.from_json(json.loads(stored))


def policy(store: Store, pair: str) -> Policy:
    return limits_for(store.connection(), pair)


def set_limits(store: Store, pair: str, policy: Policy | None) -> None:
    """Store a pair's policy (``None``: back to the defaults)."""
    with store.tx() as conn:
        if not store_pairs.set_writeoff(
            conn, pair, None if policy is None else json.dumps(policy.to_json())
        ):
            raise ValueError(f"no source pair '{pair}'")


def with_limit(base: Policy, reason: str | None, absolute: Mapping[str, Decimal],
               relative: Decimal | None) -> Policy:  # fmt: skip
    """``base`` with the pair's limit (``reason`` None) or one reason's limit changed."""
    old = base.limit if reason is None else base.reasons.get(reason, Limit())
    # Named assets change, the others keep their bound; no --rel keeps the relative one.
    limit = Limit({**old.absolute, **absolute}, old.relative if relative is None else relative)
    if reason is None:
        return Policy(limit, dict(base.reasons))
    if reason not in base.reasons:
        raise ValueError(f"unknown reason '{reason}' (known: {', '.join(sorted(base.reasons))})")
    return Policy(base.limit, {**base.reasons, reason: limit})
