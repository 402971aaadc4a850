"""ISO 20022 cash management statements: camt.053 (statement), camt.052 (intraday report)
and camt.054 (debit/credit notification), any version (namespaces are ignored).

Parsed with ``defusedxml`` (no DTDs, no entity declarations: no billion laughs, no
external entities), from the bytes, so the XML declaration alone decides the encoding.
Errors name the element path (``Stmt[1]/Ntry[3]``), the line and the field.

One record per ``<Ntry>`` (the booked movement on the account); a batch-booked entry
with several ``<TxDtls>`` keeps their count in ``attrs`` and takes counterparty and
references only when there is exactly one. ``Sts`` BOOK -> booked, PDNG -> pending, INFO
entries are skipped (they are not movements).

Balances (``Bal``: OPBD/PRCD opening, CLBD closing, ITBD interim, CLAV/ITAV available,
FWAV forward) are stored per statement, and opening + booked entries must equal the
closing balance when the statement states both.

External ids, the most specific the format has that is unique in the file and not a
placeholder: ``AcctSvcrRef`` (``{account}:{ref}``, as earlier releases stored it); else
it with the single transaction's refs; else that with the ``NtryRef`` (ABN AMRO, ING and
PostFinance repeat ``AcctSvcrRef`` across entries); else ``NtryRef`` alone unless it is a
short number (a position in the statement, which the next statement gives to another
entry); else the transaction's ``AcctSvcrRef``; else the end-to-end id; else a content id
of the entry's own text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import defusedxml.ElementTree as DET
from defusedxml.common import DefusedXmlException

from adapters import file_util as fu
from adapters.base import (
    Adapter,
    Batch,
    BoolOption,
    Capabilities,
    ChoiceOption,
    PathOption,
    SourceError,
    StatementBalance,
)
from recon_tui.model import Record, ValidationError, make_record

_CONTAINERS = ("Stmt", "Rpt", "Ntfctn")
_BAL_KINDS = {"OPBD": "opening", "PRCD": "opening", "CLBD": "closing", "CLAV": "available",
              "ITAV": "available", "OPAV": "available",
              "FWAV": "forward_available"}  # fmt: skip
_NOT_IDENTITY = {"Sts", "BookgDt"}
"""Left out of content ids: a pending entry that books keeps its id (and updates)."""


class _LineBuilder(ET.TreeBuilder):
    """A tree builder that strips namespaces and remembers each element's line."""

    def __init__(self) -> None:
        super().__init__()
        self.parser: Any = None
        self.lines: dict[int, int] = {}

    def start(self, tag: Any, attrs: Any) -> ET.Element:
        el = super().start(str(tag).rsplit("}", 1)[-1], attrs)
        if self.parser is not None:
            self.lines[id(el)] = self.parser.parser.CurrentLineNumber
        return el

    def end(self, tag: Any) -> ET.Element:
        return super().end(str(tag).rsplit("}", 1)[-1])


def parse_xml(source: str, name: str, data: bytes) -> tuple[ET.Element, dict[int, int]]:
    """A namespace-stripped element tree and ``id(element) -> line``; DTDs refused."""
    builder = _LineBuilder()
    parser = DET.DefusedXMLParser(target=builder, forbid_dtd=True)
    builder.parser = parser
    try:
        parser.feed(data)
        root = parser.close()
    except DefusedXmlException:
        line = parser.parser.CurrentLineNumber
        raise SourceError(source, f"{name}:line {line}",
                          "DTDs and entity declarations are not allowed in statement "
                          "files") from None  # fmt: skip
    except ET.ParseError as exc:
        line, _ = exc.position
        msg = str(exc).rsplit(": line", 1)[0]
        hint = " (the file looks cut short)" if msg in ("no element found",
                                                        "unclosed token") else ""
        raise SourceError(source, f"{name}:line {line}", f"invalid XML: {msg}{hint}") from None
    except (LookupError, ValueError) as exc:  # an encoding the declaration names but Python lacks
        raise SourceError(source, f"{name}:line 1", f"cannot read the XML: {exc}") from None
    return root, builder.lines


