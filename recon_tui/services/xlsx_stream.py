"""A streaming XLSX writer: rows go out as they come, memory stays flat.

An XLSX workbook is a zip of a few fixed XML parts plus one XML part per sheet; only the
sheets are big. This writes each sheet's rows straight into its zip entry (inline
strings, no shared-string table, so nothing is kept per cell) and the fixed parts at the
end. It exists because the session export must write 500,000 rows in seconds:
xlsxwriter's ``constant_memory`` mode measured 223 µs per 30-cell row on this machine
(about two minutes for 500k rows) against 15 µs here, and it stages each sheet as a
plaintext temp file, which an encrypted export must never do.

A sheet holds at most Excel's 1,048,576 rows; further rows are counted and left out.
Cells: ``None`` is left empty, ``int`` and ``float`` are numbers, ``str`` is text (XML
escaped, control characters dropped, cut at Excel's 32,767 characters). Sheets are
written one after the other (a zip entry at a time): open one with :meth:`Workbook.sheet`,
write its rows, close it, then the next.

The session export hands its big tables over as the CSV text it has just written
(:meth:`Sheet.csv_text`): that text is already neutralised, so the sheet is built from it
with one template per pattern of empty cells instead of a function call per cell, and in
a process of its own (:func:`main`: CSV in on stdin, the workbook's bytes out on stdout,
nothing on disk) so it takes the machine's
second core while the export writes the other files.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import struct
import sys
import zipfile
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import IO, Any

_isal: Any
try:  # ISA-L's deflate: see _faster_deflate
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover - isal is a dependency; zlib still works
    _isal = None

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAX_TEXT = 32_767
_SLOW = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]|^\s|\s$")
_DROP = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FLUSH = 2_000  # rows per write into the zip entry
MAX_ROWS = 1_048_576
"""Excel's rows per sheet: rows past it are left out (the CSV files are complete)."""


def _letters(n: int) -> str:
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


_COLS = [_letters(i) for i in range(702)]  # A .. ZZ


def _text(v: str) -> str:
    """The ``<is>`` body of a text cell."""
    if len(v) > _MAX_TEXT:
        v = v[:_MAX_TEXT]
    if _SLOW.search(v) is None:
        return f"<t>{v}</t>"
    v = _DROP.sub("", v).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<t xml:space="preserve">{v}</t>'


# The control characters XML 1.0 cannot hold, for a quick look at ASCII text (the regex
# scans ~15 ns a character; ``translate`` is a table look-up in C).
_CONTROLS = str.maketrans("", "", "".join(map(chr, [*range(9), 11, 12, *range(14, 32)])))
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?\Z")


def _typed(field: str, integer: bool) -> Any:
    if not field:
        return None
    return int(field) if integer and field.isdigit() else field


_limited = False
"""Whether this process's csv readers refuse fields over :data:`_MAX_TEXT` (set by
:func:`serve`: a process of its own, where the global limit bothers nobody)."""


def _parse(text: str) -> tuple[list[list[str]], bool]:
    """The rows of CSV ``text``, and whether no field is over :data:`_MAX_TEXT` (known for
    free where the reader's field limit is set, else each row is measured)."""
    if not _limited:
        return list(csv.reader(io.StringIO(text))), False
    try:
        return list(csv.reader(io.StringIO(text))), True
    except csv.Error:  # a long field: read again without the limit, measure each row
        csv.field_size_limit(sys.maxsize)
        try:
            return list(csv.reader(io.StringIO(text))), False
        finally:
            csv.field_size_limit(_MAX_TEXT)


def _unescape(field: str) -> str:
    if "&" not in field:
        return field
    return field.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _getter(cols: Sequence[int]) -> Callable[[list[str]], str]:
    """The concatenated fields of ``cols`` of a row (all digits, or empty: see _digits)."""
    if len(cols) == 1:
        (c,) = cols
        return lambda f: f[c]
    return lambda f: "".join([f[c] for c in cols])


def _digits(text: str) -> bool:
    return not text or text.isdigit()


def _template(present: tuple[bool, ...], ints: frozenset[int]) -> str:
    """A row's cells as a ``%`` template over its non-empty fields, ``\x00`` standing for
    the row number (``%`` in a column letter cannot occur; fields are escaped already)."""
    out = []
    for i, there in enumerate(present):
        if not there:
            continue
        col = _COLS[i]
        if i in ints:
            out.append(f'<c r="{col}\x00"><v>%s</v></c>')
        else:
            out.append(f'<c r="{col}\x00" t="inlineStr"><is><t>%s</t></is></c>')
    return "".join(out)


