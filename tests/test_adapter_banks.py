"""Plaid and GoCardless adapters against local fake servers speaking their wire formats."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from adapters.bank_gocardless import GoCardlessAdapter
from adapters.bank_plaid import PlaidAdapter
from adapters.base import Batch, SourceError
from tests.fakes import bank_gocardless as gc
from tests.fakes import bank_plaid as pl
from tests.fakes.bank_http import Resp, html

FAST = {"retries": "3", "retry_wait": "0.01", "timeout": "2"}
PLAID_SECRETS = {"client_id": pl.CLIENT_ID, "secret": pl.SECRET, "access_token": pl.ACCESS_TOKEN}
GC_SECRETS = {"secret_id": gc.SECRET_ID, "secret_key": gc.SECRET_KEY}


@pytest.fixture
def plaid() -> Iterator[pl.FakePlaid]:
    with pl.FakePlaid() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def gocardless() -> Iterator[gc.FakeGoCardless]:
    with gc.FakeGoCardless() as fake:
        yield fake  # type: ignore[misc]


def plaid_adapter(fake: pl.FakePlaid, **settings: Any) -> PlaidAdapter:
    return PlaidAdapter("plaid1", {"base_url": fake.url, **FAST, **settings}, PLAID_SECRETS)


def sync(adapter: Any, cursor: dict[str, Any] | None = None) -> tuple[list[Batch], Any]:
    batches = list(adapter.batches(cursor))
    return batches, batches[-1].cursor


def assert_no_secrets(exc: SourceError, secrets: dict[str, str]) -> None:
    for value in secrets.values():
        assert value not in str(exc)


# --- Plaid ----------------------------------------------------------------------------------


def test_plaid_sync_pages_sign_and_exact_amounts(plaid: pl.FakePlaid) -> None:
    plaid.add(*(pl.txn(f"t{i}", f"{i}.10", "2024-03-01") for i in range(1, 8)))
    plaid.add(pl.txn("in1", "-2500.75", "2024-03-02", name="WIRE FROM KRAKEN",
                     merchant_name="Kraken", reference="REF-1"))
    batches, cursor = sync(plaid_adapter(plaid, count="3"))
    recs = {r.external_id: r for b in batches for r in b.records}
    assert len(recs) == 8 and cursor == {"cursor": "pos:8"}
    assert recs["t1"].amount == Decimal("-1.10")  # Plaid positive = money out
    assert recs["in1"].amount == Decimal("2500.75") and recs["in1"].kind == "deposit"
    assert recs["in1"].counterparty == "Kraken" and recs["in1"].reference == "REF-1"
    assert str(recs["in1"].booking_date) == "2024-03-02" and recs["in1"].asset == "USD"
    assert len([r for r in plaid.requests if r.path == "/transactions/sync"]) == 3
    again, cursor2 = sync(plaid_adapter(plaid), cursor)
    assert sum(len(b.records) for b in again) == 0 and cursor2 == cursor


def test_plaid_pending_to_booked_and_removed(plaid: pl.FakePlaid) -> None:
    plaid.add(pl.txn("p1", "42.00", "2024-03-01", pending=True),
              pl.txn("x1", "5.00", "2024-03-01"))
    batches, cursor = sync(plaid_adapter(plaid))
    first = {r.external_id: r for b in batches for r in b.records}
    assert first["p1"].status == "pending"
    plaid.post("b1", "p1", "42.00", "2024-03-03")
    plaid.remove("x1")
    plaid.modify(pl.txn("b1", "42.50", "2024-03-03", pending_id="p1"))
    batches, cursor = sync(plaid_adapter(plaid), cursor)
    recs = {r.external_id: r for b in batches for r in b.records}
    assert set(recs) == {"b1"} and recs["b1"].status == "booked"
    assert recs["b1"].amount == Decimal("-42.50")  # the modification wins
    assert recs["b1"].attrs["pending_transaction_id"] == "p1"
    assert batches[-1].removed == ["p1", "x1"]


def test_plaid_mutation_during_pagination_restarts(plaid: pl.FakePlaid) -> None:
    plaid.add(*(pl.txn(f"t{i}", "1.00") for i in range(5)))
    plaid.mutate_once = True
    batches, cursor = sync(plaid_adapter(plaid, count="2"))
    assert len({r.external_id for b in batches for r in b.records}) == 5
    starts = [r.json().get("cursor") for r in plaid.requests if r.path == "/transactions/sync"]
    assert starts == [None, "pos:2", None, "pos:2", "pos:4"]  # restarted from the beginning
    assert cursor == {"cursor": "pos:5"}


def test_plaid_endless_pagination(plaid: pl.FakePlaid) -> None:
    plaid.add(pl.txn("t1", "1.00"))
    plaid.endless = True
    with pytest.raises(SourceError) as info:
        sync(plaid_adapter(plaid))
    assert info.value.where == "POST /transactions/sync: field 'next_cursor'"
    assert "endless pagination" in info.value.message


def test_plaid_bad_fields_name_the_item(plaid: pl.FakePlaid) -> None:
    good = pl.txn("t0", "1.00")
    bad = pl.txn("t1", "1.00")
    bad["amount"] = "12.00"  # a string where Plaid sends a number
    plaid.add(good, bad)
    with pytest.raises(SourceError) as info:
        sync(plaid_adapter(plaid))
    assert info.value.where == "POST /transactions/sync: field 'added[1].amount'"
    plaid.log.clear()
    missing = pl.txn("t2", "1.00")
    del missing["date"]
    plaid.add(missing)
    with pytest.raises(SourceError) as info:
        sync(plaid_adapter(plaid))
    assert info.value.where == "POST /transactions/sync: field 'added[0].date'"


def test_plaid_errors_html_retry_and_auth(plaid: pl.FakePlaid) -> None:
    plaid.add(pl.txn("t1", "1.00"))
    plaid.fault("/transactions/sync", html(503), times=2)  # transient: retried
    batches, _ = sync(plaid_adapter(plaid))
    assert batches[-1].records[0].external_id == "t1"
    plaid.fault("/transactions/sync", html(502), times=5)
    with pytest.raises(SourceError) as info:
        sync(plaid_adapter(plaid))
    assert "server error after 3 attempt(s): HTTP 502" in info.value.message
    assert "502 Bad Gateway" in info.value.message
    plaid.fault("/transactions/sync", Resp(200, "<html>maintenance</html>", "text/html"))
    with pytest.raises(SourceError) as info:
        sync(plaid_adapter(plaid))
    assert "expected JSON, got text/html" in info.value.message
    wrong = PlaidAdapter("plaid1", {"base_url": plaid.url, **FAST},
                         {**PLAID_SECRETS, "secret": "wrong-secret-123"})
    with pytest.raises(SourceError) as info:
        list(wrong.batches(None))
    assert "INVALID_API_KEYS" in info.value.message
    assert_no_secrets(info.value, {**PLAID_SECRETS, "s": "wrong-secret-123"})


def test_plaid_rate_limit_and_timeout(plaid: pl.FakePlaid) -> None:
    plaid.add(pl.txn("t1", "1.00"))
    limit = Resp(429, {"error_type": "RATE_LIMIT_EXCEEDED", "error_code": "TRANSACTIONS_LIMIT",
                       "error_message": "rate limit exceeded"}, headers={"Retry-After": "0"})
    plaid.fault("/transactions/sync", limit, times=1)
    assert sync(plaid_adapter(plaid))[0][-1].records
    plaid.fault("/transactions/sync", Resp(200, {}, delay=1.0), times=3)
    with pytest.raises(SourceError) as info:
        sync(plaid_adapter(plaid, timeout="0.2", retries="2"))
    assert info.value.where == "POST /transactions/sync" and "timed out" in info.value.message


def test_plaid_huge_page_is_split(plaid: pl.FakePlaid) -> None:
    page = {"added": [pl.txn(f"t{i}", "1.00") for i in range(12_000)], "modified": [],
            "removed": [], "next_cursor": "pos:1", "has_more": False}
    plaid.fault("/transactions/sync", Resp(200, page))
    # A 12,000-item page is seconds of JSON on a loaded 2-core machine: FAST's 2 s timeout
    # (meant for the fault tests) made this fail at load 11; the split is what is tested.
    batches, cursor = sync(plaid_adapter(plaid, timeout="30"))
    assert [len(b.records) for b in batches] == [10_000, 2_000]
    assert batches[0].cursor is None and cursor == {"cursor": "pos:1"}


def test_plaid_test_connection(plaid: pl.FakePlaid) -> None:
    assert plaid_adapter(plaid).test_connection() == "Plaid: 1 account(s)"


# --- GoCardless -----------------------------------------------------------------------------


def gc_adapter(fake: gc.FakeGoCardless, today: str = "2024-03-10", **kw: Any) -> GoCardlessAdapter:
    a = GoCardlessAdapter("gc1", {"base_url": fake.url, "account_id": gc.ACCOUNT,
                                  "account": "DE89370400440532013000", "date_from": "2024-03-01",
                                  **FAST, **kw}, GC_SECRETS)
    a.today = lambda: date.fromisoformat(today)  # type: ignore[method-assign]
    return a


def test_gocardless_sync_and_pending_to_booked(gocardless: gc.FakeGoCardless) -> None:
    gocardless.booked = [
        gc.booked("TX1", "-120.50", "2024-03-02", endToEndId="E2E-1"),
        gc.booked(None, "1000.00", "2024-03-05", internalTransactionId="int-77"),
        gc.booked(None, "-9.90", "2024-03-05", remittance="Fee"),
        gc.booked(None, "-9.90", "2024-03-05", remittance="Fee"),
    ]
    gocardless.pending = [gc.pending("-55.00", "2024-03-09", remittance="Card AWS")]
    batches, cursor = sync(gc_adapter(gocardless))
    recs = {r.external_id: r for b in batches for r in b.records}
    assert len(recs) == 5
    assert recs["TX1"].amount == Decimal("-120.50")
    assert recs["TX1"].attrs["end_to_end_id"] == "E2E-1"
    assert recs["TX1"].counterparty == "Supplier GmbH"
    assert recs["int:int-77"].counterparty == "Customer SARL"
    pend = [r for r in recs.values() if r.status == "pending"]
    assert len(pend) == 1 and pend[0].external_id.startswith("pending:")
    assert cursor == {"date_to": "2024-03-10", "pending": [pend[0].external_id]}
    assert gocardless.requests[1].query == {"date_from": "2024-03-01", "date_to": "2024-03-10"}
    # The card payment books: the pending id is reported removed.
    gocardless.pending = []
    gocardless.booked.append(gc.booked("TX9", "-55.00", "2024-03-11", remittance="Card AWS"))
    batches, cursor2 = sync(gc_adapter(gocardless, today="2024-03-12"), cursor)
    again = {r.external_id: r for b in batches for r in b.records}
    assert batches[-1].removed == [pend[0].external_id]
    assert "TX9" in again and gocardless.requests[-1].query["date_from"] == "2024-02-29"
    assert set(recs) - {pend[0].external_id} <= set(again)  # overlap: same ids
    assert cursor2 == {"date_to": "2024-03-12", "pending": []}


def test_gocardless_token_expiry_and_auth(gocardless: gc.FakeGoCardless) -> None:
    a = gc_adapter(gocardless)
    sync(a)
    gocardless.expire_tokens()
    sync(a)  # refreshes the token once
    assert [r.path for r in gocardless.requests].count("/api/v2/token/new/") == 2
    bad = GoCardlessAdapter("gc1", {"base_url": gocardless.url, "account_id": gc.ACCOUNT, **FAST},
                            {"secret_id": gc.SECRET_ID, "secret_key": "not-the-key-999"})
    with pytest.raises(SourceError) as info:
        list(bad.batches(None))
    assert info.value.where == "POST /api/v2/token/new/"
    assert "Authentication failed: No active account found" in info.value.message
    assert_no_secrets(info.value, {**GC_SECRETS, "k": "not-the-key-999"})


def test_gocardless_bad_data(gocardless: gc.FakeGoCardless) -> None:
    t = gc.booked("TX1", "12,50 EUR", "2024-03-02")
    gocardless.booked = [gc.booked("TX0", "1.00", "2024-03-02"), t]
    with pytest.raises(SourceError) as info:
        sync(gc_adapter(gocardless))
    path = f"GET /api/v2/accounts/{gc.ACCOUNT}/transactions/"
    assert info.value.where == f"{path}: field 'transactions.booked[1].transactionAmount.amount'"
    gocardless.booked = [gc.booked("TX1", "1.00", "2024-03-02"),
                         gc.booked("TX1", "2.00", "2024-03-03")]
    with pytest.raises(SourceError) as info:
        sync(gc_adapter(gocardless))
    assert "duplicate transaction id 'TX1'" in info.value.message
    t = gc.booked("TX1", "1.00", "2024-03-02")
    t["transactionAmount"]["amount"] = [1]
    gocardless.booked = [t]
    with pytest.raises(SourceError) as info:
        sync(gc_adapter(gocardless))
    assert "expected a string, got list" in info.value.message
    gocardless.booked = [{"transactionId": "X", "transactionAmount": {"amount": "1"}}]
    with pytest.raises(SourceError) as info:
        sync(gc_adapter(gocardless))
    assert info.value.where.endswith("booked[0].transactionAmount.currency'")  # type: ignore[union-attr]


def test_gocardless_error_bodies(gocardless: gc.FakeGoCardless) -> None:
    gocardless.fault("/transactions/", gc.error(409, "Account suspended",
                                                "Requisition expired; reconnect"))
    with pytest.raises(SourceError) as info:
        sync(gc_adapter(gocardless))
    assert "HTTP 409: Account suspended: Requisition expired; reconnect" in info.value.message
    gocardless.fault("/transactions/", html(500), times=3)
    with pytest.raises(SourceError) as info:
        sync(gc_adapter(gocardless))
    assert "server error after 3 attempt(s)" in info.value.message
    assert "text/html" in info.value.message and "token" not in info.value.message


def test_gocardless_huge_response_refused(gocardless: gc.FakeGoCardless) -> None:
    a = gc_adapter(gocardless)
    a.http.max_bytes = 10_000
    gocardless.booked = [gc.booked(f"T{i}", "1.00", "2024-03-02") for i in range(200)]
    with pytest.raises(SourceError) as info:
        sync(a)
    assert "exceeds 10000" in info.value.message
