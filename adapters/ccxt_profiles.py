"""Per-exchange knowledge for the ccxt adapter: how each stream pages, and which raw fields
hold the exact amounts.

Role: ccxt unifies *calls*, not pagination nor exactness. A :class:`Profile` says, for one
exchange, how to fetch one page of a stream (which ccxt method, which native paging
parameters) and how to turn a unified structure's raw ``info`` into canonical record
fields. Binance, Kraken and Coinbase have explicit profiles; any other ccxt exchange gets
:class:`GenericProfile` (ascending ``since`` paging, ccxt's ``number = str`` strings).
A stream whose endpoint is per account (Coinbase's ledger) is split into sub-streams by
:meth:`Profile.substreams`, each paged and cursored on its own.

``fetch`` returns a :class:`Page`; ``next_token`` ``None`` means the time window is
exhausted. Record builders return ``make_record`` keyword dicts (without ``source``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from adapters.ccxt_client import CcxtClient, exact, text

DAY_MS = 86_400_000
STATUS = {"ok": "booked", "pending": "pending", "failed": "reversed", "canceled": "reversed"}


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_token: Any
    endpoint: str
    resume: Any = None
    """Token to start the *next* window from (Binance: the next ``fromId``)."""


def clean_raw(value: Any) -> Any:
    """The raw payload for ``Record.raw`` with floats turned into text (no float escapes)."""
    if isinstance(value, dict):
        return {str(k): clean_raw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_raw(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    return value


def ts_of(client: CcxtClient, row: dict[str, Any], raw_field: str, where: str) -> datetime:
    ms = row.get("timestamp")
    if not isinstance(ms, int):
        raise client.error(f"{where}: field '{raw_field}'", "missing or unparseable timestamp")
    return datetime.fromtimestamp(ms / 1000, UTC)


def trade_legs(*, trade_id: str, ts: datetime, symbol: str, base: str, quote: str, side: str,
               base_amt: Decimal, quote_amt: Decimal, price: Decimal | None,
               fee: Decimal | None, fee_asset: str | None, order_id: str | None,
               raw: dict[str, Any]) -> list[dict[str, Any]]:
    """One record per asset leg; the fee rides on the leg in the fee's asset (else base)."""
    sign = 1 if side == "buy" else -1
    legs = [("base", base, sign * base_amt), ("quote", quote, -sign * quote_amt)]
    fee_leg = "quote" if fee_asset == quote and fee_asset != base else "base"
    out = []
    for role, asset, amount in legs:
        has_fee = role == fee_leg and fee is not None
        out.append({
            "external_id": f"trade:{trade_id}:{role}", "kind": "trade", "ts": ts,
            "asset": asset, "amount": amount, "reference": order_id,
            "fee": fee if has_fee else None, "fee_asset": fee_asset if has_fee else None,
            "attrs": {"symbol": symbol, "side": side, "leg": role, "trade_id": trade_id,
                      "price": None if price is None else format(price, "f"),
                      "fee_included": False},
            "raw": raw,
        })
    return out


def _market(client: CcxtClient, row: dict[str, Any], where: str) -> tuple[str, str, str]:
    symbol = row.get("symbol")
    market = client.ex.markets.get(symbol) if symbol else None
    if not market:
        raise client.error(f"{where}: field 'symbol'", f"unknown market {symbol!r}")
    return symbol, market["base"], market["quote"]


