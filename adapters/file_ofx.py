"""OFX / QFX bank, credit-card and investment statements (OFX 1.x SGML and 2.x XML),
parsed by ``ofxparse``.

Encoding: the file's own declaration (OFX 1 ``ENCODING``/``CHARSET`` header, OFX 2 XML
declaration), else UTF-8 when the bytes are valid UTF-8, else the configured code page.
The text is decoded here, once; the header handed to the library is rewritten to say
UTF-8 so it never decodes a second time (the "CafÃ©" bug).

Lenient where reconciliation does not need a field: the library's lenient mode keeps
going over an empty ``LEDGERBAL`` or start date, but a transaction it would discard is a
lost movement, so any discarded transaction refuses the file in one line.

Investment statements (``INVSTMTRS``): the cash movements are imported, that is
``INVBANKTRAN`` lines and the cash ``TOTAL`` of buys, sells, income and the like;
positions and security lists are not movements and are ignored.

External ids are ``{account}:{FITID}`` when the FITID is in the file once for that
account and not a placeholder; otherwise a content id of the transaction's own text,
with the FITID kept in ``attrs``. ``LEDGERBAL``/``AVAILBAL`` are stored as balances (OFX
states no opening balance, so there is nothing to add up).
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import ofxparse

from adapters import file_util as fu
from adapters.base import (
    Adapter,
    Batch,
    Capabilities,
    PathOption,
    SourceError,
    StatementBalance,
    TextOption,
)
from recon_tui.model import Record, ValidationError, make_record

# OFX transaction types whose direction is not the whole story: keep them as kinds.
_KINDS = {"fee": "fee", "srvchg": "fee", "int": "interest", "div": "interest",
          "income": "interest", "reinvest": "trade", "buymf": "trade", "sellmf": "trade",
          "buystock": "trade", "sellstock": "trade", "buyopt": "trade", "sellopt": "trade",
          "buydebt": "trade", "selldebt": "trade", "buyother": "trade",
          "sellother": "trade"}  # fmt: skip
_TXN_TAGS = ("STMTTRN", "BUYMF", "SELLMF", "BUYSTOCK", "SELLSTOCK", "BUYOPT", "SELLOPT",
             "BUYDEBT", "SELLDEBT", "BUYOTHER", "SELLOTHER", "INCOME", "REINVEST",
             "TRANSFER", "JRNLFUND", "JRNLSEC", "MARGININTEREST", "RETOFCAP", "SPLIT",
             "CLOSUREOPT", "INVEXPENSE")  # fmt: skip
_TXN_RE = re.compile(r"<(" + "|".join(_TXN_TAGS) + r")>", re.I)


class OfxAdapter(Adapter):
    """An OFX/QFX download from a bank's or broker's web site."""

    kind = "ofx"
    label = "Bank statement (OFX/QFX)"
    SETTINGS = (
        PathOption("path", "OFX/QFX file", required=True),
        TextOption("encoding", "8-bit encoding", default="cp1252",
                   help="Used only when the file declares none and is not UTF-8"),
    )  # fmt: skip
    capabilities = Capabilities(
        fields=frozenset({"booking_date", "counterparty", "memo", "reference"}),
        paging="file",
    )

    def batches(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        data, name = fu.read_bytes(self.source, self.settings.get("path"))
        text, _ = fu.decode_auto(self.source, name, data,
                                 str(self.settings.get("encoding") or "cp1252"),
                                 _declared(data))  # fmt: skip
        if not re.search(r"<OFX>", text, re.I):
            raise self.error(name, "not an OFX file (no <OFX> element)")
        if not re.search(r"</OFX>\s*$", text, re.I):
            raise self.error(name, "truncated: the file does not end with </OFX>")
        ofx = self._parse(name, text)
        blocks = _txn_blocks(text)
        by_fitid: dict[str, list[tuple[int, str]]] = {}
        for blk in blocks:
            m = re.search(r"<FITID>\s*([^<\r\n]*)", blk[1], re.I)
            if m and m.group(1).strip():
                by_fitid.setdefault(m.group(1).strip().upper(), []).append(blk)
        plain = [blk for blk in blocks if blk[1][:9].upper() == "<STMTTRN>"]
        records: list[Record] = []
        balances: list[StatementBalance] = []
        pending: list[tuple[str, str, Any, tuple[int, str] | None]] = []
        k = 0
        for account in ofx.accounts:
            stmt = getattr(account, "statement", None)
            if stmt is None:
                continue
            acct = str(getattr(account, "account_id", "") or getattr(account, "number", "")
                       or "").strip()  # fmt: skip
            currency = str(getattr(stmt, "currency", "") or "").upper() or "USD"
            discarded = getattr(stmt, "discarded_entries", None) or []
            if discarded:
                first = discarded[0]
                fid = getattr(first.get("content"), "find", lambda _: None)("fitid")
                fid_text = (fid.get_text() if fid is not None else "").strip().split("\n")[0]
                line = next((ln for ln, raw in blocks
                             if fid_text and re.search(rf"<FITID>\s*{re.escape(fid_text)}\b",
                                                       raw, re.I)), None)  # fmt: skip
                place = f"{name}:line {line}" if line else f"{name}: account {acct or '?'}"
                raise self.error(place, f"a transaction cannot be read: {first.get('error')}")
            for tx in stmt.transactions:
                # ofxparse groups investment transactions by type, so blocks are found by
                # FITID, not by position (positions hold for bank statements only).
                fid = str(getattr(tx, "id", "") or "").strip()
                queue = by_fitid.get(fid.upper()) if fid else None
                block = queue.pop(0) if queue else None
                if block is None and not isinstance(tx, ofxparse.ofxparse.InvestmentTransaction):
                    block = plain[k] if k < len(plain) else None
                k += 1
                if (isinstance(tx, ofxparse.ofxparse.InvestmentTransaction)
                        and (block is None or not re.search(r"<TOTAL>", block[1], re.I))):
                    continue  # a securities-only movement (transfer in kind, split): no cash
                pending.append((acct, currency, tx, block))
            for attr, date_attr, kind in (("balance", "balance_date", "ledger"),
                                          ("available_balance", "available_balance_date",
                                           "available")):  # fmt: skip
                amount = getattr(stmt, attr, None)
                when = getattr(stmt, date_attr, None)
                if isinstance(amount, Decimal) and when is not None:
                    balances.append(StatementBalance(acct, currency, when.date(), kind, amount,
                                                     acct or "ofx", name))  # fmt: skip
        usable = fu.usable_ids(f"{a}\x1f{getattr(tx, 'id', '') or ''}" if not fu.is_placeholder(
            getattr(tx, "id", None)) else None for a, _, tx, _ in pending)
        content = fu.ContentIds()
        for i, (acct, currency, tx, block) in enumerate(pending, 1):
            where = f"{name}:line {block[0]}" if block else f"{name}: transaction #{i}"
            records.append(self._record(where, acct, currency, tx, block, usable, content))
        yield from fu.file_batches(name, fu.sha256(data), records, cursor, balances=balances)

    def _parse(self, name: str, text: str) -> Any:
        try:
            with warnings.catch_warnings():
                # ofxparse uses deprecated BeautifulSoup calls: noise, not the user's problem
                warnings.simplefilter("ignore")
                return ofxparse.OfxParser.parse(io.BytesIO(_as_utf8(text)), fail_fast=False)
        except ofxparse.OfxParserException as exc:
            raise self.error(name, f"cannot read the OFX: {_plain(exc)}") from None
        except Exception as exc:  # the library raises anything from ValueError to IndexError
            where = _element_hint(text, exc)
            raise self.error(f"{name}{where}",
                             f"cannot read the OFX ({_plain(exc) or type(exc).__name__})"
                             ) from None  # fmt: skip

    def _record(
        self, where: str, acct: str, currency: str, tx: Any, block: tuple[int, str] | None,
        usable: set[str], content: fu.ContentIds,
    ) -> Record:  # fmt: skip
        try:
            fitid = str(getattr(tx, "id", "") or "").strip()
            ttype = str(getattr(tx, "type", "") or "").lower()
            if isinstance(tx, ofxparse.ofxparse.InvestmentTransaction):
                amount = getattr(tx, "total", None)
                when = getattr(tx, "settleDate", None) or getattr(tx, "tradeDate", None)
                if amount is None:
                    raise ValidationError("TOTAL", f"missing on <{ttype.upper()}>")
                payee, memo = getattr(tx, "security", None), getattr(tx, "memo", None)
                tag = ttype.upper()
            else:
                amount, when = tx.amount, tx.date
                payee, memo = tx.payee, tx.memo
                tag = "STMTTRN"
            if when is None:
                raise ValidationError("DTPOSTED" if tag == "STMTTRN" else "DTTRADE", "missing")
            if not isinstance(amount, Decimal):
                amount = Decimal(str(amount))
            if f"{acct}\x1f{fitid}" in usable:
                ext = f"{acct}:{fitid}" if acct else fitid
            else:
                ext = content.next(acct, block[1] if block else f"{tag}{when}{amount}{memo}")
            attrs: dict[str, Any] = {"ofx_type": ttype}
            if fitid and not fu.is_placeholder(fitid):
                attrs["fitid"] = fitid
            if getattr(tx, "user_date", None):
                attrs["user_date"] = tx.user_date.date().isoformat()
            if getattr(tx, "checknum", ""):
                attrs["check_number"] = tx.checknum
            if tag != "STMTTRN":
                attrs["investment"] = True
            # The bank's calendar day is the first 8 digits of DTPOSTED; ofxparse shifts
            # to UTC, which moves midnight-local postings east of Greenwich a day back.
            posted: date = when.date()
            raw = _raw_date(block[1]) if block else None
            if raw:
                posted = fu.parse_date(raw, "DTPOSTED", ["%Y%m%d"])
            return make_record(
                source=self.source,
                external_id=ext,
                kind=_KINDS.get(ttype) or fu.bank_kind(amount),
                ts=fu.midnight_utc(posted),
                asset=currency,
                amount=amount,
                account=acct or None,
                counterparty=payee or None,
                memo=memo or None,
                reference=getattr(tx, "checknum", "") or None,
                booking_date=posted,
                attrs=attrs,
            )
        except ValidationError as exc:
            raise fu.fail(self.source, where, exc) from None
        except SourceError:
            raise
        except (ArithmeticError, ValueError, TypeError, AttributeError) as exc:
            raise self.error(where, f"cannot read this transaction ({_plain(exc)})") from None


def _declared(data: bytes) -> str | None:
    """The encoding the file names: an XML declaration, or the OFX 1 header's."""
    head = data[:1000].decode("ascii", errors="replace")
    m = re.search(r"<\?xml[^>]*encoding=[\"']([\w.-]+)[\"']", head)
    if m:
        return m.group(1)
    enc = re.search(r"^\s*ENCODING:\s*([\w-]+)", head, re.M)
    charset = re.search(r"^\s*CHARSET:\s*([\w-]+)", head, re.M)
    e = enc.group(1).upper() if enc else ""
    if e in ("UTF-8", "UNICODE"):
        return "utf-8"
    if charset and charset.group(1).upper() not in ("NONE", ""):
        cs = charset.group(1).upper()
        return {"8859-1": "latin-1", "ISO-8859-1": "latin-1"}.get(cs, f"cp{cs}"
                                                                  if cs.isdigit() else cs)
    return None


