"""Fake Kraken REST API: AssetPairs, Assets, OHLC, Balance, TradesHistory, Ledgers,
DepositStatus, WithdrawStatus, with Kraken's API-Sign check and ``{"error": [...]}`` bodies.

Wire details from Kraken's docs (and what ccxt's ``kraken.py`` sends): private calls are
``POST /0/private/<Method>`` with a form body carrying an increasing ``nonce``;
``API-Sign`` = base64(HMAC-SHA512(base64decode(secret), path + SHA256(nonce + body))).
TradesHistory and Ledgers return a dict keyed by id plus ``count``, newest first, 50 per
page, paged by ``ofs``; ``start`` is exclusive and ``end`` inclusive (unix seconds).
Times are JSON numbers (seconds with 4 decimals), amounts strings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from decimal import Decimal
from typing import Any

from tests.fakes import FakeExchange, Reply, Request, cli_main, dec, json_dumps

API_KEY = "kraken-test-key-91b2"
SECRET = base64.b64encode(b"kraken-test-secret-bytes-0123456789abcdef").decode()
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z, seconds
PAGE = 50

PAIRS = {  # id -> (altname, wsname, base, quote)
    "XXBTZUSD": ("XBTUSD", "XBT/USD", "XXBT", "ZUSD"),
    "XETHZUSD": ("ETHUSD", "ETH/USD", "XETH", "ZUSD"),
    "XETHXXBT": ("ETHXBT", "ETH/XBT", "XETH", "XXBT"),
}
ASSETS = {"XXBT": ("XBT", 10), "XETH": ("ETH", 10), "ZUSD": ("USD", 4)}
UNIFIED = {"XXBT": "BTC", "XETH": "ETH", "ZUSD": "USD"}
TRADED = ("XXBTZUSD", "XETHZUSD")


def _amount(rng: random.Random, places: int, lo: int = 1, hi: int = 10**6) -> str:
    return dec(Decimal(rng.randint(lo, hi)).scaleb(-places))


class FakeKraken(FakeExchange):
    name = "kraken"

    def __init__(self, rows: int = 60, delay_ms: int = 0, seed: int = 11) -> None:
        super().__init__(delay_ms=delay_ms)
        self.rng = random.Random(seed)
        self.api_key = API_KEY
        self.secret = SECRET
        self.last_nonce = 0
        self.trades: dict[str, dict[str, Any]] = {}
        self.ledger: dict[str, dict[str, Any]] = {}
        self.deposits: list[dict[str, Any]] = []
        self.withdrawals: list[dict[str, Any]] = []
        self.t = float(T0)
        self.seq = 0
        self.add_trades(rows)
        self.add_transfers(max(rows // 6, 3))
        self.add_staking(max(rows // 10, 2))
        self.ohlc: dict[tuple[str, int], list[list[Any]]] = {}
        for pair in TRADED:
            for interval in (60, 1440):
                self.ohlc[(pair, interval)] = [
                    [T0 + i * interval * 60, c, c, c, c, c, "1.00000000", 5]
                    for i, c in enumerate(_amount(self.rng, 1, 10**4, 10**6) for _ in range(30))
                ]

    def _id(self, prefix: str) -> str:
        self.seq += 1
        s = f"{self.seq:015d}"
        return f"{prefix}{s[:5]}-{s[5:10]}-{s[10:]}"

    def add_trades(self, n: int, *, same_time_every: int = 3) -> None:
        for i in range(n):
            if i % same_time_every == 0:
                self.t = round(self.t + 61.1234, 4)
            pair = TRADED[i % 2]
            price = _amount(self.rng, 1, 10**4, 10**6)
            vol = _amount(self.rng, 8)
            cost = dec(Decimal(price) * Decimal(vol))
            fee = _amount(self.rng, 5, 0, 10**4)
            side = self.rng.choice(["buy", "sell"])
            txid = self._id("T")
            self.trades[txid] = {
                "ordertxid": self._id("O"), "postxid": self._id("P"), "pair": pair,
                "time": self.t, "type": side, "ordertype": "limit", "price": price,
                "cost": cost, "fee": fee, "vol": vol, "margin": "0.00000", "leverage": "0",
                "misc": "", "trade_id": self.seq, "maker": bool(i % 2),
            }
            _, _, base, quote = PAIRS[pair]
            sign = 1 if side == "buy" else -1
            self._ledger(txid, "trade", base, Decimal(vol) * sign, "0")
            self._ledger(txid, "trade", quote, -Decimal(cost) * sign, fee)

    def _ledger(self, refid: str, typ: str, asset: str, amount: Decimal, fee: str) -> None:
        self.ledger[self._id("L")] = {
            "aclass": "currency", "amount": dec(amount), "asset": asset,
            "balance": "0.0000000000", "fee": fee, "refid": refid, "time": self.t,
            "type": typ, "subtype": "",
        }

    def add_staking(self, n: int) -> None:
        """Staking rewards: only the ledger has them."""
        for _ in range(n):
            self.t = round(self.t + 45, 4)
            self._ledger(self._id("S"), "staking", "XETH", Decimal(_amount(self.rng, 8)), "0")

    def add_transfers(self, n: int) -> None:
        for i in range(n):
            self.t = round(self.t + (0 if i % 2 else 30), 4)
            asset = self.rng.choice(["XXBT", "XETH"])
            amount = _amount(self.rng, 8)
            ref = self._id("F")
            self.deposits.append({
                "method": "Bitcoin" if asset == "XXBT" else "Ether", "aclass": "currency",
                "asset": asset, "refid": ref, "txid": f"kdtx{self.seq:08d}",
                "info": f"kaddr-d-{self.seq}", "amount": amount, "fee": "0.0000000000",
                "time": int(self.t), "status": "Success",
            })
            self._ledger(ref, "deposit", asset, Decimal(amount), "0")
            ref = self._id("W")
            fee = _amount(self.rng, 8, 1, 10**4)
            amount = _amount(self.rng, 8)
            self.withdrawals.append({
                "method": "Bitcoin" if asset == "XXBT" else "Ether", "aclass": "currency",
                "asset": asset, "refid": ref, "txid": f"kwtx{self.seq:08d}",
                "info": f"kaddr-w-{self.seq}", "amount": amount, "fee": fee,
                "time": int(self.t), "status": "Success", "key": "cold wallet",
            })
            self._ledger(ref, "withdrawal", asset, -Decimal(amount), fee)

    # -- HTTP ---------------------------------------------------------------------------

    def error_reply(self, status: int, req: Request) -> Reply:
        if status == 429:  # Kraken says "rate limit" inside a 200
            return Reply(200, json_dumps({"error": ["EAPI:Rate limit exceeded"]}))
        return Reply(status, json_dumps({"error": ["EService:Unavailable"]}))

    def _err(self, msg: str) -> Reply:
        return Reply(200, json_dumps({"error": [msg]}))

    def _ok(self, result: Any) -> Reply:
        return Reply(200, json_dumps({"error": [], "result": result}))

    def _check_signed(self, req: Request) -> Reply | None:
        if req.headers.get("API-Key") != self.api_key:
            return self._err("EAPI:Invalid key")
        nonce = req.form.get("nonce", "")
        message = req.path.encode() + hashlib.sha256((nonce + req.body).encode()).digest()
        want = base64.b64encode(
            hmac.new(base64.b64decode(self.secret), message, hashlib.sha512).digest()
        ).decode()
        if not hmac.compare_digest(want, req.headers.get("API-Sign", "")):
            return self._err("EAPI:Invalid signature")
        with self.lock:
            if not nonce.isdigit() or int(nonce) <= self.last_nonce:
                return self._err("EAPI:Invalid nonce")
            self.last_nonce = int(nonce)
        return None

    def route(self, req: Request) -> Reply:
        p = req.path
        if p == "/0/public/AssetPairs":
            return self._ok(self.asset_pairs())
        if p == "/0/public/Assets":
            return self._ok({k: {"aclass": "currency", "altname": alt, "decimals": d,
                                 "display_decimals": 5, "status": "enabled"}
                             for k, (alt, d) in ASSETS.items()})
        if p == "/0/public/OHLC":
            return self.ohlc_reply(req)
        private = {
            "/0/private/TradesHistory": self.trades_history,
            "/0/private/Ledgers": self.ledgers,
            "/0/private/DepositStatus": lambda r: self.status_list(r, self.deposits),
            "/0/private/WithdrawStatus": lambda r: self.status_list(r, self.withdrawals),
            "/0/private/BalanceEx": lambda r: self._ok({
                "ZUSD": {"balance": "171288.6158", "hold_trade": "0"},
                "XXBT": {"balance": "0.0011", "hold_trade": "0"}}),
        }
        handler = private.get(p)
        if handler is None:
            return Reply(404, json_dumps({"error": ["EGeneral:Unknown method"]}))
        if req.method != "POST":
            return self._err("EGeneral:Invalid arguments")
        bad = self._check_signed(req)
        return bad if bad is not None else handler(req)

    def asset_pairs(self) -> dict[str, Any]:
        out = {}
        for pid, (alt, ws, base, quote) in PAIRS.items():
            out[pid] = {
                "altname": alt, "wsname": ws, "aclass_base": "currency", "base": base,
                "aclass_quote": "currency", "quote": quote, "lot": "unit",
                "cost_decimals": 5, "pair_decimals": 1, "lot_decimals": 8,
                "lot_multiplier": 1, "leverage_buy": [], "leverage_sell": [],
                "fees": [[0, 0.26]], "fees_maker": [[0, 0.16]],
                "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40,
                "ordermin": "0.0001", "costmin": "0.5", "tick_size": "0.1",
                "status": "online",
            }
        return out

    def _window(self, req: Request) -> tuple[float, float]:
        start = float(req.form.get("start") or "-1")
        end = float(req.form.get("end") or "1e12")
        return start, end

    def _paged(self, req: Request, table: dict[str, dict[str, Any]], key: str) -> Reply:
        start, end = self._window(req)
        rows = [(k, v) for k, v in table.items() if start < v["time"] <= end]
        rows.sort(key=lambda kv: (kv[1]["time"], kv[0]), reverse=True)  # newest first
        ofs = int(req.form.get("ofs") or 0)
        count = len(rows)
        if self.take_fault(req.path, ("endless",)):
            ofs, count = 0, 10**9
        page = rows[ofs:ofs + PAGE]
        if self.take_fault(req.path, ("huge",)):
            page = [(f"{k}-{j}", v) for j in range(40) for k, v in page]
        mangled = self.mangle_rows(req.path, [v for _, v in page])
        return self._ok({key: {k: v for (k, _), v in zip(page, mangled, strict=True)},
                         "count": count})

    def trades_history(self, req: Request) -> Reply:
        return self._paged(req, self.trades, "trades")

    def ledgers(self, req: Request) -> Reply:
        return self._paged(req, self.ledger, "ledger")

    def status_list(self, req: Request, rows: list[dict[str, Any]]) -> Reply:
        start, end = self._window(req)
        sel = [r for r in rows if start < r["time"] <= end]
        sel.sort(key=lambda r: (r["time"], r["refid"]), reverse=True)
        return self._ok(self.mangle_rows(req.path, sel))

    def ohlc_reply(self, req: Request) -> Reply:
        pair = req.query.get("pair", "")
        interval = int(req.query.get("interval", "1"))
        rows = self.ohlc.get((pair, interval))
        if rows is None:
            return self._err("EQuery:Unknown asset pair")
        since = int(req.query.get("since") or 0)
        page = [r for r in rows if r[0] > since][:720]
        if self.take_fault(req.path, ("number",)) and page:
            page = [list(r) for r in page]
            page[0][4] = float(page[0][4])
        last = page[-1][0] if page else since
        return self._ok({pair: page, "last": last})


def main() -> None:
    cli_main(FakeKraken)


if __name__ == "__main__":
    main()
