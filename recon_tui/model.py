"""The canonical transaction model shared by adapters, the store and the matchers.

Pure module: no Textual, no I/O. Every source (exchange, bank, chain, ledger, statement
file) normalises its movements into :class:`Record`; the store persists them; the
matchers read them. Money is ``Decimal`` end to end, timestamps are aware UTC datetimes.

Kinds, statuses and source kinds are *data* (strings validated against open registries),
not enums baked into screens, so card programs or balance sources can add their own
without a rewrite. Anything a source knows that has no first-class field goes into the
extensible ``attrs`` map (e.g. ``approval_code``, ``card_token``, ``end_to_end_id``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_DECIMALS = 18
"""Crypto assets go down to 18 decimal places (wei); nothing finer is meaningful."""

MAX_INTEGER_DIGITS = 20
"""Larger than any real balance; stops absurd values (1e300) at the door."""

KNOWN_KINDS: set[str] = {
    "trade",
    "deposit",
    "withdrawal",
    "transfer",
    "fee",
    "card",
    "payment",
    "payout",
    "settlement",
    "interest",
    "rebate",
    "adjustment",
    "authorization",
    "clearing",
    "balance",
    "other",
}
"""Open registry: a new source kind calls :func:`register_kind` instead of editing code here."""

STATUSES = ("pending", "booked", "reversed")

_ASSET_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,19}$")
_IDENT_RE = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")


def register_kind(kind: str) -> None:
    """Make a new record kind valid (card programs, balance snapshots...)."""
    if not _IDENT_RE.match(kind):
        raise ValueError(f"kind {kind!r} must be a lowercase identifier")
    KNOWN_KINDS.add(kind)


class ValidationError(ValueError):
    """A record (or a field of one) is nonsense; the message names the field."""

    def __init__(self, field_name: str, message: str, *, where: str | None = None) -> None:
        self.field = field_name
        self.where = where
        self.detail = message
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}field '{field_name}': {message}")

    def at(self, where: str) -> ValidationError:
        """The same error located at ``where`` (file:line, endpoint...)."""
        return ValidationError(self.field, self.detail, where=where)


def to_decimal(value: Any, field_name: str = "amount") -> Decimal:
    """Parse an exact decimal from a string, int or Decimal; refuse floats, NaN and junk.

    Floats are refused on purpose: by the time a value is a float its exactness is gone.
    """
    if isinstance(value, bool):
        raise ValidationError(field_name, f"boolean {value!r} is not an amount")
    if isinstance(value, float):
        raise ValidationError(field_name, f"float {value!r} is not exact; pass the raw string")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, str):
        text = value.strip().replace("_", "")
        if not text:
            raise ValidationError(field_name, "empty amount")
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise ValidationError(field_name, f"{value!r} is not a number") from None
    else:
        raise ValidationError(field_name, f"{type(value).__name__} is not an amount")
    return check_decimal(d, field_name)


def check_decimal(d: Decimal, field_name: str) -> Decimal:
    """Validate range and precision of an exact amount; returns it normalised-free."""
    if not d.is_finite():
        raise ValidationError(field_name, f"{d} is not a finite number")
    _, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    if exponent < -MAX_DECIMALS:
        # Trailing zeros beyond 18 places are harmless: quantize them away if exact.
        q = d.quantize(Decimal(1).scaleb(-MAX_DECIMALS))
        if q != d:
            raise ValidationError(field_name, f"{d} has more than {MAX_DECIMALS} decimal places")
        d = q
        _, digits, exponent = d.as_tuple()
        assert isinstance(exponent, int)
    int_digits = len(digits) + exponent
    if int_digits > MAX_INTEGER_DIGITS:
        raise ValidationError(field_name, f"{d} is beyond {MAX_INTEGER_DIGITS} integer digits")
    return d


def fmt_amount(d: Decimal | None, places: int | None = None) -> str:
    """Plain (non-scientific) text for an amount; ``places`` pads to an asset's precision."""
    if d is None:
        return ""
    if places is not None:
        d = d.quantize(Decimal(1).scaleb(-places)) if d.as_tuple().exponent > -places else d  # type: ignore[operator]
    text = format(d, "f")
    return text


def canonical_amount(d: Decimal) -> str:
    """The stored text of an amount: plain notation, trailing zeros dropped, ``-0`` as ``0``."""
    if d == 0:
        return "0"
    text = format(d.normalize(), "f")
    return text


