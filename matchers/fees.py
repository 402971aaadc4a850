"""Learned fee schedules: recurring amount gaps seen on confirmed groups.

A wire fee of 15.00 that one payer's bank always takes is not noise: once the operator
has confirmed it a few times, the same gap on the next payment of that payer is an
explained difference, as good as a declared fee. The engine is pure, so the schedule is
an input: the service builds it from confirmed groups' records with
:func:`learn_fee_schedule` and sets ``Engine.fee_schedule``; the engine types such a gap
as a ``fee`` adjustment whose note says where it came from.

Keyed per (asset, normalised counterparty, directed gap), on both sides' counterparty
names (the ledger and the bank spell a payer differently), and per (asset, pair) for
fees every payer pays (a higher bar: ``MIN_SEEN_PAIR``); a gap counts once per group.

A fee has a direction (``directed_gap``): it is money taken, so the side that paid it
is always short of the other by it — the bank credits 185.00 of a 200.00 invoice and
debits 300.00 for a 250.00 payment: both +15.00 / +50.00 from the left's (the ledger's)
view. A 100.00 bank line against a 50.00 invoice is the opposite gap: a second payment,
a partial the other way round, never the payer's 50.00 fee. The schedule learns the
direction the pair's fees have and explains only gaps in it (seen on the skewed
book's hardest cell: a "fee -50.00" explained 50.00 against 100.00 lines and took
top-3 places from the true counterparts).

Plausibility (``FeeSchedule.explain``): a learned fee explains a gap only as well as it
could be a fee of *that* payment. The schedule learned its fees from gaps of at most
``MAX_FEE_SHARE`` of their amounts. The payer's own fee stays a fee at any share (its
bank takes 15.00 from a 50.00 payment too). A pair-wide fee (a receiving bank's flat
fee, never seen with this payer) above that share is only a *weak* explanation: a
50.00 gap between a 250.00 invoice and a 200.00 bank line of a payer that never paid
a 50.00 fee reads as a partial or another payment first. It is scored below an equal
amount anywhere in the date window (``explain.LARGE_FEE_SCORE``), so it never outranks
an exact counterpart nor is auto-confirmed on a counterparty alone; the note says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from recon_tui.model import Record

from .normalize import norm_name

MIN_SEEN = 3
"""Confirmed occurrences before a gap is an auto-worthy explained fee."""
MIN_SEEN_PAIR = 10
"""Confirmed occurrences across the whole pair (any payer) before a gap is a pair-wide
explained fee (a receiving bank's flat wire fee)."""
PAIR = "*"
"""The counterparty key of pair-wide counts."""
MAX_FEE_SHARE = Decimal("0.05")
"""A gap above this share of the larger amount is a partial payment, never a fee."""


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fees learned per (asset, counterparty): ``{(asset, cp): {fee: times seen}}``."""

    seen: dict[tuple[str, str], dict[Decimal, int]] = field(default_factory=dict)
    min_seen: int = MIN_SEEN
    min_seen_pair: int = MIN_SEEN_PAIR

    def count(self, asset: str, counterparties: Iterable[str], gap: Decimal) -> int:
        """How many confirmed groups showed (directed) ``gap``: of these (normalised)
        counterparties, or, scaled to ``min_seen``, of the whole pair (``PAIR``: a fee
        the receiving bank takes from every payer, seen ``min_seen_pair`` times)."""
        best = 0
        for cp in counterparties:
            if cp:
                n = self.seen.get((asset, cp), {}).get(gap, 0)
                best = max(best, n)
        whole = self.seen.get((asset, PAIR), {}).get(gap, 0)
        if whole >= self.min_seen_pair:
            best = max(best, self.min_seen * whole // self.min_seen_pair)
        return best

    def source(self, asset: str, counterparties: Iterable[str], gap: Decimal) -> str | None:
        """Where an explained ``gap`` was learned (for the adjustment's note), or None;
        the amount not considered (``explain`` judges it against the payment)."""
        got = self.explain(asset, counterparties, gap)
        return None if got is None else got[0]

    def explain(self, asset: str, counterparties: Iterable[str], gap: Decimal,
                larger: Decimal | None = None) -> tuple[str, bool] | None:
        """(where ``gap`` was learned, whether it is a *weak* explanation) when the
        schedule explains it as a fee of a payment whose larger side is ``larger``
        (None: any), else None. ``gap`` is directed (``directed_gap``): a gap the
        other way round from every learned fee is no fee. Weak: a pair-wide fee above
        ``MAX_FEE_SHARE`` of ``larger`` (see the module docstring); the counterparty's
        own fee is not."""
        size = abs(gap)
        large = larger is not None and size > MAX_FEE_SHARE * larger
        share = f", {_share(size, larger)} of the amount" if large and larger else ""
        own = max((self.seen.get((asset, cp), {}).get(gap, 0) for cp in counterparties if cp),
                  default=0)
        if own >= self.min_seen:
            return (f"learned fee: seen {own} times on confirmed groups of this "
                    f"counterparty{share}"), False
        whole = self.seen.get((asset, PAIR), {}).get(gap, 0)
        if whole >= self.min_seen_pair:
            note = f"learned fee: seen {whole} times on confirmed groups of this source pair"
            if large:
                return (f"{note}, but never of this counterparty and {share[2:]}: weaker "
                        f"than an equal amount"), True
            return note, False
        return None

    def fees_for(self, asset: str, counterparty: str) -> list[Decimal]:
        """The sizes (|fee|) of the auto-worthy fees of one counterparty (its own, seen
        ``min_seen`` times, and the pair's, seen ``min_seen_pair`` times), sorted: the
        gaps to probe for, either way (``explain`` then judges the direction)."""
        got = self.seen.get((asset, counterparty)) if counterparty else None
        out = {abs(f) for f, n in got.items() if n >= self.min_seen} if got else set()
        whole = self.seen.get((asset, PAIR))
        if whole:
            out.update(abs(f) for f, n in whole.items() if n >= self.min_seen_pair)
        return sorted(out)

    def explains(self, asset: str, counterparties: Iterable[str], gap: Decimal) -> bool:
        return self.count(asset, counterparties, gap) >= self.min_seen

    def __bool__(self) -> bool:
        return bool(self.seen)


def directed_gap(left: Decimal, right: Decimal) -> Decimal:
    """The gap of signed amounts ``left`` and ``right`` as a fee of the left's view:
    ``|left| - |right|``, re-signed by the left's sign (+ when the right side is short
    of the left in the left's direction of money: received less, paid more). The
    same sign convention as the engine's fee adjustments."""
    gap = abs(left) - abs(right)
    return -gap if left < 0 else gap


def _share(gap: Decimal, larger: Decimal) -> str:
    """``gap`` as a whole percentage of ``larger`` ("20%"), for notes."""
    return f"{(100 * gap / larger).quantize(Decimal(1))}%"


def learn_fee_schedule(
    groups: Iterable[tuple[Sequence[Record], Sequence[Record]]], min_seen: int = MIN_SEEN,
    min_seen_pair: int = MIN_SEEN_PAIR,
) -> FeeSchedule:
    """A schedule from confirmed groups, each (left records, right records).

    A group's gap is ``directed_gap`` of its left and right totals (one asset only);
    zero gaps and gaps above ``MAX_FEE_SHARE`` of the larger total teach nothing."""
    counts: dict[tuple[str, str], Counter[Decimal]] = {}
    for left, right in groups:
        recs = [*left, *right]
        if not left or not right or len({r.asset for r in recs}) != 1:
            continue
        asset = recs[0].asset
        ls = sum((r.amount for r in left), Decimal(0))
        rs = sum((r.amount for r in right), Decimal(0))
        lt, rt = abs(ls), abs(rs)
        gap = directed_gap(ls, rs)
        if not gap or abs(gap) > MAX_FEE_SHARE * max(lt, rt):
            continue
        gap = gap.normalize()
        for cp in {norm_name(r.counterparty) for r in recs} - {""}:
            counts.setdefault((asset, cp), Counter())[gap] += 1
        counts.setdefault((asset, PAIR), Counter())[gap] += 1
    return FeeSchedule({k: dict(v) for k, v in counts.items()}, min_seen,
                       max(min_seen_pair, min_seen))
