"""Fake GoCardless Bank Account Data API (token + account transactions), wire format of v2.

``POST /api/v2/token/new/`` checks ``secret_id``/``secret_key`` and issues a bearer
token; ``GET /api/v2/accounts/{id}/transactions/`` filters by ``date_from``/``date_to``
(booking date; value date for pending lines) and returns
``{"transactions": {"booked": [...], "pending": [...]}}`` with string amounts. Errors use
GoCardless's ``{"summary", "detail", "status_code"}`` body. ``expire_tokens()`` makes
issued tokens fail with 401 as they do after 24 h.
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.fakes.bank_http import FakeHttp, Req, Resp

SECRET_ID = "gc-secret-id-0a1b2c"
SECRET_KEY = "gc-secret-key-3d4e5f6a7b"
ACCOUNT = "7e7d4bd3-6e1c-4a4b-9a4f-6a1c2b3d4e5f"


def booked(tid: str | None, amount: str, date: str, **kw: Any) -> dict[str, Any]:
    t: dict[str, Any] = {
        "bookingDate": date,
        "valueDate": kw.pop("value_date", date),
        "transactionAmount": {"amount": amount, "currency": kw.pop("currency", "EUR")},
        "remittanceInformationUnstructured": kw.pop("remittance", "Invoice 2024-001"),
        "bankTransactionCode": "PMNT-RCDT-ESCT",
    }
    if tid is not None:
        t["transactionId"] = tid
    if amount.startswith("-"):
        t["creditorName"] = kw.pop("name", "Supplier GmbH")
    else:
        t["debtorName"] = kw.pop("name", "Customer SARL")
    t.update(kw)
    return t


def pending(amount: str, value_date: str, **kw: Any) -> dict[str, Any]:
    t = booked(None, amount, value_date, **kw)
    del t["bookingDate"]
    return t


def error(status: int, summary: str, detail: str) -> Resp:
    return Resp(status, {"summary": summary, "detail": detail, "status_code": status})


class FakeGoCardless(FakeHttp):
    def __init__(self) -> None:
        super().__init__()
        self.booked: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []
        self.tokens: set[str] = set()
        self._n = itertools.count(1)

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def route(self, req: Req) -> Resp:
        if req.path == "/api/v2/token/new/" and req.method == "POST":
            body = req.json() or {}
            if body.get("secret_id") != SECRET_ID or body.get("secret_key") != SECRET_KEY:
                return error(401, "Authentication failed",
                             "No active account found with the given credentials")
            token = f"gc-access-token-{next(self._n):04d}-xyz"
            self.tokens.add(token)
            return Resp(200, {"access": token, "access_expires": 86400,
                              "refresh": "gc-refresh", "refresh_expires": 2592000})
        auth = req.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return error(401, "Invalid token", "Token is invalid or expired")
        prefix = f"/api/v2/accounts/{ACCOUNT}/"
        if req.path == prefix:
            return Resp(200, {"id": ACCOUNT, "status": "READY", "iban": "DE89370400440532013000"})
        if req.path != prefix + "transactions/":
            if req.path.startswith("/api/v2/accounts/"):
                return error(404, "Not found.", "Account ID not found")
            return Resp(404, "<html><body><h1>Not Found</h1></body></html>", "text/html")
        lo, hi = req.query.get("date_from", "0000"), req.query.get("date_to", "9999")
        if lo > hi:
            return Resp(400, {"date_from": {"summary": "Invalid date range",
                                            "detail": "date_from must be before date_to"},
                              "status_code": 400})
        return Resp(200, {"transactions": {
            "booked": [t for t in self.booked if lo <= t.get("bookingDate", lo) <= hi],
            "pending": [t for t in self.pending if lo <= t["valueDate"] <= hi],
        }})
