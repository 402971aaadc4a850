"""Fake Coinbase API (v3 Advanced Trade brokerage; v2 currencies, accounts and account
transactions), verifying CDP-key JWT (ES256) Bearer auth exactly as ccxt's ``coinbase.py``
builds it.

ccxt signs each private request with a fresh JWT: header ``{"alg": "ES256", "kid":
<key name>, "nonce": <hex>}``, claims ``sub`` = key name, ``iss`` = ``coinbase-cloud``,
``aud`` = ``["retail_rest_api_proxy"]``, ``nbf``/``iat``/``exp`` (+120 s) and ``uri`` =
``"<METHOD> <url without https:// and query>"``; the signature is raw r||s (64 bytes),
base64url. (Against this plain-http fake, ccxt's ``uri`` keeps the ``http://`` prefix,
because it only strips ``https://``; the fake accepts exactly that.)

Fills (``/api/v3/brokerage/orders/historical/fills``) come newest first, paged by an opaque
``cursor`` (empty when done); candles are strings, newest first.

The ledger is Coinbase's v2 ("Coinbase App") API: ``/v2/accounts`` lists the wallets (BTC,
ETH, USDC, EUR, USD) and ``/v2/accounts/{account_id}/transactions`` each wallet's
transactions (sends in and out with on-chain hashes, staking rewards, fiat deposits,
buys/sells, Advanced Trade fills), newest first, paged by ``limit`` / ``starting_after``
with a ``pagination`` object (``next_starting_after`` null on the last page). Amounts are
signed strings (``amount.amount``, negative out); a send out's amount includes its
``network.transaction_fee``. v2 private GETs are signed with the same JWT as v3.
"""

from __future__ import annotations

import base64
import json
import random
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.fakes import FakeExchange, Reply, Request, cli_main, dec, json_dumps

KEY_NAME = "organizations/0f9b1c2d-test/apiKeys/7e6d5c4b-test"
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
PRODUCTS = {"BTC-USD": ("BTC", "USD"), "ETH-USD": ("ETH", "USD"), "ETH-BTC": ("ETH", "BTC")}
TRADED = ("BTC-USD", "ETH-USD")
GRANULARITY = {"ONE_HOUR": 3600, "ONE_DAY": 86400}
WALLETS = ("BTC", "ETH", "USDC", "EUR", "USD")
"""One v2 account per currency; the USD wallet has no transactions."""
FIAT = ("EUR", "USD")
LEDGER_PATTERN = (
    ("BTC", "send_in"), ("BTC", "send_out"), ("ETH", "staking_reward"), ("EUR", "fiat_deposit"),
    ("BTC", "buy"), ("USDC", "send_in"), ("ETH", "send_out"), ("USDC", "interest"),
    ("ETH", "sell"), ("USDC", "advanced_trade_fill"), ("ETH", "staking_reward"),
    ("EUR", "fiat_withdrawal"), ("ETH", "send_in"), ("BTC", "send_out_pending"),
    ("USDC", "inflation_reward"), ("BTC", "staking_reward"), ("BTC", "pro_deposit"),
)
"""Cycled by ``add_ledger``: (currency, what); buy/sell also book the EUR side."""
V2_PAGE_MAX = 100


def make_key_pair() -> tuple[str, ec.EllipticCurvePrivateKey]:
    """A fresh P-256 key as the PEM (SEC1) text Coinbase hands out as the API secret."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return pem, key


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _amount(rng: random.Random, places: int, lo: int = 1, hi: int = 10**6) -> str:
    return dec(Decimal(rng.randint(lo, hi)).scaleb(-places))


def _iso_s(ts: int) -> str:
    """v2 timestamps: whole seconds, ``Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    places = 2 if currency in FIAT else 8
    return {"amount": dec(amount.quantize(Decimal(1).scaleb(-places))), "currency": currency}


