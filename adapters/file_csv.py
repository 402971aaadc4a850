"""Bank and exchange statement CSV files, read through a saved column mapping.

Every bank exports CSV differently, so the mapping is data (the source's settings, or a
named preset from :mod:`adapters.csv_presets` they start from): delimiter (or sniffed),
quote and escape characters, decimal mark and thousands separator, date formats, one
signed amount column or separate debit/credit columns or an amount with a direction
column (``Af``/``Bij``, ``DR``/``CR``, ``Debit``/``Credit``: configurable markers), the
sign convention, a fee column, a running-balance column, rows to skip by pattern
(opening/closing balance rows, totals), preamble lines and header detection, and which
columns hold the id, reference, counterparty, memo, kind, dates and currency. Amounts
may carry a currency symbol or code (``£500.00``, ``-$76.00``, ``EUR 1.234,56``): it is
stripped and, without a currency column, used as the currency.

With a running-balance column, each row's balance must equal the previous balance plus
its movement (amount less a separate fee), in file order or in reverse (newest first);
the first and last balances per currency are stored as the statement's opening and
closing balances. A file that does not add up is refused unless ``balance_check=warn``.

External ids: the bank's id column when mapped and the id is unique in the file and not a
placeholder (``{account}:{id}``); otherwise a content id of the whole row (see
:class:`adapters.file_util.ContentIds`), so neither a change of encoding nor of the
column mapping turns already imported rows into new ones.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Any

from adapters import file_util as fu
from adapters.base import (
    Adapter,
    Batch,
    BoolOption,
    Capabilities,
    ChoiceOption,
    IntOption,
    ListOption,
    Option,
    PathOption,
    PreviewRow,
    SourceError,
    StatementBalance,
    TextOption,
)
from adapters.csv_presets import PRESETS
from recon_tui.model import (
    KNOWN_KINDS,
    Record,
    ValidationError,
    check_asset,
    validate,
)

COLUMN_SETTINGS = (
    "date_column",
    "value_date_column",
    "amount_column",
    "debit_column",
    "credit_column",
    "direction_column",
    "currency_column",
    "fee_column",
    "balance_column",
    "id_column",
    "reference_column",
    "counterparty_column",
    "memo_column",
    "kind_column",
)

_REQUIRED = ("date_column", "amount_column", "debit_column", "credit_column")

SETTINGS: tuple[Option, ...] = (
    PathOption("path", "Statement file", required=True),
    ChoiceOption("preset", "Preset", default="", choices=("", *sorted(PRESETS)),
                 help="A known export layout; settings given here override it"),
    TextOption("account", "Account (IBAN or name)", help="Stored on every record"),
    TextOption("currency", "Currency", default="EUR",
               help="Used when no currency column and no symbol in the amount"),
    TextOption("encoding", "8-bit encoding", default="cp1252",
               help="Used only when the file is not UTF-8 (cp1252, latin-1, cp850...)"),
    TextOption("delimiter", "Delimiter", default="", help="Empty: detect , ; tab |"),
    TextOption("quotechar", "Quote character", default='"'),
    TextOption("escapechar", "Escape character", default="",
               help="e.g. \\ for exports that write \\\" inside quoted fields"),
    IntOption("skip_lines", "Lines to skip", default=0, minimum=0, help="Before the header row"),
    ChoiceOption("header", "Header row", default="auto", choices=("auto", "yes", "no")),
    ChoiceOption("decimal", "Decimal mark", default=".", choices=(".", ",")),
    ChoiceOption("thousands", "Thousands separator", default="",
                 choices=("", ",", ".", " ", "'")),
    ListOption("date_formats", "Date formats", default="%Y-%m-%d",
               help="strptime, comma-separated; a time part after the date is ignored"),
    TextOption("date_column", "Booking date column",
               help="Name or 1-based index; required unless a preset gives it"),
    TextOption("value_date_column", "Value date column"),
    TextOption("amount_column", "Signed amount column", help="Or debit and credit columns"),
    TextOption("debit_column", "Debit column"),
    TextOption("credit_column", "Credit column"),
    BoolOption("debit_positive", "Amounts are positive for money out", default=False),
    TextOption("direction_column", "Direction column",
               help="A column saying debit or credit; the amount is then a magnitude"),
    ListOption("debit_markers", "Debit markers",
               default="D,DR,DBIT,Debit,Debet,Af,S,Soll,Out,-"),
    ListOption("credit_markers", "Credit markers",
               default="C,CR,CRDT,Credit,Bij,H,Haben,In,+"),
    TextOption("currency_column", "Currency column"),
    TextOption("fee_column", "Fee column", help="A fee charged on top of the amount"),
    BoolOption("fee_included", "The amount already includes the fee", default=False),
    TextOption("balance_column", "Running balance column",
               help="Checked row by row; first and last stored as statement balances"),
    TextOption("id_column", "Bank transaction id column"),
    TextOption("reference_column", "Reference column"),
    TextOption("counterparty_column", "Counterparty column"),
    TextOption("memo_column", "Description column"),
    TextOption("kind_column", "Kind column", help="With kind_map, e.g. Send=withdrawal"),
    ListOption("kind_map", "Kind renames", help="file_value=canonical_kind, ..."),
    ListOption("skip_rows", "Rows to skip (patterns)", separator="\n",
               help="Regular expressions, one a line: a row with a matching cell is skipped"),
    ListOption("skip_if_empty", "Skip rows with these columns empty",
               help="e.g. Kraken's txid: its rows without one repeat a later row"),
    ChoiceOption("balance_check", "Balance check", default="refuse",
                 choices=("refuse", "warn")),
    BoolOption("allow_unterminated", "Accept a last line without a line end", default=False),
)  # fmt: skip

_BY_NAME = {s.name: s for s in SETTINGS}


def with_preset(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` over its preset's values (parsed), over the defaults."""
    name = settings.get("preset") or ""
    base = {s.name: s.parse(s.default) if s.default is not None else None for s in SETTINGS}
    if name:
        preset = PRESETS.get(str(name))
        if preset is None:
            raise SourceError("preset", "preset", f"unknown preset '{name}'")
        base.update({k: _BY_NAME[k].parse(v) for k, v in preset.settings.items()})
    given = {k: v for k, v in settings.items() if v is not None and k in _BY_NAME}
    explicit = settings.get("_explicit")
    if isinstance(explicit, list | tuple | set):
        given = {k: v for k, v in given.items() if k in explicit}
    base.update(given)
    base["path"] = settings.get("path")
    return base


