"""Fake Plaid ``/transactions/sync`` (and ``/accounts/get``) with Plaid's wire format.

The fake keeps a change log (added / modified / removed events); a cursor is the
position in that log, so pages, ``has_more``, ``next_cursor`` and incremental syncs
behave like Plaid's. Amounts are JSON numbers, positive for money out. Knobs:
``mutate_once`` answers the next non-first page with
TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION; ``endless`` keeps ``has_more`` true and
returns the same cursor.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.fakes.bank_http import FakeHttp, Req, Resp

CLIENT_ID = "plaid-client-5e1f"
SECRET = "plaid-secret-9b8c7d6e"
ACCESS_TOKEN = "access-sandbox-1234-abcd"


def txn(
    tid: str,
    amount: str,
    date: str = "2024-03-01",
    *,
    pending: bool = False,
    pending_id: str | None = None,
    account: str = "acc-checking",
    name: str = "ACME PAYROLL",
    currency: str = "USD",
    **extra: Any,
) -> dict[str, Any]:
    """A Plaid transaction object (amount: positive = money out)."""
    return {
        "transaction_id": tid,
        "account_id": account,
        "amount": Decimal(amount),
        "iso_currency_code": currency,
        "unofficial_currency_code": None,
        "date": date,
        "authorized_date": date,
        "datetime": None,
        "name": name,
        "merchant_name": extra.pop("merchant_name", None),
        "payment_channel": "other",
        "pending": pending,
        "pending_transaction_id": pending_id,
        "payment_meta": {"reference_number": extra.pop("reference", None)},
        "personal_finance_category": {"primary": "GENERAL", "detailed": "GENERAL_OTHER"},
        **extra,
    }


class FakePlaid(FakeHttp):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, Any]] = []  # ("added"|"modified"|"removed", payload)
        self.mutate_once = False
        self.endless = False

    def add(self, *txns: dict[str, Any]) -> None:
        self.log.extend(("added", t) for t in txns)

    def modify(self, *txns: dict[str, Any]) -> None:
        self.log.extend(("modified", t) for t in txns)

    def remove(self, *ids: str) -> None:
        self.log.extend(("removed", {"transaction_id": i, "account_id": "acc-checking"})
                        for i in ids)

    def post(self, tid: str, pending_id: str, amount: str, date: str, **kw: Any) -> None:
        """A pending transaction posts: new id linking the pending one, which is removed."""
        self.add(txn(tid, amount, date, pending_id=pending_id, **kw))
        self.remove(pending_id)

    def _error(self, status: int, code: str, message: str, etype: str = "INVALID_INPUT") -> Resp:
        return Resp(status, {
            "error_type": etype, "error_code": code, "error_message": message,
            "display_message": None, "request_id": "req-fake-1",
        })

    def route(self, req: Req) -> Resp:
        if req.method != "POST":
            return Resp(404, "Not Found", "text/plain")
        try:
            body = req.json()
        except ValueError:
            return self._error(400, "INVALID_BODY", "body could not be parsed as JSON")
        if body.get("client_id") != CLIENT_ID or body.get("secret") != SECRET:
            return self._error(400, "INVALID_API_KEYS",
                               "invalid client_id or secret provided", "INVALID_INPUT")
        if body.get("access_token") != ACCESS_TOKEN:
            return self._error(400, "INVALID_ACCESS_TOKEN",
                               "provided access token is in an invalid format")
        if req.path == "/accounts/get":
            return Resp(200, {"accounts": [{"account_id": "acc-checking"}], "item": {}})
        if req.path != "/transactions/sync":
            return Resp(404, "Not Found", "text/plain")
        cursor = body.get("cursor") or "pos:0"
        count = int(body.get("count") or 100)
        if not cursor.startswith("pos:") or not cursor[4:].isdigit():
            return self._error(400, "INVALID_FIELD", "cursor is invalid")
        pos = int(cursor[4:])
        if self.endless:
            return Resp(200, {"added": [], "modified": [], "removed": [],
                              "next_cursor": cursor, "has_more": True, "request_id": "r"})
        if self.mutate_once and pos > 0:
            self.mutate_once = False
            return self._error(400, "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION",
                               "Underlying transaction data changed since last page was fetched",
                               "TRANSACTIONS_ERROR")
        chunk = self.log[pos : pos + count]
        out: dict[str, Any] = {"added": [], "modified": [], "removed": []}
        for kind, payload in chunk:
            out[kind].append(payload)
        end = pos + len(chunk)
        out.update(next_cursor=f"pos:{end}", has_more=end < len(self.log),
                   accounts=[], transactions_update_status="HISTORICAL_UPDATE_COMPLETE",
                   request_id="req-fake-2")
        return Resp(200, out)