class Sheet:
    """One sheet being written; rows are numbered from 1 in the order they are given."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._n = 0
        self._dropped = 0
        self._buf: list[str] = []
        self._templates: dict[tuple[bool, ...], str] = {}

    @property
    def dropped(self) -> int:
        """Rows left out past :data:`MAX_ROWS`."""
        return self._dropped

    def row(self, values: Sequence[Any], style: int = 0) -> None:
        """Append one row (``style`` 1: bold, for headers)."""
        if self._n >= MAX_ROWS:
            self._dropped += 1
            return
        self._n += 1
        rs = str(self._n)
        s = f' s="{style}"' if style else ""
        parts = [f'<row r="{rs}">']
        for col, v in zip(_COLS, values, strict=False):
            if v is None:
                continue
            cls = v.__class__
            if cls is str:
                parts.append(f'<c r="{col}{rs}"{s} t="inlineStr"><is>{_text(v)}</is></c>')
            elif cls is bool:
                parts.append(f'<c r="{col}{rs}"{s} t="inlineStr"><is><t>'
                             f'{"true" if v else "false"}</t></is></c>')  # fmt: skip
            elif cls is int or cls is float:
                parts.append(f'<c r="{col}{rs}"{s}><v>{v!r}</v></c>')
            else:
                parts.append(f'<c r="{col}{rs}"{s} t="inlineStr"><is>{_text(str(v))}</is></c>')
        parts.append("</row>")
        self._buf.append("".join(parts))
        if len(self._buf) >= _FLUSH:
            self.flush()

    def csv_text(self, text: str, ints: frozenset[int] = frozenset(),
                 copies: Sequence[int] = ()) -> None:  # fmt: skip
        """Append the rows of CSV ``text`` (``csv`` module dialect): an empty field is no
        cell, a field of column ``i`` in ``ints`` that is all digits is a number, the rest
        is text; each column of ``copies`` holding an exact decimal gets a numeric copy
        appended to the row (≈, for sums in a spreadsheet).

        Fast: the XML escapes are applied to the whole text at once (``& < >`` and the
        control characters XML cannot hold play no part in CSV syntax), and a row becomes
        XML through one ``%`` template per pattern of empty fields. Rows the template
        cannot say (a field with edge whitespace, too long a text, a non-digit in a
        number column) go through :meth:`row`."""
        if copies:  # small tables only: the general path
            for fields in _parse(text)[0]:
                values: list[Any] = [_typed(f, i in ints) for i, f in enumerate(fields)]
                values += [float(Decimal(fields[i])) if _DECIMAL.match(fields[i]) else None
                           for i in copies]  # fmt: skip
                self.row(values)
            return
        if "&" in text or "<" in text or ">" in text:
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if (text.translate(_CONTROLS) != text if text.isascii()
                else _DROP.search(text) is not None):  # fmt: skip
            text = _DROP.sub("", text)
        templates = self._templates
        get = _getter(sorted(ints)) if ints else None
        buf = self._buf
        n = self._n
        rows, short = _parse(text)
        for fields in rows:
            if n >= MAX_ROWS:
                self._dropped += 1
                continue
            if (list(map(str.strip, fields)) != fields
                    or (not short and max(map(len, fields), default=0) > _MAX_TEXT)
                    or (get is not None and not _digits(get(fields)))):  # fmt: skip
                self._n = n
                self.row([_typed(_unescape(f), i in ints) for i, f in enumerate(fields)])
                n = self._n
                continue
            n += 1
            key = tuple(map(bool, fields))
            template = templates.get(key)
            if template is None:
                template = templates[key] = _template(key, ints)
            buf.append(f'<row r="{n}">'
                       + (template % tuple(filter(None, fields))).replace("\x00", str(n))
                       + "</row>")  # fmt: skip
        self._n = n
        if len(buf) >= _FLUSH:
            self.flush()

    def rows(self, rows: Iterable[Sequence[Any]]) -> None:
        for r in rows:
            self.row(r)

    def flush(self) -> None:
        if self._buf:
            self._stream.write("".join(self._buf).encode("utf-8"))
            self._buf.clear()


class _Guard:
    """The workbook's view of its stream: after :meth:`Workbook.abort` it swallows writes,
    so an abandoned zip never writes its end into a file being thrown away."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.dead = False

    def write(self, b: bytes) -> int:
        return len(b) if self.dead else self.stream.write(b)

    def flush(self) -> None:
        if not self.dead:
            self.stream.flush()


