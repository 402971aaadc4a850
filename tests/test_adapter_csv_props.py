"""Property tests of the CSV statement parser: exact round trips, and only SourceError."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import SourceError
from adapters.file_csv import CsvStatementAdapter, preview

amounts = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2,
                      allow_nan=False, allow_infinity=False)
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
rows = st.lists(st.tuples(st.dates(date(2000, 1, 1), date(2099, 12, 31)), amounts, texts),
                min_size=1, max_size=30)
formats = st.sampled_from([(",", ".", ""), (";", ",", "."), ("\t", ".", ","), ("|", ",", " ")])

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def fmt_amount(d: Decimal, dec: str, thousands: str) -> str:
    text = f"{d:,.2f}" if thousands else f"{d:.2f}"
    return text.replace(",", "\x00").replace(".", dec).replace("\x00", thousands)


@SETTINGS
@given(rows=rows, fmt=formats)
def test_round_trip_exact(tmp_path: Path, rows: list[tuple[date, Decimal, str]],
                          fmt: tuple[str, str, str]) -> None:
    delim, dec, thousands = fmt
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, lineterminator="\n")
    w.writerow(["Datum", "Betrag", "Text"])
    for d, amount, memo in rows:
        w.writerow([d.strftime("%d.%m.%Y"), fmt_amount(amount, dec, thousands), memo])
    path = tmp_path / "rt.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    adapter = CsvStatementAdapter("rt", {
        "path": str(path), "decimal": dec, "thousands": thousands,
        "date_formats": "%d.%m.%Y", "date_column": "Datum", "amount_column": "Betrag",
        "memo_column": "Text",
    })
    got = [r for b in adapter.batches(None) for r in b.records]
    assert [(r.booking_date, r.amount, r.memo) for r in got] == [
        (d, a, m.strip() or None) for d, a, m in rows
    ]
    assert all(isinstance(r.amount, Decimal) for r in got)
    assert len({r.external_id for r in got}) == len(got)


MAPPINGS: list[dict[str, Any]] = [
    {"date_column": "Date", "amount_column": "Amount"},
    {"date_column": "1", "debit_column": "2", "credit_column": "3", "header": "no"},
    {"date_column": "Date", "amount_column": "Amount", "decimal": ",", "thousands": ".",
     "id_column": "Id", "date_formats": "%d.%m.%Y,%Y-%m-%d"},
]


@SETTINGS
@given(data=st.one_of(st.binary(max_size=400), texts.map(str.encode),
                      st.lists(st.lists(texts, max_size=5), max_size=8).map(
                          lambda rs: "\n".join(",".join(r) for r in rs).encode())),
       mapping=st.sampled_from(MAPPINGS))
def test_garbage_only_source_errors(tmp_path: Path, data: bytes, mapping: dict[str, Any]) -> None:
    path = tmp_path / "g.csv"
    path.write_bytes(b"Date,Amount,Id\n" + data)
    try:
        list(CsvStatementAdapter("g", {"path": str(path), **mapping}).batches(None))
    except SourceError as exc:
        assert exc.source == "g" and exc.message
    try:
        preview(str(path), mapping)
    except SourceError:
        pass


def test_unicode_line_separator_inside_field(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text('Date,Amount,Text\n2024-01-01,1.00,"a\u2028b"\n', encoding="utf-8")
    adapter = CsvStatementAdapter("u", {"path": str(path), "date_column": "Date",
                                        "amount_column": "Amount", "memo_column": "Text"})
    recs = [r for b in adapter.batches(None) for r in b.records]
    assert [r.memo for r in recs] == ["a\u2028b"]