def to_utc(value: Any, field_name: str = "ts") -> datetime:
    """An aware UTC datetime from a datetime or ISO-8601 text; naive values are refused."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(field_name, f"{value!r} is not an ISO-8601 timestamp") from None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValidationError(field_name, f"naive timestamp {value.isoformat()} (no timezone)")
        return value.astimezone(UTC)
    raise ValidationError(field_name, f"{type(value).__name__} is not a timestamp")


def to_date(value: Any, field_name: str) -> date | None:
    """A calendar date (bank booking/value dates carry no time of day)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            raise ValidationError(field_name, f"{value!r} is not a date (YYYY-MM-DD)") from None
    raise ValidationError(field_name, f"{type(value).__name__} is not a date")


def check_asset(asset: Any, field_name: str = "asset") -> str:
    """Asset codes: upper-case tickers or ISO 4217 (BTC, USDT, EUR, 1INCH, USDC.E)."""
    if not isinstance(asset, str) or not _ASSET_RE.match(asset):
        raise ValidationError(field_name, f"unknown asset format {asset!r}")
    return asset


def _clean_text(value: Any, field_name: str, max_len: int = 512) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    value = value.strip()
    if not value:
        return None
    if len(value) > max_len:
        raise ValidationError(field_name, f"longer than {max_len} characters")
    if "\x00" in value:
        raise ValidationError(field_name, "contains a NUL byte")
    return value


@dataclass(slots=True)
class Record:
    """One money movement as one source saw it.

    ``amount`` is signed from the point of view of ``account``: money in is positive,
    money out negative. ``fee`` is the fee charged on top (positive number, in
    ``fee_asset``); when a source already deducted it from ``amount`` the adapter says so
    in ``attrs['fee_included']``.
    """

    source: str
    external_id: str
    kind: str
    ts: datetime
    asset: str
    amount: Decimal
    status: str = "booked"
    account: str | None = None
    fee: Decimal | None = None
    fee_asset: str | None = None
    counterparty: str | None = None
    reference: str | None = None
    memo: str | None = None
    txid: str | None = None
    address: str | None = None
    booking_date: date | None = None
    value_date: date | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] | None = None
    id: int | None = None
    """Store row id; ``None`` until stored. Matchers use it to name records."""

    @property
    def is_debit(self) -> bool:
        return self.amount < 0

    def replace(self, **changes: Any) -> Record:
        return dataclasses.replace(self, **changes)


_RECORD_FIELDS = frozenset(x.name for x in dataclasses.fields(Record))


def make_record(where: str | None = None, **fields: Any) -> Record:
    """Build and validate a :class:`Record` from loosely typed input (adapter output).

    Raises :class:`ValidationError` naming the field (and ``where``, e.g. ``file.csv:12``).
    """
    try:
        return validate(_coerce(fields))
    except ValidationError as exc:
        if where:
            raise exc.at(where) from None
        raise


def _coerce(f: Mapping[str, Any]) -> Record:
    unknown = f.keys() - _RECORD_FIELDS
    if unknown:
        raise ValidationError(sorted(unknown)[0], "not a field of the canonical record")
    for required in ("source", "external_id", "kind", "ts", "asset", "amount"):
        if f.get(required) in (None, ""):
            raise ValidationError(required, "missing")
    fee = f.get("fee")
    return Record(
        source=str(f["source"]),
        external_id=str(f["external_id"]),
        kind=str(f["kind"]).lower(),
        ts=to_utc(f["ts"]),
        asset=f["asset"].upper() if isinstance(f["asset"], str) else f["asset"],
        amount=to_decimal(f["amount"], "amount"),
        status=str(f.get("status") or "booked").lower(),
        account=_clean_text(f.get("account"), "account", 128),
        fee=None if fee in (None, "") else to_decimal(fee, "fee"),
        fee_asset=(f.get("fee_asset") or None),
        counterparty=_clean_text(f.get("counterparty"), "counterparty"),
        reference=_clean_text(f.get("reference"), "reference"),
        memo=_clean_text(f.get("memo"), "memo", 2048),
        txid=_clean_text(f.get("txid"), "txid", 256),
        address=_clean_text(f.get("address"), "address", 256),
        booking_date=to_date(f.get("booking_date"), "booking_date"),
        value_date=to_date(f.get("value_date"), "value_date"),
        attrs=dict(f.get("attrs") or {}),
        raw=f.get("raw"),
        id=f.get("id"),
    )