class Profile:
    """Generic defaults; subclasses override fetchers and record builders."""

    exchange_id: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}
    offers: ClassVar[tuple[str, ...]] = ("trades", "deposits", "withdrawals", "ledger")

    def ledger_covered_by(self, row: dict[str, Any]) -> str | None:
        """The stream that carries the same movement as this ledger row (a trade's
        ledger entries are its trade legs), or None when only the ledger has it
        (staking rewards, fees, transfers between sub-accounts...)."""
        kind = row.get("type")
        if kind == "trade":
            return "trades"
        if kind == "transaction":
            return "deposits" if row.get("direction") == "in" else "withdrawals"
        return None
    trades_per_symbol: ClassVar[bool] = False
    window_ms: ClassVar[dict[str, int]] = {}
    """Longest time span the exchange accepts per query, by stream."""
    default_start_ms: ClassVar[int] = 0
    limits: ClassVar[dict[str, int]] = {}
    ts_fields: ClassVar[dict[str, str]] = {}
    number_as_str: ClassVar[bool] = False

    def limit(self, stream: str, override: int | None) -> int:
        return override or self.limits.get(stream, 100)

    def substreams(self, c: CcxtClient, stream: str,
                   assets: set[str] | None = None) -> list[str] | None:
        """The keys one stream is paged by separately (each with its own cursor, passed
        to :meth:`fetch` as ``symbol``), or None when the stream is paged as a whole.
        ``assets``: only the sub-streams of these assets (all when empty).

        For exchanges whose history endpoint is per account (Coinbase's v2 transactions).
        Binance's per-symbol trades predate this hook and use ``trades_per_symbol``."""
        return None

    def max_rows(self, stream: str, limit: int) -> int:
        """Rows one response may hold; more means a broken server (or proxy)."""
        return limit

    def fetch(self, c: CcxtClient, stream: str, symbol: str | None, start: int, end: int,
              token: Any, limit: int) -> Page:
        raise NotImplementedError

    def records(self, c: CcxtClient, stream: str, row: dict[str, Any],
                where: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def row_id(self, row: dict[str, Any]) -> str:
        return str(row.get("id"))


class GenericProfile(Profile):
    """Any ccxt exchange: ascending pages by ``since``; values from ccxt's string mode.

    Exactness caveat: with ``number = str`` ccxt hands back the payload's strings, but a
    JSON number would arrive as ``str(float)``; explicit profiles read ``info`` instead.
    """

    number_as_str = True

    def fetch(self, c: CcxtClient, stream: str, symbol: str | None, start: int, end: int,
              token: Any, limit: int) -> Page:
        since = token if token is not None else start
        method = {"trades": c.ex.fetch_my_trades, "deposits": c.ex.fetch_deposits,
                  "withdrawals": c.ex.fetch_withdrawals, "ledger": c.ex.fetch_ledger}[stream]
        rows = c.call(f"{stream}", method, symbol, since, limit) if stream == "trades" else \
            c.call(stream, method, None, since, limit)
        rows = sorted(rows, key=lambda r: r.get("timestamp") or 0)
        last = rows[-1].get("timestamp") if rows else None
        nxt = last if len(rows) >= limit and isinstance(last, int) else None
        return Page(rows, nxt, c.endpoint())

    def records(self, c: CcxtClient, stream: str, row: dict[str, Any],
                where: str) -> list[dict[str, Any]]:
        ts = ts_of(c, row, "timestamp", where)
        fee = row.get("fee") or {}
        fee_amt = exact(c, fee, "cost", where, required=False) if fee else None
        raw = clean_raw(row.get("info") or {})
        rid = text(c, row, "id", where)
        if stream == "trades":
            symbol, base, quote = _market(c, row, where)
            return trade_legs(
                trade_id=f"{symbol}:{rid}", ts=ts, symbol=symbol, base=base, quote=quote,
                side=text(c, row, "side", where), base_amt=exact(c, row, "amount", where),
                quote_amt=exact(c, row, "cost", where), price=exact(c, row, "price", where),
                fee=fee_amt, fee_asset=fee.get("currency"), order_id=row.get("order"),
                raw=raw)
        amount = exact(c, row, "amount", where)
        assert amount is not None
        if stream == "ledger":
            kind = {"trade": "trade", "transaction": "transfer", "fee": "fee"}.get(
                row.get("type") or "", "other")
            signed = -amount if row.get("direction") == "out" else amount
            return [{"external_id": f"ledger:{rid}", "kind": kind, "ts": ts,
                     "asset": text(c, row, "currency", where), "amount": signed,
                     "fee": fee_amt, "fee_asset": fee.get("currency"),
                     "reference": row.get("referenceId"), "raw": raw}]
        sign = 1 if stream == "deposits" else -1
        return [{"external_id": f"{stream[:-1]}:{rid}", "kind": stream[:-1], "ts": ts,
                 "asset": text(c, row, "currency", where), "amount": sign * amount,
                 "fee": fee_amt, "fee_asset": fee.get("currency"),
                 "status": STATUS.get(row.get("status") or "", "pending"),
                 "txid": row.get("txid"), "address": row.get("address"), "raw": raw}]


class BinanceProfile(Profile):
    """Spot: myTrades per symbol by ``fromId``; capital history in ≤90-day windows."""

    exchange_id = "binance"
    options = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
               "fetchMargins": False}
    offers = ("trades", "deposits", "withdrawals")
    trades_per_symbol = True
    window_ms = {"deposits": 90 * DAY_MS - 1, "withdrawals": 90 * DAY_MS - 1}
    default_start_ms = 1_498_867_200_000  # 2017-07-01: Binance opened
    limits = {"trades": 1000, "deposits": 1000, "withdrawals": 1000}
    ts_fields = {"trades": "time", "deposits": "insertTime", "withdrawals": "applyTime"}

    def fetch(self, c: CcxtClient, stream: str, symbol: str | None, start: int, end: int,
              token: Any, limit: int) -> Page:
        if stream == "trades":
            # fromId walks the whole history exactly; startTime only spans 24 hours.
            from_id = int(token or 0)
            rows = c.call("fetch_my_trades", c.ex.fetch_my_trades, symbol, None, None,
                          {"fromId": from_id, "limit": limit})
            endpoint = c.endpoint()
            ids = [int(text(c, r.get("info") or {}, "id", endpoint)) for r in rows]
            if ids and max(ids) < from_id:
                raise c.error(endpoint, f"pagination does not advance: asked fromId={from_id}, "
                                        f"got ids up to {max(ids)}")
            resume = max(ids) + 1 if ids else from_id
            return Page(rows, resume if len(rows) >= limit else None, endpoint, resume)
        offset = int(token or 0)
        method = c.ex.fetch_deposits if stream == "deposits" else c.ex.fetch_withdrawals
        rows = c.call(f"fetch_{stream}", method, None, None, None,
                      {"startTime": start, "endTime": end, "offset": offset, "limit": limit})
        nxt = offset + len(rows) if len(rows) >= limit else None
        return Page(rows, nxt, c.endpoint())

    def row_id(self, row: dict[str, Any]) -> str:
        info = row.get("info") or {}
        return f"{info.get('symbol')}:{info.get('id')}" if "symbol" in info else str(row["id"])

    def records(self, c: CcxtClient, stream: str, row: dict[str, Any],
                where: str) -> list[dict[str, Any]]:
        info = row.get("info") or {}
        ts = ts_of(c, row, self.ts_fields[stream], where)
        raw = clean_raw(info)
        if stream == "trades":
            symbol, base, quote = _market(c, row, where)
            buyer = info.get("isBuyer")
            if not isinstance(buyer, bool):
                raise c.error(f"{where}: field 'isBuyer'", "missing or not a boolean")
            fee_code = c.ex.safe_currency_code(text(c, info, "commissionAsset", where))
            return trade_legs(
                trade_id=f"{text(c, info, 'symbol', where)}:{text(c, info, 'id', where)}",
                ts=ts, symbol=symbol, base=base, quote=quote,
                side="buy" if buyer else "sell", base_amt=exact(c, info, "qty", where),
                quote_amt=exact(c, info, "quoteQty", where),
                price=exact(c, info, "price", where),
                fee=exact(c, info, "commission", where), fee_asset=fee_code,
                order_id=str(info.get("orderId")) if info.get("orderId") is not None else None,
                raw=raw)
        amount = exact(c, info, "amount", where)
        assert amount is not None
        asset = c.ex.safe_currency_code(text(c, info, "coin", where))
        fee = exact(c, info, "transactionFee", where) if stream == "withdrawals" else None
        return [{
            "external_id": f"{stream[:-1]}:{text(c, info, 'id', where)}",
            "kind": stream[:-1], "ts": ts, "asset": asset,
            "amount": amount if stream == "deposits" else -amount,
            "fee": fee, "fee_asset": asset if fee is not None else None,
            "status": STATUS.get(row.get("status") or "", "pending"),
            "txid": info.get("txId") or None, "address": info.get("address") or None,
            "attrs": {"network": info.get("network"), "exchange_status": info.get("status")},
            "raw": raw,
        }]