@dataclass(slots=True)
class _Mapping:
    account: str | None
    currency: str
    encoding: str
    delimiter: str
    quotechar: str
    escapechar: str | None
    skip_lines: int
    header: str
    decimal: str
    thousands: str
    date_formats: list[str]
    columns: dict[str, str | None]
    debit_positive: bool
    debit_markers: set[str]
    credit_markers: set[str]
    fee_included: bool
    kind_map: dict[str, str]
    skip_rows: list[re.Pattern[str]]
    skip_if_empty: list[str]
    warn: bool
    allow_unterminated: bool

    @classmethod
    def from_settings(cls, source: str, s: dict[str, Any]) -> _Mapping:
        columns = {k: (str(s[k]).strip() or None) if s.get(k) not in (None, "") else None
                   for k in COLUMN_SETTINGS}  # fmt: skip
        if not columns["date_column"]:
            raise SourceError(source, "date_column", "setting 'date_column' is required")
        if not columns["amount_column"] and not (columns["debit_column"]
                                                 and columns["credit_column"]):
            raise SourceError(
                source, "amount_column",
                "map either 'amount_column' or both 'debit_column' and 'credit_column'",
            )
        if columns["direction_column"] and not columns["amount_column"]:
            raise SourceError(source, "direction_column",
                              "a direction column needs 'amount_column' (the magnitude)")
        decimal = str(s.get("decimal") or ".")
        thousands = str(s.get("thousands") or "")
        if decimal == thousands:
            raise SourceError(source, "thousands", "thousands separator equals the decimal mark")
        kind_map: dict[str, str] = {}
        for pair in s.get("kind_map") or []:
            left, sep, right = pair.partition("=")
            if not sep or not left.strip() or right.strip().lower() not in KNOWN_KINDS:
                raise SourceError(source, "kind_map",
                                  f"'{pair}' is not file_value=kind (a known kind)")
            kind_map[left.strip().lower()] = right.strip().lower()
        patterns = []
        for p in s.get("skip_rows") or []:
            try:
                patterns.append(re.compile(p, re.I))
            except re.error as exc:
                raise SourceError(source, "skip_rows", f"'{p}' is not a valid pattern: {exc.msg}"
                                  ) from None  # fmt: skip
        quote = str(s.get("quotechar") or '"')
        escape = str(s.get("escapechar") or "") or None
        if len(quote) != 1 or (escape is not None and len(escape) != 1):
            raise SourceError(source, "quotechar", "quote and escape characters are one character")
        delim = str(s.get("delimiter") or "")
        return cls(
            account=(str(s["account"]).strip() or None) if s.get("account") else None,
            currency=str(s.get("currency") or "EUR").strip().upper(),
            encoding=str(s.get("encoding") or "cp1252"),
            delimiter="\t" if delim in ("\\t", "tab") else delim,
            quotechar=quote,
            escapechar=escape,
            skip_lines=int(s.get("skip_lines") or 0),
            header=str(s.get("header") or "auto"),
            decimal=decimal,
            thousands=thousands,
            date_formats=list(s.get("date_formats") or ["%Y-%m-%d"]),
            columns=columns,
            debit_positive=bool(s.get("debit_positive")),
            debit_markers={m.strip().lower() for m in s.get("debit_markers") or []},
            credit_markers={m.strip().lower() for m in s.get("credit_markers") or []},
            fee_included=bool(s.get("fee_included")),
            kind_map=kind_map,
            skip_rows=patterns,
            skip_if_empty=list(s.get("skip_if_empty") or []),
            warn=s.get("balance_check") == "warn",
            allow_unterminated=bool(s.get("allow_unterminated")),
        )


