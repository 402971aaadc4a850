"""SWIFT MT940 end-of-day statements (``.sta``/``.940``/``.txt``), via the ``mt-940`` library.

A file may hold several statements (one per ``:20:`` block, possibly for different
accounts); each block is parsed on its own so every line knows its account (``:25:``)
and errors can name the line of the ``:61:`` entry.

External ids: ``{account}:{bank reference}`` (the part of ``:61:`` after ``//``), which
banks keep stable across statements; lines without one get a content id
(:class:`adapters.file_util.ContentIds`). Value date is ``:61:``'s first date, booking
date its entry date (MMDD, year guessed by the library across year ends).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import mt940

from adapters import file_util as fu
from adapters.base import Adapter, Batch, Capabilities, Setting
from recon_tui.model import Record, ValidationError, make_record

# :61: value date, entry date, [R]C/D, funds code, amount, type code (SWIFT layout).
_LINE61 = re.compile(r"^:61:\d{6}(\d{4})?R?[CD][A-Z]?\d{1,12},\d{0,2}[A-Z][A-Z0-9]{3}")
_SUBFIELD = re.compile(r"/(EREF|KREF|MREF|CRED|DEBT|REMI|NAME|ORDP|BENM|IBAN|BIC|ADDR|TRTP)/")


def _details(text: str) -> dict[str, str]:
    """``/EREF/x/NAME/y`` style :86: subfields (Dutch/SEPA layout); others stay plain."""
    out: dict[str, str] = {}
    parts = _SUBFIELD.split(text.replace("\n", ""))
    for key, value in zip(parts[1::2], parts[2::2], strict=False):
        out.setdefault(key, value.strip("/ ").strip())
    return out


def _date(value: Any) -> date | None:
    if value is None:
        return None
    return date(value.year, value.month, value.day)


class Mt940Adapter(Adapter):
    """An MT940 statement file downloaded from a bank."""

    kind = "mt940"
    label = "Bank statement (MT940)"
    SETTINGS = (
        Setting("path", "MT940 file", required=True),
        Setting("encoding", "Encoding", default="latin-1", help="SWIFT sets are ASCII-safe"),
    )
    capabilities = Capabilities(
        fields=frozenset({"booking_date", "value_date", "counterparty", "reference", "memo"}),
        paging="file",
    )

    def batches(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        data, name = fu.read_bytes(self.source, self.settings.get("path"))
        text = fu.decode(self.source, name, data, str(self.settings.get("encoding") or "latin-1"))
        lines = text.splitlines()
        starts = [i for i, ln in enumerate(lines) if ln.startswith(":20:")]
        if not starts:
            raise self.error(name, "not an MT940 file (no ':20:' statement header)")
        records: list[Record] = []
        ids = fu.UniqueIds(self.source)
        content = fu.ContentIds()
        for k, start in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(lines)
            block = lines[start:end]
            records.extend(self._statement(name, start, block, ids, content))
        yield from fu.file_batches(name, fu.sha256(data), records, cursor)

    def _statement(
        self,
        name: str,
        start: int,
        block: list[str],
        ids: fu.UniqueIds,
        content: fu.ContentIds,
    ) -> list[Record]:
        first = start + 1
        tags = [ln[:5] for ln in block]
        if not any(t.startswith(":25:") for t in tags):
            raise self.error(f"{name}:line {first}", "statement has no account (:25:)")
        if not any(t in (":62F:", ":62M:") for t in tags):
            raise self.error(
                f"{name}:line {first}",
                "truncated: statement has no closing balance (:62F:/:62M:)",
            )
        entry_lines = [first + i for i, ln in enumerate(block) if ln.startswith(":61:")]
        for n in entry_lines:
            if not _LINE61.match(block[n - first]):
                raise self.error(
                    f"{name}:line {n}, field ':61:'",
                    "malformed statement line (date, C/D mark, amount 'nnn,nn' or type code)",
                )
        body = "\n".join(ln for ln in block if ln.strip() not in ("-", "-}", "}"))
        try:
            stmt = mt940.models.Transactions()
            stmt.parse(body)
        except Exception as exc:  # the library raises assorted exceptions on bad input
            raise self.error(
                f"{name}:line {first}", f"cannot parse statement: {type(exc).__name__}: {exc}"
            ) from None
        txs = list(stmt)
        if len(txs) != len(entry_lines):
            bad = entry_lines[len(txs)] if len(txs) < len(entry_lines) else first
            raise self.error(f"{name}:line {bad}", "cannot parse this :61: statement line")
        account = str(stmt.data.get("account_identification") or "").strip() or None
        out = []
        for tx, line in zip(txs, entry_lines, strict=True):
            where = f"{name}:line {line}"
            try:
                out.append(self._record(where, account, tx.data, ids, content))
            except ValidationError as exc:
                raise fu.fail(self.source, where, exc) from None
        return out

    def _record(
        self,
        where: str,
        account: str | None,
        d: dict[str, Any],
        ids: fu.UniqueIds,
        content: fu.ContentIds,
    ) -> Record:
        amt = d.get("amount")
        if amt is None:
            raise ValidationError("amount", "missing")
        amount = amt.amount
        currency = str(getattr(amt, "currency", None) or d.get("currency") or "").upper()
        value_date = _date(d.get("date"))
        booking = _date(d.get("entry_date") or d.get("guessed_entry_date")) or value_date
        if booking is None:
            raise ValidationError("booking_date", "missing")
        details_text = str(d.get("transaction_details") or "").strip()
        sub = _details(details_text)
        customer_ref = str(d.get("customer_reference") or "").strip()
        reference = None if customer_ref.upper() in ("", "NONREF") else customer_ref
        bank_ref = str(d.get("bank_reference") or "").strip()
        if bank_ref:
            ext = f"{account}:{bank_ref}" if account else bank_ref
            ids.check(ext, where)
        else:
            ext = content.next(account, booking.isoformat(), amount.normalize(), currency,
                               details_text, customer_ref)
        attrs: dict[str, Any] = {"swift_code": d.get("id")}
        if bank_ref:
            attrs["bank_reference"] = bank_ref
        if sub.get("EREF") and sub["EREF"].upper() != "NOTPROVIDED":
            attrs["end_to_end_id"] = sub["EREF"]
        if str(d.get("status") or "").startswith("R"):
            attrs["reversal"] = True
        if d.get("extra_details"):
            attrs["extra_details"] = str(d["extra_details"])
        return make_record(
            source=self.source,
            external_id=ext,
            kind=fu.bank_kind(amount),
            ts=fu.midnight_utc(booking),
            asset=currency,
            amount=amount,
            account=account,
            counterparty=sub.get("NAME") or None,
            reference=reference or sub.get("REMI") or None,
            memo=details_text or None,
            booking_date=booking,
            value_date=value_date,
            attrs={k: v for k, v in attrs.items() if v},
        )