def _text(el: ET.Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _statement_day(stmt: ET.Element) -> str | None:
    """The one day a statement covers, when it says so: its period end, its closing
    balance's date, or its creation date (daily statements only carry one)."""
    for path in ("FrToDt/ToDtTm", "FrToDt/ToDt"):
        if _text(stmt, path):
            return _text(stmt, path)
    for bal in stmt.findall("Bal"):
        if (_text(bal, "Tp/CdOrPrtry/Cd") or "").upper() == "CLBD":
            day = _text(bal, "Dt/Dt") or _text(bal, "Dt/DtTm")
            if day:
                return day
    return _text(stmt, "CreDtTm")


def _identity(el: ET.Element) -> str:
    """The entry's own text, in document order, without its status and booking date."""
    parts: list[str] = []

    def walk(e: ET.Element) -> None:
        if e.tag in _NOT_IDENTITY:
            return
        parts.append(f"<{e.tag}{''.join(f' {k}={v}' for k, v in sorted(e.attrib.items()))}>"
                     f"{(e.text or '').strip()}")  # fmt: skip
        for child in e:
            walk(child)

    walk(el)
    return "".join(parts)


class CamtAdapter(Adapter):
    """A camt.053/052/054 XML file from a bank."""

    kind = "camt"
    label = "Bank statement (camt.052/053/054 XML)"
    SETTINGS = (
        PathOption("path", "camt XML file", required=True),
        BoolOption("include_pending", "Import pending (PDNG) entries", default=True),
        ChoiceOption("balance_check", "Balance check", default="refuse",
                     choices=("refuse", "warn"),
                     help="refuse: a statement whose entries do not add up is not imported"),
    )  # fmt: skip
    capabilities = Capabilities(
        fields=frozenset({"booking_date", "value_date", "counterparty", "reference", "memo"}),
        paging="file",
        pending=True,
    )

    def batches(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        data, name = fu.read_bytes(self.source, self.settings.get("path"))
        if not data.strip():
            raise self.error(name, "file is empty")
        root, lines = parse_xml(self.source, name, data)
        if root.tag != "Document" or len(root) == 0:
            raise self.error(f"{name}:line 1", f"not a camt document (root <{root.tag}>)")
        msg = root[0]
        containers = [el for el in msg if el.tag in _CONTAINERS]
        if not containers:
            raise self.error(
                f"{name}:line {lines.get(id(msg), 1)}",
                f"<{msg.tag}> has no <Stmt>/<Rpt>/<Ntfctn>: not camt.052/053/054",
            )
        include_pending = bool(self.settings.get("include_pending"))
        warn = self.settings.get("balance_check") == "warn"
        # Pass 1: every entry with its candidate ids, so uniqueness is judged per file.
        entries: list[tuple[ET.Element, int, str, tuple[str | None, ...]]] = []
        for k, stmt in enumerate(containers, 1):
            acct = _text(stmt, "Acct/Id/IBAN") or _text(stmt, "Acct/Id/Othr/Id") or ""
            for j, ntry in enumerate(stmt.findall("Ntry"), 1):
                entries.append((ntry, k, f"{stmt.tag}[{k}]/Ntry[{j}]", self._candidates(acct,
                                                                                       ntry)))
        usable = [fu.usable_ids(c[i] for _, _, _, c in entries) for i in range(6)]
        content = fu.ContentIds()
        records: list[Record] = []
        balances: list[StatementBalance] = []
        warnings: list[str] = []
        by_stmt: dict[int, list[Record]] = {}
        for ntry, k, path, cands in entries:
            stmt = containers[k - 1]
            acct = _text(stmt, "Acct/Id/IBAN") or _text(stmt, "Acct/Id/Othr/Id") or ""
            where = f"{name}:line {lines.get(id(ntry), 1)} ({path})"
            try:
                rec = self._entry(ntry, acct, _text(stmt, "Acct/Ccy"), cands, usable, content,
                                  _statement_day(stmt))
            except ValidationError as exc:
                raise fu.fail(self.source, where, exc) from None
            if rec is None:
                continue
            by_stmt.setdefault(k, []).append(rec)
            if rec.status == "pending" and not include_pending:
                continue
            records.append(rec)
        for k, stmt in enumerate(containers, 1):
            note = self._balances(name, lines, k, stmt, by_stmt.get(k, []), balances, warn)
            if note:
                warnings.append(note)
        yield from fu.file_batches(name, fu.sha256(data), records, cursor,
                                   balances=balances, warnings=warnings)  # fmt: skip

    @staticmethod
    def _candidates(acct: str, ntry: ET.Element) -> tuple[str | None, ...]:
        """Bank ids from most to least specific; the first unique, real one is the id."""
        txs = ntry.findall("NtryDtls/TxDtls")
        tx = txs[0] if len(txs) == 1 else None
        ntry_ref = _text(ntry, "NtryRef")
        svcr = _text(ntry, "AcctSvcrRef")
        tx_refs = [r for r in (_text(tx, "Refs/AcctSvcrRef"), _text(tx, "Refs/TxId"),
                               _text(tx, "Refs/InstrId"), _text(tx, "Refs/EndToEndId"))
                   if r and not fu.is_placeholder(r)]  # fmt: skip
        e2e = _text(tx, "Refs/EndToEndId")
        prefix = f"{acct}:" if acct else ""

        def real(v: str | None) -> bool:
            return v is not None and not fu.is_placeholder(v)

        svcr_key = None
        if real(svcr) or tx_refs:
            parts = ([svcr] if svcr and real(svcr) else []) + tx_refs
            svcr_key = prefix + "svcr:" + "/".join(parts)
        # A short number is the entry's position in this statement, not an id: the same
        # entry has another in the next statement, and "1" is in every statement.
        ntry_id = ntry_ref if real(ntry_ref) and not re.fullmatch(r"[0-9]{1,6}", ntry_ref or "") \
            else None
        tx_svcr = _text(tx, "Refs/AcctSvcrRef")
        return (
            prefix + svcr if svcr and real(svcr) else None,  # the form earlier releases stored
            svcr_key,
            svcr_key + "#" + ntry_ref if svcr_key and ntry_ref and real(ntry_ref) else None,
            prefix + "ntry:" + ntry_id if ntry_id else None,
            prefix + "tx:" + tx_svcr if tx_svcr and real(tx_svcr) else None,
            prefix + "e2e:" + e2e if e2e and real(e2e) else None,
        )

    def _entry(
        self,
        ntry: ET.Element,
        acct: str,
        acct_ccy: str | None,
        cands: tuple[str | None, ...],
        usable: list[set[str]],
        content: fu.ContentIds,
        statement_day: str | None = None,
    ) -> Record | None:
        status = (_text(ntry, "Sts/Cd") or _text(ntry, "Sts") or "BOOK").upper()
        if status == "INFO":
            return None
        amt_el = ntry.find("Amt")
        if amt_el is None or not (amt_el.text or "").strip():
            raise ValidationError("Amt", "missing")
        amount = fu.parse_amount(amt_el.text or "", "Amt")
        if amount < 0:
            raise ValidationError("Amt", "negative; the direction belongs in CdtDbtInd")
        direction = _text(ntry, "CdtDbtInd")
        if direction not in ("CRDT", "DBIT"):
            raise ValidationError("CdtDbtInd", f"'{direction or ''}' is not CRDT or DBIT")
        if direction == "DBIT":
            amount = -amount
        currency = (amt_el.get("Ccy") or acct_ccy or "").upper()
        booking = _text(ntry, "BookgDt/Dt") or _text(ntry, "BookgDt/DtTm")
        value = _text(ntry, "ValDt/Dt") or _text(ntry, "ValDt/DtTm")
        dated_by_statement = False
        if not booking:
            booking = value
        if not booking and statement_day:
            # Some banks date only the statement (a daily statement of one day): its day
            # is the entry's; the statement's own balances then prove the entries.
            booking, dated_by_statement = statement_day, True
        if not booking:
            raise ValidationError("BookgDt", "missing (and no ValDt or statement date)")
        bdate = fu.parse_date(booking[:10], "BookgDt", ["%Y-%m-%d"])
        vdate = fu.parse_date(value[:10], "ValDt", ["%Y-%m-%d"]) if value else None
        txs = ntry.findall("NtryDtls/TxDtls")
        tx = txs[0] if len(txs) == 1 else None
        counterparty = None
        if tx is not None:
            party = "Dbtr" if direction == "CRDT" else "Cdtr"
            counterparty = (_text(tx, f"RltdPties/{party}/Nm")
                            or _text(tx, f"RltdPties/{party}/Pty/Nm"))
        memo_parts = [el.text.strip() for el in ntry.iter("Ustrd") if el.text and el.text.strip()]
        memo = " ".join(memo_parts) or _text(ntry, "AddtlNtryInf")
        reference = _text(tx, "RmtInf/Strd/CdtrRefInf/Ref") or _text(tx, "Refs/InstrId")
        e2e = _text(tx, "Refs/EndToEndId")
        svcr = _text(ntry, "AcctSvcrRef")
        ntry_ref = _text(ntry, "NtryRef")
        ext = next((c for c, ok in zip(cands, usable, strict=True) if c and c in ok), None)
        if ext is None:
            ext = content.next(acct, _identity(ntry))
        attrs: dict[str, Any] = {}
        if dated_by_statement:
            attrs["booking_date_from"] = "statement"
        if e2e and not fu.is_placeholder(e2e):
            attrs["end_to_end_id"] = e2e
        if len(txs) > 1:
            attrs["batch_count"] = len(txs)
        if (_text(ntry, "RvslInd") or "").lower() == "true":
            attrs["reversal"] = True
        code = _text(ntry, "BkTxCd/Domn/Cd")
        if code:
            attrs["bank_tx_code"] = "/".join(
                x for x in (code, _text(ntry, "BkTxCd/Domn/Fmly/Cd"),
                            _text(ntry, "BkTxCd/Domn/Fmly/SubFmlyCd")) if x
            )
        for key, val in (("acct_svcr_ref", svcr), ("ntry_ref", ntry_ref)):
            if val and not fu.is_placeholder(val):
                attrs[key] = val
        if reference is None and svcr and not fu.is_placeholder(svcr) and not ext.endswith(svcr):
            reference = svcr  # the bank's value, kept where it could not be the id
        return make_record(
            source=self.source,
            external_id=ext,
            kind=fu.bank_kind(amount),
            ts=fu.midnight_utc(bdate),
            status="pending" if status == "PDNG" else "booked",
            asset=currency,
            amount=amount,
            account=acct or None,
            counterparty=counterparty,
            reference=reference,
            memo=memo,
            booking_date=bdate,
            value_date=vdate,
            attrs=attrs,
        )

    def _balances(
        self, name: str, lines: dict[int, int], k: int, stmt: ET.Element, recs: list[Record],
        out: list[StatementBalance], warn: bool,
    ) -> str | None:  # fmt: skip
        acct = _text(stmt, "Acct/Id/IBAN") or _text(stmt, "Acct/Id/Othr/Id") or ""
        statement = _text(stmt, "Id") or f"{stmt.tag}[{k}]"
        where = f"{name}:line {lines.get(id(stmt), 1)} ({stmt.tag}[{k}])"
        found: dict[str, tuple[Decimal, str]] = {}
        interim: list[tuple[StatementBalance, int]] = []
        for j, bal in enumerate(stmt.findall("Bal"), 1):
            code = (_text(bal, "Tp/CdOrPrtry/Cd") or _text(bal, "Tp/CdOrPrtry/Prtry") or "")
            code = code.upper()
            amt_el = bal.find("Amt")
            bwhere = f"{where}/Bal[{j}]"
            if amt_el is None or not (amt_el.text or "").strip():
                raise self.error(bwhere + ", field 'Amt'", "missing")
            try:
                amount = fu.parse_amount(amt_el.text or "", "Amt")
                day = _text(bal, "Dt/Dt") or _text(bal, "Dt/DtTm") or ""
                as_of = fu.parse_date(day[:10], "Dt", ["%Y-%m-%d"]) if day else date.min
            except ValidationError as exc:
                raise fu.fail(self.source, bwhere, exc) from None
            sign = _text(bal, "CdtDbtInd")
            if sign is None:
                sign = "CRDT"  # omitted by some banks for a credit balance; the check proves it
            if sign not in ("CRDT", "DBIT"):
                raise self.error(bwhere + ", field 'CdtDbtInd'",
                                 f"'{sign}' is not CRDT or DBIT")
            if sign == "DBIT":
                amount = -amount
            ccy = (amt_el.get("Ccy") or _text(stmt, "Acct/Ccy") or "").upper()
            kind = _BAL_KINDS.get(code)
            if code == "ITBD":
                b = StatementBalance(acct, ccy, as_of, "interim", amount, statement, name)
                interim.append((b, j))
                continue
            if kind is None:
                continue
            out.append(StatementBalance(acct, ccy, as_of, kind, amount, statement, name))
            if kind in ("opening", "closing") and (kind not in found or code == "OPBD"):
                found[kind] = (amount, ccy)
        # ITBD is interim booked: the earlier one opens the report, a later one closes it.
        interim.sort(key=lambda t: (t[0].as_of, t[1]))
        for i, (b, _) in enumerate(interim):
            opens = (i == 0 and (len(interim) > 1 or "closing" in found)
                     and "opening" not in found)  # fmt: skip
            kind = "interim_opening" if opens else "interim_closing"
            out.append(StatementBalance(b.account, b.asset, b.as_of, kind, b.amount,
                                        b.statement, b.file))  # fmt: skip
            role = "opening" if opens else "closing"
            if role not in found:
                found[role] = (b.amount, b.asset)
        if "opening" not in found or "closing" not in found:
            return None  # a notification or a report without both ends: nothing to prove
        booked = sum((r.amount for r in recs if r.status == "booked"), Decimal(0))
        return fu.check_balance(self.source, where, opening=found["opening"][0],
                                movements=booked, closing=found["closing"][0],
                                currency=found["closing"][1], warn=warn)  # fmt: skip
