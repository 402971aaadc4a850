"""The ccxt exchange adapter against fake Binance, Kraken and Coinbase servers.

The unmodified ccxt library talks HTTP to ``tests/fakes`` servers on 127.0.0.1 that
speak each exchange's wire format and verify its request signatures. We check exact
datasets, incremental cursors at shared-timestamp page boundaries, auth failures, every
injected fault (as one clear :class:`SourceError`, nothing from the bad page), retries and
exact OHLCV closes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.base import Batch, SourceError
from adapters.ccxt_exchange import CcxtExchangeAdapter
from tests.fakes import FakeExchange
from tests.fakes import exchange_binance as fb
from tests.fakes import exchange_coinbase as fc
from tests.fakes import exchange_kraken as fk

ROOT = Path(__file__).resolve().parent.parent
FAST = {"rate_limit_ms": 0, "retry_wait_initial": 0.001, "retry_wait_max": 0.005,
        "retry_attempts": 3, "since": "2024-01-01", "timeout_ms": 3000}
D = Decimal


def make(kind: str, rows: int = 40) -> tuple[FakeExchange, dict[str, str], dict[str, Any]]:
    if kind == "binance":
        fake: FakeExchange = fb.FakeBinance(rows=rows).start()
        return fake, {"apiKey": fb.API_KEY, "secret": fb.SECRET}, {"page_limit": 7}
    if kind == "kraken":
        fake = fk.FakeKraken(rows=rows).start()
        return fake, {"apiKey": fk.API_KEY, "secret": fk.SECRET}, {}
    fake = fc.FakeCoinbase(rows=rows).start()
    assert isinstance(fake, fc.FakeCoinbase)
    return fake, {"apiKey": fake.api_key, "secret": fake.secret_pem}, {"page_limit": 7}


@pytest.fixture(params=["binance", "kraken", "coinbase"])
def ex(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any, dict[str, str], dict]]:
    fake, secrets, extra = make(request.param)
    yield request.param, fake, secrets, extra
    fake.stop()


def adapter(kind: str, fake: FakeExchange, secrets: dict[str, str], **settings: Any
            ) -> CcxtExchangeAdapter:
    return CcxtExchangeAdapter("exch", {"exchange": kind, "base_url": fake.url, **FAST,
                                        **settings}, secrets)


def by_id(batches: list[Batch]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for b in batches:
        for r in b.records:
            assert r.external_id not in out, f"duplicate {r.external_id}"
            out[r.external_id] = r
    return out


# -- expected datasets, straight from the fakes' rows ------------------------------------

def _legs(tid: str, base: str, quote: str, buy: bool, qty: D, cost: D, fee: D,
          fee_asset: str) -> dict[str, tuple]:
    sign = 1 if buy else -1
    fee_leg = "quote" if fee_asset == quote else "base"
    return {
        f"trade:{tid}:base": (base, sign * qty, fee if fee_leg == "base" else None, None),
        f"trade:{tid}:quote": (quote, -sign * cost, fee if fee_leg == "quote" else None, None),
    }


def expected(kind: str, fake: Any) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    if kind == "binance":
        for t in fake.all_trades():
            base, quote = fb.SYMBOLS[t["symbol"]]
            out |= _legs(f"{t['symbol']}:{t['id']}", base, quote, t["isBuyer"], D(t["qty"]),
                         D(t["quoteQty"]), D(t["commission"]), t["commissionAsset"])
        for d in fake.deposits:
            out[f"deposit:{d['id']}"] = (d["coin"], D(d["amount"]), None, d["txId"])
        for w in fake.withdrawals:
            out[f"withdrawal:{w['id']}"] = (w["coin"], -D(w["amount"]),
                                            D(w["transactionFee"]), w["txId"])
    elif kind == "kraken":
        for txid, t in fake.trades.items():
            _, _, b, q = fk.PAIRS[t["pair"]]
            out |= _legs(txid, fk.UNIFIED[b], fk.UNIFIED[q], t["type"] == "buy", D(t["vol"]),
                         D(t["cost"]), D(t["fee"]), fk.UNIFIED[q])
        for lid, e in fake.ledger.items():
            if e["type"] in ("trade", "deposit", "withdrawal"):
                continue  # carried by the trades / deposits / withdrawals streams
            out[f"ledger:{lid}"] = (fk.UNIFIED[e["asset"]], D(e["amount"]), D(e["fee"]), None)
        for d in fake.deposits:
            out[f"deposit:{d['refid']}"] = (fk.UNIFIED[d["asset"]], D(d["amount"]),
                                            D(d["fee"]), d["txid"])
        for w in fake.withdrawals:
            out[f"withdrawal:{w['refid']}"] = (fk.UNIFIED[w["asset"]], -D(w["amount"]),
                                               D(w["fee"]), w["txid"])
    else:
        for f in fake.fills:
            base, quote = fc.PRODUCTS[f["product_id"]]
            out |= _legs(f["entry_id"], base, quote, f["side"] == "BUY", D(f["size"]),
                         D(f["size"]) * D(f["price"]), D(f["commission"]), quote)
        for t in fake.transactions:
            if t["type"] in CB_TRADE_TYPES:
                continue  # carried by the trades stream (fills)
            network = t.get("network") or {}
            fee = network.get("transaction_fee")
            out[f"ledger:{t['id']}"] = (t["amount"]["currency"], D(t["amount"]["amount"]),
                                        D(fee["amount"]) if fee else None, network.get("hash"))
    return out


CB_TRADE_TYPES = ("buy", "sell", "trade", "advanced_trade_fill")
CB_KINDS = {"staking_reward": "interest", "inflation_reward": "interest", "interest": "interest",
            "buy": "trade", "sell": "trade", "trade": "trade", "advanced_trade_fill": "trade",
            "fiat_deposit": "deposit", "fiat_withdrawal": "withdrawal"}


def actual(records: dict[str, Any]) -> dict[str, tuple]:
    return {k: (r.asset, r.amount, r.fee, r.txid) for k, r in records.items()}


# -- tests ---------------------------------------------------------------------------------

def test_full_sync_is_exactly_the_dataset(ex: tuple) -> None:
    kind, fake, secrets, extra = ex
    batches = list(adapter(kind, fake, secrets, **extra).batches(None))
    got = actual(by_id(batches))
    want = expected(kind, fake)
    assert got == want
    for r in (r for b in batches for r in b.records):
        assert isinstance(r.amount, Decimal)
        assert r.fee is None or isinstance(r.fee, Decimal)
    assert len(batches) > 3  # several pages were needed


def test_incremental_sync_shared_timestamps(ex: tuple) -> None:
    kind, fake, secrets, extra = ex
    a = adapter(kind, fake, secrets, **extra)
    first = list(a.batches(None))
    cursor = first[-1].cursor
    seen = set(by_id(first))
    # New fills: the first of them shares the last old row's timestamp (page boundary).
    if kind == "binance":
        fake.next_ts -= 60_000
        fake.add_trades(17)
        fake.add_transfers(5)
    elif kind == "kraken":
        fake.t = round(fake.t - 61.1234, 4)
        fake.add_trades(17)
        fake.add_transfers(4)
    else:
        fake.t -= 60.25
        fake.add_fills(17)
        # A transaction in the last old row's account at its very second, then more.
        last = fake.transactions[-1]
        cur = last["amount"]["currency"]
        fake.add_transaction(cur, "fiat_deposit" if cur in fc.FIAT else "send_in", fake.lt)
        assert fake.transactions[-1]["created_at"] == last["created_at"]
        fake.add_ledger(11)
    second = list(a.batches(cursor))
    new = by_id(second)
    assert not set(new) & seen
    assert set(new) == set(expected(kind, fake)) - seen
    assert actual(new) == {k: v for k, v in expected(kind, fake).items() if k in new}
    assert not any(b.records for b in a.batches(second[-1].cursor))


@pytest.mark.parametrize("kind", ["binance", "kraken"])
def test_pending_transfer_is_asked_again_until_final(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deposit and a withdrawal pending at one sync come back at the next syncs (the
    cursor keeps them) until the exchange reports them final; nothing else repeats.
    One pending for longer than the recheck horizon is left as it stands."""
    import adapters.ccxt_exchange as ccxt_exchange

    # The fakes' rows are dated 2024: widen the horizon so they still count as recent.
    monkeypatch.setattr(ccxt_exchange, "PENDING_RECHECK_MS", 10**13)
    fake, secrets, extra = make(kind)
    try:
        a = adapter(kind, fake, secrets, **extra)
        dep, wd = fake.deposits[1], fake.withdrawals[2]
        dep_id = f"deposit:{dep['id'] if kind == 'binance' else dep['refid']}"
        wd_id = f"withdrawal:{wd['id'] if kind == 'binance' else wd['refid']}"
        if kind == "binance":
            dep["status"], wd["status"] = 0, 4  # pending, processing
        else:
            dep["status"], wd["status"] = "Pending", "Initial"
        first = list(a.batches(None))
        recs = by_id(first)
        assert recs[dep_id].status == "pending" and recs[wd_id].status == "pending"
        # Still pending: asked again, unchanged (the store's upsert sees no change).
        second = by_id(list(a.batches(first[-1].cursor)))
        assert set(second) == {dep_id, wd_id}
        cursor = list(a.batches(first[-1].cursor))[-1].cursor
        # The deposit settles: it comes back booked; the withdrawal is still asked for.
        dep["status"] = 1 if kind == "binance" else "Success"
        third_batches = list(a.batches(cursor))
        third = by_id(third_batches)
        assert third[dep_id].status == "booked" and third[dep_id].amount == recs[dep_id].amount
        assert set(third) == {dep_id, wd_id}
        # Final now: the deposit is no longer asked for.
        fourth = list(a.batches(third_batches[-1].cursor))
        assert set(by_id(fourth)) == {wd_id}
        # Past the horizon (the default 14 days: these rows are from 2024), the stuck
        # withdrawal is no longer asked for either.
        monkeypatch.undo()
        assert not any(b.records for b in a.batches(fourth[-1].cursor))
    finally:
        fake.stop()