class FakeCoinbase(FakeExchange):
    name = "coinbase"

    def __init__(self, rows: int = 60, delay_ms: int = 0, seed: int = 5,
                 ledger_rows: int | None = None) -> None:
        super().__init__(delay_ms=delay_ms)
        self.rng = random.Random(seed)
        self.secret_pem, key = make_key_pair()
        self.api_key = KEY_NAME
        self.public_key = key.public_key()
        self.fills: list[dict[str, Any]] = []
        self.t = float(T0)
        self.page_default = 25
        self.add_fills(rows)
        self.candles: dict[tuple[str, str], list[dict[str, str]]] = {}
        for pid in TRADED:
            for gran, step in GRANULARITY.items():
                self.candles[(pid, gran)] = [
                    {"start": str(T0 + i * step), "low": c, "high": c, "open": c, "close": c,
                     "volume": "1.5"}
                    for i, c in enumerate(_amount(self.rng, 2, 10**5, 10**7) for _ in range(30))
                ]
        # v2 wallets and their transactions (the ledger), on a clock of whole seconds.
        self.account_ids = {c: self._uuid() for c in WALLETS}
        self.accounts_page = V2_PAGE_MAX
        """Largest /v2/accounts page served (lower it to make ccxt page the accounts)."""
        self.transactions: list[dict[str, Any]] = []
        """v2 transaction payloads, oldest first; each lists under its account's id."""
        self.lt = T0 + 30
        self.add_ledger(rows if ledger_rows is None else ledger_rows)

    def _uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def account_of(self, tx: dict[str, Any]) -> str:
        return str(tx["resource_path"].split("/")[3])

    def add_ledger(self, n: int, *, same_time_every: int = 3) -> None:
        """``n`` pattern steps (a buy/sell adds its EUR side too); the clock moves every
        ``same_time_every`` steps, so rows share timestamps."""
        for i in range(n):
            if i % same_time_every == 0:
                self.lt += 37
            currency, what = LEDGER_PATTERN[len(self.transactions) % len(LEDGER_PATTERN)]
            self.add_transaction(currency, what, self.lt)

    def add_transaction(self, currency: str, what: str, ts: int) -> list[dict[str, Any]]:
        """One v2 transaction of kind ``what`` in the ``currency`` wallet at ``ts`` (s);
        ``buy``/``sell`` also book the EUR wallet's side. Returns the rows added."""
        rng = self.rng
        places = 2 if currency in FIAT else 8
        qty = Decimal(_amount(rng, places, 1000, 10**7))
        added: list[dict[str, Any]] = []

        def tx(cur: str, cb_type: str, amount: Decimal, status: str = "completed",
               **extra: Any) -> dict[str, Any]:
            tid, acc = self._uuid(), self.account_ids[cur]
            row = {
                "id": tid, "type": cb_type, "status": status, "amount": _money(amount, cur),
                # Deliberately not the asset amount: its home-currency value.
                "native_amount": _money(Decimal(_amount(rng, 2, 100, 10**6))
                                        * (1 if amount >= 0 else -1), "USD"),
                "description": None, "created_at": _iso_s(ts), "updated_at": _iso_s(ts + 5),
                "resource": "transaction",
                "resource_path": f"/v2/accounts/{acc}/transactions/{tid}",
                "instant_exchange": False, **extra,
            }
            added.append(row)
            return row

        def linked(kind: str) -> dict[str, str]:
            lid = self._uuid()
            acc = self.account_ids[currency]
            return {kind: {"id": lid, "resource": kind,
                           "resource_path": f"/v2/accounts/{acc}/{kind}s/{lid}"}}

        if what == "send_in":
            tx(currency, "send", qty, network={"status": "confirmed",
                                               "hash": f"{rng.getrandbits(256):064x}"},
               **{"from": {"resource": f"{currency.lower()}_network", "currency": currency}},
               details={"title": f"Received {currency}", "subtitle": "From address"})
        elif what in ("send_out", "send_out_pending"):
            fee = Decimal(_amount(rng, 8, 0, 20_000))
            pending = what == "send_out_pending"
            network: dict[str, Any] = {
                "status": "pending" if pending else "confirmed",
                "transaction_fee": _money(fee, currency),
                "transaction_amount": _money(qty, currency)}
            if not pending:
                network["hash"] = f"{rng.getrandbits(256):064x}"
                network["confirmations"] = rng.randint(1, 9000)
            address = f"addr{rng.getrandbits(80):020x}"
            tx(currency, "send", -(qty + fee), "pending" if pending else "completed",
               network=network, to={"resource": "address", "address": address,
                                    "currency": currency, "address_info": {"address": address}},
               details={"title": f"Sent {currency}", "subtitle": "To address"})
        elif what in ("staking_reward", "inflation_reward", "interest"):
            tx(currency, what, Decimal(_amount(rng, 8, 1, 10**5)),
               details={"title": "Reward", "subtitle": f"From {currency} staking"})
        elif what in ("fiat_deposit", "fiat_withdrawal"):
            tx(currency, what, qty if what == "fiat_deposit" else -qty, **linked(what),
               details={"title": "Funds", "subtitle": "SEPA Transfer"})
        elif what in ("buy", "sell"):
            cost = Decimal(_amount(rng, 2, 1000, 10**6))
            sign = 1 if what == "buy" else -1
            tx(currency, what, sign * qty, **linked(what),
               details={"title": f"{what.title()} {currency}", "subtitle": "Using EUR Wallet"})
            tx("EUR", what, -sign * cost, **linked(what),
               details={"title": f"{what.title()} {currency}", "subtitle": "EUR Wallet"})
        elif what == "advanced_trade_fill":
            tx(currency, what, -qty, advanced_trade_fill={
                "fill_price": "1.0001", "product_id": f"{currency}-USD",
                "order_id": self._uuid(), "commission": "0.01", "order_side": "sell"})
        elif what == "pro_deposit":  # moved out to Coinbase Pro: no kind of its own
            tx(currency, what, -qty,
               details={"title": f"Transferred {currency}", "subtitle": "To Coinbase Pro"})
        else:
            raise ValueError(f"unknown transaction kind {what!r}")
        self.transactions.extend(added)
        return added

    def add_fills(self, n: int, *, same_time_every: int = 3) -> None:
        for i in range(n):
            if i % same_time_every == 0:
                self.t += 60.25
            pid = TRADED[i % 2]
            k = len(self.fills)
            self.fills.append({
                "entry_id": f"e{k:08d}", "trade_id": f"t-{k:08d}", "order_id": f"o-{k:08d}",
                "trade_time": _iso(self.t), "trade_type": "FILL",
                "price": _amount(self.rng, 2, 10**5, 10**7), "size": _amount(self.rng, 8),
                "commission": _amount(self.rng, 6, 0, 10**6), "product_id": pid,
                "sequence_timestamp": _iso(self.t), "liquidity_indicator": "MAKER",
                "size_in_quote": False, "user_id": "u-1",
                "side": self.rng.choice(["BUY", "SELL"]), "retail_portfolio_id": "p-1",
            })

    # -- HTTP ---------------------------------------------------------------------------

    def error_reply(self, status: int, req: Request) -> Reply:
        if status == 429:
            return Reply(429, json_dumps({"errors": [{"id": "rate_limit_exceeded",
                                                      "message": "Too many requests"}]}))
        return Reply(status, json_dumps({"error": "INTERNAL", "code": 13,
                                         "message": "internal error", "details": []}))

    def _unauthorized(self) -> Reply:
        return Reply(401, "Unauthorized\n", "text/plain")

    def _check_jwt(self, req: Request) -> Reply | None:
        auth = req.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self._unauthorized()
        try:
            head_b64, claims_b64, sig_b64 = auth[7:].split(".")
            header = json.loads(_b64url(head_b64))
            claims = json.loads(_b64url(claims_b64))
            sig = _b64url(sig_b64)
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                       int.from_bytes(sig[32:], "big"))
            self.public_key.verify(der, f"{head_b64}.{claims_b64}".encode(),
                                   ec.ECDSA(hashes.SHA256()))
        except (ValueError, InvalidSignature):
            return self._unauthorized()
        now = time.time()
        host = req.headers.get("Host", "")
        uris = {f"{req.method} {host}{req.path}", f"{req.method} http://{host}{req.path}"}
        ok = (
            header.get("alg") == "ES256" and header.get("kid") == self.api_key
            and claims.get("sub") == self.api_key and claims.get("iss") == "coinbase-cloud"
            and claims.get("aud") == ["retail_rest_api_proxy"]
            and claims.get("nbf", now + 99) <= now + 5 and claims.get("exp", 0) >= now - 5
            and claims.get("uri") in uris
        )
        return None if ok else self._unauthorized()

    def route(self, req: Request) -> Reply:
        p = req.path
        public = {
            "/api/v3/brokerage/market/products": self.products,
            "/v2/currencies": lambda r: self._json({"data": [
                {"id": c, "name": c, "min_size": "0.01"} for c in FIAT]}),
            "/v2/currencies/crypto": lambda r: self._json({"data": [
                {"asset_id": f"a-{c}", "code": c, "name": c, "color": "#000000",
                 "sort_index": 1, "exponent": 8, "type": "crypto", "address_regex": ".*"}
                for c in ("BTC", "ETH", "USDC")]}),
            "/v2/exchange-rates": lambda r: self._json({"data": {
                "currency": "USD", "rates": {"BTC": "0.00002", "ETH": "0.0004", "USD": "1"}}}),
        }
        if p in public:
            return public[p](req)
        if p.startswith("/api/v3/brokerage/market/products/") and p.endswith("/candles"):
            return self.candles_reply(req, p.split("/")[-2])
        private = {
            "/api/v3/brokerage/orders/historical/fills": self.get_fills,
            "/api/v3/brokerage/transaction_summary": lambda r: self._json({
                "total_volume": 0, "total_fees": 0, "fee_tier": {
                    "pricing_tier": "Advanced 1", "usd_from": "0", "usd_to": "10000",
                    "taker_fee_rate": "0.006", "maker_fee_rate": "0.004"}}),
            "/api/v3/brokerage/accounts": self.accounts,
            "/v2/accounts": self.accounts_v2,
        }
        handler = private.get(p)
        parts = p.split("/")
        if handler is None and len(parts) == 5 and p.startswith("/v2/accounts/") \
                and parts[4] == "transactions":
            handler = self.get_transactions
        if handler is None:
            return Reply(404, json_dumps({"error": "NOT_FOUND", "message": f"no route {p}"}))
        bad = self._check_jwt(req)
        return bad if bad is not None else handler(req)

    def _json(self, obj: Any) -> Reply:
        return Reply(200, json_dumps(obj))

    def products(self, req: Request) -> Reply:
        out = []
        for pid, (base, quote) in PRODUCTS.items():
            out.append({
                "product_id": pid, "price": "100.00", "price_percentage_change_24h": "0",
                "volume_24h": "0", "volume_percentage_change_24h": "0",
                "base_increment": "0.00000001", "quote_increment": "0.01",
                "quote_min_size": "1", "quote_max_size": "10000000",
                "base_min_size": "0.00000001", "base_max_size": "3400",
                "base_name": base, "quote_name": quote, "watched": False,
                "is_disabled": False, "new": False, "status": "online",
                "cancel_only": False, "limit_only": False, "post_only": False,
                "trading_disabled": False, "auction_mode": False, "product_type": "SPOT",
                "quote_currency_id": quote, "base_currency_id": base,
                "mid_market_price": "", "alias": "", "alias_to": [],
                "base_display_symbol": base, "quote_display_symbol": quote,
                "view_only": False, "price_increment": "0.01", "display_name": pid,
                "product_venue": "CBE",
            })
        return self._json({"products": out, "num_products": len(out)})

    def accounts(self, req: Request) -> Reply:
        accs = [{
            "uuid": self.account_ids[c], "name": f"{c} Wallet", "currency": c,
            "available_balance": {"value": "1.5", "currency": c}, "default": True,
            "active": True, "created_at": _iso(T0), "updated_at": _iso(T0),
            "deleted_at": None, "type": "ACCOUNT_TYPE_CRYPTO", "ready": True,
            "hold": {"value": "0", "currency": c},
        } for c in WALLETS]
        return self._json({"accounts": accs, "has_next": False, "cursor": "",
                           "size": len(accs)})

    # -- v2 (ledger) --------------------------------------------------------------------

    def _v2_error(self, status: int, err_id: str, message: str) -> Reply:
        return Reply(status, json_dumps({"errors": [{"id": err_id, "message": message}]}))

    def _v2_page(self, req: Request, rows: list[dict[str, Any]], cap: int,
                 base_uri: str) -> tuple[list[dict[str, Any]], dict[str, Any]] | Reply:
        """``rows`` (already newest first) cut by ``starting_after`` and ``limit``, with
        Coinbase's pagination object."""
        q = req.query
        try:
            limit = min(int(q.get("limit") or 25), cap)
        except ValueError:
            return self._v2_error(400, "invalid_request", "limit must be an integer")
        if limit < 1:
            return self._v2_error(400, "invalid_request", "limit must be positive")
        after = q.get("starting_after") or None
        offset = 0
        if after is not None:
            ids = [r["id"] for r in rows]
            if after not in ids:
                return self._v2_error(400, "invalid_request", "starting_after not found")
            offset = ids.index(after) + 1
        if self.take_fault(req.path, ("endless",)):
            offset = 0  # the same first page, whatever the cursor says
        page = rows[offset:offset + limit]
        more = offset + limit < len(rows) and bool(page)
        nxt = page[-1]["id"] if more else None
        return page, {
            "ending_before": q.get("ending_before"), "starting_after": after,
            "previous_ending_before": None, "next_starting_after": nxt, "limit": limit,
            "order": "desc", "previous_uri": None,
            "next_uri": f"{base_uri}?limit={limit}&starting_after={nxt}" if nxt else None,
        }

    def accounts_v2(self, req: Request) -> Reply:
        rows = []
        for c in WALLETS:
            acc = self.account_ids[c]
            balance = sum((Decimal(t["amount"]["amount"]) for t in self.transactions
                           if self.account_of(t) == acc), Decimal(0))
            rows.append({
                "id": acc, "name": f"{c} Wallet", "primary": c == "BTC", "type":
                "fiat" if c in FIAT else "wallet",
                "currency": {"code": c, "name": c, "color": "#000000", "sort_index": 1,
                             "exponent": 2 if c in FIAT else 8,
                             "type": "fiat" if c in FIAT else "crypto",
                             "address_regex": ".*", "asset_id": f"a-{c}"},
                "balance": _money(balance, c), "created_at": _iso_s(T0),
                "updated_at": _iso_s(T0), "resource": "account",
                "resource_path": f"/v2/accounts/{acc}", "allow_deposits": True,
                "allow_withdrawals": True,
            })
        rows.reverse()  # newest first, like the real listing
        cut = self._v2_page(req, rows, self.accounts_page, "/v2/accounts")
        if isinstance(cut, Reply):
            return cut
        page, pagination = cut
        return self._json({"pagination": pagination, "data": page})

    def get_transactions(self, req: Request) -> Reply:
        acc = req.path.split("/")[3]
        if acc not in self.account_ids.values():
            return self._v2_error(404, "not_found", "Not found")
        rows = [t for t in self.transactions if self.account_of(t) == acc]
        rows.sort(key=lambda t: (t["created_at"], t["id"]), reverse=True)
        cut = self._v2_page(req, rows, V2_PAGE_MAX, f"/v2/accounts/{acc}/transactions")
        if isinstance(cut, Reply):
            return cut
        page, pagination = cut
        if self.take_fault(req.path, ("huge",)):
            page = [dict(t, id=f"{t['id']}-{j}") for j in range(20) for t in page]
        return self._json({"pagination": pagination,
                           "data": self.mangle_rows(req.path, page)})

    def get_fills(self, req: Request) -> Reply:
        q = req.query
        rows = list(self.fills)
        if "product_id" in q:
            rows = [f for f in rows if f["product_id"] == q["product_id"]]
        if q.get("start_sequence_timestamp"):
            start = q["start_sequence_timestamp"].replace("Z", "+00:00")
            t0 = datetime.fromisoformat(start)
            rows = [f for f in rows
                    if datetime.fromisoformat(f["sequence_timestamp"][:-1] + "+00:00") >= t0]
        rows.sort(key=lambda f: (f["sequence_timestamp"], f["entry_id"]), reverse=True)
        limit = int(q.get("limit") or self.page_default)
        offset = int(q.get("cursor") or 0)
        endless = self.take_fault(req.path, ("endless",))
        page = rows[offset:offset + limit]
        nxt = offset + limit
        cursor = str(offset) if endless else (str(nxt) if nxt < len(rows) else "")
        if self.take_fault(req.path, ("huge",)):
            page = [dict(f, entry_id=f"{f['entry_id']}-{j}") for j in range(20) for f in page]
        return self._json({"fills": self.mangle_rows(req.path, page), "cursor": cursor})

    def candles_reply(self, req: Request, pid: str) -> Reply:
        rows = self.candles.get((pid, req.query.get("granularity", "")))
        if rows is None:
            return Reply(400, json_dumps({"error": "INVALID_ARGUMENT",
                                          "message": "bad product or granularity"}))
        start = int(req.query.get("start") or 0)
        end = int(req.query.get("end") or 2**40)
        page = [c for c in rows if start <= int(c["start"]) <= end][:350]
        page.reverse()  # newest first, like the real API
        return self._json({"candles": self.mangle_rows(req.path, page)})


def main() -> None:
    cli_main(FakeCoinbase)


if __name__ == "__main__":
    main()
