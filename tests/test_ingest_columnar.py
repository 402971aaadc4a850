"""The CSV statement read as columns stores exactly what the row path stores.

``CsvStatementAdapter.column_batches`` converts a file column by column and the store
builds its rows from the columns (``records.prepare_columns``); ``batches`` makes a
:class:`Record` per line and ``records.prepare_batch`` a row per record. On generated
statements (odd quoting, a BOM, decimal commas, thousands separators, negatives in
parentheses or with a trailing minus, currency symbols and codes, fees, value dates,
kinds, repeated and placeholder bank ids, accounts, skip patterns) the two give the same
rows (content hashes included), the same legacy-id renames and the same cursors; a file
with a bad line is refused with the same line either way.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import file_util as fu
from adapters.base import SourceError
from adapters.file_csv import CsvStatementAdapter
from recon_tui.services import sync
from recon_tui.store import Store
from recon_tui.store.records import column_rows, record_row
from recon_tui.store.sources import add_source

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip

texts = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
                max_size=12) | st.sampled_from(['say "hi", ok', "a\nb", "  pad  ", "", "é ü"])
amounts = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=2,
                      allow_nan=False, allow_infinity=False)  # fmt: skip
ids = st.sampled_from(["", "NONREF", "0000", "T1", "T2", "T1"]) | st.text("ABC123", min_size=1,
                                                                           max_size=6)  # fmt: skip
lines = st.lists(st.tuples(st.dates(date(2020, 1, 1), date(2030, 12, 31)), amounts, texts, ids,
                           st.sampled_from(["", "0.35", "1,5"]), st.sampled_from(["", "USD"]),
                           st.sampled_from(["", "Card", "ATM", "Send"])),
                 min_size=0, max_size=25)  # fmt: skip
# (delimiter, decimal mark, thousands separator)
formats = st.sampled_from([(",", ".", ""), (";", ",", "."), ("\t", ".", ","), ("|", ",", " "),
                           (",", ".", "'")])  # fmt: skip
negatives = st.sampled_from(["minus", "parens", "trailing"])
symbols = st.sampled_from(["", "€", "EUR ", " EUR"])


def money(d: Decimal, dec: str, thousands: str, neg: str, symbol: str) -> str:
    text = f"{abs(d):,.2f}" if thousands else f"{abs(d):.2f}"
    text = text.replace(",", "\x00").replace(".", dec).replace("\x00", thousands)
    if symbol.endswith(" "):
        text = symbol + text
    elif symbol.startswith(" "):
        text = text + symbol
    else:
        text = symbol + text
    if d < 0:
        if symbol.startswith(" ") and neg == "trailing":
            neg = "minus"  # "12.00 EUR-" is not an amount a bank writes
        text = {"minus": "-" + text, "parens": f"({text})", "trailing": text + "-"}[neg]
    return text


def write(path: Path, rows: list[tuple[Any, ...]], fmt: tuple[str, str, str], neg: str,
          symbol: str, bom: bool, preamble: bool) -> None:  # fmt: skip
    delim, dec, thousands = fmt
    buf = io.StringIO()
    if preamble:
        buf.write("Account statement\r\n\r\n")
    w = csv.writer(buf, delimiter=delim, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(["Booked", "Value", "Amount", "Memo", "Id", "Fee", "Ccy", "Type", "Payee"])
    for d, amount, memo, bank_id, fee, ccy, kind in rows:
        fee_text = fee.replace(",", ".").replace(".", dec)
        w.writerow([d.strftime("%d.%m.%Y"), d.strftime("%d.%m.%Y"), money(amount, dec, thousands, neg,
                    symbol if not ccy else ""), memo, bank_id, fee_text, ccy, kind,
                    memo[:3]])  # fmt: skip
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8"))


def mapping(path: Path, fmt: tuple[str, str, str], opts: dict[str, Any]) -> dict[str, Any]:
    delim, dec, thousands = fmt
    return {"path": str(path), "delimiter": delim, "decimal": dec, "thousands": thousands,
            "date_formats": "%d.%m.%Y", "date_column": "Booked", "amount_column": "Amount",
            "memo_column": "Memo", **opts}  # fmt: skip


options = st.fixed_dictionaries({}, optional={
    "id_column": st.just("Id"), "value_date_column": st.just("Value"),
    "fee_column": st.just("Fee"), "currency_column": st.just("Ccy"),
    "kind_column": st.just("Type"), "kind_map": st.just("Card=card,ATM=withdrawal"),
    "counterparty_column": st.just("Payee"), "reference_column": st.just("Id"),
    "account": st.sampled_from(["NL01BANK0123456789", "main"]),
    "debit_positive": st.booleans(), "fee_included": st.booleans(),
    "skip_rows": st.just("^Send$"), "skip_if_empty": st.just("Type"),
    "currency": st.sampled_from(["EUR", "gbp"]),
})  # fmt: skip


def row_path(adapter: CsvStatementAdapter) -> list[tuple[Any, ...]]:
    """(cursor, done, total, rows, legacy renames) per batch, one Record per line."""
    out = []
    for b in adapter.batches(None):
        legacy = sync._legacy_pairs(b.records)
        out.append((b.cursor, b.done, b.total, [record_row(r) for r in b.records], legacy))
    return out


def column_path(adapter: CsvStatementAdapter) -> list[tuple[Any, ...]]:
    out = []
    for b, cols in adapter.column_batches(None):
        assert cols is not None, "this mapping should take the columnar path"
        assert not b.records
        out.append((b.cursor, b.done, b.total, column_rows("src", cols.columns),
                    cols.legacy_pairs()))  # fmt: skip
    return out


def outcome(fn: Any, adapter: CsvStatementAdapter) -> Any:
    try:
        return fn(adapter)
    except SourceError as exc:
        return ("refused", str(exc))


@SETTINGS
@given(rows=lines, fmt=formats, neg=negatives, symbol=symbols, bom=st.booleans(),
       preamble=st.booleans(), opts=options)  # fmt: skip
def test_columns_store_what_the_rows_store(tmp_path: Path, rows: list[tuple[Any, ...]],
                                           fmt: tuple[str, str, str], neg: str, symbol: str,
                                           bom: bool, preamble: bool,
                                           opts: dict[str, Any]) -> None:  # fmt: skip
    path = tmp_path / "s.csv"
    write(path, rows, fmt, neg, symbol, bom, preamble)
    adapter = CsvStatementAdapter("src", mapping(path, fmt, opts))
    expected = outcome(row_path, adapter)
    got = outcome(column_path_or_rows, adapter)
    assert got == expected
    if expected[0] != "refused":  # a file the row path takes, the columns take too
        assert got == outcome(column_path, adapter)


def column_path_or_rows(adapter: CsvStatementAdapter) -> list[tuple[Any, ...]]:
    """The column path, or (for a file it hands to the row path) what the sync service
    then makes of its records."""
    out = []
    for b, cols in adapter.column_batches(None):
        if cols is None:  # legacy ids first: the service takes them out of attrs
            legacy = sync._legacy_pairs(b.records)
            out.append((b.cursor, b.done, b.total, [record_row(r) for r in b.records],
                        legacy))  # fmt: skip
        else:
            out.append((b.cursor, b.done, b.total, column_rows("src", cols.columns),
                        cols.legacy_pairs()))  # fmt: skip
    return out


def simple_file(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "big.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["date", "amount", "id", "memo"])
        for i in range(n):
            w.writerow([f"2025-01-{i % 28 + 1:02d}", f"{(i % 1000 - 500) / 4:.2f}",
                        f"B{i:07d}" if i % 7 else "NONREF", f"memo {i % 13}"])  # fmt: skip
    return path


def test_a_plain_statement_takes_the_columnar_path_in_the_same_batches(tmp_path: Path) -> None:
    path = simple_file(tmp_path, 25_001)
    adapter = CsvStatementAdapter("src", {"path": str(path), "date_column": "date",
                                          "amount_column": "amount", "id_column": "id",
                                          "memo_column": "memo"})  # fmt: skip
    got = column_path(adapter)
    assert [(c["offset"], d, t) for c, d, t, _, _ in got] == [
        (10_000, 10_000, 25_001), (20_000, 20_000, 25_001), (25_001, 25_001, 25_001)]
    assert got == row_path(adapter)


@pytest.mark.parametrize("bad, where", [
    ("2025-02-30,1.00,X1,m\n", "line 3, field 'booking_date'"),
    ("2025-02-03,1.0.0,X1,m\n", "line 3, field 'amount'"),
    ("2025-02-03,,X1,m\n", "line 3, field 'amount'"),
    ("2025-02-03\n", "line 3, field 'row'"),
])  # fmt: skip
def test_a_bad_line_is_refused_naming_it(tmp_path: Path, bad: str, where: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("date,amount,id,memo\n2025-02-01,5.00,X0,ok\n" + bad + "2025-02-04,1,X2,m\n",
                    encoding="utf-8")  # fmt: skip
    adapter = CsvStatementAdapter("src", {"path": str(path), "date_column": "date",
                                          "amount_column": "amount", "id_column": "id"})
    with pytest.raises(SourceError) as exc:
        list(adapter.column_batches(None))
    assert f"bad.csv:{where}" in str(exc.value)
    assert outcome(column_path_or_rows, adapter) == outcome(row_path, adapter)


def test_import_twice_through_the_columns_adds_nothing_the_second_time(tmp_path: Path) -> None:
    path = simple_file(tmp_path, 3_000)
    store = Store.init(tmp_path / "s.db", passphrase="x")
    add_source(store, "bank", "csv", {"date_column": "date", "amount_column": "amount",
                                      "id_column": "id", "memo_column": "memo"})  # fmt: skip
    first = sync.import_file(store, "bank", str(path))
    again = sync.import_file(store, "bank", str(path))
    assert first.ok and first.added == 3_000
    assert again.ok and (again.added, again.changed, again.unchanged) == (0, 0, 3_000)
    assert store.count("SELECT count(*) FROM records") == 3_000
    store.close()


def test_amount_parser_agrees_with_split_currency_and_parse_amount() -> None:
    for dec, th in ((".", ""), (",", "."), (".", ",")):
        parse = fu.amount_parser(dec, th)
        for text in ("-12.50", "12,50", "007.10", "-0", "+5", "1" * 25, "1.0000000000000000001",
                     "(3.00)", "4.00-", "€1.234,56", "12 USD", "1.234", "-.5"):  # fmt: skip
            try:
                body, ccy = fu.split_currency(text)
                want: Any = (fu.parse_amount(body, "amount", dec, th), ccy)
            except ValueError as exc:
                want = str(exc)
            try:
                got: Any = parse(text, "amount")
            except ValueError as exc:
                got = str(exc)
            assert got == want and str(got) == str(want), (text, dec, th)


def test_a_last_line_with_a_quoted_line_break_is_a_complete_file(tmp_path: Path) -> None:
    # Found by the generator above: the last record's memo "a<newline>b" left its last
    # physical line with one quote, and the file was refused as cut inside a quote.
    path = tmp_path / "q.csv"
    path.write_text('date,amount,memo\n2025-01-01,1.00,"x"\n2025-01-02,2.00,"a\nb"\n',
                    encoding="utf-8")
    adapter = CsvStatementAdapter("src", {"path": str(path), "date_column": "date",
                                          "amount_column": "amount", "memo_column": "memo"})
    assert [r.memo for b in adapter.batches(None) for r in b.records] == ["x", "a\nb"]
    cut = tmp_path / "cut.csv"
    cut.write_text('date,amount,memo\n2025-01-01,1.00,"x"\n2025-01-02,2.00,"a\nb\n',
                   encoding="utf-8")
    with pytest.raises(SourceError, match="quoted field"):
        list(CsvStatementAdapter("src", {**adapter.settings, "path": str(cut)}).batches(None))


def _plain(path: Path) -> dict[str, Any]:
    return {"path": str(path), "date_column": "date", "amount_column": "amount",
            "id_column": "id", "memo_column": "memo"}  # fmt: skip


def test_a_bad_line_in_a_later_batch_refuses_the_file_naming_it(tmp_path: Path) -> None:
    """Batches are converted as they are handed on: the first two are out before the third
    meets its bad line, and the import (one transaction) leaves the store as it was."""
    path = simple_file(tmp_path, 25_000)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[22_000] = "2025-01-05,12.3.4,B9999999,bad\n"  # file line 22,001
    path.write_text("".join(lines), encoding="utf-8")
    adapter = CsvStatementAdapter("src", _plain(path))
    handed = []
    with pytest.raises(SourceError) as exc:
        for b, _ in adapter.column_batches(None):
            handed.append(b.done)
    assert handed == [10_000, 20_000]
    assert "big.csv:line 22001, field 'amount'" in str(exc.value)
    store = Store.init(tmp_path / "s.db", passphrase="x")
    add_source(store, "bank", "csv", {k: v for k, v in _plain(path).items() if k != "path"})
    report = sync.import_file(store, "bank", str(path))
    assert not report.ok and "big.csv:line 22001, field 'amount'" in (report.error or "")
    assert "'bank'" in (report.error or "")
    assert store.count("SELECT count(*) FROM records") == 0
    store.close()


def test_a_batch_handed_to_the_row_path_mid_file_stores_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Content-id ordinals run on across batches whichever path converts each: the second
    batch made by the row path gives the rows the columns give (ids repeat: NONREF lines
    take content ids, and identical lines count on from batch to batch)."""
    path = simple_file(tmp_path, 25_000)
    with path.open("a", encoding="utf-8") as f:
        f.write("2025-01-01,1.00,NONREF,same\n" * 3)
    adapter = CsvStatementAdapter("src", _plain(path))
    want = column_path(adapter)
    from adapters import file_csv

    real = file_csv._columns
    seen: list[int] = []

    def second_by_rows(p: Any, rows: Any = None) -> Any:
        seen.append(1)
        return None if len(seen) == 2 else real(p, rows)

    monkeypatch.setattr(file_csv, "_columns", second_by_rows)
    got = column_path_or_rows(adapter)
    assert len(seen) == 3
    assert got == want
    assert sum(1 for _, _, _, rows, _ in want for r in rows if r[1].startswith("h:")) > 3_000