_EMPTY_OPTIONAL = re.compile(
    r"<(NAME|MEMO|CHECKNUM|PAYEEID|SIC|REFNUM|SRVRTID|CORRECTFITID)>\s*(</\1>)?(?=\s*<)", re.I
)
"""Empty fields reconciliation does without; ofxparse discards a transaction over them."""


def _as_utf8(text: str) -> bytes:
    """The decoded text with a header that tells ofxparse it is UTF-8 (no second decode),
    and without the empty optional fields it would otherwise refuse."""
    text = _EMPTY_OPTIONAL.sub("", text)
    # An empty FITID is a missing bank id, not a broken transaction: content id instead.
    text = re.sub(r"<FITID>\s*(</FITID>)?(?=\s*<)", "<FITID>NONREF</FITID>", text, flags=re.I)
    cut = text.find("<")
    head, body = (text[:cut], text[cut:]) if cut >= 0 else ("", text)
    head = re.sub(r"(?im)^\s*(ENCODING|CHARSET):.*$\n?", "", head)
    body = re.sub(r"(<\?xml[^>]*encoding=)[\"'][\w.-]+[\"']", r'\1"utf-8"', body, count=1)
    header_lines = [ln for ln in head.splitlines() if ln.strip() and ":" in ln]
    header = "\n".join([*header_lines, "ENCODING:UTF-8", "CHARSET:NONE"]) + "\n\n"
    return (header + body).encode("utf-8")


