"""A second synthetic book, shaped like real ones rather than like the demo.

The demo world (``recon_tui.demo``) and ``matchers.synth`` are kind to the engine: many
counterparties, unique references on both sides, odd amounts, small fees. Real ledgers
against real bank statements are not (issue 17): a few counterparties with thousands of
items each, a large share of round amounts paid again and again by the same party, wire
fees of any size (0.50 to 50.00, one recurring schedule per payer), value dates up to
two business weeks late, remittances that are empty or written in the bank's own format
(``/ROC/INV123/``, ``REF INV123``, ``inv 123``), batch payments ``BATCH INV684315``
settling ledger lines ``INV684315-0 .. -3``, and instalments ``INV123 part 2/4``.

``generate(size, params, seed)`` returns ledger (left) and bank (right) records with ids
assigned and the true groups (scenario, left ids, right ids); one-sided truths (a ledger
line with no bank line, a bank line with no ledger line) are breaks: nothing to match,
and auto-confirming them into any group is a wrong auto. ``CELLS`` is the evaluation
matrix: a base book and one parameter pushed at a time, plus a hard cell pushing all.

Conventions that differ from the demo on purpose: the bank spells counterparties its
own way (upper case, legal forms spelled out or cut at 24 characters), the bank line
carries the fee gap without declaring it, ledger references are ``INV`` + six digits,
and dates are business-day lags from the ledger's booking day.

Pure and deterministic (seeded ``random.Random``); amounts from integers, never floats.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from recon_tui.model import Record

ROUND = (50, 100, 200, 250, 500, 1000, 2500, 5000)
FEES = ("0.50", "1.00", "2.50", "15.00", "25.00", "50.00")
FORMATS = ("plain", "roc", "ref", "spaced", "lower", "memo")
_WORDS = (
    "Acme", "Northwind", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli",
    "Vandelay", "Soylent", "Tyrell", "Cyberdyne", "Wonka", "Gringotts", "Oscorp", "Pied",
    "Piper", "Dunder", "Mifflin", "Massive", "Dynamic", "Aperture", "Black", "Mesa",
    "Blue", "Sun", "Monarch", "Virtucon", "Zorg", "Nakatomi",
)
_KINDS = ("Trading", "Logistics", "Retail", "Holdings", "Services", "Digital", "Foods")
_FORMS = (("Ltd", "LIMITED"), ("GmbH", "GMBH"), ("Inc", "INC"), ("SA", "S.A."),
          ("BV", "B.V."), ("Plc", "PLC"))


@dataclass(frozen=True, slots=True)
class SkewParams:
    """What real books vary (defaults: the base cell)."""

    counterparties: int = 15
    round_share: float = 0.25
    """Share of payments with a round amount (50.00 ... 5,000.00)."""
    repeat_share: float = 0.3
    """Share of round payments the same party pays again 1-4 business days later."""
    fee_share: float = 0.15
    """Share of single payments whose bank line is short (or long) by a wire fee."""
    fees: tuple[str, ...] = FEES
    """Fee sizes; each counterparty pays one of them habitually (its schedule)."""
    max_lag: int = 3
    """Largest value-date lag in business days (most lags are 0-1)."""
    empty_share: float = 0.1
    """Share of bank lines with an empty remittance (counterparty and amount only)."""
    formats: tuple[str, ...] = FORMATS
    """How the bank writes a ledger reference INV684315: plain, /ROC/INV684315/,
    REF INV684315, INV 684315, inv-684315, or inside the memo text only."""
    batch_share: float = 0.04
    """n:1: ``BATCH INV684315`` on the bank against ``INV684315-0 .. -k`` in the ledger."""
    split_share: float = 0.03
    """1:n: one ledger line ``INV123`` against ``INV123 part 1/3 .. 3/3`` on the bank."""
    decoy_share: float = 0.03
    """A ledger line and a bank line of one party and one round amount, near in date,
    whose references both exist and disagree (``INV192289`` vs ``ORDER 9425047``):
    two breaks that must never be auto-confirmed together."""
    break_share: float = 0.02
    days: int | None = None
    """Calendar days spanned; default scales with size (~700 records per day per side)."""


CELLS: dict[str, SkewParams] = {
    "base": SkewParams(),
    "cp10": SkewParams(counterparties=10),
    "cp200": SkewParams(counterparties=200),
    "round50": SkewParams(round_share=0.5),
    "repeats60": SkewParams(repeat_share=0.6, round_share=0.4),
    "bigfees": SkewParams(fees=("15.00", "25.00", "50.00"), fee_share=0.3),
    "smallfees": SkewParams(fees=("0.50", "1.00", "2.50"), fee_share=0.3),
    "lag10": SkewParams(max_lag=10),
    "empty30": SkewParams(empty_share=0.3),
    "roc": SkewParams(formats=("roc",)),
    "batches": SkewParams(batch_share=0.12, split_share=0.08),
    "hard": SkewParams(counterparties=10, round_share=0.5, repeat_share=0.5, max_lag=10,
                       empty_share=0.3, fee_share=0.25, batch_share=0.08, split_share=0.05),
}
"""The evaluation matrix: the base book, one dimension pushed per cell, and all at once."""


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
    params: SkewParams
    fee_of: dict[str, Decimal] = field(default_factory=dict)
    """Each ledger counterparty's habitual wire fee (what a fee schedule would learn)."""