def test_a_resumed_import_skips_the_batches_already_written(tmp_path: Path) -> None:
    path = simple_file(tmp_path, 25_000)
    adapter = CsvStatementAdapter("src", _plain(path))
    full = column_path(adapter)
    cursor = full[1][0]  # after the second batch
    resumed = [(b.cursor, b.done, b.total, column_rows("src", c.columns), c.legacy_pairs())
               for b, c in adapter.column_batches(cursor) if c is not None]  # fmt: skip
    assert resumed == full[2:]


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(["a", "b", ",", '"', "\n", "\r", "\r\n", " ", "\u2028", "é"]),
                     max_size=40).map("".join))  # fmt: skip
def test_csv_lines_are_read_as_stringio_reads_them(text: str) -> None:
    """read_csv_table hands csv.reader the file's lines, not io.StringIO(newline='') of
    their join: the same records, line numbers and refusals (quoted line breaks, lone \\r)."""

    def table() -> Any:
        try:
            return fu.read_csv_table("s", "f.csv", text, delimiter=",", header="no",
                                     allow_unterminated=True).rows  # fmt: skip
        except SourceError as exc:
            return str(exc)

    got = table()
    real = csv.reader
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fu.csv, "reader", lambda lines, **kw: real(
            io.StringIO("".join(lines), newline=""), **kw))  # fmt: skip
        want = table()
    assert got == want