def test_kraken_ledger_takes_only_what_no_other_synced_stream_carries() -> None:
    """Synced with trades and transfers, the ledger adds only its own movements (staking
    here): a trade's ledger entries are its trade legs. Synced alone, it has them all."""
    fake, secrets, _ = make("kraken")
    try:
        full = by_id(list(adapter("kraken", fake, secrets).batches(None)))
        ledger_kinds = {r.kind for k, r in full.items() if k.startswith("ledger:")}
        assert ledger_kinds == {"interest"}
        alone = by_id(list(adapter("kraken", fake, secrets, what="ledger").batches(None)))
        assert len(alone) == len(fake.ledger)
        assert {r.kind for r in alone.values()} == {"trade", "deposit", "withdrawal", "interest"}
    finally:
        fake.stop()


def test_coinbase_ledger_alone_has_every_transaction_exactly() -> None:
    """Synced alone, the ledger has every v2 transaction of every account (buys and sells
    too), kinds mapped from Coinbase's types, amounts the payload's strings exactly."""
    fake, secrets, extra = make("coinbase")
    assert isinstance(fake, fc.FakeCoinbase)
    try:
        fake.accounts_page = 2  # the account listing must be paged too
        a = adapter("coinbase", fake, secrets, what="ledger", **extra)
        batches = list(a.batches(None))
        got = by_id(batches)
        assert set(got) == {f"ledger:{t['id']}" for t in fake.transactions}
        for t in fake.transactions:
            r = got[f"ledger:{t['id']}"]
            money, network = t["amount"], t.get("network") or {}
            assert isinstance(r.amount, Decimal) and str(r.amount) == money["amount"]
            assert r.asset == money["currency"]
            want = ("deposit" if D(money["amount"]) >= 0 else "withdrawal") \
                if t["type"] == "send" else CB_KINDS.get(t["type"], "other")
            assert r.kind == want
            assert r.attrs["ledger_type"] == t["type"]
            assert r.attrs["exchange_status"] == t["status"]
            assert r.status == {"completed": "booked", "pending": "pending"}[t["status"]]
            assert r.txid == network.get("hash")
        assert {r.kind for r in got.values()} == {"deposit", "withdrawal", "interest",
                                                  "trade", "other"}
        assert any(r.status == "pending" and r.txid is None for r in got.values())
        # five accounts, two a page: three listing pages; the USD wallet is empty
        assert fake.paths().count("/v2/accounts") == 3
        assert {k for k in batches[-1].cursor["streams"]} == {
            f"ledger:{acc}" for acc in fake.account_ids.values()}
        assert not any(b.records for b in a.batches(batches[-1].cursor))
    finally:
        fake.stop()