@dataclass(frozen=True, slots=True)
class _Party:
    ledger_name: str
    bank_name: str
    fee: Decimal


def _parties(rng: random.Random, n: int, fees: tuple[str, ...]) -> list[_Party]:
    out = []
    seen: set[str] = set()
    while len(out) < n:
        w = rng.sample(_WORDS, 2)
        kind = rng.choice(_KINDS)
        form, bank_form = rng.choice(_FORMS)
        name = f"{w[0]} {w[1]} {kind}"
        if name in seen:
            continue
        seen.add(name)
        ledger = f"{name} {form}"
        style = rng.randrange(3)
        if style == 0:
            bank = f"{name} {bank_form}".upper()
        elif style == 1:
            bank = f"{name} {bank_form}".upper()[:24].rstrip()
        else:
            bank = name.upper()
        out.append(_Party(ledger, bank, Decimal(rng.choice(fees))))
    return out


def _bdays_after(d: date, n: int) -> date:
    while n > 0:
        d += timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


def _remit(rng: random.Random, ref: str, fmt: str) -> tuple[str | None, str | None]:
    """(reference, memo) of the bank line for ledger reference ``ref`` ("INV684315")."""
    digits = ref[3:]
    if fmt == "roc":
        return f"/ROC/{ref}/", None
    if fmt == "ref":
        return f"REF {ref}", None
    if fmt == "spaced":
        return f"INV {digits}", None
    if fmt == "lower":
        return f"inv-{digits}", None
    if fmt == "memo":
        return None, f"PAYMENT {ref} THANK YOU"
    return ref, None


