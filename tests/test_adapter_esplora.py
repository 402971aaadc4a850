"""Esplora adapter against a fake Esplora API: per-address movements, paging, pending."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import Batch, SourceError
from adapters.chain_esplora import EsploraAdapter
from tests.fakes.bank_http import html
from tests.fakes.esplora import ADDR, OTHER, FakeEsplora, tx, txid

FAST = {"retries": "2", "retry_wait": "0.01", "timeout": "2"}


@pytest.fixture
def esplora() -> Iterator[FakeEsplora]:
    with FakeEsplora() as fake:
        yield fake  # type: ignore[misc]


def adapter(fake: FakeEsplora, **kw: Any) -> EsploraAdapter:
    a = EsploraAdapter("btc1", {"addresses": ADDR, "base_url": fake.url, **FAST, **kw})
    a.now = lambda: datetime(2024, 6, 1, tzinfo=UTC)  # type: ignore[method-assign]
    return a


def sync(a: EsploraAdapter, cursor: dict[str, Any] | None = None) -> tuple[list[Batch], Any]:
    batches = list(a.batches(cursor))
    return batches, batches[-1].cursor


def test_movements_fee_and_status(esplora: FakeEsplora) -> None:
    esplora.txs = [
        tx(1, [(OTHER, 150_000_000)], [(ADDR, 123_456_789), (OTHER, 26_542_211)], height=10),
        tx(2, [(ADDR, 123_456_789)], [(OTHER, 100_000_000), (ADDR, 23_455_789)],
           fee=1_000, height=20),
        tx(3, [(OTHER, 5_000)], [(ADDR, 4_000)], fee=1_000),  # mempool
    ]
    batches, cursor = sync(adapter(esplora))
    recs = {r.txid: r for b in batches for r in b.records}
    dep, wd, pend = recs[txid(1)], recs[txid(2)], recs[txid(3)]
    assert dep.amount == Decimal("1.23456789") and dep.kind == "deposit" and dep.fee is None
    assert dep.external_id == f"{ADDR}:{txid(1)}" and dep.status == "booked"
    assert dep.ts == datetime.fromtimestamp(1_704_067_200 + 6000, UTC)
    assert wd.amount == Decimal("-1.00001000") and wd.fee == Decimal("0.00001000")
    assert wd.attrs["fee_included"] is True and wd.kind == "withdrawal"
    assert pend.status == "pending" and pend.amount == Decimal("0.00004000")
    assert cursor == {"addresses": {ADDR: {"known": txid(2), "pending": [txid(3)]}}}


def test_paging_and_incremental_stop(esplora: FakeEsplora) -> None:
    esplora.txs = [tx(i, [(OTHER, 10_000)], [(ADDR, 1_000 + i)], height=i) for i in range(1, 61)]
    batches, cursor = sync(adapter(esplora))
    assert sum(len(b.records) for b in batches) == 60
    assert [p for p in esplora.paths() if "/chain/" in p] == [
        f"/address/{ADDR}/txs/chain/{txid(36)}", f"/address/{ADDR}/txs/chain/{txid(11)}"]
    esplora.requests.clear()
    esplora.txs.append(tx(61, [(OTHER, 10_000)], [(ADDR, 7)], height=61))
    batches, cursor = sync(adapter(esplora), cursor)
    assert [r.txid for b in batches for r in b.records] == [txid(61)]
    assert len(esplora.requests) == 1 and cursor["addresses"][ADDR]["known"] == txid(61)


def test_pending_confirms_or_disappears(esplora: FakeEsplora) -> None:
    esplora.txs = [tx("a", [(OTHER, 9_000)], [(ADDR, 5_000)]),
                   tx("b", [(OTHER, 9_000)], [(ADDR, 6_000)])]
    _, cursor = sync(adapter(esplora))
    esplora.txs = [tx("a", [(OTHER, 9_000)], [(ADDR, 5_000)], height=30)]  # b was replaced
    batches, cursor = sync(adapter(esplora), cursor)
    recs = [r for b in batches for r in b.records]
    assert [(r.txid, r.status) for r in recs] == [(txid("a"), "booked")]
    assert batches[-1].removed == [f"{ADDR}:{txid('b')}"]
    assert cursor["addresses"][ADDR] == {"known": txid("a"), "pending": []}


def test_confirmations_setting(esplora: FakeEsplora) -> None:
    esplora.tip = 100
    esplora.txs = [tx(1, [(OTHER, 9_000)], [(ADDR, 5_000)], height=95),
                   tx(2, [(OTHER, 9_000)], [(ADDR, 5_000)], height=99)]
    batches, cursor = sync(adapter(esplora, confirmations="3"))
    status = {r.txid: r.status for b in batches for r in b.records}
    assert status == {txid(1): "booked", txid(2): "pending"}
    assert cursor["addresses"][ADDR] == {"known": txid(1), "pending": [txid(2)]}


def test_endless_pagination(esplora: FakeEsplora) -> None:
    esplora.txs = [tx(i, [(OTHER, 10_000)], [(ADDR, 1_000)], height=i) for i in range(1, 30)]
    esplora.endless = True
    with pytest.raises(SourceError) as info:
        sync(adapter(esplora))
    assert "the same page came back twice" in info.value.message
    assert info.value.where is not None and "/txs/chain/" in info.value.where


def test_bad_data_and_errors(esplora: FakeEsplora) -> None:
    bad = tx(1, [(OTHER, 10_000)], [(ADDR, 1_000)], height=3)
    bad["vout"][0]["value"] = Decimal("0.00001")  # BTC instead of sats
    esplora.txs = [tx(2, [(OTHER, 10_000)], [(ADDR, 1_000)], height=4), bad]
    with pytest.raises(SourceError) as info:
        sync(adapter(esplora))
    assert info.value.where == f"GET /address/{ADDR}/txs: field '[1].vout[0].value'"
    esplora.txs = []
    esplora.fault("/address/", html(502), times=2)
    with pytest.raises(SourceError) as info:
        sync(adapter(esplora))
    assert "HTTP 502" in info.value.message and "Bad Gateway" in info.value.message
    esplora.fault("/address/", html(404))
    with pytest.raises(SourceError) as info:
        sync(adapter(esplora))
    assert "HTTP 404" in info.value.message


def test_two_addresses_one_tx(esplora: FakeEsplora) -> None:
    esplora.txs = [tx(1, [(ADDR, 50_000)], [(OTHER, 40_000), (ADDR, 9_000)], height=5)]
    batches, cursor = sync(adapter(esplora, addresses=f"{ADDR},{OTHER}"))
    recs = {r.external_id: r for b in batches for r in b.records}
    assert recs[f"{ADDR}:{txid(1)}"].amount == Decimal("-0.00041000")
    assert recs[f"{OTHER}:{txid(1)}"].amount == Decimal("0.00040000")
    assert recs[f"{OTHER}:{txid(1)}"].fee is None
    assert set(cursor["addresses"]) == {ADDR, OTHER}
