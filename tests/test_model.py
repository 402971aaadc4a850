"""The canonical model's validation: exact amounts, UTC timestamps, clear messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recon_tui.model import ValidationError, make_record, register_kind, to_decimal

BASE = dict(source="bank", external_id="1", kind="payment", ts="2026-03-01T10:00:00Z",
            asset="EUR", amount="-12.50")  # fmt: skip


def rec(**over):
    return make_record(**{**BASE, **over})


def test_valid_record_is_exact_and_utc() -> None:
    r = rec(ts="2026-03-01T12:00:00+02:00", amount="0.000000000000000001", asset="ETH")
    assert r.ts == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert r.amount == Decimal("1E-18")
    assert r.status == "booked"


@pytest.mark.parametrize(
    ("over", "field", "text"),
    [
        ({"amount": "NaN"}, "amount", "finite"),
        ({"amount": "abc"}, "amount", "not a number"),
        ({"amount": 1.5}, "amount", "float"),
        ({"amount": "0.0000000000000000001"}, "amount", "18 decimal"),
        ({"amount": "1e40"}, "amount", "integer digits"),
        ({"asset": "eu ro"}, "asset", "asset format"),
        ({"asset": "$$"}, "asset", "asset format"),
        ({"ts": datetime(2026, 1, 1)}, "ts", "naive"),
        ({"ts": "2026-01-01T00:00:00"}, "ts", "naive"),
        ({"ts": "yesterday"}, "ts", "ISO-8601"),
        ({"kind": "teleport"}, "kind", "unknown kind"),
        ({"status": "maybe"}, "status", "not one of"),
        ({"fee": "-1"}, "fee", "negative"),
        ({"external_id": ""}, "external_id", "missing"),
        ({"source": "Bad Source"}, "source", "identifier"),
        ({"booking_date": "31/12/2026"}, "booking_date", "not a date"),
    ],
)
def test_nonsense_is_rejected_naming_the_field(over, field, text) -> None:
    with pytest.raises(ValidationError) as info:
        rec(**over)
    assert info.value.field == field
    assert text in str(info.value)


def test_error_names_the_place() -> None:
    with pytest.raises(ValidationError, match=r"^stmt.csv:12: field 'amount'"):
        make_record(where="stmt.csv:12", **{**BASE, "amount": "1,2,3"})


def test_trailing_zeros_beyond_18_places_are_fine() -> None:
    assert to_decimal("1.50000000000000000000") == Decimal("1.5")


def test_kinds_are_data() -> None:
    register_kind("chargeback")
    assert rec(kind="chargeback").kind == "chargeback"


def test_fee_asset_defaults_to_asset_and_offsets_normalise() -> None:
    r = rec(fee="0.1", ts=datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
    assert r.fee_asset == "EUR" and r.ts.tzinfo == UTC and r.ts.hour == 0


@given(
    st.decimals(
        allow_nan=False,
        allow_infinity=False,
        places=8,
        min_value=Decimal("-1e12"),
        max_value=Decimal("1e12"),
    )
)
def test_amount_text_round_trips_exactly(d: Decimal) -> None:
    assert rec(amount=str(d)).amount == d