class Workbook:
    """An XLSX workbook written into ``stream`` (any binary stream; seekable or not)."""

    def __init__(self, stream: IO[bytes], compresslevel: int = 1) -> None:
        self._guard = _Guard(stream)
        # Level 1: sheets of XML deflate ~10x anyway, and level 6 costs three times the CPU.
        guarded: Any = self._guard  # a writable stream is all a zip being written needs
        self._zip = zipfile.ZipFile(guarded, "w", compression=zipfile.ZIP_DEFLATED,
                                    compresslevel=compresslevel)  # fmt: skip
        self._level = compresslevel
        self._names: list[str] = []
        self._open: tuple[IO[bytes], Sheet] | None = None

    def _entry(self, name: str) -> IO[bytes]:
        info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        entry: IO[bytes] = self._zip.open(info, "w")
        _faster_deflate(entry, self._level)
        return entry

    def sheet(self, name: str, *, widths: dict[int, float] | None = None,
              freeze_header: bool = True) -> Sheet:  # fmt: skip
        """Start the next sheet (closing the previous one)."""
        self.end_sheet()
        self._names.append(name)
        entry = self._entry(f"xl/worksheets/sheet{len(self._names)}.xml")
        selected = ' tabSelected="1"' if len(self._names) == 1 else ""
        pane = ('<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                if freeze_header else "")  # fmt: skip
        cols = ""
        if widths:
            cols = "<cols>" + "".join(
                f'<col min="{c + 1}" max="{c + 1}" width="{w}" customWidth="1"/>'
                for c, w in sorted(widths.items())
            ) + "</cols>"  # fmt: skip
        entry.write((f'{_HEAD}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}"><sheetViews>'
                     f'<sheetView workbookViewId="0"{selected}>{pane}</sheetView></sheetViews>'
                     f'<sheetFormatPr defaultRowHeight="15"/>{cols}<sheetData>').encode())  # fmt: skip
        sheet = Sheet(entry)
        self._open = (entry, sheet)
        return sheet

    def end_sheet(self) -> None:
        if self._open is None:
            return
        entry, sheet = self._open
        sheet.flush()
        entry.write(b"</sheetData></worksheet>")
        entry.close()
        self._open = None

    def abort(self) -> None:
        """Give up (the file is being thrown away): write nothing more."""
        self._guard.dead = True
        if self._open is not None:  # an open entry would keep the zip from closing (and
            with contextlib.suppress(Exception):  # its __del__ would try again, loudly)
                self._open[0].close()
        self._open = None
        with contextlib.suppress(Exception):
            self._zip.close()

    def close(self) -> None:
        """Write the fixed parts and finish the zip."""
        self.end_sheet()
        n = len(self._names)
        sheets = "".join(
            f'<sheet name="{_xml_attr(name)}" sheetId="{i}" r:id="rId{i}"/>'
            for i, name in enumerate(self._names, start=1)
        )
        parts = {
            "[Content_Types].xml": (
                f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                'content-types"><Default Extension="rels" ContentType="application/'
                'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
                'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
                'sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
                + "".join(
                    f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
                    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                    for i in range(1, n + 1)
                ) + "</Types>"
            ),
            "_rels/.rels": (
                f'{_HEAD}<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
                f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
            ),
            "xl/workbook.xml": (
                f'{_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><bookViews><workbookView/>'
                f"</bookViews><sheets>{sheets}</sheets></workbook>"
            ),
            "xl/_rels/workbook.xml.rels": (
                f'{_HEAD}<Relationships xmlns="{_PKG}">'
                + "".join(
                    f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" '
                    f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, n + 1)
                )
                + f'<Relationship Id="rId{n + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
                "</Relationships>"
            ),
            "xl/styles.xml": (
                f'{_HEAD}<styleSheet xmlns="{_MAIN}"><fonts count="2"><font><sz val="11"/>'
                '<name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/>'
                '</font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill>'
                '<fill><patternFill patternType="gray125"/></fill></fills><borders count="1">'
                "<border><left/><right/><top/><bottom/><diagonal/></border></borders>"
                '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
                '</cellStyleXfs><cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" '
                'borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" '
                'xfId="0" applyFont="1"/></cellXfs><cellStyles count="1"><cellStyle '
                'name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
            ),
        }
        for name, text in parts.items():
            with self._entry(name) as f:
                f.write(text.encode("utf-8"))
        self._zip.close()


