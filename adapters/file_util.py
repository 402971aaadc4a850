"""Shared helpers of the file adapters (statements, ledger exports, prices).

Reading and decoding files with errors that say where, strict number and date parsing
for hand-configured column mappings, delimiter sniffing, content-derived external ids,
and the file cursor that lets a sync resume inside a large file.

Nothing here knows about a particular file format; every failure is a
:class:`~adapters.base.SourceError` naming the file and, where known, the line.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gc
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from adapters.base import Batch, SourceError, StatementBalance
from recon_tui.model import (
    MAX_DECIMALS,
    MAX_INTEGER_DIGITS,
    Price,
    Record,
    ValidationError,
    to_decimal,
)

BATCH_SIZE = 10_000
"""The contract's upper bound on records per batch."""

MAX_FILE_BYTES = 512 * 1024 * 1024
"""A statement bigger than this is a mistake (wrong file picked), not a statement."""

T = TypeVar("T")


# --- reading ------------------------------------------------------------------------------


def read_bytes(source: str, path: Any) -> tuple[bytes, str]:
    """The file's bytes and its display name (base name: full paths leak home dirs)."""
    if not path:
        raise SourceError(source, "path", "setting 'path' is required")
    p = Path(str(path)).expanduser()
    name = p.name
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SourceError(source, name, f"file is {size} bytes, over {MAX_FILE_BYTES}")
        data = p.read_bytes()
    except FileNotFoundError:
        raise SourceError(source, name, "file not found") from None
    except IsADirectoryError:
        raise SourceError(source, name, "is a directory, not a file") from None
    except OSError as exc:
        raise SourceError(source, name, f"cannot read file: {exc.strerror or exc}") from None
    return data, name