_TIME_TAIL = re.compile(r"^(\S+)[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(\s*(Z|UTC|[+-]\d{2}:?\d{2}))?$")


class _Parser:
    """Turns the rows of one file into records under one mapping."""

    def __init__(self, source: str, m: _Mapping, table: fu.CsvTable) -> None:
        self.source = source
        self.m = m
        self.table = table
        cols = fu.Columns(source, table)
        self.cols = cols
        self.pos = {k: cols.position(v) for k, v in m.columns.items()}
        self.content_ids = fu.ContentIds()
        self.parse_money = fu.amount_parser(m.decimal, m.thousands)
        """(text, field) -> (amount, currency): split_currency and parse_amount in one."""
        self.usable: set[str] | None = None
        self.balances: dict[int, Decimal] = {}
        self.required = [p for p in (cols.position(c) for c in m.skip_if_empty) if p is not None]
        need = [p for k, p in self.pos.items() if p is not None and k in _REQUIRED]
        self.need = max(need) if need else -1
        """The last column position a line must have (-1: none); the same for every line."""

    def skipped(self, row: list[str]) -> bool:
        """A row the mapping says is not a movement (opening balance, totals...)."""
        if any(self.cols.get(row, p) is None for p in self.required):
            return True
        return any(p.search(c) for p in self.m.skip_rows for c in row if c)

    def record(self, line: int, row: list[str]) -> Record:
        """A validated record, or SourceError naming the line and field."""
        where = f"{self.table.name}:line {line}"
        try:
            return self._record(line, row)
        except ValidationError as exc:
            raise fu.fail(self.source, where, exc) from None

    def _get(self, row: list[str], key: str) -> str | None:
        return self.cols.get(row, self.pos[key])

    def _money(self, raw: str, field: str) -> tuple[Decimal, str | None]:
        return self.parse_money(raw, field)

    def _amount(self, row: list[str]) -> tuple[Decimal, str | None]:
        m = self.m
        if self.pos["amount_column"] is not None:
            raw = self._get(row, "amount_column")
            if raw is None:
                raise ValidationError("amount", "empty amount")
            amount, ccy = self._money(raw, "amount")
            if self.pos["direction_column"] is not None:
                mark = (self._get(row, "direction_column") or "").strip().lower()
                if mark in m.debit_markers:
                    return -abs(amount), ccy
                if mark in m.credit_markers:
                    return abs(amount), ccy
                raise ValidationError(
                    "direction", f"'{mark}' is neither a debit marker "
                    f"({', '.join(sorted(m.debit_markers))}) nor a credit marker "
                    f"({', '.join(sorted(m.credit_markers))})",
                )  # fmt: skip
            return (-amount if m.debit_positive else amount), ccy
        debit_raw = self._get(row, "debit_column")
        credit_raw = self._get(row, "credit_column")
        debit, dccy = self._money(debit_raw, "debit") if debit_raw else (None, None)
        credit, cccy = self._money(credit_raw, "credit") if credit_raw else (None, None)
        if debit and credit:
            raise ValidationError("amount", "both debit and credit are filled")
        if debit is None and credit is None:
            raise ValidationError("amount", "neither debit nor credit is filled")
        # Debit columns hold magnitudes; some banks print them negative: the column
        # decides the direction, never the printed sign.
        if debit:
            return -abs(debit), dccy
        return abs(credit or Decimal(0)), cccy

    def _date(self, raw: str, field: str) -> date:
        try:
            return fu.parse_date(raw, field, self.m.date_formats)
        except ValidationError:
            tail = _TIME_TAIL.match(raw.strip())
            if tail:  # "2024-01-05 13:45:10" under a date-only format: the day is the date
                return fu.parse_date(tail.group(1), field, self.m.date_formats)
            raise

    def _record(self, line: int, row: list[str]) -> Record:
        m = self.m
        if self.need >= len(row):
            raise ValidationError(
                "row", f"has {len(row)} column(s); the mapping needs {self.need + 1}"
            )
        date_raw = self._get(row, "date_column")
        if date_raw is None:
            raise ValidationError("booking_date", "empty date")
        booking = self._date(date_raw, "booking_date")
        value_raw = self._get(row, "value_date_column")
        value = self._date(value_raw, "value_date") if value_raw else None
        amount, symbol_ccy = self._amount(row)
        column_ccy = self._get(row, "currency_column")
        if column_ccy and symbol_ccy and column_ccy.upper() != symbol_ccy:
            raise ValidationError("currency", f"the amount says {symbol_ccy}, the currency "
                                              f"column {column_ccy}")  # fmt: skip
        currency = (column_ccy or symbol_ccy or m.currency).upper()
        fee = None
        fee_raw = self._get(row, "fee_column")
        if fee_raw:
            fee_amt, _ = self._money(fee_raw, "fee")
            fee = abs(fee_amt) or None
        balance_raw = self._get(row, "balance_column")
        if balance_raw:
            self.balances[line] = self._money(balance_raw, "balance")[0]
        reference = self._get(row, "reference_column")
        counterparty = self._get(row, "counterparty_column")
        memo = self._get(row, "memo_column")
        kind = fu.bank_kind(amount)
        kind_raw = self._get(row, "kind_column")
        if kind_raw and m.kind_map:
            kind = m.kind_map.get(kind_raw.strip().lower(), kind)
        bank_id = self._get(row, "id_column")
        key = f"{m.account}:{bank_id}" if m.account else bank_id
        if bank_id and self.usable is not None and key in self.usable:
            ext = str(key)
        else:
            # The whole row, not the mapped fields: a changed mapping keeps the identity.
            ext = self.content_ids.next(m.account, "\x1e".join(c.strip() for c in row))
        # Release 419601b: any bank id as given, else a hash of the mapped fields.
        legacy = ((f"{m.account}:{bank_id}" if m.account else bank_id) if bank_id else
                  self.content_ids.legacy(m.account, booking.isoformat(), amount.normalize(),
                                          currency, memo, counterparty, reference))  # fmt: skip
        attrs: dict[str, Any] = {}
        fu.with_legacy_id(attrs, ext, legacy)
        if bank_id and not fu.is_placeholder(bank_id):
            attrs["bank_id"] = bank_id
        if kind_raw:
            attrs["type"] = kind_raw
        if fee is not None and m.fee_included:
            attrs["fee_included"] = True
        # Every value is already typed and stripped: build the record and validate it,
        # skipping make_record's text coercion (measured ~40% of the per-row cost).
        return validate(Record(
            source=self.source,
            external_id=ext,
            kind=kind,
            ts=fu.midnight_utc(booking),
            asset=currency,
            amount=amount,
            fee=fee,
            fee_asset=currency if fee is not None else None,
            account=m.account,
            counterparty=counterparty,
            reference=reference,
            memo=memo,
            booking_date=booking,
            value_date=value,
            attrs=attrs,
        ))  # fmt: skip

    def movement(self, r: Record) -> Decimal:
        """What the row did to the running balance."""
        if r.fee is not None and not self.m.fee_included:
            return r.amount - r.fee
        return r.amount