def validate(r: Record) -> Record:
    """Check a record's invariants; returns it unchanged or raises :class:`ValidationError`."""
    if not _IDENT_RE.match(r.source):
        raise ValidationError("source", f"{r.source!r} must be a lowercase identifier")
    if not r.external_id or len(r.external_id) > 256 or "\x00" in r.external_id:
        raise ValidationError("external_id", "must be 1-256 characters")
    if r.kind not in KNOWN_KINDS:
        raise ValidationError(
            "kind", f"unknown kind {r.kind!r} (known: {', '.join(sorted(KNOWN_KINDS))})"
        )
    if not isinstance(r.ts, datetime) or r.ts.tzinfo is None:
        raise ValidationError("ts", "naive timestamp (no timezone)")
    if r.ts.utcoffset() != UTC.utcoffset(None):
        r.ts = r.ts.astimezone(UTC)
    check_asset(r.asset)
    if not isinstance(r.amount, Decimal):
        raise ValidationError("amount", f"{type(r.amount).__name__} is not a Decimal")
    r.amount = check_decimal(r.amount, "amount")
    if r.fee is not None:
        if not isinstance(r.fee, Decimal):
            raise ValidationError("fee", f"{type(r.fee).__name__} is not a Decimal")
        r.fee = check_decimal(r.fee, "fee")
        if r.fee < 0:
            raise ValidationError("fee", f"negative fee {r.fee}")
        if r.fee_asset is None:
            r.fee_asset = r.asset
    if r.fee_asset is not None:
        check_asset(r.fee_asset, "fee_asset")
    if r.status not in STATUSES:
        raise ValidationError("status", f"{r.status!r} is not one of {', '.join(STATUSES)}")
    for name, limit in _TEXT_LIMITS:
        v = getattr(r, name)
        if v is not None and (len(v) > limit or "\x00" in v):
            raise ValidationError(name, f"longer than {limit} characters or contains NUL")
    if not isinstance(r.attrs, dict):
        raise ValidationError("attrs", "must be a mapping")
    if r.attrs:
        try:
            json.dumps(r.attrs, default=json_default)
        except (TypeError, ValueError):
            raise ValidationError("attrs", "is not JSON-serialisable") from None
    return r


_TEXT_LIMITS = (
    ("account", 128), ("counterparty", 512), ("reference", 512), ("memo", 2048),
    ("txid", 256), ("address", 256),
)  # fmt: skip
"""Text fields and their longest allowed length (validated on every record)."""


def json_default(o: Any) -> Any:
    """The JSON encoders' ``default``: Decimals as canonical strings, dates as ISO text."""
    if isinstance(o, Decimal):
        return canonical_amount(o)
    if isinstance(o, datetime | date):
        return o.isoformat()
    raise TypeError(type(o).__name__)


_json_default = json_default  # the older private name, still imported by the store


def dumps(obj: Any) -> str:
    """Compact JSON with Decimals as strings (never floats) and dates as ISO text."""
    return json.dumps(obj, default=json_default, separators=(",", ":"), ensure_ascii=False)


# --- source pairs and ground truth (data shared by demo, matchers and services) ---------


@dataclass(slots=True, frozen=True)
class Side:
    """One side of a reconciliation: a source, optionally narrowed to one account."""

    source: str
    account: str | None = None

    def label(self) -> str:
        return f"{self.source}[{self.account}]" if self.account else self.source

    def admits(self, r: Record) -> bool:
        return r.source == self.source and (self.account is None or r.account == self.account)


@dataclass(slots=True, frozen=True)
class SourcePair:
    """Two sides to reconcile against each other, with the rule set that matches them."""

    name: str
    left: Side
    right: Side
    rules: str = "default"


@dataclass(slots=True, frozen=True)
class Price:
    """A close price of ``base`` in ``quote`` for the interval starting at ``ts``."""

    base: str
    quote: str
    ts: datetime
    interval: str  # "1h" or "1d"
    close: Decimal
    source: str


def make_price(where: str | None = None, **f: Any) -> Price:
    """Validated :class:`Price` from loosely typed input."""
    try:
        interval = str(f.get("interval") or "1d")
        if interval not in ("1h", "1d"):
            raise ValidationError("interval", f"{interval!r} is not 1h or 1d")
        close = to_decimal(f.get("close"), "close")
        if close <= 0:
            raise ValidationError("close", f"non-positive price {close}")
        return Price(
            base=check_asset(str(f.get("base", "")).upper(), "base"),
            quote=check_asset(str(f.get("quote", "")).upper(), "quote"),
            ts=to_utc(f.get("ts")),
            interval=interval,
            close=close,
            source=str(f.get("source") or "import"),
        )
    except ValidationError as exc:
        if where:
            raise exc.at(where) from None
        raise
