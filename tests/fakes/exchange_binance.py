"""Fake Binance spot REST API: exchangeInfo, myTrades, capital deposit/withdraw history,
klines and account, with Binance's HMAC-SHA256 query signing and error bodies.

Wire details copied from Binance's docs (and what ccxt's ``binance.py`` sends):
signed endpoints carry ``timestamp`` and ``signature`` (hex HMAC-SHA256 of the query
string before ``&signature=``) plus an ``X-MBX-APIKEY`` header; errors are
``{"code": -1022, "msg": ...}``; ``myTrades`` pages by ``fromId`` (ascending, limit ≤
1000); deposit/withdraw history filters by ``startTime``/``endTime`` (≤ 90 days apart),
newest first, paged by ``offset``/``limit``; klines are arrays of strings.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.fakes import FakeExchange, Reply, Request, cli_main, dec, json_dumps

API_KEY = "binance-test-key-7f3a"
SECRET = "binance-test-secret-0c9e1d"
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
NINETY_DAYS = 90 * 86_400_000

# symbol id -> (base, quote)
SYMBOLS = {"BTCUSDT": ("BTC", "USDT"), "ETHUSDT": ("ETH", "USDT"), "ETHBTC": ("ETH", "BTC")}
TRADED = ("BTCUSDT", "ETHUSDT")


def _amount(rng: random.Random, places: int, lo: int = 1, hi: int = 10**6) -> str:
    return dec(Decimal(rng.randint(lo, hi)).scaleb(-places))


class FakeBinance(FakeExchange):
    name = "binance"

    def __init__(self, rows: int = 60, delay_ms: int = 0, seed: int = 7) -> None:
        super().__init__(delay_ms=delay_ms)
        self.rng = random.Random(seed)
        self.api_key = API_KEY
        self.secret = SECRET
        self.trades: dict[str, list[dict[str, Any]]] = {s: [] for s in TRADED}
        self.deposits: list[dict[str, Any]] = []
        self.withdrawals: list[dict[str, Any]] = []
        self.next_ts = T0
        self.add_trades(rows)
        self.add_transfers(max(rows // 4, 3))
        self.klines: dict[tuple[str, str], list[list[Any]]] = {}
        for sym in TRADED:
            for interval, step in (("1h", 3_600_000), ("1d", 86_400_000)):
                rows_k = []
                for i in range(30):
                    close = _amount(self.rng, 2, 10**5, 10**7)
                    open_t = T0 + i * step
                    rows_k.append([open_t, close, close, close, close, "1.00000000",
                                   open_t + step - 1, "100.0", 10, "0.5", "50.0", "0"])
                self.klines[(sym, interval)] = rows_k

    # -- dataset ------------------------------------------------------------------------

    def add_trades(self, n: int, *, same_ts_every: int = 3) -> None:
        """``n`` more fills, alternating symbols; ``same_ts_every`` fills share a ms."""
        for i in range(n):
            sym = TRADED[i % 2]
            if i % same_ts_every == 0:
                self.next_ts += 60_000
            lst = self.trades[sym]
            tid = (lst[-1]["id"] + 1) if lst else 1000
            price = _amount(self.rng, 2, 10**5, 10**7)
            qty = _amount(self.rng, 8)
            quote_qty = dec(Decimal(price) * Decimal(qty))
            base, quote = SYMBOLS[sym]
            fee_asset = self.rng.choice([base, quote, "BNB"])
            lst.append({
                "symbol": sym, "id": tid, "orderId": 50_000 + tid, "orderListId": -1,
                "price": price, "qty": qty, "quoteQty": quote_qty,
                "commission": _amount(self.rng, 8, 1, 10**4), "commissionAsset": fee_asset,
                "time": self.next_ts, "isBuyer": self.rng.random() < 0.5,
                "isMaker": self.rng.random() < 0.5, "isBestMatch": True,
            })

    def add_transfers(self, n: int) -> None:
        for i in range(n):
            self.next_ts += 1000 if i % 2 else 0  # pairs share a timestamp
            coin = self.rng.choice(["BTC", "USDT", "ETH"])
            k = len(self.deposits) + len(self.withdrawals)
            self.deposits.append({
                "id": f"dep{k:06d}", "amount": _amount(self.rng, 8), "coin": coin,
                "network": coin if coin != "USDT" else "ETH", "status": 1,
                "address": f"addr-d-{k}", "addressTag": "", "txId": f"0xdeadbeef{k:06d}",
                "insertTime": self.next_ts, "transferType": 0, "confirmTimes": "12/12",
                "unlockConfirm": 0, "walletType": 0,
            })
            ts = (self.next_ts // 1000) * 1000  # applyTime has second resolution
            self.withdrawals.append({
                "id": f"wd{k:06d}", "amount": _amount(self.rng, 8),
                "transactionFee": _amount(self.rng, 8, 1, 10**4), "coin": coin,
                "status": 6, "address": f"addr-w-{k}", "txId": f"0xfeedface{k:06d}",
                "applyTime": datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S"),
                "network": coin if coin != "USDT" else "ETH", "transferType": 0,
                "confirmNo": 3, "walletType": 1, "txKey": "",
                "completeTime": datetime.fromtimestamp(ts / 1000, UTC).strftime(
                    "%Y-%m-%d %H:%M:%S"),
            })

    def all_trades(self) -> list[dict[str, Any]]:
        return [t for s in TRADED for t in self.trades[s]]

    # -- HTTP ---------------------------------------------------------------------------

    def error_reply(self, status: int, req: Request) -> Reply:
        if status == 429:
            body = {"code": -1003, "msg": "Too much request weight used; current limit is "
                    "6000 request weight per 1 MINUTE."}
            return Reply(429, json_dumps(body), headers={"Retry-After": "0"})
        return Reply(status, json_dumps({"code": -1001, "msg": "Internal error; unable to "
                                         "process your request. Please try again."}))

    def _err(self, status: int, code: int, msg: str) -> Reply:
        return Reply(status, json_dumps({"code": code, "msg": msg}))

    def _check_signed(self, req: Request) -> Reply | None:
        if req.headers.get("X-MBX-APIKEY") != self.api_key:
            return self._err(401, -2015, "Invalid API-key, IP, or permissions for action.")
        raw, sep, sig = req.raw_query.rpartition("&signature=")
        if not sep:
            return self._err(400, -1102, "Mandatory parameter 'signature' was not sent.")
        want = hmac.new(self.secret.encode(), raw.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            return self._err(400, -1022, "Signature for this request is not valid.")
        ts = int(req.query.get("timestamp", "0"))
        window = int(req.query.get("recvWindow", "5000"))
        if abs(time.time() * 1000 - ts) > max(window, 60_000):
            return self._err(400, -1021, "Timestamp for this request is outside of the "
                             "recvWindow.")
        return None

    def route(self, req: Request) -> Reply:
        p = req.path
        if p == "/api/v3/exchangeInfo":
            return Reply(200, json_dumps(self.exchange_info()))
        if p == "/api/v3/klines":
            return self.get_klines(req)
        signed = {
            "/api/v3/myTrades": self.get_my_trades,
            "/sapi/v1/capital/deposit/hisrec": self.get_deposits,
            "/sapi/v1/capital/withdraw/history": self.get_withdrawals,
            "/api/v3/account": self.get_account,
        }
        handler = signed.get(p)
        if handler is None:
            return self._err(404, -1000, f"unknown path {p}")
        bad = self._check_signed(req)
        return bad if bad is not None else handler(req)

    def exchange_info(self) -> dict[str, Any]:
        symbols = []
        for sym, (base, quote) in SYMBOLS.items():
            symbols.append({
                "symbol": sym, "status": "TRADING", "baseAsset": base,
                "baseAssetPrecision": 8, "quoteAsset": quote, "quotePrecision": 8,
                "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "MARKET"], "icebergAllowed": True,
                "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True,
                "allowTrailingStop": True, "cancelReplaceAllowed": True,
                "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.01000000",
                     "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
                    {"filterType": "LOT_SIZE", "minQty": "0.00001000",
                     "maxQty": "9000.00000000", "stepSize": "0.00001000"},
                ],
                "permissions": [], "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["EXPIRE_MAKER"],
            })
        return {"timezone": "UTC", "serverTime": int(time.time() * 1000),
                "rateLimits": [], "exchangeFilters": [], "symbols": symbols}

    def _limit(self, req: Request, default: int, cap: int) -> int:
        return min(int(req.query.get("limit", default)), cap)

    def get_my_trades(self, req: Request) -> Reply:
        sym = req.query.get("symbol", "")
        if sym not in SYMBOLS:
            return self._err(400, -1121, "Invalid symbol.")
        rows = self.trades.get(sym, [])
        limit = self._limit(req, 500, 1000)
        endless = self.take_fault(req.path, ("endless",))
        if "fromId" in req.query and endless is None:
            from_id = int(req.query["fromId"])
            page = [t for t in rows if t["id"] >= from_id][:limit]
        elif "startTime" in req.query:
            start = int(req.query["startTime"])
            end = int(req.query.get("endTime", start + 86_400_000))
            if end - start > 86_400_000:
                return self._err(400, -1127, "More than 24 hours between startTime and "
                                 "endTime.")
            page = [t for t in rows if start <= t["time"] <= end][:limit]
        else:
            page = rows[:limit] if endless else rows[-limit:]
        if self.take_fault(req.path, ("huge",)):
            page = [dict(page[0], id=page[0]["id"] + k) for k in range(limit * 3)]
        return Reply(200, json_dumps(self.mangle_rows(req.path, page)))

    def _history(self, req: Request, rows: list[dict[str, Any]], ts_of: Any) -> Reply:
        now = int(time.time() * 1000)
        end = int(req.query.get("endTime", now))
        start = int(req.query.get("startTime", end - NINETY_DAYS))
        if end - start > NINETY_DAYS:
            return self._err(400, -1127, "The time interval between startTime and endTime "
                             "can't be longer than 90 days.")
        sel = [r for r in rows if start <= ts_of(r) <= end]
        if "coin" in req.query:
            sel = [r for r in sel if r["coin"] == req.query["coin"]]
        sel.sort(key=lambda r: (ts_of(r), r["id"]), reverse=True)  # newest first
        offset = int(req.query.get("offset", 0))
        if self.take_fault(req.path, ("endless",)):
            offset = 0
        limit = self._limit(req, 1000, 1000)
        return Reply(200, json_dumps(self.mangle_rows(req.path, sel[offset:offset + limit])))

    def get_deposits(self, req: Request) -> Reply:
        return self._history(req, self.deposits, lambda r: r["insertTime"])

    def get_withdrawals(self, req: Request) -> Reply:
        def ts(r: dict[str, Any]) -> int:
            dt = datetime.strptime(r["applyTime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            return int(dt.timestamp() * 1000)

        return self._history(req, self.withdrawals, ts)

    def get_account(self, req: Request) -> Reply:
        return Reply(200, json_dumps({
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
            "sellerCommission": 0, "canTrade": True, "canWithdraw": True,
            "canDeposit": True, "updateTime": T0, "accountType": "SPOT",
            "balances": [{"asset": "BTC", "free": "1.50000000", "locked": "0.00000000"},
                         {"asset": "USDT", "free": "1000.00", "locked": "0.00"}],
            "permissions": ["SPOT"], "uid": 1,
        }))

    def get_klines(self, req: Request) -> Reply:
        sym, interval = req.query.get("symbol", ""), req.query.get("interval", "")
        rows = self.klines.get((sym, interval))
        if rows is None:
            return self._err(400, -1121, "Invalid symbol.")
        start = int(req.query.get("startTime", 0))
        end = int(req.query.get("endTime", 2**62))
        limit = self._limit(req, 500, 1000)
        page = [k for k in rows if start <= k[0] <= end][:limit]
        fault = self.take_fault(req.path, ("number",))
        if fault is not None and page:
            page = [list(k) for k in page]
            page[0][4] = float(page[0][4])
        return Reply(200, json.dumps(page))


def main() -> None:
    cli_main(FakeBinance)


if __name__ == "__main__":
    main()