def _load(source: str, settings: dict[str, Any]) -> tuple[_Parser, str]:
    m = _Mapping.from_settings(source, settings)
    data, name = fu.read_bytes(source, settings.get("path"))
    text, _ = fu.decode_auto(source, name, data, m.encoding)
    if not text.strip():
        raise SourceError(source, name, "file is empty")
    table = fu.read_csv_table(
        source, name, text,
        delimiter=m.delimiter, skip_lines=m.skip_lines, header=m.header,
        want_columns=[v for v in m.columns.values() if v] + m.skip_if_empty,
        quotechar=m.quotechar, escapechar=m.escapechar,
        allow_unterminated=m.allow_unterminated,
    )  # fmt: skip
    parser = _Parser(source, m, table)
    pos = parser.pos["id_column"]
    if pos is not None:
        rows = table.rows
        if parser.required or m.skip_rows:
            rows = [lr for lr in rows if not parser.skipped(lr[1])]
        ids = [parser.cols.get(row, pos) for _, row in rows]
        keys = [(f"{m.account}:{i}" if m.account else i) if i and not fu.is_placeholder(i)
                else None for i in ids]  # fmt: skip
        # fu.usable_ids(keys), less its second placeholder test: a key holds a bank id that
        # is none, and "account:id" has the id's letters and digits and a colon no
        # placeholder has, so it is none either.
        counts = Counter(k for k in keys if k is not None)
        parser.usable = {k for k, c in counts.items() if c == 1}
    return parser, fu.sha256(data)