def decode(source: str, name: str, data: bytes, encoding: str = "utf-8") -> str:
    """Decode with a message that gives the line and a hint, instead of a bare codec error."""
    enc = (encoding or "utf-8").strip().lower()
    if enc in ("utf-8", "utf8") and data.startswith(b"\xef\xbb\xbf"):
        enc = "utf-8-sig"  # Excel's BOM; harmless to strip
    if enc in ("utf-8", "utf8", "utf-8-sig") and (
        data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff")
    ):
        raise SourceError(source, name, "file is UTF-16 encoded; set encoding to 'utf-16'")
    try:
        text = data.decode(enc)
    except LookupError:
        raise SourceError(source, "encoding", f"unknown encoding '{encoding}'") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise SourceError(
            source,
            f"{name}:line {line}",
            f"not valid {encoding} (byte 0x{bad}); the file is probably in another encoding: "
            "set the 'encoding' setting (e.g. cp1252, latin-1, utf-16)",
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise SourceError(
            source, f"{name}:line {line}", "contains NUL bytes: a binary file or wrong encoding"
        )
    return text


_ALIASES = {"1252": "cp1252", "windows-1252": "cp1252", "usascii": "ascii", "us-ascii": "ascii",
            "8859-1": "latin-1", "iso-8859-1": "latin-1", "none": "", "utf8": "utf-8",
            "unicode": "utf-8"}  # fmt: skip


def normalise_encoding(name: str | None) -> str:
    """A codec name for what a file declares (``CHARSET:1252`` -> ``cp1252``)."""
    n = (name or "").strip().strip("\"'").lower()
    return _ALIASES.get(n, n)


def decode_auto(
    source: str, name: str, data: bytes, fallback: str = "cp1252", declared: str | None = None
) -> tuple[str, str]:
    """Decode ``data`` exactly once; returns (text, the encoding used).

    Order: the file's own declaration (``declared``, e.g. an XML or OFX header), a byte
    order mark, then strict UTF-8 (which 8-bit text almost never passes by accident), and
    only then the configured 8-bit ``fallback``. A declared ``ascii`` is read as "no 8-bit
    set named": such files routinely carry Latin-1 or UTF-8 names, so detection goes on.
    """
    enc = normalise_encoding(declared)
    if enc and enc != "ascii":
        if enc in ("utf-8", "utf-8-sig") and data.startswith(b"\xef\xbb\xbf"):
            enc = "utf-8-sig"
        return decode(source, name, data, enc), enc
    if data.startswith(b"\xef\xbb\xbf"):
        return decode(source, name, data, "utf-8-sig"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return decode(source, name, data, "utf-16"), "utf-16"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        enc = normalise_encoding(fallback) or "cp1252"
        if enc in ("utf-8", "utf-8-sig"):
            return decode(source, name, data, enc), enc  # the user insists: say where it fails
        return decode(source, name, data, enc), enc
    return decode(source, name, data, "utf-8") if "\x00" in text else text, "utf-8"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- numbers and dates --------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
_SIGN_SPACE = re.compile(r"^([+-])\s+")
# Compiled once: a module-level re.sub looks its pattern up in re's cache on every call,
# and these run for every line of a statement (measured: ~1 us per call of 3-4 per line).
"""ASCII digits only: ``\\d`` would also accept Arabic-Indic or full-width digits as 123."""

CURRENCY_SYMBOLS = {
    "€": "EUR", "£": "GBP", "$": "USD", "US$": "USD", "¥": "JPY", "₹": "INR", "CHF": "CHF",
    "₽": "RUB", "₺": "TRY", "zł": "PLN", "kr": "SEK", "R$": "BRL", "A$": "AUD", "C$": "CAD",
    "₿": "BTC", "฿": "THB", "₩": "KRW", "₫": "VND", "₪": "ILS", "₴": "UAH",
}  # fmt: skip
"""Symbols seen in exports; ``$`` alone is read as USD (set the currency to override)."""

_SYMBOLS_RE = "|".join(re.escape(k) for k in sorted(CURRENCY_SYMBOLS, key=len, reverse=True))
_CURRENCY_AFFIX = re.compile(
    rf"^\s*(?P<sign1>[+-]?)\s*(?P<pre>{_SYMBOLS_RE}|[A-Z]{{3}}(?=[\s0-9.,(+-]))?\s*"
    rf"(?P<body>.*?)\s*(?P<post>{_SYMBOLS_RE}|(?<=[\s0-9.,)-])[A-Z]{{3,5}})?\s*$"
)


def split_currency(text: str) -> tuple[str, str | None]:
    """(amount text, currency) from ``£500.00``, ``-$76.00``, ``EUR 1.234,56``, ``12 BTC``.

    The sign may stand before the symbol (``-$76.00``) and stays on the amount. Text
    without a symbol or code comes back unchanged with ``None``.
    """
    stripped = text.strip()
    if stripped.startswith("(") and stripped.endswith(")"):  # (€12.50): a negative amount
        inner, code = split_currency(stripped[1:-1])
        return (f"({inner})", code) if code else (text, None)
    m = _CURRENCY_AFFIX.match(text)
    if not m or not (m.group("pre") or m.group("post")):
        return text, None
    if m.group("pre") and m.group("post"):
        return text, None  # two currencies: leave it to parse_amount to refuse
    code = m.group("pre") or m.group("post")
    return m.group("sign1") + m.group("body"), CURRENCY_SYMBOLS.get(code, code)


def parse_amount(text: str, field: str, decimal_sep: str = ".", thousands: str = "") -> Decimal:
    """An exact Decimal from bank-formatted text: ``1.234,56``, ``(12.50)``, ``12.50-``, ``-5``.

    Strict on purpose: anything that is not clearly a number (``1e5``, ``NaN``, ``1.2.3``,
    letters) is refused rather than guessed, because a wrong amount is worse than an error.
    """
    s = text.strip().replace("\u00a0", " ").replace("\u2212", "-")
    if not s:
        raise ValidationError(field, "empty amount")
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1].strip()
    elif s.endswith("-") and len(s) > 1:
        negative, s = True, s[:-1].strip()
    if thousands:
        s = s.replace(thousands, "")
    s = _SIGN_SPACE.sub(r"\1", s)
    if decimal_sep == ",":
        if "." in s:
            raise ValidationError(field, f"{text!r}: '.' found but the decimal mark is ','")
        s = s.replace(",", ".")
    elif "," in s:
        raise ValidationError(field, f"{text!r}: ',' found but the decimal mark is '.'")
    if not _PLAIN_NUMBER.match(s):
        if any(c.isdigit() and not c.isascii() for c in s):
            raise ValidationError(field, f"{text!r} has non-ASCII digits; amounts use 0-9")
        raise ValidationError(field, f"{text!r} is not a number")
    d = to_decimal(s, field)
    return -d if negative else d


_SHORT = min(MAX_DECIMALS, MAX_INTEGER_DIGITS) + 1
"""Plain amount text this long or shorter (sign and mark included) has neither more than
``MAX_DECIMALS`` decimals nor more than ``MAX_INTEGER_DIGITS`` integer digits, so
``check_decimal`` has nothing to say about it."""

_SIMPLE_AMOUNT = {".": re.compile(r"-?[0-9]+(?:\.[0-9]+)?"),
                  ",": re.compile(r"-?[0-9]+(?:,[0-9]+)?")}  # fmt: skip


def amount_parser(decimal_sep: str = ".", thousands: str = "",
                  ) -> Callable[[str, str], tuple[Decimal, str | None]]:  # fmt: skip
    """``(text, field) -> (amount, currency)``: :func:`split_currency` then
    :func:`parse_amount`, with a short cut for the plain ``-1234.56`` most statements
    hold. Such text has no currency, no parentheses, no separators and no spaces, so
    the two would strip nothing and give ``to_decimal`` of it as written: it goes there
    directly (a third of the cost); anything else takes the full way."""
    simple = _SIMPLE_AMOUNT.get(decimal_sep)
    comma = decimal_sep == ","

    def parse(text: str, field: str) -> tuple[Decimal, str | None]:
        if simple is not None and simple.fullmatch(text):
            plain = text.replace(",", ".") if comma else text
            if len(plain) <= _SHORT:  # at most 18 decimals and 20 integer digits: in range
                return Decimal(plain), None
            return to_decimal(plain, field), None
        body, ccy = split_currency(text)
        return parse_amount(body, field, decimal_sep, thousands), ccy

    return parse


def parse_date(text: str, field: str, formats: Sequence[str]) -> date:
    """A date in one of the configured ``strptime`` formats (first match wins)."""
    s = text.strip()
    if not s:
        raise ValidationError(field, "empty date")
    found = _parse_date_cached(s, tuple(formats))
    if found is None:
        raise ValidationError(
            field, f"{text!r} matches none of the date formats {', '.join(formats)}"
        )
    return found


@functools.lru_cache(maxsize=4096)
def _parse_date_cached(s: str, formats: tuple[str, ...]) -> date | None:
    # strptime costs ~25 us a call; a statement has few distinct dates, so cache them.
    for fmt in formats:
        try:
            return datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    return None


def midnight_utc(d: date) -> datetime:
    """Bank lines carry a date, not a time; the record's ``ts`` is that day's 00:00 UTC."""
    return datetime.combine(d, time(0), tzinfo=UTC)


def bank_kind(amount: Decimal) -> str:
    """A bank statement line says only which way money went; finer kinds come from mapping."""
    return "deposit" if amount >= 0 else "withdrawal"


# --- external ids -------------------------------------------------------------------------


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def identity_text(value: Any) -> str:
    """A field as content-hash identity sees it: lower-case, spaces collapsed, and every
    run of non-ASCII characters one ``?``.

    That last rule is what makes an id survive a change of encoding: UTF-8 ``é`` read as
    cp1252 is ``Ã©``, still one run of non-ASCII, so the identity of a line is the same
    whichever ASCII-compatible code page decoded it.
    """
    if value is None:
        return ""
    text = " ".join(str(value).split()).lower()
    return _NON_ASCII_RUN.sub("?", text)


class ContentIds:
    """Deterministic external ids for lines without a usable bank id.

    Identity: a hash of the line's own content as the file wrote it (for MT940 the
    ``:61:`` and ``:86:`` text, for CSV the row's cells, for camt the entry's text)
    seen through :func:`identity_text`, plus an ordinal among identical lines of the
    same file. Not part of it: the encoding setting (see :func:`identity_text`) and the
    column mapping (the whole row is hashed, not the mapped fields), so changing either
    and re-importing updates records instead of duplicating them; a bank id that is
    present but unusable (a placeholder or repeated) only ever sits in the hashed text.

    Limits: the ordinal assumes statements cover whole days (true of bank exports); a
    bank that rewrites a line between two exports produces a new id, and so a duplicate
    to review. Prefer the bank's own transaction id whenever the format has one.
    """

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._legacy_seen: dict[str, int] = {}

    def next(self, *parts: Any) -> str:
        key = "\x1f".join(identity_text(p) for p in parts)
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        n = self._seen.get(digest, 0)
        self._seen[digest] = n + 1
        return f"h:{digest}:{n}"

    def legacy(self, *parts: Any) -> str:
        """The content id release 419601b gave a line: a hash of the mapped fields
        (account, booking date, amount, currency, description...) with spaces collapsed and
        lower-cased only, plus an ordinal counted over the lines that release hashed.

        Kept so that a store built by that release adopts its records on re-import instead
        of getting them a second time (see ``legacy_id`` in the adapters and
        :func:`recon_tui.store.records.adopt_legacy_ids`). Call it for exactly the lines
        the old release hashed, in file order, or the ordinals drift.
        """
        key = "\x1f".join("" if p is None else " ".join(str(p).split()).lower() for p in parts)
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        n = self._legacy_seen.get(digest, 0)
        self._legacy_seen[digest] = n + 1
        return f"h:{digest}:{n}"


def with_legacy_id(attrs: dict[str, Any], ext: str, legacy: str | None) -> dict[str, Any]:
    """``attrs`` with ``legacy_id`` set when the previous release's id differs from ``ext``.

    The import takes ``legacy_id`` out of ``attrs`` before storing (so it never changes a
    record's content hash) and renames a stored record from it to ``ext``.
    """
    if legacy and legacy != ext:
        attrs["legacy_id"] = legacy
    return attrs


_PLACEHOLDERS = frozenset({"", "NONREF", "NOTPROVIDED", "NOT PROVIDED", "NONE", "N/A", "NA",
                           "NULL", "-", "UNKNOWN", "NOREF", "NO REF"})  # fmt: skip


_SIGNIFICANT = re.compile(r"[1-9A-Z]")


def is_placeholder(value: str | None) -> bool:
    """``NONREF``, ``NOTPROVIDED``, empty, all zeros: a field filled because it must be."""
    if value is None:
        return True
    v = value.strip().upper()
    if v in _PLACEHOLDERS:
        return True
    # Nothing but zeros among its letters and digits ([0-9A-Z] of the upper-cased text):
    # one search instead of stripping the rest away (the same answer, a third the cost).
    return _SIGNIFICANT.search(v) is None


def usable_ids(values: Iterable[str | None]) -> set[str]:
    """The bank ids that may be external ids: present once in the file, not placeholders.

    A repeated id (Danske repeats customer references, ABN AMRO repeats ``AcctSvcrRef``
    across entries) cannot tell two lines apart, so those lines fall back to content ids.
    """
    counts: dict[str, int] = {}
    for v in values:
        if v is not None and not is_placeholder(v):
            counts[v] = counts.get(v, 0) + 1
    return {v for v, n in counts.items() if n == 1}


def check_balance(
    source: str, where: str, *, opening: Decimal, movements: Decimal, closing: Decimal,
    currency: str, warn: bool, what: str = "statement",
) -> str | None:  # fmt: skip
    """Opening + movements must equal closing; a refusal (or, with ``warn``, a notice).

    This is the check that catches a wrong sign, a lost line or a double-counted one.
    """
    expected = opening + movements
    if expected == closing:
        return None
    diff = closing - expected
    msg = (f"{what} does not add up: opening {opening:f} + lines {movements:f} = "
           f"{expected:f}, but the closing balance is {closing:f} {currency} "
           f"(off by {diff:+f})")  # fmt: skip
    if warn:
        return f"source '{source}' at {where}: {msg}"
    raise SourceError(source, where, msg + "; set balance_check=warn to import anyway")


class UniqueIds:
    """Refuses a file that repeats an id that must be unique (a ledger's own ids)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._first: dict[str, str] = {}

    def check(self, ext_id: str, where: str) -> None:
        first = self._first.get(ext_id)
        if first is not None:
            raise SourceError(
                self.source, where, f"duplicate transaction id '{ext_id}' (first seen at {first})"
            )
        self._first[ext_id] = where


def fail(source: str, where: str, exc: ValidationError) -> SourceError:
    """A record validation error as a SourceError located at ``where`` + the field."""
    return SourceError(source, f"{where}, field '{exc.field}'", exc.detail)


# --- CSV ----------------------------------------------------------------------------------

_DELIMITERS = (",", ";", "\t", "|")
_LINE_END = re.compile(r"[^\r\n]*(?:\r\n|\n|\r|$)")


def sniff_delimiter(lines: Sequence[str]) -> str:
    """The delimiter giving the most consistent (and widest) rows over a sample of lines."""
    sample = [ln for ln in lines if ln.strip()][:20]
    best, best_score = ",", (0, 0)
    for d in _DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(sample, delimiter=d)]
        except csv.Error:
            continue
        if not counts:
            continue
        width = max(set(counts), key=counts.count)
        if width < 2:
            continue
        score = (counts.count(width), width)
        if score > best_score:
            best, best_score = d, score
    return best


@dataclass(slots=True)
class CsvTable:
    """Rows of a delimited file after the header, each with its physical line number."""

    name: str
    header: list[str] | None
    rows: list[tuple[int, list[str]]]


def read_csv_table(
    source: str,
    name: str,
    text: str,
    *,
    delimiter: str = "",
    skip_lines: int = 0,
    header: str = "auto",
    want_columns: Iterable[str] = (),
    header_search: int = 30,
    quotechar: str = '"',
    escapechar: str | None = None,
    allow_unterminated: bool = False,
) -> CsvTable:
    """Split ``text`` into rows; find the header row among the first lines.

    ``want_columns`` are the column names the mapping refers to: with ``header='auto'``
    the header is the first row (after ``skip_lines``) that contains all of them, which
    skips the account/period preamble many bank exports put above the table.

    A file whose last line has no line end while its other lines have one is refused
    (unless ``allow_unterminated``): that is what a download cut mid-value looks like
    (``...,1234`` for ``1234.56``), and the cut value would otherwise parse.
    """
    # Only \n, \r\n and \r end lines: str.splitlines would also split on U+2028 and
    # friends, which may sit inside a quoted field.
    lines = [ln for ln in _LINE_END.findall(text) if ln]
    body = lines[skip_lines:]
    delim = delimiter or sniff_delimiter([ln.rstrip("\r\n") for ln in body[:40]])
    if delim == "\\t":
        delim = "\t"
    if (not allow_unterminated and len(lines) > 1 and lines[-1].strip()
            and not lines[-1].endswith(("\n", "\r"))):
        raise SourceError(
            source, f"{name}:line {len(lines)}",
            "the last line has no line end while the others do: the file looks cut short "
            "(download it again, or set allow_unterminated=yes if it is complete)",
        )
    # The lines themselves, not io.StringIO of their join: the same lines as
    # StringIO(newline="") gives (it ends lines at \n, \r\n and \r alone too), without
    # StringIO's copy of the whole text as 4-byte characters and a new string per line read
    # back out of it (measured: a quarter of a CSV import's reading, and 4 bytes a
    # character of memory).
    reader = csv.reader(iter(body), delimiter=delim, strict=True,
                        quotechar=quotechar or '"', escapechar=escapechar or None,
                        doublequote=not escapechar)  # fmt: skip
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            line = skip_lines + start
            start = reader.line_num + 1
            if not "".join(row).strip():  # no cell with anything but spaces (one C call)
                continue
            rows.append((line, row))
    except csv.Error as exc:
        msg = str(exc)
        if "unexpected end of data" in msg:
            msg = "the file ends inside a quoted field (cut short, or a stray quote)"
        raise SourceError(source, f"{name}:line {skip_lines + reader.line_num}", msg) from None
    # The quotes of the last record, from the line it starts on: a quoted field of it may
    # run over several lines ("a<newline>b"), and the last line alone would then look open.
    if text and rows and _open_quote("".join(lines[rows[-1][0] - 1:]), quotechar or '"',
                                     escapechar):  # fmt: skip
        raise SourceError(source, f"{name}:line {rows[-1][0]}", "file ends inside a quoted field")
    wanted = [c.strip().lower() for c in want_columns if c and not c.strip().isdigit()]
    head: list[str] | None = None
    if header == "no":
        return CsvTable(name, None, rows)
    if wanted:
        for i, (_, row) in enumerate(rows[:header_search]):
            cells = {c.strip().lower() for c in row}
            if all(w in cells for w in wanted):
                head = [c.strip() for c in row]
                rows = rows[i + 1 :]
                break
        else:
            first = rows[0][1] if rows else []
            missing = [w for w in wanted if w not in {c.strip().lower() for c in first}]
            raise SourceError(
                source,
                f"{name}:line {rows[0][0] if rows else skip_lines + 1}",
                f"no header row with column(s) {', '.join(repr(m) for m in missing)} in the "
                f"first {header_search} lines (first row: {', '.join(first[:12])!s:.200}); "
                "check the column mapping, delimiter and skip_lines",
            )
    elif header == "yes" and rows:
        head = [c.strip() for c in rows[0][1]]
        rows = rows[1:]
    return CsvTable(name, head, rows)


def _open_quote(last_line: str, quote: str, escape: str | None) -> bool:
    if escape:
        last_line = last_line.replace(escape + quote, "").replace(escape + escape, "")
    return last_line.count(quote) % 2 == 1


class Columns:
    """Resolves mapped column references (a header name, or a 1-based index) in rows."""

    def __init__(self, source: str, table: CsvTable) -> None:
        self.source = source
        self.table = table
        self.index: dict[str, int] = {}
        if table.header:
            for i, h in enumerate(table.header):
                self.index.setdefault(h.lower(), i)

    def position(self, ref: str | None) -> int | None:
        if not ref:
            return None
        ref = str(ref).strip()
        if ref.isdigit():
            return int(ref) - 1
        pos = self.index.get(ref.lower())
        if pos is None:
            raise SourceError(
                self.source, self.table.name, f"column '{ref}' is not in the header"
            )
        return pos

    def get(self, row: list[str], pos: int | None) -> str | None:
        if pos is None or pos >= len(row):
            return None
        value = row[pos].strip()
        return value or None


# --- batches ------------------------------------------------------------------------------


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a big file is turned into lines, cells, columns
    and records: millions of new lists, tuples and dicts, none in a cycle, that every
    full collection would walk again (measured on a 1M-line CSV: 11 full collections,
    ~7 us of a line's ~31). Reference counting still frees everything as usual."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def chunks(items: Sequence[T], size: int = BATCH_SIZE) -> Iterator[tuple[int, Sequence[T]]]:
    """(offset, chunk) pairs; one empty chunk for an empty sequence (the cursor still moves)."""
    if not items:
        yield 0, items
        return
    for i in range(0, len(items), size):
        yield i, items[i : i + size]


@dataclass(slots=True)
class RecordColumns:
    """A file's records as columns (one list per record field, ``lines`` the file line of
    each): what a file adapter can hand the sync service instead of a :class:`Record` per
    line (``recon_tui.store.records.prepare_columns`` turns them into rows). ``legacy``
    is each line's earlier-release id where it differs from its external id (``None``
    elsewhere): the renames ``legacy_id`` in ``attrs`` would otherwise carry."""

    source: str
    lines: list[int]
    columns: dict[str, list[Any]]
    legacy: list[str | None]

    def __len__(self) -> int:
        return len(self.lines)

    def slice(self, start: int, stop: int) -> RecordColumns:
        return RecordColumns(self.source, self.lines[start:stop],
                             {k: v[start:stop] for k, v in self.columns.items()},
                             self.legacy[start:stop])  # fmt: skip

    def legacy_pairs(self) -> list[tuple[str, str]]:
        """(legacy id, external id) of the lines that have one."""
        return [(old, ext) for old, ext in zip(self.legacy, self.columns["external_id"],
                                               strict=True) if old]  # fmt: skip


def column_batches(
    name: str,
    digest: str,
    cols: RecordColumns,
    cursor: dict[str, Any] | None,
    balances: Sequence[StatementBalance] = (),
    warnings: Sequence[str] = (),
) -> Iterator[tuple[Batch, RecordColumns]]:
    """:func:`file_batches` for a file read as columns: the same batches, cursors and
    progress, each batch (without records) paired with its slice of the columns."""
    skip = 0
    if cursor and cursor.get("sha256") == digest and isinstance(cursor.get("offset"), int):
        skip = cursor["offset"]
    total = len(cols)
    starts = range(skip, total, BATCH_SIZE) if 0 <= skip < total else [skip]
    for start in starts:
        part = cols.slice(start, start + BATCH_SIZE)
        done = start + len(part)
        batch = Batch(cursor={"file": name, "sha256": digest, "offset": done}, done=done,
                      total=total)  # fmt: skip
        if done >= total:
            batch.balances = list(balances)
            batch.warnings = list(warnings)
        yield batch, part


def file_batches(
    name: str,
    digest: str,
    records: Sequence[Record],
    cursor: dict[str, Any] | None,
    prices: Sequence[Price] = (),
    balances: Sequence[StatementBalance] = (),
    warnings: Sequence[str] = (),
) -> Iterator[Batch]:
    """Batches of a fully validated file.

    Cursor: ``{"file": name, "sha256": digest, "offset": n}``. A resumed import of the
    *same* file (same digest) skips the first ``n`` items; any other file starts at 0.
    Re-importing is harmless anyway: external ids are stable, so the store upserts.
    The statement balances and warnings travel with the last batch.
    """
    skip = 0
    if cursor and cursor.get("sha256") == digest and isinstance(cursor.get("offset"), int):
        skip = cursor["offset"]
    items: Sequence[Any] = prices if prices else records
    total = len(items)
    todo = items[skip:]
    for off, chunk in chunks(todo):
        done = skip + off + len(chunk)
        batch_cursor = {"file": name, "sha256": digest, "offset": done}
        if prices:
            batch = Batch(prices=list(chunk), cursor=batch_cursor, done=done, total=total)
        else:
            batch = Batch(records=list(chunk), cursor=batch_cursor, done=done, total=total)
        if done >= total:
            batch.balances = list(balances)
            batch.warnings = list(warnings)
        yield batch
