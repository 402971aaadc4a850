"""Prepared records: the few normalised fields the matchers compare, computed once.

A :class:`Record` carries raw text; an :class:`Item` carries what blocking and scoring
need (normalised reference, counterparty family, business-day ordinal...). ``mag`` is a
float copy of ``|amount|`` used only to find buckets; every comparison that decides or
reports money uses the exact ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from recon_tui.model import Record

from .normalize import (
    batch_category,
    memo_reference,
    norm_address,
    norm_name,
    norm_ref,
    norm_text,
    norm_txid,
    ref_keys,
)

LEFT, RIGHT = 0, 1
_DAYS: dict[int, int] = {}
"""Interned day / business-day ordinals (business days keyed as ``-1 - bday``)."""
_BDAYS: dict[int, int] = {}
"""Day ordinal -> its (interned) business-day ordinal."""
_PAYERS: dict[str, str] = {}
"""Normalised counterparty -> its payer key (``Item.payer``): a few thousand distinct
counterparties in a large book, so one string each instead of one per item."""


@dataclass(slots=True)
class Item:
    id: int
    side: int
    asset: str
    amount: Decimal
    mag: float
    sign: int
    day: int
    bday: int
    ts: datetime
    txid: str
    ref: str
    e2e: str
    cp: str
    memo: str
    family: str
    fee: Decimal | None
    fee_asset: str | None
    record: Record
    one: tuple[int, ...]
    """``(id,)``: the one-member side of a pair, shared by all its scored candidates."""
    round: bool
    """``is_round(amount)``, computed once: the index, the payer sub-blocks and the twin
    veto ask it of every record, and ``Decimal.normalize`` costs ~4 us a call."""
    payer: str
    """The payer key: the first word of the normalised counterparty, which both
    sides' spellings keep ("umbrella" of "Umbrella Foods Ltd" and "UMBRELLA FOODS
    L"); a sub-blocking key, never evidence by itself. Stored, one shared string per
    counterparty (``_PAYERS``): the indexes and probes read it several times a record."""

    @property
    def batch(self) -> str:
        """The batch category (digit-free memo) or ""; derived, not stored: most items
        of a large book have none."""
        return batch_category(self.memo)

    def key_value(self, key: str) -> str:
        if key == "txid":
            return self.txid
        if key == "reference":
            return self.ref
        if key == "end_to_end_id":
            return self.e2e
        if key == "counterparty":
            return self.cp
        if key == "reference_family":
            return self.family
        if key == "batch":
            return self.batch
        if key == "address":
            return norm_address(self.record.address)
        if key == "date":
            return "*"  # every item: the block is just asset, sign and date window
        raise KeyError(key)


def is_round(amount: Decimal) -> bool:
    """A round amount: at most two significant digits (50, 100, 2500, 0.5 BTC). Payers
    repeat such amounts, so they identify nothing by themselves."""
    if not amount:
        return False
    digits = amount.as_tuple().digits
    n = len(digits)
    if n > 28:  # beyond the context precision ``normalize`` would round at
        return len(amount.normalize().as_tuple().digits) <= 2
    # ``normalize`` strips trailing zeros (~4 us a call); counting them is ~5x cheaper.
    while n > 2 and digits[n - 1] == 0:
        n -= 1
    return n <= 2


def business_index(ordinal: int) -> int:
    """Business-day ordinal: weekdays count, a weekend day maps onto the next Monday.

    So Friday -> Monday is one business day of lag, and a Saturday booking is as good
    as a Monday one (banks settle weekend payments on Monday).
    """
    week, weekday = divmod(ordinal - 1, 7)  # date(1, 1, 1) is a Monday
    return 5 * week + min(weekday, 5)


def prepare(r: Record, side: int) -> Item:
    """Normalise one record; ``r.id`` must be set (the store row id names it)."""
    if r.id is None:
        raise ValueError(f"record {r.source}:{r.external_id} has no id; store it first")
    d = r.value_date or r.booking_date or r.ts.date()
    day = d.toordinal()
    amount = r.amount
    e2e = r.attrs.get("end_to_end_id") if r.attrs else None
    # Shared objects where values repeat (a million items span a few hundred days):
    # ~100 bytes per item of a large book.
    bday = _BDAYS.get(day)
    if bday is None:
        day = _DAYS.setdefault(day, day)
        bday = business_index(day)
        bday = _BDAYS[day] = _DAYS.setdefault(-1 - bday, bday)
    else:
        day = _DAYS[day]
    # No reference field: a reference marked inside the remittance text stands in.
    ref, family = ref_keys(r.reference or memo_reference(r.memo))
    cp = norm_name(r.counterparty)
    payer = _PAYERS.get(cp)
    if payer is None:
        if len(_PAYERS) >= 1 << 16:
            _PAYERS.clear()  # a bound on a long-lived process: a cache, not a registry
        payer = _PAYERS[cp] = cp.split(" ", 1)[0] if cp else ""
    # Positional, in field order (id, side, asset, amount, mag, sign, day, bday, ts,
    # txid, ref, e2e, cp, memo, family, fee, fee_asset, record, one, round, payer): keyword
    # arguments cost ~2 us a record more (a few hundred ms of a 240k-record load).
    return Item(
        r.id,
        side,
        r.asset,
        amount,
        abs(float(amount)),  # mag: == float(|amount|), rounding is symmetric
        -1 if amount < 0 else 1,
        day,
        bday,
        r.ts,
        norm_txid(r.txid),
        ref,
        norm_ref(str(e2e)) if e2e else "",
        cp,
        norm_text(r.memo),
        family,
        r.fee,
        r.fee_asset,
        r,
        (r.id,),
        is_round(amount),
        payer,
    )