def test_coinbase_ledger_reads_only_the_wallets_of_the_sources_assets() -> None:
    fake, secrets, extra = make("coinbase")
    assert isinstance(fake, fc.FakeCoinbase)
    try:
        a = adapter("coinbase", fake, secrets, what="ledger", assets="BTC", **extra)
        batches = list(a.batches(None))
        assert {r.asset for r in by_id(batches).values()} == {"BTC"}
        assert set(batches[-1].cursor["streams"]) == {f"ledger:{fake.account_ids['BTC']}"}
        others = [acc for cur, acc in fake.account_ids.items() if cur != "BTC"]
        assert not any(acc in p for p in fake.paths() for acc in others)
    finally:
        fake.stop()


def test_coinbase_pending_send_is_asked_again_until_completed(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    import adapters.ccxt_exchange as ccxt_exchange

    monkeypatch.setattr(ccxt_exchange, "PENDING_RECHECK_MS", 10**13)  # rows dated 2024
    fake, secrets, extra = make("coinbase")
    assert isinstance(fake, fc.FakeCoinbase)
    try:
        a = adapter("coinbase", fake, secrets, what="ledger", **extra)
        first = list(a.batches(None))
        pending = [t for t in fake.transactions if t["status"] == "pending"]
        keys = {f"ledger:{t['id']}" for t in pending}
        assert keys and all(by_id(first)[k].status == "pending" for k in keys)
        again = list(a.batches(first[-1].cursor))
        assert set(by_id(again)) == keys  # still pending: asked again, nothing else
        t = pending[0]
        key = f"ledger:{t['id']}"
        t["status"] = "completed"
        t["network"] |= {"status": "confirmed", "hash": "ab" * 32}
        done = list(a.batches(again[-1].cursor))
        assert set(by_id(done)) == keys
        assert by_id(done)[key].status == "booked" and by_id(done)[key].txid == "ab" * 32
        # Completed: no longer asked for; the others still are.
        assert set(by_id(list(a.batches(done[-1].cursor)))) == keys - {key}
    finally:
        fake.stop()


def test_resume_mid_window_from_any_batch_cursor() -> None:
    fake, secrets, _extra = make("kraken", rows=130)
    try:
        a = adapter("kraken", fake, secrets, what="ledger")
        batches = list(a.batches(None))
        assert len(batches) >= 5
        mid = batches[2].cursor
        assert mid is not None and mid["streams"]["ledger"]["win"] is not None
        rest = list(a.batches(mid))
        ids = set(by_id(batches[:3])) | set(by_id(rest))
        assert ids == set(by_id(batches))
    finally:
        fake.stop()


def test_wrong_secret_is_a_clear_auth_error(ex: tuple) -> None:
    kind, fake, secrets, extra = ex
    bad = dict(secrets)
    if kind == "coinbase":
        bad["secret"] = fc.make_key_pair()[0]
    elif kind == "kraken":
        bad["secret"] = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="
    else:
        bad["secret"] = "wrong-secret"
    a = adapter(kind, fake, bad, **extra)
    with pytest.raises(SourceError) as err:
        list(a.batches(None))
    msg = str(err.value)
    assert "authentication failed" in msg
    assert err.value.where and "/" in err.value.where
    for value in bad.values():
        assert value not in msg


FAULT_PATH = {"binance": "/api/v3/myTrades", "kraken": "/0/private/Ledgers",
              "coinbase": "/api/v3/brokerage/orders/historical/fills"}
AMOUNT_FIELD = {"binance": "qty", "kraken": "amount", "coinbase": "size"}


def _sync_until_error(a: CcxtExchangeAdapter) -> tuple[list[Batch], SourceError]:
    got: list[Batch] = []
    with pytest.raises(SourceError) as err:
        for b in a.batches(None):
            got.append(b)
    return got, err.value


@pytest.mark.parametrize("fault", ["missing", "number"])
def test_bad_field_is_named_and_nothing_of_the_page_is_yielded(ex: tuple, fault: str) -> None:
    kind, fake, secrets, extra = ex
    fld = AMOUNT_FIELD[kind]
    fake.add_fault(fault, FAULT_PATH[kind], field=fld)
    got, err = _sync_until_error(adapter(kind, fake, secrets, **extra))
    assert err.where is not None and FAULT_PATH[kind] in err.where
    assert f"field '{fld}'" in err.where
    assert ("missing" if fault == "missing" else "JSON number") in err.message
    # the broken page was the first one of its stream: nothing of that stream came out
    stream_prefix = "ledger:" if kind == "kraken" else "trade:"
    assert not any(r.external_id.startswith(stream_prefix)
                   for b in got for r in b.records)


def test_html_error_page(ex: tuple) -> None:
    kind, fake, secrets, extra = ex
    fake.add_fault("html", FAULT_PATH[kind], status=200)
    _, err = _sync_until_error(adapter(kind, fake, secrets, **extra))
    assert "HTML" in err.message and "502 Bad Gateway" in err.message
    assert FAULT_PATH[kind] in (err.where or "")


def test_html_5xx_retried_then_clear_error(ex: tuple) -> None:
    kind, fake, secrets, extra = ex
    fake.add_fault("html", FAULT_PATH[kind], status=502, times=None)
    _, err = _sync_until_error(adapter(kind, fake, secrets, **extra))
    assert "HTML error page" in err.message and "after 3 attempts" in err.message


def test_endless_pagination(ex: tuple) -> None:
    kind, fake, secrets, extra = ex
    fake.add_fault("endless", FAULT_PATH[kind], times=None)
    _, err = _sync_until_error(adapter(kind, fake, secrets, **extra))
    assert "does not advance" in err.message
    assert FAULT_PATH[kind] in (err.where or "")


def test_huge_page(ex: tuple) -> None:
    kind, fake, secrets, extra = ex
    fake.add_fault("huge", FAULT_PATH[kind])
    _, err = _sync_until_error(adapter(kind, fake, secrets, **extra))
    assert "page" in err.message and ("exceeds" in err.message or "oversized" in err.message)


def test_huge_response_bytes_cap() -> None:
    fake, secrets, extra = make("binance")
    try:
        a = adapter("binance", fake, secrets, max_response_bytes=500, **extra)
        _, err = _sync_until_error(a)
        assert "page cap" in err.message
    finally:
        fake.stop()


def test_timeout_is_one_clear_error() -> None:
    fake, secrets, extra = make("binance")
    try:
        fake.add_fault("slow", "/api/v3/myTrades", delay=0.6, times=None)
        a = adapter("binance", fake, secrets, **{**extra, "timeout_ms": 200,
                                                 "retry_attempts": 2})
        _, err = _sync_until_error(a)
        assert "timed out" in err.message and "/api/v3/myTrades" in (err.where or "")
    finally:
        fake.stop()


@pytest.mark.parametrize("status", [429, 503])
def test_retries_recover_from_one_transient_failure(ex: tuple, status: int) -> None:
    kind, fake, secrets, extra = ex
    fake.add_fault("status", FAULT_PATH[kind], status=status)
    got = actual(by_id(list(adapter(kind, fake, secrets, **extra).batches(None))))
    assert got == expected(kind, fake)


def test_persistent_429_is_a_rate_limit_error() -> None:
    fake, secrets, extra = make("binance")
    try:
        fake.add_fault("status", "/sapi/v1/capital/deposit/hisrec", status=429, times=None)
        _, err = _sync_until_error(adapter("binance", fake, secrets, **extra))
        assert "rate limited" in err.message and "capital/deposit/hisrec" in (err.where or "")
    finally:
        fake.stop()


OHLCV = {"binance": ("BTC/USDT", "BTCUSDT"), "kraken": ("BTC/USD", "XXBTZUSD"),
         "coinbase": ("BTC/USD", "BTC-USD")}


def test_ohlcv_closes_exact(ex: tuple) -> None:
    kind, fake, secrets, _extra = ex
    symbol, native = OHLCV[kind]
    a = adapter(kind, fake, secrets, what="trades", symbols="" if kind != "binance"
                else symbol, price_symbols=symbol)
    prices = [p for b in a.batches(None) for p in b.prices]
    for interval, code in (("1h", (60, "ONE_HOUR")), ("1d", (1440, "ONE_DAY"))):
        if kind == "binance":
            want = [(k[0], D(k[4])) for k in fake.klines[(native, interval)]]
        elif kind == "kraken":
            want = [(r[0] * 1000, D(r[4])) for r in fake.ohlc[(native, code[0])]]
        else:
            want = [(int(c["start"]) * 1000, D(c["close"])) for c in
                    fake.candles[(native, code[1])]]
        got = [(int(p.ts.timestamp() * 1000), p.close) for p in prices
               if p.interval == interval]
        assert got == want
        assert all(str(p.close) == format(c, "f") for p, (_, c) in
                   zip((p for p in prices if p.interval == interval), want, strict=True))


def test_ohlcv_number_close_rejected() -> None:
    fake, secrets, _extra = make("kraken")
    try:
        fake.add_fault("number", "/0/public/OHLC")
        a = adapter("kraken", fake, secrets, what="trades", price_symbols="BTC/USD")
        _, err = _sync_until_error(a)
        assert "field 'close'" in (err.where or "") and "JSON number" in err.message
    finally:
        fake.stop()


def test_test_connection(ex: tuple) -> None:
    kind, fake, secrets, extra = ex
    line = adapter(kind, fake, secrets, **extra).test_connection()
    assert kind in line and "balance ok" in line and "\n" not in line


def test_settings_errors() -> None:
    with pytest.raises(SourceError) as err:
        CcxtExchangeAdapter("exch", {"exchange": "binance", "what": "candles"},
                            {"apiKey": "k", "secret": "s"})
    assert err.value.where == "what"
    with pytest.raises(SourceError):
        CcxtExchangeAdapter("exch", {"exchange": "binance"}, {"apiKey": "k"})
    a = CcxtExchangeAdapter("exch", {"exchange": "nosuchexchange"},
                            {"apiKey": "k", "secret": "s"})
    with pytest.raises(SourceError) as err:
        list(a.batches(None))
    assert err.value.where == "exchange"


def test_cursor_of_another_exchange_is_refused() -> None:
    a = CcxtExchangeAdapter("exch", {"exchange": "kraken"}, {"apiKey": "k", "secret": "s"})
    with pytest.raises(SourceError):
        list(a.batches({"v": 1, "exchange": "binance", "streams": {}}))


def test_fake_runs_standalone() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.exchange_binance", "--port", "0", "--rows", "50",
         "--delay-ms", "1"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PORT ")
        port = int(line.split()[1])
        a = CcxtExchangeAdapter("exch", {"exchange": "binance",
                                         "base_url": f"http://127.0.0.1:{port}",
                                         "what": "trades", "symbols": "BTC/USDT", **FAST},
                                {"apiKey": fb.API_KEY, "secret": fb.SECRET})
        assert len(by_id(list(a.batches(None)))) == 50  # 25 fills x 2 legs
    finally:
        proc.kill()
        proc.wait()
