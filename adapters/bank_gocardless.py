"""Bank accounts through GoCardless Bank Account Data (formerly Nordigen), PSD2 access.

Flow: ``POST /api/v2/token/new/`` with ``secret_id``/``secret_key`` gives a bearer token;
``GET /api/v2/accounts/{id}/transactions/?date_from=..&date_to=..`` gives
``{"transactions": {"booked": [...], "pending": [...]}}``. Amounts are strings
(``transactionAmount.amount``), read as exact Decimals. Errors come as
``{"summary", "detail", "status_code"}``.

Paging is by date: the cursor is ``{"date_to": "YYYY-MM-DD", "pending": [ids]}``. The
next sync starts ``overlap_days`` before the last ``date_to``, because banks book late
and back-date; overlap is harmless since external ids are stable.

External ids: booked lines use ``transactionId``, else ``int:{internalTransactionId}``,
else a content id (:class:`adapters.file_util.ContentIds`; every fetch covers whole
days, so ordinals are stable). Pending lines get ``pending:{...}`` ids and carry no link
to their booked version, so each sync reports every pending id it emitted before and no
longer sees as *removed*: the booked line replaces the pending one. Limit: a pending
line older than the overlap window is also reported removed (it is re-added if it is
still pending and reappears in a later window).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from adapters import file_util as fu
from adapters.base import Adapter, Batch, Capabilities, IntOption, Setting
from adapters.http_util import HTTP_SETTINGS, HttpSource, Reply, snippet
from recon_tui.model import Record, ValidationError, make_record

TOKEN = "/api/v2/token/new/"


def describe(reply: Reply) -> str:
    """GoCardless errors: ``summary``/``detail``, or per-parameter ``{"date_from": {...}}``."""
    d = reply.data
    if isinstance(d, dict):
        if "summary" in d or "detail" in d:
            return ": ".join(str(d[k]) for k in ("summary", "detail") if d.get(k))
        parts = [f"{k}: {v.get('detail') or v.get('summary')}" for k, v in d.items()
                 if isinstance(v, dict) and (v.get("detail") or v.get("summary"))]
        if parts:
            return "; ".join(parts)
    return snippet(reply)


class GoCardlessAdapter(Adapter):
    """One bank account linked through a GoCardless requisition."""

    kind = "gocardless"
    label = "Bank via GoCardless"
    SETTINGS = (
        Setting("account_id", "GoCardless account id", required=True, help="UUID"),
        Setting("account", "Account label", help="IBAN or name stored on records"),
        Setting("base_url", "API base URL", default="https://bankaccountdata.gocardless.com"),
        Setting("date_from", "First sync from", help="YYYY-MM-DD; default 90 days ago"),
        IntOption("overlap_days", "Overlap (days)", default=10, minimum=0,
                  help="Days re-read each sync; banks book late"),
        *HTTP_SETTINGS,
    )
    SECRETS = (
        Setting("secret_id", "Secret id", required=True, secret=True),
        Setting("secret_key", "Secret key", required=True, secret=True),
    )
    capabilities = Capabilities(
        fields=frozenset({"booking_date", "value_date", "counterparty", "memo", "reference"}),
        paging="time",
        pending=True,
        removals=True,
    )

    today: Callable[[], date] = staticmethod(lambda: datetime.now(UTC).date())

    def __init__(
        self, source: str, settings: dict[str, Any], secrets: dict[str, str] | None = None
    ) -> None:
        super().__init__(source, settings, secrets)
        self.account_id = str(self.settings["account_id"]).strip()
        self.account = str(self.settings.get("account") or self.account_id)
        self.overlap = int(self.settings["overlap_days"])
        self.http = HttpSource(
            source, str(self.settings.get("base_url") or ""), self.settings,
            self.secrets.values(), describe_error=describe,
        )
        self._token: str | None = None

    # -- auth ------------------------------------------------------------------------------

    def _new_token(self) -> str:
        label = f"POST {TOKEN}"
        reply = self.http.call("POST", TOKEN, json_body={
            "secret_id": self.secrets["secret_id"], "secret_key": self.secrets["secret_key"],
        })
        if reply.status in (401, 403):
            raise self.http.error(label, f"authentication failed: {describe(reply)}")
        data = self.http.json_ok(label, reply)
        token = data.get("access") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise self.http.error(f"{label}: field 'access'", "missing or not a string")
        self.http.add_secret(token)  # the token is a credential too: never in errors
        return token

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        label = f"GET {path}"
        for fresh in (False, True):
            if self._token is None or fresh:
                self._token = self._new_token()
            reply = self.http.call(
                "GET", path, params=params, headers={"Authorization": f"Bearer {self._token}"},
            )
            if reply.status == 401 and not fresh:
                continue  # token expired between syncs: get a new one once
            return self.http.json_ok(label, reply)
        raise AssertionError("unreachable")

    def test_connection(self) -> str:
        data = self._get(f"/api/v2/accounts/{self.account_id}/")
        status = data.get("status") if isinstance(data, dict) else None
        return f"GoCardless account {self.account}: {status or 'reachable'}"

    # -- sync ------------------------------------------------------------------------------

    def _window(self, cursor: dict[str, Any] | None) -> tuple[date, date]:
        today = self.today()
        last = (cursor or {}).get("date_to")
        if last:
            start = fu.parse_date(str(last), "date_to", ["%Y-%m-%d"]) - timedelta(self.overlap)
        elif self.settings.get("date_from"):
            try:
                start = date.fromisoformat(str(self.settings["date_from"]))
            except ValueError:
                raise self.error("date_from", "setting 'date_from' is not YYYY-MM-DD") from None
        else:
            start = today - timedelta(90)
        return min(start, today), today

    def batches(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        start, end = self._window(cursor)
        path = f"/api/v2/accounts/{self.account_id}/transactions/"
        label = f"GET {path}"
        data = self._get(path, {"date_from": start.isoformat(), "date_to": end.isoformat()})
        txs = data.get("transactions") if isinstance(data, dict) else None
        if not isinstance(txs, dict):
            raise self.http.error(f"{label}: field 'transactions'", "missing or not an object")
        records: list[Record] = []
        ids = fu.UniqueIds(self.source)
        pending_now: list[str] = []
        for status in ("booked", "pending"):
            items = txs.get(status, [])
            if not isinstance(items, list):
                raise self.http.error(f"{label}: field 'transactions.{status}'", "must be a list")
            content = fu.ContentIds()
            for i, tx in enumerate(items):
                where = f"{label}: field 'transactions.{status}[{i}]"
                try:
                    rec = self._record(tx, status, content, end)
                except ValidationError as exc:
                    raise self.http.error(f"{where}.{exc.field}'", exc.detail) from None
                ids.check(rec.external_id, f"{where}'")
                records.append(rec)
                if status == "pending":
                    pending_now.append(rec.external_id)
        old_pending = set((cursor or {}).get("pending") or [])
        removed = sorted(old_pending - set(pending_now))
        new_cursor = {"date_to": end.isoformat(), "pending": sorted(pending_now)}
        for off, chunk in fu.chunks(records):
            last = off + len(chunk) >= len(records)
            yield Batch(
                records=list(chunk),
                cursor=new_cursor if last else cursor,
                removed=removed if last else [],
                done=off + len(chunk),
                total=len(records),
            )

    def _record(self, tx: Any, status: str, content: fu.ContentIds, today: date) -> Record:
        if not isinstance(tx, dict):
            raise ValidationError("", f"expected an object, got {type(tx).__name__}")
        ta = tx.get("transactionAmount")
        if not isinstance(ta, dict):
            raise ValidationError("transactionAmount", "missing or not an object")
        raw = ta.get("amount")
        if isinstance(raw, str):
            amount = fu.parse_amount(raw, "transactionAmount.amount")
        elif isinstance(raw, Decimal | int) and not isinstance(raw, bool):
            amount = Decimal(raw)  # exact: JSON numbers are read as Decimal
        else:
            raise ValidationError("transactionAmount.amount", f"expected a string, got {_t(raw)}")
        currency = ta.get("currency")
        if not isinstance(currency, str) or not currency:
            raise ValidationError("transactionAmount.currency", "missing or not a string")
        text = {k: tx.get(k) for k in (
            "transactionId", "internalTransactionId", "bookingDate", "valueDate",
            "bookingDateTime", "creditorName", "debtorName", "remittanceInformationUnstructured",
            "remittanceInformationStructured", "endToEndId", "entryReference", "mandateId",
            "additionalInformation", "bankTransactionCode", "proprietaryBankTransactionCode",
        )}
        for k, v in text.items():
            if v is not None and not isinstance(v, str):
                raise ValidationError(k, f"expected a string, got {_t(v)}")
        booking_raw = text["bookingDate"] or (text["bookingDateTime"] or "")[:10] or None
        if status == "booked" and not booking_raw:
            raise ValidationError("bookingDate", "missing on a booked transaction")
        booking = fu.parse_date(booking_raw, "bookingDate", ["%Y-%m-%d"]) if booking_raw else None
        value = (fu.parse_date(text["valueDate"], "valueDate", ["%Y-%m-%d"])
                 if text["valueDate"] else None)
        day = booking or value or today
        ts: Any = fu.midnight_utc(day)
        if text["bookingDateTime"] and status == "booked":
            ts = text["bookingDateTime"]
        memo = text["remittanceInformationUnstructured"]
        arr = tx.get("remittanceInformationUnstructuredArray")
        if not memo and isinstance(arr, list):
            memo = " ".join(str(x) for x in arr if isinstance(x, str)) or None
        memo = memo or text["additionalInformation"]
        counterparty = (text["creditorName"] if amount < 0 else text["debtorName"]) or (
            text["creditorName"] or text["debtorName"])
        if text["transactionId"]:
            ext = text["transactionId"]
        elif text["internalTransactionId"]:
            ext = f"int:{text['internalTransactionId']}"
        else:
            ext = content.next(self.account, day.isoformat(), amount.normalize(), currency,
                               memo, counterparty)
        if status == "pending":
            ext = f"pending:{ext}"
        attrs: dict[str, Any] = {}
        e2e = text["endToEndId"]
        if e2e and e2e.upper() != "NOTPROVIDED":
            attrs["end_to_end_id"] = e2e
        for k, out in (("internalTransactionId", "internal_transaction_id"),
                       ("mandateId", "mandate_id"), ("entryReference", "entry_reference"),
                       ("bankTransactionCode", "bank_transaction_code"),
                       ("proprietaryBankTransactionCode", "proprietary_code")):
            if text[k]:
                attrs[out] = text[k]
        for side in ("creditorAccount", "debtorAccount"):
            acct = tx.get(side)
            if isinstance(acct, dict) and isinstance(acct.get("iban"), str):
                attrs[f"{side[:-7]}_iban"] = acct["iban"]
        return make_record(
            source=self.source,
            external_id=ext,
            kind=fu.bank_kind(amount),
            ts=ts,
            status=status,
            asset=currency,
            amount=amount,
            account=self.account,
            counterparty=counterparty,
            reference=text["remittanceInformationStructured"] or text["entryReference"],
            memo=memo,
            booking_date=booking,
            value_date=value,
            attrs=attrs,
        )


def _t(v: Any) -> str:
    return "null" if v is None else type(v).__name__
