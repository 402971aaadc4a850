"""Exchange source via ccxt: trades (one record per asset leg), deposits, withdrawals and
ledger entries, plus OHLCV close prices, incrementally and with exact amounts.

Role: the ``ccxt`` source kind. Transport, retries and error mapping live in
:mod:`adapters.ccxt_client`; per-exchange pagination and raw field names in
:mod:`adapters.ccxt_profiles`. This module holds the settings, the cursor and the paging
loop that turns pages into :class:`~adapters.base.Batch` objects.

Cursor (JSON, stored by the sync service with each batch)::

    {"v": 1, "exchange": "kraken", "streams": {
        "ledger":            {"ts": 1704067261123, "ids": ["L…"], "scanned": 1704…,
                              "resume": null, "win": null},
        "trades:BTC/USDT":   {...},           # Binance pages per symbol
        "ledger:<account>":  {...},           # Coinbase pages per account
        "ohlcv:BTC/USD:1h":  {"ts": 1704153600000}}}

``ts`` is the newest row timestamp (ms) committed and ``ids`` the row ids seen *at* that
ms: the next sync asks again from ``ts`` (inclusive) and drops those ids, so rows sharing
a timestamp across a page or sync boundary are neither lost nor duplicated. ``win`` is
an unfinished time window (newest-first exchanges can only commit ``ts`` when the window
is exhausted): its bounds, the exchange's paging token (offset / cursor) and the highest
row so far. ``resume`` is an exchange token for the next window (Binance ``fromId``).
``pending`` (deposits, withdrawals, ledger) maps the row ids still pending to their ms: the next
sync starts at the oldest of them and passes them again, so a transfer that turns final
updates its stored record; one pending longer than ``PENDING_RECHECK_MS`` is dropped.

Exactness: amounts come from the exchange's raw strings in ``info``
(:func:`adapters.ccxt_client.exact`), never ccxt's floats; JSON numbers are refused. OHLCV
closes are parsed by ccxt itself in its documented ``number = str`` mode during the call
(so ccxt's per-exchange candle layout knowledge is reused and the close keeps its
payload text), and a close that was a JSON number in the payload is refused.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from adapters.base import (
    Adapter,
    Batch,
    BoolOption,
    Capabilities,
    DecimalOption,
    IntOption,
    ListOption,
    Setting,
    SourceError,
    TextOption,
)
from adapters.ccxt_client import CcxtClient, now_ms
from adapters.ccxt_profiles import Page, Profile, profile_for
from recon_tui.model import Price, Record, ValidationError, make_price, make_record, to_utc

STREAMS = ("trades", "deposits", "withdrawals", "ledger")
HAS = {"trades": "fetchMyTrades", "deposits": "fetchDeposits",
       "withdrawals": "fetchWithdrawals", "ledger": "fetchLedger"}
INTERVAL_MS = {"1h": 3_600_000, "1d": 86_400_000}
LOOKBACK_MS = 86_400_000
PENDING_RECHECK_MS = 14 * 86_400_000
"""How long a pending deposit / withdrawal is asked for again on every sync, until the
exchange reports it final; one still pending after that is left as it stands."""
TRANSFER_STREAMS = ("deposits", "withdrawals", "ledger")
"""Streams whose rows may be pending (Coinbase's ledger holds its pending sends)."""
"""A stream that never had rows restarts this far before its last scanned window end."""


class CcxtExchangeAdapter(Adapter):
    """Any ccxt exchange; Binance, Kraken and Coinbase with hand-checked profiles."""

    kind = "ccxt"
    label = "Exchange (ccxt)"
    SETTINGS = (
        TextOption("exchange", "ccxt exchange id", required=True, help="binance, kraken, ..."),
        BoolOption("sandbox", "Sandbox/testnet", default=False),
        TextOption("base_url", "API base URL override", help="for proxies and tests"),
        ListOption("assets", "Only these assets", help="comma-separated, e.g. BTC,USDT"),
        ListOption("symbols", "Only these markets", help="comma-separated, e.g. BTC/USDT"),
        TextOption("since", "Start date", help="ISO date; default: the exchange's beginning"),
        ListOption("what", "Streams", help="comma-separated: trades,deposits,withdrawals,ledger"),
        ListOption("price_symbols", "OHLCV close prices for", help="comma-separated markets"),
        ListOption("price_intervals", "Price intervals", default="1h,1d"),
        IntOption("page_limit", "Rows per request", minimum=1,
                  help="default: the exchange's maximum"),
        IntOption("max_pages", "Page cap per window", default=10_000, minimum=1),
        IntOption("timeout_ms", "Request timeout (ms)", default=30_000, minimum=1),
        IntOption("rate_limit_ms", "ccxt rateLimit override (ms)", minimum=0,
                  help="tests/proxies only"),
        IntOption("retry_attempts", "Attempts per request", default=5, minimum=1),
        DecimalOption("retry_wait_initial", "First retry wait (s)", default="0.5"),
        DecimalOption("retry_wait_max", "Longest retry wait (s)", default="30"),
        IntOption("max_response_bytes", "Largest accepted response", default=32 * 1024 * 1024,
                  minimum=1),
    )
    SECRETS = (
        Setting("apiKey", "API key", required=True, secret=True),
        Setting("secret", "API secret", required=True, secret=True),
        Setting("password", "API passphrase", secret=True, help="exchanges that want one"),
    )
    capabilities = Capabilities(
        fields=frozenset({"fee", "fee_asset", "txid", "address", "reference", "attrs"}),
        paging="cursor",
        pending=False,
        removals=False,
        prices=True,
    )
    CURSOR_VERSION: ClassVar[int] = 1

    def __init__(self, source: str, settings: dict[str, Any],
                 secrets: dict[str, str] | None = None) -> None:
        super().__init__(source, settings, secrets)
        s = self.settings
        self.exchange_id = str(s["exchange"]).strip().lower()
        self.profile: Profile = profile_for(self.exchange_id)
        self.assets = {a.upper() for a in s.get("assets") or []}
        self.symbols = list(s.get("symbols") or [])
        self.price_symbols = list(s.get("price_symbols") or [])
        self.intervals = list(s.get("price_intervals") or [])
        for iv in self.intervals:
            if iv not in INTERVAL_MS:
                raise self.error("price_intervals", f"'{iv}' is not one of 1h, 1d")
        self.what = list(s.get("what") or [])
        for w in self.what:
            if w not in STREAMS:
                raise self.error("what", f"'{w}' is not one of {', '.join(STREAMS)}")
        self.since_ms: int | None = None
        if s.get("since"):
            try:
                text = str(s["since"])
                dt = to_utc(text if "T" in text else f"{text}T00:00:00+00:00", "since")
            except ValidationError as exc:
                raise self.error("since", exc.detail) from None
            self.since_ms = int(dt.timestamp() * 1000)
        # Parsed and bounded by their typed options; waits are seconds, not money.
        self.page_limit = s.get("page_limit")
        self.max_pages = int(s["max_pages"])
        timeout_ms = int(s["timeout_ms"])
        rate_limit = s.get("rate_limit_ms")
        attempts = int(s["retry_attempts"])
        wait_initial = float(s["retry_wait_initial"])
        wait_max = float(s["retry_wait_max"])
        max_bytes = int(s["max_response_bytes"])
        self._client_args = dict(
            options=copy.deepcopy(self.profile.options),
            base_url=s.get("base_url") or None, sandbox=bool(s.get("sandbox")),
            timeout_ms=timeout_ms, rate_limit_ms=rate_limit, attempts=attempts,
            wait_initial=wait_initial, wait_max=wait_max, max_response_bytes=max_bytes,
            number_as_str=self.profile.number_as_str,
        )
        self._client: CcxtClient | None = None

    # -- plumbing -----------------------------------------------------------------------

    @property
    def client(self) -> CcxtClient:
        if self._client is None:
            self._client = CcxtClient(self.source, self.exchange_id, self.secrets,
                                      **self._client_args)  # type: ignore[arg-type]
        return self._client

    def _load_markets(self) -> None:
        c = self.client
        if not c.ex.markets:
            c.call("load_markets", c.ex.load_markets)
            for sym in (*self.symbols, *self.price_symbols):
                if sym not in c.ex.markets:
                    raise self.error("symbols", f"'{sym}' is not a market of {self.exchange_id}")

    def test_connection(self) -> str:
        self._load_markets()
        c = self.client
        balance = c.call("fetch_balance", c.ex.fetch_balance)
        held = sum(1 for v in (balance.get("total") or {}).values() if v)
        return (f"{self.exchange_id}: {len(c.ex.markets)} markets, balance ok "
                f"({held} assets held) at {c.endpoint()}")

    def streams(self) -> list[str]:
        if self.what:
            return self.what
        has = self.client.ex.has
        return [s for s in self.profile.offers if has.get(HAS[s])]

    # -- batches ------------------------------------------------------------------------

    def batches(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        cur = copy.deepcopy(cursor) if cursor else {}
        if cur and cur.get("exchange") not in (None, self.exchange_id):
            raise self.error("exchange", f"cursor belongs to '{cur.get('exchange')}', not "
                                         f"'{self.exchange_id}': reset the source's cursor")
        state: dict[str, Any] = {"v": self.CURSOR_VERSION, "exchange": self.exchange_id,
                                 "streams": dict(cur.get("streams") or {})}
        self._load_markets()
        for stream in self.streams():
            if stream == "trades" and self.profile.trades_per_symbol:
                for symbol in self._trade_symbols():
                    yield from self._window_stream(state, stream, symbol)
            elif (subs := self.profile.substreams(self.client, stream, self.assets)) is not None:
                # Per-account history (Coinbase ledger): one cursor per account.
                for sub in subs:
                    yield from self._window_stream(state, stream, sub)
            else:
                yield from self._window_stream(state, stream, None)
        for symbol in self.price_symbols:
            for interval in self.intervals:
                yield from self._ohlcv_stream(state, symbol, interval)

    def _trade_symbols(self) -> list[str]:
        if self.symbols:
            return self.symbols
        markets = self.client.ex.markets
        return sorted(
            s for s, m in markets.items()
            if m.get("spot") and (not self.assets or m["base"] in self.assets
                                  or m["quote"] in self.assets)
        )

    def _window_stream(self, state: dict[str, Any], stream: str,
                       symbol: str | None) -> Iterator[Batch]:
        """Page one stream through time windows; yield a batch per page."""
        c, prof = self.client, self.profile
        key = f"{stream}:{symbol}" if symbol else stream
        st = dict(state["streams"].get(key) or {})
        st.setdefault("ts", None)
        st.setdefault("ids", [])
        if stream in TRANSFER_STREAMS and st.get("pending"):
            # Re-ask from the oldest transfer still pending: when it turns final its
            # row comes back and updates the stored record (pending -> booked).
            horizon = now_ms() - PENDING_RECHECK_MS
            st["pending"] = {r: t for r, t in st["pending"].items() if t >= horizon}
        recheck = dict(st.get("pending") or {}) if stream in TRANSFER_STREAMS else {}
        limit = prof.limit(stream, self.page_limit)
        start_floor = self.since_ms if self.since_ms is not None else prof.default_start_ms
        next_start: int | None = None
        while True:
            win = st.get("win")
            if win is None:
                start = st["ts"] if st["ts"] is not None else start_floor
                if recheck and next_start is None and not st.get("resume"):
                    start = min(start, min(recheck.values()))
                if st["ts"] is None and st.get("scanned") is not None:
                    # Nothing ever seen: don't rescan years of empty windows each sync.
                    start = max(start, st["scanned"] - LOOKBACK_MS)
                if next_start is not None:  # later windows of this same sync
                    start = max(start, next_start)
                now = now_ms()
                span = prof.window_ms.get(stream)
                end = min(now, start + span) if span else now
                win = {"start": start, "end": end, "token": st.get("resume"), "last": end >= now,
                       "hi_ts": st["ts"], "hi_ids": list(st["ids"]), "pages": 0,
                       "prev": None, "resume": st.get("resume")}
            win["pages"] += 1
            if win["pages"] > self.max_pages:
                raise self.error(c.endpoint(), f"more than {self.max_pages} pages in one "
                                               "window: pagination looks endless")
            page = prof.fetch(c, stream, symbol, win["start"], win["end"], win["token"], limit)
            records = self._page_records(stream, page, st, win, limit, recheck)
            if page.next_token is not None and page.next_token == win["token"]:
                raise self.error(page.endpoint, f"cursor does not advance "
                                                f"({page.next_token!r} again)")
            win["token"] = page.next_token
            if page.resume is not None:
                win["resume"] = page.resume
            if page.next_token is None:
                # Window exhausted: commit the newest timestamp and the ids at it.
                st = {"ts": win["hi_ts"], "ids": sorted(set(win["hi_ids"])),
                      "scanned": win["end"], "resume": win["resume"], "win": None,
                      **({"pending": st["pending"]} if st.get("pending") else {})}
            else:
                st["win"] = win
            state["streams"][key] = st
            yield Batch(records=records, cursor=copy.deepcopy(state))
            if st.get("win") is None:
                if win["last"]:
                    return
                next_start = win["end"] + 1

    def _page_records(self, stream: str, page: Page, st: dict[str, Any],
                      win: dict[str, Any], limit: int,
                      recheck: dict[str, int] | None = None) -> list[Record]:
        """Validate and convert a whole page before anything of it is yielded.

        ``recheck``: transfers pending at an earlier sync (row id -> ms), passed again
        although behind the cursor; ``st["pending"]`` is kept up to date from the page."""
        c, prof = self.client, self.profile
        if len(page.rows) > prof.max_rows(stream, limit):
            raise self.error(page.endpoint, f"page of {len(page.rows)} rows for a limit of "
                                            f"{limit}: refusing an oversized page")
        ids = [prof.row_id(r) for r in page.rows]
        if page.rows and win["prev"] is not None and ids == win["prev"]:
            raise self.error(page.endpoint, "pagination does not advance (same page again)")
        win["prev"] = ids
        base_ts, base_ids = st["ts"], set(st["ids"])
        synced = set(self.streams())
        floor = self.since_ms
        out: list[Record] = []
        for row, rid in zip(page.rows, ids, strict=True):
            ts = row.get("timestamp")
            if not isinstance(ts, int):
                field = prof.ts_fields.get(stream, "timestamp")
                raise self.error(f"{page.endpoint}: field '{field}'", "missing timestamp")
            seen = base_ts is not None and (ts < base_ts or (ts == base_ts and rid in base_ids))
            if (seen and not (recheck and rid in recheck)) or (floor is not None and ts < floor):
                continue
            if win["hi_ts"] is None or ts > win["hi_ts"]:
                win["hi_ts"], win["hi_ids"] = ts, [rid]
            elif ts == win["hi_ts"]:
                win["hi_ids"].append(rid)
            row_records = prof.records(c, stream, row, page.endpoint)  # validates it
            if stream == "ledger" and prof.ledger_covered_by(row) in synced:
                # The same movement comes from its own stream (trade legs, deposits,
                # withdrawals): taking it from the ledger too would count it twice.
                continue
            if stream in TRANSFER_STREAMS:
                pending = st.setdefault("pending", {})
                if any(f.get("status") == "pending" for f in row_records):
                    pending[rid] = ts
                else:
                    pending.pop(rid, None)
            for fields in row_records:
                if self.assets and fields["asset"] not in self.assets and stream != "trades":
                    continue
                if self.symbols and stream == "trades" and \
                        fields["attrs"].get("symbol") not in self.symbols:
                    continue
                try:
                    out.append(make_record(page.endpoint, source=self.source, **fields))
                except ValidationError as exc:
                    raise self.error(f"{page.endpoint}: field '{exc.field}'", exc.detail) \
                        from None
        return out

    def _ohlcv_stream(self, state: dict[str, Any], symbol: str,
                      interval: str) -> Iterator[Batch]:
        """Closed candles only (a live candle's close is not a close yet), ascending."""
        c = self.client
        key = f"ohlcv:{symbol}:{interval}"
        st = dict(state["streams"].get(key) or {})
        step = INTERVAL_MS[interval]
        base, quote = c.ex.markets[symbol]["base"], c.ex.markets[symbol]["quote"]
        since = st["ts"] + step if st.get("ts") is not None else (
            self.since_ms if self.since_ms is not None else now_ms() - 365 * 86_400_000)
        limit = self.page_limit or 300
        for _ in range(self.max_pages):
            candles = self._fetch_candles(symbol, interval, since, limit)
            where = c.endpoint()
            now = now_ms()
            prices: list[Price] = []
            last = None
            for candle in candles:
                ts, close = candle[0], candle[4]
                if not isinstance(ts, int) or ts < since or ts + step > now:
                    continue
                if close is None:
                    raise self.error(f"{where}: field 'close'", "missing")
                if close in c.float_tokens or str(close) in {
                        repr(float(t)) for t in c.float_tokens}:
                    raise self.error(f"{where}: field 'close'", f"price sent as a JSON number "
                                     f"({close}), not a string: exact value lost")
                try:
                    prices.append(make_price(
                        where, base=base, quote=quote, interval=interval, close=close,
                        ts=datetime.fromtimestamp(ts / 1000, UTC), source=self.source))
                except ValidationError as exc:
                    raise self.error(f"{where}: field 'close'", exc.detail) from None
                last = ts
            if last is None:
                return
            if last < since:
                raise self.error(where, "candle pagination does not advance")
            st["ts"] = last
            state["streams"][key] = dict(st)
            yield Batch(prices=prices, cursor=copy.deepcopy(state))
            since = last + step
            if len(candles) < limit:
                return
        raise self.error(c.endpoint(), f"more than {self.max_pages} candle pages")

    def _fetch_candles(self, symbol: str, interval: str, since: int,
                       limit: int) -> list[list[Any]]:
        c = self.client
        saved = c.ex.number
        c.ex.number = str  # ccxt's string mode: closes keep the payload's text
        try:
            candles = c.call("fetch_ohlcv", c.ex.fetch_ohlcv, symbol, interval, since, limit)
        finally:
            c.ex.number = saved
        if not isinstance(candles, list):
            raise self.error(c.endpoint(), "malformed OHLCV response")
        return candles


__all__ = ["CcxtExchangeAdapter", "SourceError"]
