"""Shared helpers of the file adapters (statements, ledger exports, prices).

Reading and decoding files with errors that say where, strict number and date parsing
for hand-configured column mappings, delimiter sniffing, content-derived external ids,
and the file cursor that lets a sync resume inside a large file.

Nothing here knows about a particular file format; every failure is a
:class:`~adapters.base.SourceError` naming the file and, where known, the line.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from adapters.base import Batch, SourceError
from recon_tui.model import Price, Record, ValidationError, to_decimal

BATCH_SIZE = 10_000
"""The contract's upper bound on records per batch."""

MAX_FILE_BYTES = 512 * 1024 * 1024
"""A statement bigger than this is a mistake (wrong file picked), not a statement."""

T = TypeVar("T")


# --- settings coercion: the store and the CLI hand settings over as text -----------------


def as_bool(value: Any, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "y", "on")


def as_int(source: str, name: str, value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        raise SourceError(source, name, f"setting '{name}' must be a whole number") from None


def as_list(value: Any) -> list[str]:
    """A list setting given as a list or as comma/newline separated text."""
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [p.strip() for p in re.split(r"[,\n]", str(value)) if p.strip()]


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


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- numbers and dates --------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


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
    s = re.sub(r"^([+-])\s+", r"\1", s)
    if decimal_sep == ",":
        if "." in s:
            raise ValidationError(field, f"{text!r}: '.' found but the decimal mark is ','")
        s = s.replace(",", ".")
    elif "," in s:
        raise ValidationError(field, f"{text!r}: ',' found but the decimal mark is '.'")
    if not _PLAIN_NUMBER.match(s):
        raise ValidationError(field, f"{text!r} is not a number")
    d = to_decimal(s, field)
    return -d if negative else d


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


class ContentIds:
    """Deterministic external ids for lines without a bank id.

    The id is a hash of (account, booking date, amount, currency, description) plus an
    ordinal among identical lines of the same file, so two genuinely identical payments
    on one day stay two records and re-importing the same or an overlapping statement
    yields the same ids.

    Limits: the ordinal assumes statements cover whole days (true of bank exports); an
    export that cuts a day in the middle, or a bank that rewrites a description between
    two exports, produces new ids and therefore duplicates to review. Prefer the bank's
    own transaction id whenever the format has one.
    """

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def next(self, *parts: Any) -> str:
        key = "\x1f".join("" if p is None else " ".join(str(p).split()).lower() for p in parts)
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        n = self._seen.get(digest, 0)
        self._seen[digest] = n + 1
        return f"h:{digest}:{n}"


class UniqueIds:
    """Refuses a file that repeats a bank-given id: one of the two lines would be lost."""

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
) -> CsvTable:
    """Split ``text`` into rows; find the header row among the first lines.

    ``want_columns`` are the column names the mapping refers to: with ``header='auto'``
    the header is the first row (after ``skip_lines``) that contains all of them, which
    skips the account/period preamble many bank exports put above the table.
    """
    # Only \n, \r\n and \r end lines: str.splitlines would also split on U+2028 and
    # friends, which may sit inside a quoted field.
    lines = [ln for ln in _LINE_END.findall(text) if ln]
    body = lines[skip_lines:]
    delim = delimiter or sniff_delimiter([ln.rstrip("\r\n") for ln in body[:40]])
    if delim == "\\t":
        delim = "\t"
    reader = csv.reader(io.StringIO("".join(body), newline=""), delimiter=delim, strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            line = skip_lines + start
            start = reader.line_num + 1
            if not any(c.strip() for c in row):
                continue
            rows.append((line, row))
    except csv.Error as exc:
        raise SourceError(source, f"{name}:line {skip_lines + reader.line_num}", str(exc)) from None
    if text and not text.endswith(("\n", "\r")) and rows and _open_quote(lines[-1], delim):
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


def _open_quote(last_line: str, delim: str) -> bool:
    return last_line.count('"') % 2 == 1


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


def chunks(items: Sequence[T], size: int = BATCH_SIZE) -> Iterator[tuple[int, Sequence[T]]]:
    """(offset, chunk) pairs; one empty chunk for an empty sequence (the cursor still moves)."""
    if not items:
        yield 0, items
        return
    for i in range(0, len(items), size):
        yield i, items[i : i + size]


def file_batches(
    name: str,
    digest: str,
    records: Sequence[Record],
    cursor: dict[str, Any] | None,
    prices: Sequence[Price] = (),
) -> Iterator[Batch]:
    """Batches of a fully validated file.

    Cursor: ``{"file": name, "sha256": digest, "offset": n}``. A resumed import of the
    *same* file (same digest) skips the first ``n`` items; any other file starts at 0.
    Re-importing is harmless anyway: external ids are stable, so the store upserts.
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
            yield Batch(prices=list(chunk), cursor=batch_cursor, done=done, total=total)
        else:
            yield Batch(records=list(chunk), cursor=batch_cursor, done=done, total=total)
