"""SWIFT MT940 statements and MT942 interim reports, parsed by the ``mt-940`` library.

A file may hold several statements (one per ``:20:`` block, possibly for different
accounts). Each block is handed to the library on its own, with its options switched on
so that reversals are signed right (``RC``, a reversal of a credit, takes money out;
``RD`` puts it back) and marks in lower case count; our own code only cuts the blocks,
keeps line numbers for errors and checks the result:

- MT940: every statement must carry an opening (``:60F:/:60M:``) and a closing
  (``:62F:/:62M:``) balance, and opening + the sum of its ``:61:`` lines must equal the
  closing balance (see :func:`adapters.file_util.check_balance`). A block without its
  closing balance is a cut file.
- MT942 (interim; no balances by design): the ``:90D:``/``:90C:`` counts and sums are
  checked instead when present. Lines with an entry date are booked, others pending.

External ids: ``{account}:{bank reference}`` (the part of ``:61:`` after ``//``) when
that reference is in the file once and is not a placeholder (``NONREF``, zeros);
otherwise a content id of the line's own text (:class:`adapters.file_util.ContentIds`),
with the bank's value kept in ``attrs``. Encoding: a byte-order mark or valid UTF-8
first, then the configured 8-bit code page; decoded once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import mt940

from adapters import file_util as fu
from adapters.base import (
    Adapter,
    Batch,
    Capabilities,
    ChoiceOption,
    PathOption,
    SourceError,
    StatementBalance,
    TextOption,
)
from recon_tui.model import Record, ValidationError, make_record

# The library logs a multi-line regex dump at ERROR level for every line it cannot
# match; our one-line SourceError says the same thing, so its logger stays quiet.
_log = logging.getLogger("mt940")
_log.addHandler(logging.NullHandler())
_log.propagate = False

OPTIONS = mt940.Options.all()
"""Every fix of the library on: reversal signs, lower-case marks, BOM, long details..."""

_LINE61_SANE = re.compile(
    r"^:61:[0-9]{6}([0-9]{4}|\s{4})?R?[CDcd][A-Z]?[\n ]?[0-9][0-9,]*(?= ?[A-Z][A-Z0-9 ]{3}|//|\s*$)"
)
"""Only what the library cannot see: after the amount comes a type code, ``//`` or the
end. Without it ``C15X00,00NTRF...`` parses as 15 with ``X00,00NTRF`` as a reference."""
_SUBFIELD = re.compile(r"/(EREF|KREF|MREF|CRED|DEBT|REMI|NAME|ORDP|BENM|IBAN|BIC|ADDR|TRTP)/")
_TAG = re.compile(r"^:(\d{2}[A-Z]?|NS):")
_ENVELOPE = re.compile(r"^(\{[0-9]:[^}]*\})*\{4:\s*$|^-?\}$|^-$|^-XXX$")
_ENDS_ENTRY = (":61:", ":62", ":64", ":65", ":90", ":20:", ":28")

_VARIANTS: tuple[dict[Any, Any], ...] = (
    {},
    {61: mt940.tags.StatementASNB()},
    {61: mt940.tags.StatementGLS()},
)

_NOT_NEEDED = {"28", "28C", "21", "13", "13D", "NS"}
"""Tags whose value reconciliation does without; an unreadable one is left out."""

_BAL = {
    "final_opening_balance": "opening", "opening_balance": "opening",
    "intermediate_opening_balance": "interim_opening",
    "final_closing_balance": "closing", "closing_balance": "closing",
    "intermediate_closing_balance": "interim_closing",
    "available_balance": "available",
}  # fmt: skip


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


@dataclass(slots=True)
class _Line:
    """A ``:61:`` entry: its line number and its raw text (``:61:`` plus ``:86:``)."""

    line: int
    raw: str
    data: dict[str, Any] = field(default_factory=dict)


class Mt940Adapter(Adapter):
    """An MT940 statement or MT942 interim report downloaded from a bank."""

    kind = "mt940"
    label = "Bank statement (MT940/MT942)"
    SETTINGS = (
        PathOption("path", "MT940 file", required=True),
        TextOption("encoding", "8-bit encoding", default="latin-1",
                   help="Used only when the file is not UTF-8 (cp1252, cp850, latin-1...)"),
        ChoiceOption("balance_check", "Balance check", default="refuse",
                     choices=("refuse", "warn"),
                     help="refuse: a statement whose lines do not add up is not imported"),
    )  # fmt: skip
    capabilities = Capabilities(
        fields=frozenset({"booking_date", "value_date", "counterparty", "reference", "memo"}),
        paging="file",
        pending=True,
    )

    def batches(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        data, name = fu.read_bytes(self.source, self.settings.get("path"))
        text, _ = fu.decode_auto(self.source, name, data, str(self.settings.get("encoding") or
                                                              "latin-1"))
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        starts = [i for i, ln in enumerate(lines) if ln.lstrip("\ufeff").startswith(":20:")]
        if not starts:
            raise self.error(name, "not an MT940/MT942 file (no ':20:' statement header)")
        blocks = []
        for k, start in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(lines)
            blocks.append(self._parse_block(name, start + 1, lines[start:end]))
        # Which bank references may serve as ids is a property of the whole file.
        refs = [(acct, str(e.data.get("bank_reference") or "").strip())
                for acct, _, entries, _ in blocks for e in entries]  # fmt: skip
        usable = fu.usable_ids(f"{a}\x1f{r}" if not fu.is_placeholder(r) else None
                               for a, r in refs)  # fmt: skip
        content = fu.ContentIds()
        warn = self.settings.get("balance_check") == "warn"
        records: list[Record] = []
        balances: list[StatementBalance] = []
        warnings: list[str] = []
        for account, stmt, entries, first in blocks:
            recs = [self._record(name, account, stmt, e, usable, content) for e in entries]
            note = self._check(name, first, account, stmt, recs, balances, warn)
            if note:
                warnings.append(note)
            records.extend(recs)
        yield from fu.file_batches(name, fu.sha256(data), records, cursor,
                                   balances=balances, warnings=warnings)  # fmt: skip

    # -- one statement block ----------------------------------------------------------------

    def _parse_block(
        self, name: str, first: int, block: list[str]
    ) -> tuple[str, mt940.models.Transactions, list[_Line], int]:
        keep = [(first + i, ln) for i, ln in enumerate(block)
                if not _ENVELOPE.match(ln.strip())]  # fmt: skip
        tags = {m.group(1) for _, ln in keep if (m := _TAG.match(ln))}
        if "25" not in tags:
            raise self.error(f"{name}:line {first}, field ':25:'",
                             "statement has no account identification")
        interim = not (tags & {"60F", "60M", "62F", "62M"}) and bool(
            tags & {"34F", "13D", "90D", "90C"})
        if not interim:
            if not tags & {"60F", "60M"}:
                raise self.error(f"{name}:line {first}, field ':60F:'",
                                 "statement has no opening balance (:60F:/:60M:)")
            if not tags & {"62F", "62M"}:
                last = next((n for n, ln in reversed(keep) if ln.strip()), first)
                raise self.error(
                    f"{name}:line {last}, field ':62F:'",
                    "truncated: statement has no closing balance (:62F:/:62M:)",
                )
        entries: list[_Line] = []
        for i, (n, ln) in enumerate(keep):
            if ln.startswith(":61:"):
                raw = [ln]
                for _, nxt in keep[i + 1:]:
                    if nxt.startswith(_ENDS_ENTRY):
                        break
                    raw.append(nxt)
                entries.append(_Line(n, "\n".join(raw)))
        for e in entries:
            if not _LINE61_SANE.match(e.raw.split("\n", 1)[0]):
                head = e.raw.split("\n", 1)[0][4:64]
                raise self.error(f"{name}:line {e.line}, field ':61:'",
                                 f'cannot read this statement line (date, D/C mark, amount '
                                 f'and type code): "{head}"')
        body = "\n".join(_for_library(ln) for _, ln in keep)
        failure: RuntimeError | None = None
        # The library's own bank variants of :61: (ASN puts an IBAN in the customer
        # reference, GLS/Atruvia a long reference); each only widens what parses.
        dropped: set[str] = set()
        variants = list(_VARIANTS)
        while variants:
            tags_ = variants[0]
            stmt = mt940.models.Transactions(tags=dict(tags_), options=OPTIONS)
            try:
                stmt.parse(body)
            except RuntimeError as exc:
                failure = failure or exc
                tag_id = str(getattr(exc.args[1] if len(exc.args) > 1 else None, "id", ""))
                if tag_id in _NOT_NEEDED and tag_id not in dropped:
                    # A statement number or report time the bank wrote oddly (":28C: /1"):
                    # reconciliation does not need it, so the library goes without.
                    dropped.add(tag_id)
                    drop = re.compile(rf"^:{re.escape(tag_id)}[A-Z]?:")
                    body = "\n".join(ln for ln in body.split("\n") if not drop.match(ln))
                    failure = None
                    continue
                if tag_id != "61":
                    break
                variants.pop(0)
                continue
            except (ValueError, ArithmeticError, KeyError, IndexError, TypeError) as exc:
                raise self.error(f"{name}:line {first}",
                                 f"cannot read this statement ({_plain(exc)})") from None
            failure = None
            break
        if failure is not None:
            raise self._tag_error(name, keep, failure) from None
        txs = list(stmt)
        if len(txs) != len(entries):
            bad = entries[len(txs)].line if len(txs) < len(entries) else first
            raise self.error(f"{name}:line {bad}, field ':61:'",
                             "cannot read this statement line")
        for e, tx in zip(entries, txs, strict=True):
            e.data = dict(tx.data)
        stmt.data["_interim"] = interim
        account = str(stmt.data.get("account_identification") or "").strip()
        return account, stmt, entries, first

    def _tag_error(self, name: str, keep: list[tuple[int, str]], exc: RuntimeError) -> SourceError:
        tag = exc.args[1] if len(exc.args) > 1 else None
        value = str(exc.args[2]) if len(exc.args) > 2 else ""
        tag_id = getattr(tag, "id", "?")
        head = value.split("\n", 1)[0].strip()
        line = next((n for n, ln in keep if ln.startswith(f":{tag_id}") and head in ln),
                    keep[0][0])  # fmt: skip
        what = {61: "statement line", "60F": "opening balance", "62F": "closing balance",
                "60M": "opening balance", "62M": "closing balance", 25: "account",
                86: "details"}.get(tag_id, "field")  # fmt: skip
        return self.error(f"{name}:line {line}, field ':{tag_id}:'",
                          f'cannot read this {what}: "{head[:60]}"')

    def _record(
        self, name: str, account: str, stmt: mt940.models.Transactions, e: _Line,
        usable: set[str], content: fu.ContentIds,
    ) -> Record:  # fmt: skip
        where = f"{name}:line {e.line}"
        d = e.data
        try:
            amt = d.get("amount")
            if amt is None:
                raise ValidationError("amount", "missing")
            amount = amt.amount
            currency = str(getattr(amt, "currency", None) or d.get("currency") or
                           stmt.currency or "").upper()  # fmt: skip
            if not currency:
                raise ValidationError("currency", "no currency in the statement's balances")
            value_date = _date(d.get("date"))
            booking = _date(d.get("entry_date")) or value_date
            if booking is None:
                raise ValidationError("booking_date", "missing")
            details_text = str(d.get("transaction_details") or "").strip()
            sub = _details(details_text)
            customer_ref = str(d.get("customer_reference") or "").strip()
            bank_ref = str(d.get("bank_reference") or "").strip()
            if f"{account}\x1f{bank_ref}" in usable:
                ext = f"{account}:{bank_ref}" if account else bank_ref
            else:
                ext = content.next(account, e.raw)
            code = str(d.get("id") or "").strip()
            attrs: dict[str, Any] = {"swift_code": None if code == NO_TYPE_CODE else code}
            if bank_ref and not fu.is_placeholder(bank_ref):
                attrs["bank_reference"] = bank_ref
            e2e = sub.get("EREF") or d.get("end_to_end_reference")
            if e2e and not fu.is_placeholder(e2e):
                attrs["end_to_end_id"] = e2e
            status_mark = str(d.get("status") or "").upper()
            if status_mark.startswith("R"):
                attrs["reversal"] = True
            if d.get("extra_details"):
                attrs["extra_details"] = str(d["extra_details"])
            interim = bool(stmt.data.get("_interim"))
            if interim:
                attrs["interim"] = True
            reference = None if fu.is_placeholder(customer_ref) else customer_ref
            counterparty = sub.get("NAME") or d.get("applicant_name") or None
            return make_record(
                source=self.source,
                external_id=ext,
                kind=fu.bank_kind(amount),
                ts=fu.midnight_utc(booking),
                status="pending" if interim and not d.get("entry_date") else "booked",
                asset=currency,
                amount=amount,
                account=account or None,
                counterparty=str(counterparty).strip() or None if counterparty else None,
                reference=reference or sub.get("REMI") or None,
                memo=details_text or None,
                booking_date=booking,
                value_date=value_date,
                attrs={k: v for k, v in attrs.items() if v},
            )
        except ValidationError as exc:
            raise fu.fail(self.source, where, exc) from None

    def _check(
        self, name: str, first: int, account: str, stmt: mt940.models.Transactions,
        recs: list[Record], balances: list[StatementBalance], warn: bool,
    ) -> str | None:  # fmt: skip
        data = stmt.data
        ref = str(data.get("transaction_reference") or "").strip()
        number = str(data.get("statement_number") or "").strip()
        seq = str(data.get("sequence_number") or "").strip()
        statement = "/".join(x for x in (ref, number, seq) if x) or f"line {first}"
        where = f"{name}:line {first}"
        opening = closing = None
        currency = stmt.currency or (recs[0].asset if recs else "")
        for key, kind in _BAL.items():
            bal = data.get(key)
            if bal is None:
                continue
            signed = bal.amount.amount
            balances.append(StatementBalance(account, str(bal.amount.currency or currency),
                                             _date(bal.date) or date.min, kind, signed,
                                             statement, name))  # fmt: skip
            if kind in ("opening", "interim_opening"):
                opening = signed
            elif kind in ("closing", "interim_closing"):
                closing = signed
        fwd = data.get("forward_available_balance")
        if fwd is not None:
            balances.append(StatementBalance(account, str(fwd.amount.currency or currency),
                                             _date(fwd.date) or date.min, "forward_available",
                                             fwd.amount.amount, statement, name))  # fmt: skip
        total = sum((r.amount for r in recs), Decimal(0))
        if data.get("_interim"):
            return self._check_sums(where, data, recs, currency, warn)
        if opening is None or closing is None:  # pragma: no cover - checked when parsing
            raise self.error(where, "statement lacks an opening or closing balance")
        return fu.check_balance(self.source, where, opening=opening, movements=total,
                                closing=closing, currency=currency, warn=warn)  # fmt: skip

    def _check_sums(
        self, where: str, data: dict[str, Any], recs: list[Record], currency: str, warn: bool
    ) -> str | None:
        """MT942: the ``:90D:``/``:90C:`` number and sum of entries must match the lines."""
        for key, sign in (("sum_debit_entries", -1), ("sum_credit_entries", 1)):
            stated = data.get(key)
            if stated is None:
                continue
            mine = [r.amount for r in recs if (r.amount < 0) == (sign < 0) and r.amount != 0]
            want_n = int(str(getattr(stated, "number", "") or "0") or 0)
            want_sum = abs(stated.amount)
            got_sum = abs(sum(mine, Decimal(0)))
            if want_sum != got_sum or (want_n and want_n != len(mine)):
                tag = ":90D:" if sign < 0 else ":90C:"
                msg = (f"interim report does not add up: {tag} states {want_n} entries for "
                       f"{want_sum:f} {currency}, the lines give {len(mine)} for {got_sum:f}")
                if warn:
                    return f"source '{self.source}' at {where}: {msg}"
                raise self.error(where, msg + "; set balance_check=warn to import anyway")
        return None


_HEAD61 = re.compile(r"^(:61:[0-9]{6}(?:[0-9]{4}|\s{4})?R?[CDcd][A-Z]?[ ]?[0-9][0-9,]*)(.*)$")
NO_TYPE_CODE = "ZZZZ"
"""Put where a line has no type code: the library needs one to start a new transaction."""


def _for_library(line: str) -> str:
    """A ``:61:`` line the library keeps as its own transaction.

    The library strips line ends, so a type code with trailing spaces at the end of the
    line (``NOV ``, ``S   ``) loses them, and a line without a type code has no ``id``;
    either way it then merges that line into the next one (a lost movement). The code is
    kept whole by a placeholder reference, and a missing one gets :data:`NO_TYPE_CODE`.
    Only the library's input changes: ids and memos come from the line as written.
    """
    m = _HEAD61.match(line)
    if not m:
        return line
    head, rest = m.groups()
    if not rest.strip() or rest.startswith("//"):
        return head + NO_TYPE_CODE + rest
    code = re.match(r"^( ?)([A-Z][A-Z0-9 ]{0,3})", rest)
    if code and len(rest.rstrip()) - len(code.group(1)) < 4:
        return head + code.group(1) + code.group(2).ljust(4) + "NONREF"
    return line


def _plain(exc: BaseException) -> str:
    """An exception's message without the library's reprs (first line, no quotes of code)."""
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.split("\n", 1)[0][:120]