def generate(size: int, params: SkewParams | None = None, seed: int = 0,
             start_id: int = 1) -> World:
    """About ``size`` ledger records and a few fewer bank records (see the module doc)."""
    p = params or SkewParams()
    rng = random.Random(seed)
    days = p.days or max(10, min(365, size // 700))
    start = date(2026, 1, 5)
    workdays = [start + timedelta(days=i) for i in range(days)
                if (start + timedelta(days=i)).weekday() < 5]
    parties = _parties(rng, p.counterparties, p.fees)
    left: list[Record] = []
    right: list[Record] = []
    truth: list[Truth] = []
    next_id = [start_id]
    used_refs: set[int] = set()

    def new_ref() -> str:
        while True:
            # Six digits hold 900,000 references: past half of them a draw would mostly
            # hit a used one (and at 1M per side never finish), so a big book goes on with
            # eight digits; a book of fewer references draws exactly as before.
            if len(used_refs) < 450_000:
                n = rng.randrange(100_000, 1_000_000)
            else:
                n = rng.randrange(10_000_000, 100_000_000)
            if n not in used_refs:
                used_refs.add(n)
                return f"INV{n}"

    def rec(side: list[Record], source: str, d: date, amount: Decimal, **kw: object) -> int:
        rid = next_id[0]
        next_id[0] += 1
        ts = datetime.combine(d, time(8 + rid % 9, rid % 60), tzinfo=UTC)
        side.append(Record(source=source, external_id=f"{source}-{rid}", kind="payment",
                           ts=ts, asset="EUR", amount=amount, booking_date=d, value_date=d,
                           id=rid, **kw))  # type: ignore[arg-type]
        return rid

    def lag() -> int:
        x = rng.random()
        if x < 0.6 or p.max_lag == 0:
            return 0
        if x < 0.85 or p.max_lag == 1:
            return 1
        if x < 0.95 or p.max_lag == 2:
            return 2
        return rng.randint(3, max(3, p.max_lag))

    def amount() -> tuple[int, bool]:
        """An amount in cents and whether it is round."""
        if rng.random() < p.round_share:
            return rng.choice(ROUND) * 100, True
        return rng.randrange(1_000, 2_500_000), False

    def bank_text(ref: str) -> dict[str, str | None]:
        if rng.random() < p.empty_share:
            return {"reference": None, "memo": None}
        r, m = _remit(rng, ref, rng.choice(p.formats))
        return {"reference": r, "memo": m}

    def single(d: date, party: _Party, cents: int, sign: int, scenario: str) -> None:
        ref = new_ref()
        amt = Decimal(cents * sign).scaleb(-2)
        bank_amt = amt
        sc = scenario
        if rng.random() < p.fee_share:
            fee = party.fee if rng.random() < 0.85 else Decimal(rng.choice(p.fees))
            if fee < abs(amt):
                # Incoming: the bank credits less; outgoing: the bank debits more.
                bank_amt = amt - fee
                sc = "fee"
        a = rec(left, "ledger", d, amt, reference=ref, counterparty=party.ledger_name)
        b = rec(right, "bank", _bdays_after(d, lag()), bank_amt,
                counterparty=party.bank_name, **bank_text(ref))
        truth.append(Truth(sc, (a,), (b,)))

    while len(left) < size:
        d = rng.choice(workdays)
        party = rng.choice(parties)
        sign = 1 if rng.random() < 0.7 else -1
        x = rng.random()
        if x < p.batch_share:
            # n:1: one bank line settles several ledger lines of one invoice batch.
            ref = new_ref()
            k = rng.randint(2, 5)
            parts = [rng.randrange(1_000, 500_000) for _ in range(k)]
            ids = tuple(
                rec(left, "ledger", d, Decimal(c * sign).scaleb(-2), reference=f"{ref}-{i}",
                    counterparty=party.ledger_name)
                for i, c in enumerate(parts)
            )
            bref = None if rng.random() < p.empty_share else f"BATCH {ref}"
            b = rec(right, "bank", _bdays_after(d, lag()), Decimal(sum(parts) * sign).scaleb(-2),
                    reference=bref, counterparty=party.bank_name)
            truth.append(Truth("n:1", ids, (b,)))
            continue
        x -= p.batch_share
        if x < p.split_share:
            # 1:n: one ledger invoice paid in instalments over a few days.
            ref = new_ref()
            k = rng.randint(2, 4)
            parts = [rng.randrange(1_000, 300_000) for _ in range(k)]
            a = rec(left, "ledger", d, Decimal(sum(parts) * sign).scaleb(-2), reference=ref,
                    counterparty=party.ledger_name)
            style = rng.randrange(3)
            ids = tuple(
                rec(right, "bank", _bdays_after(d, min(i, 3)), Decimal(c * sign).scaleb(-2),
                    reference=(f"{ref} part {i + 1}/{k}" if style == 0
                               else f"{ref}-{i + 1}" if style == 1
                               else f"/ROC/{ref}/ {i + 1} OF {k}"),
                    counterparty=party.bank_name)
                for i, c in enumerate(parts)
            )
            truth.append(Truth("1:n", (a,), ids))
            continue
        x -= p.split_share
        if x < p.decoy_share:
            # Two breaks that look alike: one party, one round amount, near dates,
            # references present on both sides and different.
            cents = rng.choice(ROUND) * 100
            amt = Decimal(cents * sign).scaleb(-2)
            a = rec(left, "ledger", d, amt, reference=new_ref(), counterparty=party.ledger_name)
            b = rec(right, "bank", _bdays_after(d, rng.randint(0, 1)), amt,
                    reference=f"ORDER {rng.randrange(1_000_000, 9_999_999)}",
                    counterparty=party.bank_name)
            truth += [Truth("decoy", (a,), ()), Truth("decoy", (), (b,))]
            continue
        x -= p.decoy_share
        if x < p.break_share:
            cents, _ = amount()
            if rng.random() < 0.5:
                a = rec(left, "ledger", d, Decimal(cents * sign).scaleb(-2),
                        reference=new_ref(), counterparty=party.ledger_name)
                truth.append(Truth("break", (a,), ()))
            else:
                b = rec(right, "bank", d, Decimal(cents * sign).scaleb(-2),
                        reference=f"REF {new_ref()}", counterparty=party.bank_name)
                truth.append(Truth("break", (), (b,)))
            continue
        cents, is_round = amount()
        single(d, party, cents, sign, "round" if is_round else "single")
        if is_round and rng.random() < p.repeat_share:
            # The same party pays the same round amount again a few days later.
            d2 = _bdays_after(d, rng.randint(1, 4))
            single(d2, party, cents, sign, "repeat")
    fee_of = {pt.ledger_name: pt.fee for pt in parties}
    return World(left, right, truth, p, fee_of)


def with_days(params: SkewParams, days: int) -> SkewParams:
    """The same cell over another span (denser or sparser book)."""
    return replace(params, days=days)
