"""Bank accounts through Plaid's ``/transactions/sync`` (cursor-based incremental sync).

Wire format: ``POST /transactions/sync`` with ``client_id``, ``secret``, ``access_token``,
``cursor`` and ``count``; the reply has ``added``, ``modified``, ``removed``,
``next_cursor`` and ``has_more``. Plaid amounts are JSON numbers, positive for money
*out*: they are read with ``parse_float=Decimal`` (exact) and negated to our convention.

Pending → booked: Plaid gives the booked transaction a new ``transaction_id`` with
``pending_transaction_id`` pointing at the pending one, and lists the pending id in
``removed``. We emit the booked record (external id = its ``transaction_id``) and put
the pending id in ``Batch.removed`` ourselves too, so the pending record goes away even
if a removal were missed.

Cursor: ``{"cursor": next_cursor}``. Pages are collected until ``has_more`` is false
before anything is yielded, because Plaid's data is only consistent across a whole
pagination run; on ``TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION`` the run restarts from
the cursor it began with, as Plaid prescribes. If the run holds more than one batch, the
earlier batches carry the *starting* cursor: a crash re-runs the sync, and the upsert by
external id makes that harmless.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from adapters import file_util as fu
from adapters.base import Adapter, Batch, Capabilities, IntOption, ListOption, Setting
from adapters.http_util import HTTP_SETTINGS, HttpSource, Reply, snippet
from recon_tui.model import Record, ValidationError, make_record

ENDPOINT = "/transactions/sync"
LABEL = f"POST {ENDPOINT}"
MUTATION = "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
MAX_RESTARTS = 3

# Canonical field -> Plaid field, so validation errors name the wire field.
_WIRE = {
    "external_id": "transaction_id",
    "amount": "amount",
    "asset": "iso_currency_code",
    "ts": "date",
    "booking_date": "date",
    "account": "account_id",
    "counterparty": "merchant_name",
    "memo": "name",
    "reference": "payment_meta.reference_number",
    "status": "pending",
}


class _Mutation(Exception):
    pass


def describe(reply: Reply) -> str:
    """Plaid's error body: ``error_type``, ``error_code``, ``error_message``, ``request_id``."""
    d = reply.data
    if isinstance(d, dict) and ("error_code" in d or "error_message" in d):
        parts = [str(d.get("error_code") or d.get("error_type") or "error")]
        if d.get("error_message"):
            parts.append(str(d["error_message"]))
        if d.get("request_id"):
            parts.append(f"(request {d['request_id']})")
        return " ".join(parts[:1]) + (": " + " ".join(parts[1:]) if parts[1:] else "")
    return snippet(reply)