_COLUMNAR_UNSUPPORTED = ("direction_column", "debit_column", "credit_column", "balance_column")
"""Mappings the columnar path leaves to the row path (a per-row direction, two amount
columns, a running balance: rarer layouts, whose logic stays in one place)."""


def _takes_columns(p: _Parser) -> bool:
    """Whether the columnar path takes this file's mapping and source at all."""
    m, pos = p.m, p.pos
    if pos["amount_column"] is None or any(pos[k] is not None for k in _COLUMNAR_UNSUPPORTED):
        return False
    try:  # what validate() checks of the source name, once for the file
        validate(Record(p.source, "x", "deposit", fu.midnight_utc(date(2000, 1, 1)),
                        m.currency.upper(), Decimal(0)))  # fmt: skip
    except ValidationError:
        return False
    return True


def _movements(p: _Parser) -> list[tuple[int, list[str]]]:
    """The file's (line, cells) that are movements (the rows the mapping skips left out)."""
    rows = p.table.rows
    if p.required or p.m.skip_rows:
        rows = [lr for lr in rows if not p.skipped(lr[1])]
    return rows


def _columns(p: _Parser, rows: list[tuple[int, list[str]]] | None = None,
             ) -> fu.RecordColumns | None:  # fmt: skip
    """Every line of the file (or the ``rows`` given, the next lines of it in file order:
    content-id ordinals count on) converted column by column, or ``None`` for the row path.

    The same conversions as :meth:`_Parser._record` — the very same functions
    (``_date``, ``_money``, ``bank_kind``, the content and legacy ids), each called once
    per *distinct* cell value instead of once per line (a statement repeats its dates,
    amounts, currencies and kinds), and no :class:`Record` per line: the store builds
    its rows straight from these columns (``records.prepare_columns``). Checks that
    ``validate`` makes per record are made per column (longest text, each distinct asset
    and amount). Anything wrong with any line — or a mapping this path does not take —
    gives ``None``, and the row path then reads the file and refuses it with its usual
    line naming the first bad line: one place says what a bad line is.
    ``tests/test_ingest_columnar.py`` checks both paths store the same records.

    Every ``None`` is given before the first content id is drawn, so the row path can
    take the same lines over with the ordinals where they were."""
    m, pos = p.m, p.pos
    if rows is None:
        if not _takes_columns(p):
            return None
        rows = _movements(p)
    n = len(rows)

    lines = [row for _, row in rows]
    shortest = min(map(len, lines), default=0)

    def column(key: str) -> list[str | None]:
        at = pos[key]
        if at is None:
            return [None] * n
        if at < shortest:  # every line has the cell
            return [v.strip() or None for v in map(itemgetter(at), lines)]
        return [(row[at].strip() or None) if at < len(row) else None for row in lines]

    if n and p.need >= shortest:
        return None  # a short line: the row path names it

    try:
        dates = column("date_column")
        if None in dates:
            return None
        day = {t: p._date(t, "booking_date") for t in set(dates)}  # type: ignore[arg-type]
        booking = [day[t] for t in dates]  # type: ignore[index]
        values = column("value_date_column")
        vday = {t: p._date(t, "value_date") for t in set(values) if t}
        value = [vday[t] if t else None for t in values]
        amounts_raw = column("amount_column")
        if None in amounts_raw:
            return None
        parse = p.parse_money
        money = {t: parse(t, "amount") for t in set(amounts_raw)}  # type: ignore[arg-type]
        sign = -1 if m.debit_positive else 1
        signed = {t: (a if sign == 1 else -a, c) for t, (a, c) in money.items()}
        amounts = [signed[t][0] for t in amounts_raw]  # type: ignore[index]
        symbols = [signed[t][1] for t in amounts_raw]  # type: ignore[index]
        ccy_col = column("currency_column")
        if any(symbols) or any(ccy_col):
            currency = []
            for col_ccy, sym in zip(ccy_col, symbols, strict=True):
                if col_ccy and sym and col_ccy.upper() != sym:
                    return None
                currency.append((col_ccy or sym or m.currency).upper())
        else:
            currency = [m.currency.upper()] * n
        for asset in set(currency):
            check_asset(asset)
        fee_raw = column("fee_column")
        fees_of = {t: abs(parse(t, "fee")[0]) or None for t in set(fee_raw) if t}
        fees = [fees_of[t] if t else None for t in fee_raw]
    except (ValidationError, SourceError):
        return None
    reference = column("reference_column")
    counterparty = column("counterparty_column")
    memo = column("memo_column")
    kind_raw = column("kind_column")
    kind_of = {a: fu.bank_kind(a) for a in set(amounts)}
    kinds = [kind_of[a] for a in amounts]
    if m.kind_map:
        kinds = [m.kind_map.get(k.strip().lower(), kd) if k else kd
                 for k, kd in zip(kind_raw, kinds, strict=True)]  # fmt: skip
    bank_ids = column("id_column")
    usable = p.usable
    acct = m.account
    # validate()'s per-record text checks, per column (decode refused any NUL already),
    # before any content id is drawn. An external id is a bank id (with the account) or a
    # content id (~30 characters): the longest bank id bounds it.
    longest_id = max((len(b) for b in bank_ids if b), default=0)
    if longest_id and longest_id + (len(acct) + 1 if acct else 0) > 256:
        return None
    for col, limit in ((counterparty, 512), (reference, 512), (memo, 2048)):
        if max((len(v) for v in col if v), default=0) > limit:
            return None
    if acct is not None and len(acct) > 128:
        return None
    ext: list[str] = []
    legacy: list[str | None] = []
    attrs: list[dict[str, Any]] = []
    placeholder: dict[str, bool] = {}
    for i, (_, row) in enumerate(rows):
        bank_id = bank_ids[i]
        key = f"{acct}:{bank_id}" if acct and bank_id else bank_id
        if bank_id and usable is not None and key in usable:
            e = str(key)
            placeholder[bank_id] = False  # a usable id is never a placeholder
        else:
            e = p.content_ids.next(acct, "\x1e".join(c.strip() for c in row))
        old = (key if bank_id else p.content_ids.legacy(
            acct, booking[i].isoformat(), amounts[i].normalize(), currency[i], memo[i],
            counterparty[i], reference[i]))  # fmt: skip
        ext.append(e)
        legacy.append(old if old and old != e else None)
        a: dict[str, Any] = {}
        if bank_id:
            ph = placeholder.get(bank_id)
            if ph is None:
                ph = placeholder[bank_id] = fu.is_placeholder(bank_id)
            if not ph:
                a["bank_id"] = bank_id
        if kind_raw[i]:
            a["type"] = kind_raw[i]
        if m.fee_included and fees[i] is not None:
            a["fee_included"] = True
        attrs.append(a)
    midnight = {d: fu.midnight_utc(d) for d in day.values()}
    return fu.RecordColumns(
        source=p.source,
        lines=[line for line, _ in rows],
        columns={
            "external_id": ext, "kind": kinds, "ts": [midnight[d] for d in booking],
            "booking_date": booking, "value_date": value, "asset": currency,
            "amount": amounts, "fee": fees,
            "fee_asset": [c if f is not None else None for c, f in zip(currency, fees, strict=True)],
            "counterparty": counterparty, "reference": reference, "memo": memo,
            "account": [acct] * n, "attrs": attrs,
        },
        legacy=legacy,
    )  # fmt: skip