class KrakenProfile(Profile):
    """TradesHistory/Ledgers by ``ofs`` (newest first, 50 a page) inside a fixed
    ``start``/``end`` window; Deposit/WithdrawStatus one call per window."""

    exchange_id = "kraken"
    limits = {"trades": 50, "ledger": 50, "deposits": 500, "withdrawals": 500}
    ts_fields = {"trades": "time", "ledger": "time", "deposits": "time", "withdrawals": "time"}

    def max_rows(self, stream: str, limit: int) -> int:
        # Deposit/WithdrawStatus are not paged through ccxt: one answer per window.
        return 100_000 if stream in ("deposits", "withdrawals") else limit
    LEDGER_COVERED: ClassVar[dict[str, str]] = {
        "trade": "trades", "deposit": "deposits", "withdrawal": "withdrawals"}

    def ledger_covered_by(self, row: dict[str, Any]) -> str | None:
        info = row.get("info") or {}
        return self.LEDGER_COVERED.get(str(info.get("type")))

    LEDGER_KINDS: ClassVar[dict[str, str]] = {
        "trade": "trade", "deposit": "deposit", "withdrawal": "withdrawal",
        "transfer": "transfer", "staking": "interest", "earn": "interest",
        "margin": "fee", "rollover": "fee", "adjustment": "adjustment", "dividend": "payout",
        "settled": "settlement", "spend": "trade", "receive": "trade", "sale": "trade",
        "credit": "adjustment", "reward": "rebate",
    }

    @staticmethod
    def _secs(ms: int) -> str:
        return format(Decimal(ms) / 1000, "f")

    def fetch(self, c: CcxtClient, stream: str, symbol: str | None, start: int, end: int,
              token: Any, limit: int) -> Page:
        # Kraken's start is exclusive: step back 1 ms so rows at the cursor's ms come back.
        params: dict[str, Any] = {"start": self._secs(start - 1), "end": self._secs(end)}
        if stream in ("deposits", "withdrawals"):
            method = c.ex.fetch_deposits if stream == "deposits" else c.ex.fetch_withdrawals
            rows = c.call(f"fetch_{stream}", method, None, None, None, params)
            return Page(rows, None, c.endpoint())
        ofs = int(token or 0)
        params["ofs"] = ofs
        method = c.ex.fetch_my_trades if stream == "trades" else c.ex.fetch_ledger
        rows = c.call(f"fetch_{stream}", method, None, None, None, params)
        endpoint = c.endpoint()
        result = (c.ex.last_json_response or {}).get("result") or {}
        count = result.get("count")
        if not isinstance(count, int):
            raise c.error(f"{endpoint}: field 'count'", "missing or not an integer")
        if len(rows) > limit:
            raise c.error(endpoint, f"page of {len(rows)} rows exceeds Kraken's {limit}")
        nxt = ofs + len(rows)
        return Page(rows, nxt if rows and nxt < count else None, endpoint)

    def records(self, c: CcxtClient, stream: str, row: dict[str, Any],
                where: str) -> list[dict[str, Any]]:
        info = row.get("info") or {}
        ts = ts_of(c, row, "time", where)
        raw = clean_raw(info)
        if stream == "trades":
            symbol, base, quote = _market(c, row, where)
            side = text(c, info, "type", where)
            if side not in ("buy", "sell"):
                raise c.error(f"{where}: field 'type'", f"unknown side {side!r}")
            return trade_legs(
                trade_id=text(c, row, "id", where), ts=ts, symbol=symbol, base=base,
                quote=quote, side=side, base_amt=exact(c, info, "vol", where),
                quote_amt=exact(c, info, "cost", where), price=exact(c, info, "price", where),
                fee=exact(c, info, "fee", where), fee_asset=quote,
                order_id=info.get("ordertxid"), raw=raw)
        asset = c.ex.safe_currency_code(text(c, info, "asset", where))
        amount = exact(c, info, "amount", where)
        fee = exact(c, info, "fee", where, required=stream != "deposits")
        assert amount is not None
        if stream == "ledger":
            return [{"external_id": f"ledger:{text(c, row, 'id', where)}",
                     "kind": self.LEDGER_KINDS.get(str(info.get("type")), "other"),
                     "ts": ts, "asset": asset, "amount": amount, "fee": fee,
                     "fee_asset": asset if fee is not None else None,
                     "reference": info.get("refid"),
                     "attrs": {"ledger_type": info.get("type"),
                               "subtype": info.get("subtype") or None},
                     "raw": raw}]
        return [{
            "external_id": f"{stream[:-1]}:{text(c, info, 'refid', where)}",
            "kind": stream[:-1], "ts": ts, "asset": asset,
            "amount": amount if stream == "deposits" else -amount,
            "fee": fee, "fee_asset": asset if fee is not None else None,
            "status": STATUS.get(row.get("status") or "", "pending"),
            "txid": info.get("txid") or None, "address": info.get("info") or None,
            "attrs": {"method": info.get("method"), "exchange_status": info.get("status")},
            "raw": raw,
        }]