def _faster_deflate(entry: Any, level: int) -> None:
    """Deflate a fresh zip entry with ISA-L (``isal``) instead of zlib where it is there:
    the same deflate format (any unzip, Excel and openpyxl read it), the same XML inside,
    about five times less CPU (121 MB of sheet XML: 0.55 s with zlib at level 1, 0.11 s
    with ISA-L at level 1; the workbook child of a 100k-record export 4.6 -> 2.8 s), for a
    workbook about 18% larger. zipfile has no public hook for its compressor, so the
    entry's own one is swapped before anything is written to it; where those attributes
    are not there (another Python) zlib stays."""
    fresh = getattr(entry, "_file_size", None) == 0
    if _isal is None or getattr(entry, "_compressor", None) is None or not fresh:
        return
    entry._compressor = _isal.compressobj(min(max(level, 0), 3), _isal.DEFLATED, -15)


def _xml_attr(v: str) -> str:
    return (v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))  # fmt: skip


# --- a workbook from messages, here or in a process of its own ---------------------------

_OPS = {b"S": "sheet", b"C": "csv", b"R": "rows", b"E": "close"}
_CODES = {v: k for k, v in _OPS.items()}


def frame(op: str, arg: Any = None) -> bytes:
    """One message of :func:`build` as bytes for :func:`serve` (CSV text goes as UTF-8)."""
    payload = (arg.encode("utf-8") if op == "csv" and isinstance(arg, str)
               else arg if op == "csv" else json.dumps(arg).encode("utf-8"))  # fmt: skip
    return _CODES[op] + struct.pack(">I", len(payload)) + payload


def build(recv: Callable[[], tuple[str, Any]], wb: Workbook) -> None:
    """Write ``wb`` from messages until ``close``:

    ``("sheet", {"name", "header", "ints", "copies", "widths", "freeze"})`` starts a sheet
    (``header`` in bold when given; ``ints`` and ``copies`` as in :meth:`Sheet.csv_text`,
    each copy's header is the column's with `` (number)``); ``("csv", text)`` appends rows
    of CSV text; ``("rows", rows)`` appends rows of values; ``("close", None)`` finishes."""
    sheet: Sheet | None = None
    ints: frozenset[int] = frozenset()
    copies: tuple[int, ...] = ()
    while True:
        op, arg = recv()
        if op == "sheet":
            widths = {int(k): float(v) for k, v in (arg.get("widths") or {}).items()}
            sheet = wb.sheet(arg["name"], widths=widths or None,
                             freeze_header=bool(arg.get("freeze", True)))  # fmt: skip
            header = list(arg.get("header") or [])
            ints = frozenset(arg.get("ints") or ())
            copies = tuple(arg.get("copies") or ())
            if header:
                sheet.row([*header, *(f"{header[i]} (number)" for i in copies)], style=1)
        elif op == "csv":
            assert sheet is not None
            sheet.csv_text(arg, ints, copies)
        elif op == "rows":
            assert sheet is not None
            sheet.rows(arg)
        elif op == "close":
            wb.close()
            return
        else:
            raise ValueError(f"unknown workbook message {op!r}")


def serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """:func:`build` from :func:`frame` messages read from ``inp``, the workbook's bytes
    written to ``out`` (a pipe: the zip needs no seeking)."""

    def recv() -> tuple[str, Any]:
        head = inp.read(5)
        if len(head) < 5:
            raise EOFError("the exporter went away")
        (n,) = struct.unpack(">I", head[1:])
        payload = inp.read(n)
        if len(payload) < n:
            raise EOFError("the exporter went away")
        op = _OPS[head[:1]]
        return op, payload.decode("utf-8") if op == "csv" else json.loads(payload)

    global _limited
    csv.field_size_limit(_MAX_TEXT)
    _limited = True
    build(recv, Workbook(out))
    out.flush()


def main() -> None:
    """The child's entry point (see ``services.export._Sheets``)."""
    try:
        serve(sys.stdin.buffer, sys.stdout.buffer)
    except (EOFError, BrokenPipeError):  # the export gave up: it throws the file away
        sys.exit(1)


if __name__ == "__main__":
    main()