def _txn_blocks(text: str) -> list[tuple[int, str]]:
    """(line, raw text) of every transaction element, in document order."""
    out = []
    for m in _TXN_RE.finditer(text):
        tag = m.group(1)
        end = re.search(rf"</{tag}>", text[m.end():], re.I)
        stop = m.end() + end.start() if end else min(len(text), m.end() + 2000)
        # A nested <STMTTRN> inside INVBANKTRAN is found by itself; the outer elements
        # of investment transactions are the ones ofxparse reports.
        out.append((text.count("\n", 0, m.start()) + 1, text[m.start():stop]))
    return _drop_wrappers(out)


def _drop_wrappers(blocks: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Elements ofxparse does not report as transactions (TRANSFER, JRNL*, SPLIT...)."""
    keep = []
    for line, raw in blocks:
        tag = raw[1:raw.index(">")].upper()
        if tag in ("JRNLFUND", "JRNLSEC", "SPLIT", "CLOSUREOPT", "RETOFCAP",
                   "MARGININTEREST", "INVEXPENSE"):  # fmt: skip
            continue
        keep.append((line, raw))
    return keep


def _raw_date(raw: str) -> str | None:
    m = re.search(r"<(DTPOSTED|DTSETTLE|DTTRADE)>\s*(\d{8})", raw, re.I)
    return m.group(2) if m else None


def _element_hint(text: str, exc: BaseException) -> str:
    """Where a library failure probably is: the first empty required transaction field."""
    for line_no, line in enumerate(text.splitlines(), 1):
        if re.match(r"\s*<(TRNAMT|DTPOSTED|FITID)>\s*$", line, re.I):
            return f":line {line_no}, field '{line.strip()[1:-1].upper()}'"
    return ""


def _plain(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else ""
    text = " ".join(text.split())
    return text[:120]