def preview(path: str, mapping: dict[str, Any], n: int = 10) -> list[PreviewRow]:
    """The first ``n`` data rows parsed with ``mapping`` (the settings being edited).

    Row problems come back per row (``error``); problems with the whole file (missing,
    wrong encoding, header not found, bad mapping) raise :class:`SourceError`.
    """
    source = "preview"
    parser, _ = _load(source, with_preset({**mapping, "path": path}))
    out: list[PreviewRow] = []
    for line, row in parser.table.rows[:n]:
        if parser.skipped(row):
            out.append(PreviewRow(line, row, None, "skipped (matches a skip_rows pattern)"))
            continue
        try:
            out.append(PreviewRow(line, row, parser.record(line, row), None))
        except SourceError as exc:
            out.append(PreviewRow(line, row, None, f"{exc.where}: {exc.message}"))
    return out


def _running_balances(
    source: str, parser: _Parser, lines: list[int], records: list[Record]
) -> tuple[list[StatementBalance], list[str]]:
    """Check each row's balance against the previous one; the statement's two ends."""
    name = parser.table.name
    by_ccy: dict[str, list[tuple[int, Record, Decimal]]] = {}
    for line, r in zip(lines, records, strict=True):
        if line in parser.balances:
            by_ccy.setdefault(r.asset, []).append((line, r, parser.balances[line]))
    out: list[StatementBalance] = []
    warnings: list[str] = []
    for ccy, rows in by_ccy.items():
        best: tuple[int, list[tuple[int, Record, Decimal]], int | None] | None = None
        for order in (rows, rows[::-1]):
            bad = [i for i in range(1, len(order))
                   if order[i - 1][2] + parser.movement(order[i][1]) != order[i][2]]
            if best is None or len(bad) < best[0]:
                best = (len(bad), order, bad[0] if bad else None)
        assert best is not None
        _, order, first_bad = best
        head, tail = order[0], order[-1]
        opening = head[2] - parser.movement(head[1])
        acct = parser.m.account or ""
        for kind, (_, r, bal) in (("opening", head), ("closing", tail)):
            amount = opening if kind == "opening" else bal
            as_of = r.booking_date or r.ts.date()
            out.append(StatementBalance(acct, ccy, as_of, kind, amount, name, name))
        if first_bad is not None:
            line, r, bal = order[first_bad]
            prev = order[first_bad - 1][2]
            expected = prev + parser.movement(r)
            msg = (f"running balance does not add up: previous balance {prev:f} + "
                   f"movement {parser.movement(r):f} = {expected:f}, but the row says "
                   f"{bal:f} {ccy} (off by {bal - expected:+f})")  # fmt: skip
            where = f"{name}:line {line}, field 'balance'"
            if parser.m.warn:
                warnings.append(f"source '{source}' at {where}: {msg}")
            else:
                raise SourceError(source, where, msg + "; set balance_check=warn to import "
                                                       "anyway")  # fmt: skip
    return out, warnings