class CoinbaseProfile(Profile):
    """Advanced Trade fills, newest first, by opaque ``cursor`` from a start timestamp; the
    ledger is the v2 transactions of every account (``/v2/accounts``), one sub-stream per
    account, newest first by ``starting_after``, with no time filter on the server."""

    exchange_id = "coinbase"
    # v2 account ids are what /v2/accounts/{account_id}/transactions takes.
    options = {"fetchBalance": "v3PrivateGetBrokerageAccounts",
               "fetchAccounts": "fetchAccountsV2"}
    offers = ("trades", "ledger")
    limits = {"trades": 100, "ledger": 100}
    ts_fields = {"trades": "trade_time", "ledger": "created_at"}
    ACCOUNTS_PAGE: ClassVar[int] = 100
    """The most accounts /v2/accounts returns per page."""
    MAX_ACCOUNT_PAGES: ClassVar[int] = 1000
    LEDGER_KINDS: ClassVar[dict[str, str]] = {
        "staking_reward": "interest", "inflation_reward": "interest", "interest": "interest",
        "buy": "trade", "sell": "trade", "trade": "trade", "advanced_trade_fill": "trade",
        "fiat_deposit": "deposit", "fiat_withdrawal": "withdrawal",
    }
    """Coinbase v2 transaction ``type`` -> record kind; ``send`` goes by its sign."""
    LEDGER_TRADES: ClassVar[frozenset[str]] = frozenset(
        {"buy", "sell", "trade", "advanced_trade_fill"})
    LEDGER_STATUS: ClassVar[dict[str, str]] = {**STATUS, "expired": "reversed"}
    """ccxt's ledger status (``completed`` -> ``ok``, the rest passed through); an expired
    transaction never moved money, like a canceled one."""

    def ledger_covered_by(self, row: dict[str, Any]) -> str | None:
        info = row.get("info") or {}
        return "trades" if info.get("type") in self.LEDGER_TRADES else None

    def substreams(self, c: CcxtClient, stream: str,
                   assets: set[str] | None = None) -> list[str] | None:
        if stream != "ledger":
            return None
        # Every account, not just those holding a balance now: an emptied wallet still
        # has history. /v2/accounts pages by starting_after like the transactions.
        ids: list[str] = []
        token: str | None = None
        for _ in range(self.MAX_ACCOUNT_PAGES):
            params: dict[str, Any] = {"limit": self.ACCOUNTS_PAGE}
            if token:
                params["starting_after"] = token
            accounts = c.call("fetch_accounts", c.ex.fetch_accounts, params)
            endpoint = c.endpoint()
            for account in accounts:
                account_id = text(c, account, "id", endpoint)
                if assets and account.get("code") not in assets:
                    continue  # a wallet of an asset the source does not reconcile
                if account_id not in ids:
                    ids.append(account_id)
            nxt = self._next_starting_after(c, endpoint)
            if nxt is None:
                return ids
            if nxt == token:
                raise c.error(endpoint, f"account pagination does not advance ({nxt!r} again)")
            token = nxt
        raise c.error(c.endpoint(), f"more than {self.MAX_ACCOUNT_PAGES} pages of accounts")

    @staticmethod
    def _next_starting_after(c: CcxtClient, endpoint: str) -> str | None:
        pagination = (c.ex.last_json_response or {}).get("pagination")
        if not isinstance(pagination, dict):
            raise c.error(f"{endpoint}: field 'pagination'", "missing or not an object")
        nxt = pagination.get("next_starting_after")
        if nxt is not None and not isinstance(nxt, str):
            raise c.error(f"{endpoint}: field 'next_starting_after'", "not a string")
        return nxt or None

    def fetch(self, c: CcxtClient, stream: str, symbol: str | None, start: int, end: int,
              token: Any, limit: int) -> Page:
        if stream == "ledger":
            return self._ledger_page(c, symbol, start, token, limit)
        params: dict[str, Any] = {"start_sequence_timestamp": c.ex.iso8601(start),
                                  "limit": limit}
        if token:
            params["cursor"] = token
        rows = c.call("fetch_my_trades", c.ex.fetch_my_trades, None, None, None, params)
        endpoint = c.endpoint()
        cursor = (c.ex.last_json_response or {}).get("cursor")
        if cursor is not None and not isinstance(cursor, str):
            raise c.error(f"{endpoint}: field 'cursor'", "not a string")
        return Page(rows, cursor or None, endpoint)

    def _ledger_page(self, c: CcxtClient, account_id: str | None, start: int, token: Any,
                     limit: int) -> Page:
        """One page of an account's transactions, newest first. The endpoint has no time
        filter: the window ends at the first page reaching below ``start`` (older rows
        were committed by an earlier sync; the adapter drops those on the page)."""
        if not account_id:
            raise c.error("fetch_ledger", "Coinbase's ledger is read per account")
        params: dict[str, Any] = {"account_id": account_id}
        if token:
            params["starting_after"] = token
        rows = c.call("fetch_ledger", c.ex.fetch_ledger, None, None, limit, params)
        endpoint = c.endpoint()
        data = (c.ex.last_json_response or {}).get("data")
        if not isinstance(data, list):
            raise c.error(f"{endpoint}: field 'data'", "missing or not a list")
        # ccxt cuts its answer to ``limit`` rows: an oversized page must not lose the rest.
        if len(data) > limit or len(rows) != len(data):
            raise c.error(endpoint, f"page of {len(data)} rows exceeds the limit of {limit}")
        nxt = self._next_starting_after(c, endpoint)
        stamps = [r["timestamp"] for r in rows if isinstance(r.get("timestamp"), int)]
        if stamps and min(stamps) < start:
            nxt = None
        return Page(rows, nxt, endpoint)

    def records(self, c: CcxtClient, stream: str, row: dict[str, Any],
                where: str) -> list[dict[str, Any]]:
        if stream == "ledger":
            return [self._ledger_record(c, row, where)]
        info = row.get("info") or {}
        ts = ts_of(c, row, "trade_time", where)
        symbol, base, quote = _market(c, row, where)
        side = text(c, info, "side", where).lower()
        if side not in ("buy", "sell"):
            raise c.error(f"{where}: field 'side'", f"unknown side {side!r}")
        size = exact(c, info, "size", where)
        price = exact(c, info, "price", where)
        assert size is not None and price is not None
        attrs_extra = {}
        if info.get("size_in_quote") is True:
            # size is in quote currency; the base amount is a (rounded) quotient.
            quote_amt, base_amt = size, (size / price).quantize(Decimal(1).scaleb(-18))
            attrs_extra = {"base_derived": True}
        else:
            base_amt, quote_amt = size, size * price  # a product of decimals is exact
        legs = trade_legs(
            trade_id=text(c, info, "trade_id", where), ts=ts, symbol=symbol, base=base,
            quote=quote, side=side, base_amt=base_amt, quote_amt=quote_amt, price=price,
            fee=exact(c, info, "commission", where), fee_asset=quote,
            order_id=info.get("order_id"), raw=clean_raw(info))
        for leg in legs:
            leg["external_id"] = f"trade:{text(c, info, 'entry_id', where)}:{leg['attrs']['leg']}"
            leg["attrs"].update(attrs_extra)
        return legs

    def _ledger_record(self, c: CcxtClient, row: dict[str, Any], where: str) -> dict[str, Any]:
        info = row.get("info") or {}
        ts = ts_of(c, row, "created_at", where)
        money = info.get("amount")
        if not isinstance(money, dict):
            raise c.error(f"{where}: field 'amount'", "missing or not an object")
        # The asset amount, signed by Coinbase (negative out); ``native_amount`` is its
        # value in the user's home currency, not a movement.
        amount = exact(c, money, "amount", where)
        assert amount is not None
        asset = c.ex.safe_currency_code(text(c, money, "currency", where))
        cb_type = text(c, info, "type", where)
        if cb_type == "send":
            kind = "deposit" if amount >= 0 else "withdrawal"
        else:
            kind = self.LEDGER_KINDS.get(cb_type, "other")
        network = info.get("network") if isinstance(info.get("network"), dict) else {}
        fee_info = network.get("transaction_fee")
        fee = fee_asset = None
        if isinstance(fee_info, dict):
            fee = exact(c, fee_info, "amount", f"{where}: network.transaction_fee")
            fee_asset = c.ex.safe_currency_code(
                text(c, fee_info, "currency", f"{where}: network.transaction_fee"))
        to = info.get("to") if isinstance(info.get("to"), dict) else {}
        linked = info.get(cb_type) if isinstance(info.get(cb_type), dict) else {}
        attrs: dict[str, Any] = {"ledger_type": cb_type, "exchange_status": info.get("status"),
                                 "account_id": row.get("account")}
        if fee is not None:
            attrs["fee_included"] = True  # a send's amount is the whole debit, fee included
        return {"external_id": f"ledger:{text(c, info, 'id', where)}", "kind": kind, "ts": ts,
                "asset": asset, "amount": amount, "fee": fee, "fee_asset": fee_asset,
                "status": self.LEDGER_STATUS.get(row.get("status") or "", "pending"),
                "txid": network.get("hash") or None, "address": to.get("address") or None,
                "reference": linked.get("id") or None, "attrs": attrs,
                "raw": clean_raw(info)}

    def row_id(self, row: dict[str, Any]) -> str:
        info = row.get("info") or {}
        # Fills are keyed by entry_id; v2 transactions (ledger) by their own id.
        return str(info["entry_id"]) if "entry_id" in info else str(row.get("id"))


PROFILES: dict[str, type[Profile]] = {
    p.exchange_id: p for p in (BinanceProfile, KrakenProfile, CoinbaseProfile)
}


def profile_for(exchange_id: str) -> Profile:
    return PROFILES.get(exchange_id, GenericProfile)()
