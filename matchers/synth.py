"""Synthetic reconciliation data for the matcher tests and benches.

A deterministic stand-in for ``recon_tui.demo`` (which the benches prefer when it
exists): ledger vs bank records in scenarios exact, fee, lag, typo, n:1, 1:n, decoy,
pending, reversal and break, with ids assigned and the true groups returned. Pure:
no I/O, seeded ``random.Random``; amounts are built from integers (never floats).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from recon_tui.model import Record

SCENARIOS = (
    "exact", "exact", "exact", "exact", "fee", "lag", "typo", "n:1", "1:n", "decoy",
    "pending", "reversal", "break",
)
NAMES = (
    "Acme Ltd", "Globex GmbH", "Initech Inc", "Umbrella Limited", "Stark Industries",
    "Wayne Enterprises", "Hooli", "Vandelay Imports", "Soylent Corp", "Tyrell SA",
)


@dataclass(frozen=True, slots=True)
class Truth:
    scenario: str
    left: tuple[int, ...]
    right: tuple[int, ...]


@dataclass(slots=True)
class World:
    left: list[Record]
    right: list[Record]
    truth: list[Truth]


def _typo(rng: random.Random, s: str) -> str:
    i = rng.randrange(len(s))
    c = rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")
    return s[:i] + c + s[i + 1 :]


def generate(size: int, seed: int = 0, start_id: int = 1, days: int = 365) -> World:
    """About ``size`` records per side (fewer on the right for pending items)."""
    rng = random.Random(seed)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    left: list[Record] = []
    right: list[Record] = []
    truth: list[Truth] = []
    next_id = [start_id]
    n = 0

    def rec(side: list[Record], source: str, ts: datetime, amount: Decimal, **kw: object) -> int:
        rid = next_id[0]
        next_id[0] += 1
        side.append(Record(source=source, external_id=f"{source}-{rid}", kind="payment",
                           ts=ts, asset="EUR", amount=amount, id=rid, **kw))  # type: ignore[arg-type]
        return rid

    while len(left) < size:
        sc = rng.choice(SCENARIOS)
        ts = base + timedelta(days=rng.randrange(days), seconds=rng.randrange(86400))
        cents = rng.randrange(100, 5_000_000)
        sign = -1 if rng.random() < 0.6 else 1
        amount = Decimal(cents * sign).scaleb(-2)
        cp = rng.choice(NAMES)
        ref = f"INV-{seed % 97}{n:07d}"
        n += 1
        if sc in ("exact", "lag", "fee", "typo", "reversal"):
            lag = rng.randrange(1, 4) if sc == "lag" else rng.randrange(0, 2)
            rts = ts + timedelta(days=lag)
            ramount = amount
            fee = None
            if sc == "fee":
                fee = Decimal(rng.randrange(50, 400)).scaleb(-2)
                ramount = amount - fee if sign > 0 else amount + fee
            rref = _typo(rng, ref) if sc == "typo" else ref
            rcp = cp.upper() + " LIMITED" if sc == "typo" else cp
            if sc == "reversal":
                # A payout and its reversal: both sides see both legs.
                a1 = rec(left, "ledger", ts, amount, reference=ref, counterparty=cp)
                b1 = rec(right, "bank", rts, amount, reference=ref, counterparty=cp)
                a2 = rec(left, "ledger", ts + timedelta(days=2), -amount,
                         reference=ref + "R", counterparty=cp)
                b2 = rec(right, "bank", rts + timedelta(days=2), -amount,
                         reference=ref + "R", counterparty=cp)
                truth += [Truth(sc, (a1,), (b1,)), Truth(sc, (a2,), (b2,))]
                continue
            a = rec(left, "ledger", ts, amount, reference=ref, counterparty=cp)
            b = rec(right, "bank", rts, ramount, reference=rref, counterparty=rcp, fee=fee,
                    fee_asset="EUR" if fee else None)
            truth.append(Truth(sc, (a,), (b,)))
        elif sc in ("n:1", "1:n"):
            k = rng.randrange(2, 5)
            parts = [Decimal(rng.randrange(1000, 900_000) * sign).scaleb(-2) for _ in range(k)]
            total = sum(parts, Decimal(0))
            fam = f"BATCH-{n:07d}"
            many_side, one_side = (left, right) if sc == "n:1" else (right, left)
            msrc, osrc = ("ledger", "bank") if sc == "n:1" else ("bank", "ledger")
            ids = tuple(
                rec(many_side, msrc, ts + timedelta(hours=i), p, reference=f"{fam}-{i + 1}",
                    counterparty=cp)
                for i, p in enumerate(parts)
            )
            one = rec(one_side, osrc, ts + timedelta(days=1), total, reference=fam,
                      counterparty=cp)
            truth.append(Truth(sc, ids, (one,)) if sc == "n:1" else Truth(sc, (one,), ids))
        elif sc == "decoy":
            # True pair decided by reference + counterparty; a decoy with the same amount
            # and date but another counterparty and no reference sits next to it.
            a = rec(left, "ledger", ts, amount, counterparty=cp, memo=f"payment {ref}")
            b = rec(right, "bank", ts, amount, counterparty=cp, memo=f"payment {ref}")
            other = NAMES[(NAMES.index(cp) + 3) % len(NAMES)]
            rec(left, "ledger", ts, amount, counterparty=other, memo="refund")
            truth.append(Truth(sc, (a,), (b,)))
        elif sc == "pending":
            rec(left, "ledger", ts, amount, reference=ref, counterparty=cp)
        elif sc == "break":
            a = rec(left, "ledger", ts, amount, reference=ref, counterparty=cp)
            rec(right, "bank", ts, amount * 2, reference=f"X{ref}", counterparty="Other")
    return World(left, right, truth)
