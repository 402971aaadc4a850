"""Property tests: the MT940 ``:61:`` line as banks write it, and CSV amounts with
currency symbols and separators. Each generated file states its own balances, so every
example is also checked by the importer's own balance rule."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import SourceError
from adapters.file_csv import CsvStatementAdapter
from adapters.file_mt940 import Mt940Adapter
from adapters.file_util import parse_amount, split_currency

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

magnitudes = st.decimals(min_value=Decimal("0"), max_value=Decimal("9999999999.99"), places=2,
                         allow_nan=False, allow_infinity=False)  # fmt: skip
marks = st.sampled_from(["C", "D", "RC", "RD"])
type_codes = st.sampled_from(["NTRF", "NMSC", "NOV ", "NIT ", "NDV ", "S   ", "FCHG", "N192"])
refs = st.sampled_from(["NONREF", "KREF+1", "INV-42", ""])
bank_refs = st.one_of(st.none(), st.from_regex(r"[A-Z0-9]{6,16}", fullmatch=True))


def mt940_amount(d: Decimal, style: str) -> str:
    whole, _, frac = f"{d:.2f}".partition(".")
    if style == "comma":
        return f"{whole},{frac}"
    if style == "trailing":
        return f"{whole},{frac.rstrip('0')}"
    return whole if frac == "00" else f"{whole},{frac}"  # "500" without a decimal comma


line61 = st.tuples(st.dates(date(2001, 1, 2), date(2098, 12, 30)), marks, magnitudes,
                   st.sampled_from(["comma", "trailing", "bare"]), type_codes, refs, bank_refs,
                   st.booleans())  # fmt: skip


@SETTINGS
@given(lines=st.lists(line61, min_size=1, max_size=12), opening=magnitudes)
def test_mt940_line61_amounts_signs_and_dates(tmp_path: Path, lines: list[tuple],
                                              opening: Decimal) -> None:
    body = [":20:PROP", ":25:NL91ABNA0417164300", ":28C:1/1", f":60F:C010101EUR{opening:.2f}"
            .replace(".", ",")]  # fmt: skip
    expected = []
    for day, mark, mag, style, code, ref, bank_ref, entry in lines:
        sign = -1 if mark in ("D", "RC") else 1
        entry_part = day.strftime("%m%d") if entry else ""
        tail = f"//{bank_ref}" if bank_ref else ""
        body.append(f":61:{day:%y%m%d}{entry_part}{mark}{mt940_amount(mag, style)}{code}"
                    f"{ref}{tail}")  # fmt: skip
        body.append(":86:/REMI/property test")
        expected.append((day, sign * mag))
    closing = opening + sum((a for _, a in expected), Decimal(0))
    mark = "C" if closing >= 0 else "D"
    body.append(f":62F:{mark}{lines[-1][0]:%y%m%d}EUR{abs(closing):.2f}".replace(".", ","))
    path = tmp_path / "p.sta"
    path.write_text("\n".join(body) + "\n-\n")
    got = [r for b in Mt940Adapter("p", {"path": str(path)}).batches(None) for r in b.records]
    assert [(r.booking_date, r.amount) for r in got] == expected
    assert len({r.external_id for r in got}) == len(got)


@SETTINGS
@given(lines=st.lists(line61, min_size=1, max_size=6),
       junk=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12))
def test_mt940_broken_line61_is_one_line(tmp_path: Path, lines: list[tuple], junk: str) -> None:
    body = [":20:PROP", ":25:X", ":60F:C010101EUR0,00"]
    for day, mark, mag, style, code, ref, _, _ in lines:
        body.append(f":61:{day:%y%m%d}{mark}{mt940_amount(mag, style)}{code}{ref}")
    body.insert(4, ":61:" + junk.replace("\n", " "))
    body.append(":62F:C010101EUR0,00")
    path = tmp_path / "b.sta"
    path.write_text("\n".join(body) + "\n")
    try:
        list(Mt940Adapter("p", {"path": str(path)}).batches(None))
    except SourceError as exc:
        assert "\n" not in str(exc) and "<mt940" not in exc.message and exc.where
        assert exc.where.startswith("b.sta:line ")


SYMBOLS = [("€", "EUR", "pre"), ("£", "GBP", "pre"), ("$", "USD", "pre"), ("EUR", "EUR", "pre"),
           ("EUR", "EUR", "post"), ("€", "EUR", "post"), ("CHF", "CHF", "pre"),
           ("BTC", "BTC", "post"), ("", None, "pre")]  # fmt: skip
SEPARATORS = [(".", ""), (".", ","), (",", "."), (",", " "), (".", "'"), (",", "")]


def fmt(d: Decimal, dec: str, thousands: str) -> str:
    text = f"{abs(d):,.2f}" if thousands else f"{abs(d):.2f}"
    return text.replace(",", "\x00").replace(".", dec).replace("\x00", thousands)


@SETTINGS
@given(d=st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=2,
                     allow_nan=False, allow_infinity=False),
       sym=st.sampled_from(SYMBOLS), sep=st.sampled_from(SEPARATORS),
       sign_style=st.sampled_from(["before", "between", "after", "parens"]),
       space=st.sampled_from(["", " ", "\u00a0"]))  # fmt: skip
def test_csv_amounts_with_symbols_and_separators(
    d: Decimal, sym: tuple[str, str | None, str], sep: tuple[str, str], sign_style: str,
    space: str,
) -> None:
    symbol, code, where = sym
    dec, thousands = sep
    number = fmt(d, dec, thousands)
    neg = d < 0
    if where == "pre":
        core = f"{symbol}{space if symbol else ''}{number}"
        if neg:
            core = {"before": f"-{core}", "between": f"{symbol}{space}-{number}" if symbol
                    else f"-{number}", "after": f"{core}-", "parens": f"({core})"}[sign_style]
    else:
        core = f"{number}{space}{symbol}"
        if neg:
            core = {"before": f"-{core}", "between": f"-{core}", "after": f"{number}-{space}"
                    f"{symbol}", "parens": f"({number}){space}{symbol}"}[sign_style]
    text, found = split_currency(core.replace("\u00a0", " "))
    assert found == code
    assert parse_amount(text, "amount", dec, thousands) == d


@SETTINGS
@given(rows=st.lists(st.tuples(st.decimals(min_value=Decimal("-99999"), max_value=Decimal("99999"),
                                           places=2, allow_nan=False, allow_infinity=False),
                               st.sampled_from(["£", "GBP ", ""])), min_size=1, max_size=15))
def test_csv_symbol_amounts_import_exactly(tmp_path: Path, rows: list[tuple[Decimal, str]]
                                           ) -> None:  # fmt: skip
    lines = ["Date,Amount"]
    for i, (a, sym) in enumerate(rows):
        sign = "-" if a < 0 else ""
        lines.append(f'2024-01-{1 + i % 28:02d},"{sign}{sym}{abs(a):,.2f}"')
    path = tmp_path / "s.csv"
    path.write_text("\n".join(lines) + "\n")
    adapter = CsvStatementAdapter("s", {"path": str(path), "date_column": "Date",
                                        "amount_column": "Amount", "thousands": ",",
                                        "currency": "USD"})  # fmt: skip
    got = [r for b in adapter.batches(None) for r in b.records]
    assert [r.amount for r in got] == [a for a, _ in rows]
    assert [r.asset for r in got] == ["GBP" if s else "USD" for _, s in rows]
    assert (date(2024, 1, 1) + timedelta(0)) == got[0].booking_date