class PlaidAdapter(Adapter):
    """Transactions of the accounts behind one Plaid Item (one access token)."""

    kind = "plaid"
    label = "Bank via Plaid"
    SETTINGS = (
        Setting("base_url", "API base URL", default="https://production.plaid.com",
                help="https://sandbox.plaid.com for sandbox"),
        ListOption("account_ids", "Plaid account ids", help="Comma-separated; empty: all"),
        IntOption("count", "Page size", default=500, minimum=1, maximum=500,
                  help="1-500 per request"),
        IntOption("max_pages", "Page limit per sync", default=2000, minimum=1,
                  help="Guards against a server that never stops paginating"),
        *HTTP_SETTINGS,
    )
    SECRETS = (
        Setting("client_id", "Client id", required=True, secret=True),
        Setting("secret", "Secret", required=True, secret=True),
        Setting("access_token", "Access token", required=True, secret=True),
    )
    capabilities = Capabilities(
        fields=frozenset({"booking_date", "counterparty", "memo", "reference", "account"}),
        paging="cursor",
        pending=True,
        removals=True,
    )

    def __init__(
        self, source: str, settings: dict[str, Any], secrets: dict[str, str] | None = None
    ) -> None:
        super().__init__(source, settings, secrets)
        self.count = int(self.settings["count"])
        self.max_pages = int(self.settings["max_pages"])
        self.accounts = set(self.settings.get("account_ids") or [])
        self.http = HttpSource(
            source, str(self.settings.get("base_url") or ""), self.settings,
            self.secrets.values(), describe_error=describe,
        )

    def _auth(self) -> dict[str, str]:
        return {
            "client_id": self.secrets["client_id"],
            "secret": self.secrets["secret"],
            "access_token": self.secrets["access_token"],
        }

    def test_connection(self) -> str:
        reply = self.http.call("POST", "/accounts/get", json_body=self._auth())
        data = self.http.json_ok("POST /accounts/get", reply)
        accounts = data.get("accounts") if isinstance(data, dict) else None
        if not isinstance(accounts, list):
            raise self.http.error("POST /accounts/get: field 'accounts'", "missing or not a list")
        return f"Plaid: {len(accounts)} account(s)"

    def batches(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        start = str((cursor or {}).get("cursor") or "")
        for attempt in range(MAX_RESTARTS + 1):
            try:
                records, removed, next_cursor, _pages = self._run(start)
                break
            except _Mutation:
                if attempt == MAX_RESTARTS:
                    raise self.http.error(
                        LABEL, f"data kept changing during pagination ({MUTATION}); "
                        f"gave up after {MAX_RESTARTS} restarts, try again later",
                    ) from None
        items = list(records.values())
        for off, chunk in fu.chunks(items):
            last = off + len(chunk) >= len(items)
            yield Batch(
                records=list(chunk),
                cursor={"cursor": next_cursor} if last else ({"cursor": start} if start else None),
                removed=sorted(removed) if last else [],
                done=off + len(chunk),
                total=len(items),
            )

    def _run(self, start: str) -> tuple[dict[str, Record], set[str], str, int]:
        """One full pagination run from ``start``: records by id, removed ids, new cursor."""
        records: dict[str, Record] = {}
        removed: set[str] = set()
        cur = start
        seen = {cur}
        pages = 0
        while True:
            pages += 1
            if pages > self.max_pages:
                raise self.http.error(
                    LABEL, f"more than {self.max_pages} pages in one sync (has_more never ended)"
                )
            body = {**self._auth(), "cursor": cur, "count": self.count,
                    "options": {"include_original_description": True}}
            if not cur:
                del body["cursor"]  # Plaid: omit the cursor for the first sync
            reply = self.http.call("POST", ENDPOINT, json_body=body)
            if (reply.status == 400 and isinstance(reply.data, dict)
                    and reply.data.get("error_code") == MUTATION):
                raise _Mutation
            data = self.http.json_ok(LABEL, reply)
            page = self._page(data)
            for rec in page[0]:
                if self.accounts and rec.account not in self.accounts:
                    continue
                records[rec.external_id] = rec
                removed.discard(rec.external_id)
                pending_id = rec.attrs.get("pending_transaction_id")
                if pending_id and rec.status == "booked":
                    records.pop(pending_id, None)
                    removed.add(pending_id)
            for rid in page[1]:
                records.pop(rid, None)
                removed.add(rid)
            nxt, has_more = page[2], page[3]
            if not has_more:
                return records, removed, nxt, pages
            if nxt in seen:
                raise self.http.error(
                    f"{LABEL}: field 'next_cursor'",
                    "has_more is true but the cursor did not advance (endless pagination)",
                )
            seen.add(nxt)
            cur = nxt

    def _page(self, data: Any) -> tuple[list[Record], list[str], str, bool]:
        if not isinstance(data, dict):
            raise self.http.error(LABEL, f"expected a JSON object, got {type(data).__name__}")
        for key in ("added", "modified", "removed"):
            if not isinstance(data.get(key, []), list):
                raise self.http.error(f"{LABEL}: field '{key}'", "must be a list")
        nxt = data.get("next_cursor")
        if not isinstance(nxt, str) or not nxt:
            raise self.http.error(f"{LABEL}: field 'next_cursor'", "missing or not a string")
        has_more = data.get("has_more")
        if not isinstance(has_more, bool):
            raise self.http.error(f"{LABEL}: field 'has_more'", "missing or not a boolean")
        recs: list[Record] = []
        for key in ("added", "modified"):
            for i, tx in enumerate(data.get(key) or []):
                recs.append(self._record(f"{key}[{i}]", tx))
        removed: list[str] = []
        for i, item in enumerate(data.get("removed") or []):
            tid = item.get("transaction_id") if isinstance(item, dict) else None
            if not isinstance(tid, str) or not tid:
                raise self.http.error(
                    f"{LABEL}: field 'removed[{i}].transaction_id'", "missing or not a string"
                )
            removed.append(tid)
        return recs, removed, nxt, has_more

    def _record(self, path: str, tx: Any) -> Record:
        try:
            if not isinstance(tx, dict):
                raise ValidationError("", f"expected an object, got {type(tx).__name__}")
            return self._convert(tx)
        except ValidationError as exc:
            wire = _WIRE.get(exc.field, exc.field)
            field = f"{path}.{wire}" if wire else path
            raise self.http.error(f"{LABEL}: field '{field}'", exc.detail) from None

    def _convert(self, tx: dict[str, Any]) -> Record:
        raw = tx.get("amount")
        if isinstance(raw, bool) or not isinstance(raw, Decimal | int):
            raise ValidationError("amount", f"expected a JSON number, got {_type(raw)}")
        amount = -Decimal(raw)  # Plaid: positive = money out
        pending = tx.get("pending", False)
        if not isinstance(pending, bool):
            raise ValidationError("status", f"'pending' must be a boolean, got {_type(pending)}")
        for key in ("transaction_id", "date", "account_id"):
            if not isinstance(tx.get(key), str) or not tx[key]:
                raise ValidationError(key, f"missing or not a string (got {_type(tx.get(key))})")
        currency = tx.get("iso_currency_code") or tx.get("unofficial_currency_code")
        if not isinstance(currency, str):
            raise ValidationError("iso_currency_code", "no iso or unofficial currency code")
        booking = fu.parse_date(tx["date"], "date", ["%Y-%m-%d"])
        ts: Any = tx.get("datetime") or fu.midnight_utc(booking)
        pfc = tx.get("personal_finance_category") or {}
        kind = fu.bank_kind(amount)
        if isinstance(pfc, dict):
            if pfc.get("primary") == "BANK_FEES":
                kind = "fee"
            elif pfc.get("detailed") == "INCOME_INTEREST_EARNED":
                kind = "interest"
        counterparty = tx.get("merchant_name")
        parties = tx.get("counterparties")
        if not counterparty and isinstance(parties, list) and parties:
            first = parties[0]
            counterparty = first.get("name") if isinstance(first, dict) else None
        meta = tx.get("payment_meta") if isinstance(tx.get("payment_meta"), dict) else {}
        attrs: dict[str, Any] = {}
        for key, out in (("pending_transaction_id", "pending_transaction_id"),
                         ("authorized_date", "authorized_date"),
                         ("payment_channel", "payment_channel"),
                         ("transaction_code", "transaction_code"),
                         ("check_number", "check_number"),
                         ("original_description", "original_description")):
            if isinstance(tx.get(key), str) and tx[key]:
                attrs[out] = tx[key]
        if isinstance(pfc, dict) and pfc.get("detailed"):
            attrs["category"] = str(pfc["detailed"])
        return make_record(
            source=self.source,
            external_id=tx["transaction_id"],
            kind=kind,
            ts=ts,
            status="pending" if pending else "booked",
            asset=currency,
            amount=amount,
            account=tx["account_id"],
            counterparty=counterparty if isinstance(counterparty, str) else None,
            memo=tx.get("name") if isinstance(tx.get("name"), str) else None,
            reference=meta.get("reference_number") if isinstance(meta, dict) else None,
            booking_date=booking,
            attrs=attrs,
        )


def _type(v: Any) -> str:
    return "null" if v is None else type(v).__name__
