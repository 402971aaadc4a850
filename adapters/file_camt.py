"""ISO 20022 cash management statements: camt.053 (statement), camt.052 (intraday report)
and camt.054 (debit/credit notification), any version (namespaces are ignored).

Parsed with the standard library's expat, with DTDs and entity declarations refused
outright (the ``defusedxml`` policy: no billion-laughs, no external entities) and line
numbers kept so errors point into the file.

One record per ``<Ntry>`` (the booked movement on the account); a batch-booked entry
with several ``<TxDtls>`` keeps their count in ``attrs`` and takes counterparty and
references only when there is exactly one. ``Sts`` BOOK → booked, PDNG → pending, INFO
entries are skipped (they are not movements).

External ids: ``{account}:{AcctSvcrRef}`` of the entry, else ``{account}:ntry:{NtryRef}``,
else the single transaction's AcctSvcrRef, else a content id
(:class:`adapters.file_util.ContentIds`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from xml.parsers import expat

from adapters import file_util as fu
from adapters.base import Adapter, Batch, Capabilities, Setting, SourceError
from recon_tui.model import Record, ValidationError, make_record

_CONTAINERS = ("Stmt", "Rpt", "Ntfctn")


class _Forbidden(Exception):
    pass


def parse_xml(source: str, name: str, data: bytes) -> tuple[ET.Element, dict[int, int]]:
    """A namespace-stripped element tree and ``id(element) -> line``; DTDs refused."""
    builder = ET.TreeBuilder()
    lines: dict[int, int] = {}
    parser = expat.ParserCreate(namespace_separator="}")

    def start(tag: str, attrs: dict[str, str]) -> None:
        el = builder.start(tag.rsplit("}", 1)[-1], attrs)
        lines[id(el)] = parser.CurrentLineNumber

    def forbid(*_: Any) -> None:
        raise _Forbidden

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: builder.end(tag.rsplit("}", 1)[-1])
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = forbid
    parser.EntityDeclHandler = forbid
    parser.ExternalEntityRefHandler = forbid
    try:
        parser.Parse(data, True)
    except _Forbidden:
        raise SourceError(
            source, f"{name}:line {parser.CurrentLineNumber}",
            "DTDs and entity declarations are not allowed in statement files",
        ) from None
    except expat.ExpatError as exc:
        msg = expat.errors.messages.get(exc.code, str(exc))
        hint = " (truncated file?)" if exc.code in (
            expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS],
            expat.errors.codes[expat.errors.XML_ERROR_UNCLOSED_TOKEN],
        ) or "no element found" in msg else ""
        raise SourceError(
            source, f"{name}:line {exc.lineno}", f"invalid XML: {msg}{hint}"
        ) from None
    # Element ids stay valid: the tree keeps every element alive.
    return builder.close(), lines


def _text(el: ET.Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


class CamtAdapter(Adapter):
    """A camt.053/052/054 XML file from a bank."""

    kind = "camt"
    label = "Bank statement (camt.053 XML)"
    SETTINGS = (
        Setting("path", "camt XML file", required=True),
        Setting("include_pending", "Import pending (PDNG) entries", default=True),
    )
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
        containers = [el for el in root[0] if el.tag in _CONTAINERS]
        if not containers:
            raise self.error(
                f"{name}:line {lines.get(id(root[0]), 1)}",
                f"<{root[0].tag}> has no <Stmt>/<Rpt>/<Ntfctn>: not camt.052/053/054",
            )
        include_pending = fu.as_bool(self.settings.get("include_pending"), True)
        ids = fu.UniqueIds(self.source)
        content = fu.ContentIds()
        records: list[Record] = []
        for stmt in containers:
            acct = _text(stmt, "Acct/Id/IBAN") or _text(stmt, "Acct/Id/Othr/Id")
            acct_ccy = _text(stmt, "Acct/Ccy")
            for ntry in stmt.iter("Ntry"):
                where = f"{name}:line {lines.get(id(ntry), '?')}"
                try:
                    rec = self._entry(ntry, acct, acct_ccy, ids, content, where)
                except ValidationError as exc:
                    raise fu.fail(self.source, where, exc) from None
                if rec is None or (rec.status == "pending" and not include_pending):
                    continue
                records.append(rec)
        yield from fu.file_batches(name, fu.sha256(data), records, cursor)

    def _entry(
        self,
        ntry: ET.Element,
        acct: str | None,
        acct_ccy: str | None,
        ids: fu.UniqueIds,
        content: fu.ContentIds,
        where: str,
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
            raise ValidationError("CdtDbtInd", f"{direction!r} is not CRDT or DBIT")
        if direction == "DBIT":
            amount = -amount
        currency = (amt_el.get("Ccy") or acct_ccy or "").upper()
        booking = _text(ntry, "BookgDt/Dt") or _text(ntry, "BookgDt/DtTm")
        value = _text(ntry, "ValDt/Dt") or _text(ntry, "ValDt/DtTm")
        if not booking:
            if status == "BOOK":
                raise ValidationError("BookgDt", "missing on a booked entry")
            booking = value
        if not booking:
            raise ValidationError("BookgDt", "missing (and no ValDt)")
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
        tx_svcr = _text(tx, "Refs/AcctSvcrRef")
        prefix = f"{acct}:" if acct else ""
        if svcr:
            ext = f"{prefix}{svcr}"
        elif ntry_ref:
            ext = f"{prefix}ntry:{ntry_ref}"
        elif tx_svcr:
            ext = f"{prefix}tx:{tx_svcr}"
        else:
            ext = content.next(acct, bdate.isoformat(), amount.normalize(), currency, memo,
                               counterparty, e2e)
        if not ext.startswith("h:"):
            ids.check(ext, where)
        attrs: dict[str, Any] = {}
        if e2e and e2e.upper() != "NOTPROVIDED":
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
            if val:
                attrs[key] = val
        return make_record(
            source=self.source,
            external_id=ext,
            kind=fu.bank_kind(amount),
            ts=fu.midnight_utc(bdate),
            status="pending" if status == "PDNG" else "booked",
            asset=currency,
            amount=amount,
            account=acct,
            counterparty=counterparty,
            reference=reference,
            memo=memo,
            booking_date=bdate,
            value_date=vdate,
            attrs=attrs,
        )