def _resumes(cursor: dict[str, Any] | None, digest: str) -> bool:
    """Whether ``cursor`` resumes inside the file whose digest is ``digest``."""
    return bool(cursor and cursor.get("sha256") == digest
                and isinstance(cursor.get("offset"), int) and cursor["offset"])  # fmt: skip


class CsvStatementAdapter(Adapter):
    """A bank or exchange statement exported as CSV/TSV, mapped column by column."""

    kind = "csv"
    label = "Bank statement (CSV)"
    SETTINGS = SETTINGS
    SECRETS = ()
    capabilities = Capabilities(
        fields=frozenset({"booking_date", "value_date", "counterparty", "reference", "memo",
                          "fee"}),
        paging="file",
    )

    def __init__(
        self, source: str, settings: dict[str, Any], secrets: dict[str, str] | None = None
    ) -> None:
        super().__init__(source, settings, secrets)
        # Only what the user set overrides the preset; the rest comes from it.
        explicit = [k for k, v in settings.items() if v not in (None, "")]
        try:
            self.mapping = with_preset({**self.settings, "_explicit": explicit})
        except SourceError as exc:
            raise self.error(exc.where, exc.message) from None
        _Mapping.from_settings(source, self.mapping)  # a bad mapping fails at setup

    def preview(self, n: int = 10) -> list[PreviewRow]:
        return preview(str(self.mapping.get("path") or ""), self.mapping, n)

    def column_batches(self, cursor: dict[str, Any] | None,
                       ) -> Iterator[tuple[Batch, fu.RecordColumns | None]]:  # fmt: skip
        """The file's batches as columns (:func:`_columns`): what the sync service writes
        without a :class:`Record` per line. A mapping or a file the columnar path does not
        take comes back as :meth:`batches` does, each batch paired with ``None``."""
        with fu.gc_paused():
            parser, digest = _load(self.source, self.mapping)
        if not _takes_columns(parser):
            for b in self._batches(parser, digest, cursor):
                yield b, None
            return
        if _resumes(cursor, digest):  # the offset counts records: convert the whole file
            with fu.gc_paused():
                cols = _columns(parser)
            if cols is None:
                for b in self._batches(parser, digest, cursor):
                    yield b, None
                return
            name = parser.table.name
            del parser  # its lines and cells: the columns hold all that is needed now
            yield from fu.column_batches(name, digest, cols, cursor)
            return
        yield from self._streamed(parser, digest)

    def _streamed(self, parser: _Parser, digest: str,
                  ) -> Iterator[tuple[Batch, fu.RecordColumns | None]]:  # fmt: skip
        """The batches of :func:`fu.column_batches`, each converted just before it is
        handed on: the writer starts on the first while the rest is converted (the whole
        file converted first kept the writer waiting for half the reading), and only one
        batch's columns are held at a time. A batch the columnar path does not take goes
        through the row path, which refuses a bad line naming it (the first bad line of
        the file: the batches before it were good) or gives the same records."""
        rows = _movements(parser)
        parser.table.rows = []  # each batch's lines are let go once converted
        total = len(rows)
        name = parser.table.name
        for start in range(0, total, fu.BATCH_SIZE) if total else [0]:
            chunk = rows[start : start + fu.BATCH_SIZE]
            rows[start : start + len(chunk)] = [None] * len(chunk)  # type: ignore[list-item]
            done = start + len(chunk)
            batch = Batch(cursor={"file": name, "sha256": digest, "offset": done}, done=done,
                          total=total)  # fmt: skip
            with fu.gc_paused():
                cols = _columns(parser, chunk)
                if cols is None:
                    batch.records = [parser.record(line, row) for line, row in chunk]
            yield batch, cols

    def batches(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        with fu.gc_paused():
            parser, digest = _load(self.source, self.mapping)
        yield from self._batches(parser, digest, cursor)

    def _batches(self, parser: _Parser, digest: str,
                 cursor: dict[str, Any] | None) -> Iterator[Batch]:  # fmt: skip
        records: list[Record] = []
        lines: list[int] = []
        with fu.gc_paused():
            for line, row in parser.table.rows:
                if parser.skipped(row):
                    continue
                records.append(parser.record(line, row))
                lines.append(line)
            balances, warnings = _running_balances(self.source, parser, lines, records)
        yield from fu.file_batches(parser.table.name, digest, records, cursor,
                                   balances=balances, warnings=warnings)  # fmt: skip
