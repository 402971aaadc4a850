"""OFX / QFX bank and credit-card statements (OFX 1.x SGML and 2.x XML), via ``ofxparse``.

External ids are ``{account}:{FITID}``: OFX requires FITID to be unique per account and
stable across downloads, which is exactly what idempotent and overlapping re-imports
need. A file repeating a FITID within one account is refused rather than half-imported.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ofxparse

from adapters import file_util as fu
from adapters.base import Adapter, Batch, Capabilities, Setting, SourceError
from recon_tui.model import Record, ValidationError, make_record

# OFX transaction types whose direction is not the whole story: keep them as kinds.
_KINDS = {"fee": "fee", "srvchg": "fee", "int": "interest", "div": "interest"}


class OfxAdapter(Adapter):
    """An OFX/QFX download from a bank's web banking."""

    kind = "ofx"
    label = "Bank statement (OFX/QFX)"
    SETTINGS = (
        Setting("path", "OFX/QFX file", required=True),
        Setting("encoding", "Encoding", default="", help="Empty: from the OFX header"),
    )
    capabilities = Capabilities(
        fields=frozenset({"booking_date", "counterparty", "memo", "reference"}),
        paging="file",
    )

    def batches(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        data, name = fu.read_bytes(self.source, self.settings.get("path"))
        text = fu.decode(self.source, name, data, self._encoding(data))
        if not re.search(r"<OFX>", text, re.I):
            raise self.error(name, "not an OFX file (no <OFX> element)")
        if not re.search(r"</OFX>\s*$", text, re.I):
            raise self.error(name, "truncated: the file does not end with </OFX>")
        try:
            with warnings.catch_warnings():
                # ofxparse uses deprecated BeautifulSoup calls: noise, not the user's problem
                warnings.simplefilter("ignore")
                ofx = ofxparse.OfxParser.parse(io.BytesIO(text.encode("utf-8")))
        except Exception as exc:  # the parser raises anything from ValueError to IndexError
            raise self.error(name, f"cannot parse OFX: {type(exc).__name__}: {exc}") from None
        records: list[Record] = []
        ids = fu.UniqueIds(self.source)
        lines, posted_raw = _fitid_index(text)
        for account in ofx.accounts:
            stmt = getattr(account, "statement", None)
            if stmt is None:
                continue
            acct = str(account.account_id or account.number or "").strip() or None
            currency = str(getattr(stmt, "currency", "") or "").upper()
            for i, tx in enumerate(stmt.transactions):
                where = f"{name}:line {lines.get(tx.id, '?')}" if tx.id else f"{name}: txn #{i + 1}"
                raw_date = posted_raw.get(tx.id or "")
                records.append(self._record(where, acct, currency, tx, raw_date, ids))
        yield from fu.file_batches(name, fu.sha256(data), records, cursor)

    def _encoding(self, data: bytes) -> str:
        if self.settings.get("encoding"):
            return str(self.settings["encoding"])
        head = data[:600].decode("ascii", errors="replace")
        m = re.search(r'encoding="([\w-]+)"', head)
        if m:
            return m.group(1)
        if re.search(r"CHARSET:\s*1252", head):
            return "cp1252"
        if re.search(r"ENCODING:\s*USASCII", head) and not re.search(r"CHARSET:\s*NONE", head):
            return "latin-1"  # USASCII headers routinely carry Latin-1 payee names
        return "utf-8"

    def _record(
        self,
        where: str,
        acct: str | None,
        currency: str,
        tx: Any,
        raw_date: str | None,
        ids: fu.UniqueIds,
    ) -> Record:
        try:
            if not tx.id:
                raise ValidationError("FITID", "missing")
            if tx.date is None:
                raise ValidationError("DTPOSTED", "missing")
            amount = tx.amount if isinstance(tx.amount, Decimal) else Decimal(tx.amount)
            ext = f"{acct}:{tx.id}" if acct else str(tx.id)
            ids.check(ext, where)
            ttype = (tx.type or "").lower()
            attrs: dict[str, Any] = {"fitid": tx.id, "ofx_type": ttype}
            if tx.user_date:
                attrs["user_date"] = tx.user_date.date().isoformat()
            if getattr(tx, "checknum", ""):
                attrs["check_number"] = tx.checknum
            # The bank's calendar day is the first 8 digits of DTPOSTED; ofxparse shifts
            # to UTC, which moves midnight-local postings east of Greenwich a day back.
            posted = tx.date.date()
            if raw_date and re.match(r"^\d{8}", raw_date):
                posted = fu.parse_date(raw_date[:8], "DTPOSTED", ["%Y%m%d"])
            return make_record(
                source=self.source,
                external_id=ext,
                kind=_KINDS.get(ttype) or fu.bank_kind(amount),
                ts=fu.midnight_utc(posted),
                asset=currency or "USD",  # OFX's CURDEF is mandatory; USD is its default
                amount=amount,
                account=acct,
                counterparty=tx.payee or None,
                memo=tx.memo or None,
                reference=getattr(tx, "checknum", "") or None,
                booking_date=posted,
                attrs=attrs,
            )
        except ValidationError as exc:
            raise fu.fail(self.source, where, exc) from None
        except SourceError:
            raise
        except Exception as exc:
            raise self.error(where, f"{type(exc).__name__}: {exc}") from None


def _fitid_index(text: str) -> tuple[dict[str, int], dict[str, str]]:
    """FITID -> line number (to point errors at the file) and -> raw DTPOSTED text."""
    lines: dict[str, int] = {}
    dates: dict[str, str] = {}
    for m in re.finditer(r"<STMTTRN>(.*?)</STMTTRN>", text, re.I | re.S):
        block = m.group(1)
        fid = re.search(r"<FITID>\s*([^<\r\n]+)", block, re.I)
        if not fid:
            continue
        key = fid.group(1).strip()
        lines.setdefault(key, text.count("\n", 0, m.start() + fid.start()) + 1)
        posted = re.search(r"<DTPOSTED>\s*([^<\r\n]+)", block, re.I)
        if posted:
            dates.setdefault(key, posted.group(1).strip())
    return lines, dates
