"""Statement-file, ledger and price adapters end to end on the samples in tests/data."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters import registry
from adapters.base import Adapter, Batch, SourceError
from adapters.file_csv import preview

DATA = Path(__file__).parent / "data"

GERMAN = {
    "account": "DE89370400440532013000", "decimal": ",", "thousands": ".",
    "date_formats": "%d.%m.%Y", "date_column": "Buchungstag", "value_date_column": "Valuta",
    "amount_column": "Betrag", "currency_column": "Währung",
    "counterparty_column": "Auftraggeber/Empfänger", "memo_column": "Verwendungszweck",
}


def run(kind: str, settings: dict[str, Any], cursor: dict[str, Any] | None = None) -> list[Batch]:
    adapter: Adapter = registry.get(kind)("src1", settings)
    return list(adapter.batches(cursor))


def records(kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {r.external_id: r for b in run(kind, settings) for r in b.records}


def err(kind: str, settings: dict[str, Any]) -> SourceError:
    with pytest.raises(SourceError) as info:
        run(kind, settings)
    assert info.value.source == "src1"
    return info.value


def write(tmp_path: Path, name: str, data: str | bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(p)


# --- CSV ------------------------------------------------------------------------------------


def test_csv_german_statement() -> None:
    recs = records("csv", {"path": str(DATA / "bank_jan.csv"), **GERMAN})
    assert len(recs) == 6
    amounts = sorted(r.amount for r in recs.values())
    assert amounts[0] == Decimal("-1234.56") and amounts[-1] == Decimal("25000.00")
    fees = [r for r in recs.values() if r.memo == "Kontoführung"]
    assert len(fees) == 2 and len({r.external_id for r in fees}) == 2  # ordinal keeps both
    hetzner = next(r for r in recs.values() if r.counterparty == "Hetzner Online GmbH")
    assert str(hetzner.booking_date) == "2024-01-05" and str(hetzner.value_date) == "2024-01-04"
    assert hetzner.kind == "withdrawal" and hetzner.account == GERMAN["account"]


def test_csv_reimport_and_overlap_give_same_ids() -> None:
    jan = records("csv", {"path": str(DATA / "bank_jan.csv"), **GERMAN})
    again = records("csv", {"path": str(DATA / "bank_jan.csv"), **GERMAN})
    assert jan.keys() == again.keys()
    overlap = records("csv", {"path": str(DATA / "bank_jan15_feb15.csv"), **GERMAN})
    shared = jan.keys() & overlap.keys()
    assert len(shared) == 2  # Jan 16 and Jan 31 lines
    assert len(jan.keys() | overlap.keys()) == 8


def test_csv_debit_credit_columns_and_ids() -> None:
    recs = records("csv", {
        "path": str(DATA / "bank_debit_credit.csv"), "account": "US-OPS", "thousands": ",",
        "date_column": "Date", "value_date_column": "Value Date", "debit_column": "Debit",
        "credit_column": "Credit", "id_column": "Transaction ID", "currency_column": "Currency",
        "reference_column": "Reference", "counterparty_column": "Counterparty",
        "memo_column": "Description",
    })
    assert recs["US-OPS:TX-1001"].amount == Decimal("12500.00")
    assert recs["US-OPS:TX-1002"].amount == Decimal("-345.67")
    assert recs["US-OPS:TX-1003"].amount == Decimal("-15.00")  # negative debit: still out
    assert recs["US-OPS:TX-1001"].reference == "CB-PAYOUT-1"


def test_csv_sign_convention_and_index_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "card.csv", "2024-02-01;12.50;Coffee\n2024-02-02;-100.00;Refund\n")
    recs = records("csv", {"path": path, "header": "no", "date_column": "1",
                           "amount_column": "2", "memo_column": "3", "debit_positive": "true"})
    by_memo = {r.memo: r.amount for r in recs.values()}
    assert by_memo == {"Coffee": Decimal("-12.50"), "Refund": Decimal("100.00")}


def test_csv_preview_rows_and_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "Date,Amount\n2024-01-01,1.5\n2024-01-02,abc\nnope,2\n")
    rows = preview(path, {"date_column": "Date", "amount_column": "Amount"})
    assert [r.line for r in rows] == [2, 3, 4]
    assert rows[0].record is not None and rows[0].record.amount == Decimal("1.5")
    assert rows[1].error and "p.csv:line 3, field 'amount'" in rows[1].error
    assert rows[2].error and "booking_date" in rows[2].error


def test_csv_encoding_detected_before_the_8bit_fallback(tmp_path: Path) -> None:
    cols = {"date_column": "Date", "amount_column": "Amount", "memo_column": "Memo"}
    body = "Date,Amount,Memo\n2024-01-01,1,Café\n"
    latin = write(tmp_path, "latin.csv", body.encode("cp1252"))
    utf8 = write(tmp_path, "utf8.csv", body.encode("utf-8"))
    bom = write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + body.encode("utf-8"))
    memos = {n: next(iter(records("csv", {"path": p, **cols}).values())).memo
             for n, p in (("latin", latin), ("utf8", utf8), ("bom", bom))}  # fmt: skip
    assert memos == {"latin": "Café", "utf8": "Café", "bom": "Café"}
    # A fallback that cannot read the bytes says where and what to set, in one line.
    e = err("csv", {"path": latin, **cols, "encoding": "ascii"})
    assert e.where == "latin.csv:line 2" and "encoding" in e.message and "\n" not in str(e)


def test_csv_wrong_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "w.csv", "When,How much\n2024-01-01,1\n")
    e = err("csv", {"path": path, "date_column": "Date", "amount_column": "Amount"})
    assert e.where == "w.csv:line 1" and "'date'" in e.message and "'amount'" in e.message


@pytest.mark.parametrize("amount", ["12,34.5", "1e5", "NaN", "abc", "--5", "1.2.3", "Infinity"])
def test_csv_garbage_amounts(tmp_path: Path, amount: str) -> None:
    path = write(tmp_path, "g.csv", f'Date,Amount\n2024-01-01,1\n2024-01-02,"{amount}"\n')
    e = err("csv", {"path": path, "date_column": "Date", "amount_column": "Amount"})
    assert e.where == "g.csv:line 3, field 'amount'"


def test_csv_repeated_or_placeholder_bank_ids_fall_back_to_content_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "Id,Date,Amount\nA1,2024-01-01,1\nA1,2024-01-02,2\n"
                                    "B7,2024-01-03,3\nNONREF,2024-01-04,4\n0000,2024-01-05,5\n")
    recs = records("csv", {"path": path, "date_column": "Date", "amount_column": "Amount",
                           "id_column": "Id", "account": "X"})
    by_amount = {r.amount: r for r in recs.values()}
    assert len(recs) == 5
    assert by_amount[Decimal(3)].external_id == "X:B7"  # unique and real: the bank's id
    for a in (1, 2, 4, 5):  # repeated or placeholder: content id, the bank value kept
        assert by_amount[Decimal(a)].external_id.startswith("h:")
    assert by_amount[Decimal(1)].attrs["bank_id"] == "A1"
    assert "bank_id" not in by_amount[Decimal(4)].attrs


def test_csv_truncated_and_short_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", 'Date,Amount,Memo\n2024-01-01,1,ok\n2024-01-02,2,"cut')
    e = err("csv", {"path": path, "date_column": "Date", "amount_column": "Amount"})
    assert "t.csv:line 3" in str(e.where)
    path = write(tmp_path, "s.csv", "Date,Amount,Memo\n2024-01-01,1,ok\n2024-01-02\n")
    e = err("csv", {"path": path, "date_column": "Date", "amount_column": "Amount"})
    assert e.where == "s.csv:line 3, field 'row'"


def test_csv_missing_file_and_bad_mapping(tmp_path: Path) -> None:
    e = err("csv", {"path": str(tmp_path / "nope.csv"), "date_column": "D", "amount_column": "A"})
    assert e.where == "nope.csv" and "not found" in e.message
    with pytest.raises(SourceError) as info:
        registry.get("csv")("src1", {"path": "x.csv", "date_column": "D"})
    assert info.value.where == "amount_column"


def test_csv_large_file_batches_and_resume(tmp_path: Path) -> None:
    lines = ["Date,Amount"] + [f"2024-01-01,{i}.01" for i in range(20_001)]
    path = write(tmp_path, "big.csv", "\n".join(lines) + "\n")
    settings = {"path": path, "date_column": "Date", "amount_column": "Amount"}
    batches = run("csv", settings)
    assert [len(b.records) for b in batches] == [10_000, 10_000, 1]
    resumed = run("csv", settings, batches[0].cursor)
    assert [len(b.records) for b in resumed] == [10_000, 1]
    assert resumed[-1].records[-1].external_id == batches[-1].records[-1].external_id


# --- OFX ------------------------------------------------------------------------------------


def test_ofx_statement_and_overlap() -> None:
    jan = records("ofx", {"path": str(DATA / "statement_jan.ofx")})
    assert len(jan) == 4
    credit = jan["000123456789:202401020001"]
    assert credit.amount == Decimal("50000.00") and credit.asset == "USD"
    assert credit.counterparty == "COINBASE INC" and str(credit.booking_date) == "2024-01-02"
    assert jan["000123456789:202401310003"].kind == "fee"
    assert jan["000123456789:202401200004"].reference == "1042"
    overlap = records("ofx", {"path": str(DATA / "statement_jan15_feb15.ofx")})
    assert set(jan) & set(overlap) == {"000123456789:202401200004", "000123456789:202401310003"}
    assert records("ofx", {"path": str(DATA / "statement_jan.ofx")}).keys() == jan.keys()


def test_ofx_truncated_and_garbage(tmp_path: Path) -> None:
    text = (DATA / "statement_jan.ofx").read_text()
    e = err("ofx", {"path": write(tmp_path, "cut.ofx", text[: len(text) // 2])})
    assert e.where == "cut.ofx" and "truncated" in e.message
    e = err("ofx", {"path": write(tmp_path, "junk.ofx", "hello world\n")})
    assert "not an OFX file" in e.message
    bad = text.replace("<TRNAMT>-1234.56", "<TRNAMT>12abc")
    e = err("ofx", {"path": write(tmp_path, "amt.ofx", bad)})
    assert e.where == "amt.ofx:line 41" and "Amount" in e.message


def test_ofx_repeated_fitid_falls_back_to_content_ids(tmp_path: Path) -> None:
    text = (DATA / "statement_jan.ofx").read_text().replace("202401050002", "202401020001")
    recs = records("ofx", {"path": write(tmp_path, "dup.ofx", text)})
    assert len(recs) == len(records("ofx", {"path": str(DATA / "statement_jan.ofx")}))
    repeated = [r for r in recs.values() if r.attrs.get("fitid") == "202401020001"]
    assert len(repeated) == 2 and all(r.external_id.startswith("h:") for r in repeated)


# --- MT940 ----------------------------------------------------------------------------------


def test_mt940_statements() -> None:
    recs = records("mt940", {"path": str(DATA / "statement.sta")})
    assert len(recs) == 4
    r = recs["NL91ABNA0417164300:B4A02ABC123"]
    assert r.amount == Decimal("-25.50") and r.asset == "EUR"
    assert r.counterparty == "Hetzner Online GmbH" and r.attrs["end_to_end_id"] == "E2E-2024-0001"
    usd = recs["NL02ABNA0123456789:B4A15USD001"]
    assert usd.account == "NL02ABNA0123456789" and usd.asset == "USD"
    assert "end_to_end_id" not in recs["NL91ABNA0417164300:B4A03XYZ456"].attrs  # NOTPROVIDED
    assert records("mt940", {"path": str(DATA / "statement.sta")}).keys() == recs.keys()


def test_mt940_truncated_and_garbage(tmp_path: Path) -> None:
    text = (DATA / "statement.sta").read_text()
    cut = text[: text.index(":62F:C240131USD")]
    e = err("mt940", {"path": write(tmp_path, "cut.sta", cut)})
    assert e.where == "cut.sta:line 19, field ':62F:'" and "truncated" in e.message
    bad = text.replace(":61:2401030103C15000,00", ":61:2401030103C15X00,00")
    e = err("mt940", {"path": write(tmp_path, "bad.sta", bad)})
    assert e.where == "bad.sta:line 8, field ':61:'"
    e = err("mt940", {"path": write(tmp_path, "x.sta", "Date,Amount\n")})
    assert "not an MT940/MT942 file" in e.message


def test_mt940_repeated_reference_falls_back_to_content_ids(tmp_path: Path) -> None:
    text = (DATA / "statement.sta").read_text().replace("B4A03XYZ456", "B4A02ABC123")
    recs = records("mt940", {"path": write(tmp_path, "dup.sta", text)})
    assert len(recs) == 4
    repeated = [r for r in recs.values() if r.attrs.get("bank_reference") == "B4A02ABC123"]
    assert len(repeated) == 2 and all(r.external_id.startswith("h:") for r in repeated)
    assert "NL91ABNA0417164300:B4A02ABC123" not in recs


# --- camt -----------------------------------------------------------------------------------


def test_camt053_entries() -> None:
    recs = records("camt", {"path": str(DATA / "camt053_jan.xml")})
    assert len(recs) == 6
    iban = "DE89370400440532013000"
    inflow = recs[f"{iban}:2024010200012345"]
    assert inflow.amount == Decimal("25000.00") and inflow.counterparty == "Payward Ltd"
    assert inflow.attrs["end_to_end_id"] == "KRK-E2E-8812"
    out = recs[f"{iban}:2024010500023456"]
    assert out.amount == Decimal("-1234.56") and out.counterparty == "Hetzner Online GmbH"
    assert str(out.value_date) == "2024-01-04"
    assert recs[f"{iban}:2024012500034567"].attrs["batch_count"] == 2
    assert [r.status for r in recs.values()].count("pending") == 1
    no_pending = records("camt", {"path": str(DATA / "camt053_jan.xml"),
                                  "include_pending": False})
    assert len(no_pending) == 5


def test_camt_overlap_same_ids(tmp_path: Path) -> None:
    text = (DATA / "camt053_jan.xml").read_text()
    start = text.index("<Ntry>")
    second = text.index("<Ntry>", start + 1)
    later = text[:start] + text[second:]  # a later export missing the first entry
    a = records("camt", {"path": str(DATA / "camt053_jan.xml")})
    b = records("camt", {"path": write(tmp_path, "later.xml", later)})
    assert set(b) < set(a) and len(b) == len(a) - 1


def test_camt_refuses_dtd_and_truncation(tmp_path: Path) -> None:
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
            '<!ENTITY lol2 "&lol;&lol;&lol;">]>\n<Document>&lol2;</Document>\n')
    e = err("camt", {"path": write(tmp_path, "bomb.xml", bomb)})
    assert "DTD" in e.message and e.where == "bomb.xml:line 2"
    text = (DATA / "camt053_jan.xml").read_text()
    e = err("camt", {"path": write(tmp_path, "cut.xml", text[: len(text) // 2])})
    assert e.where is not None and e.where.startswith("cut.xml:line ")
    assert "invalid XML" in e.message
    bad = text.replace("<CdtDbtInd>DBIT</CdtDbtInd>", "<CdtDbtInd>MAYBE</CdtDbtInd>", 1)
    e = err("camt", {"path": write(tmp_path, "ind.xml", bad)})
    assert e.where == "ind.xml:line 40 (Stmt[1]/Ntry[2]), field 'CdtDbtInd'"
    e = err("camt", {"path": write(tmp_path, "other.xml", "<Document><Foo/></Document>")})
    assert "not camt" in e.message


# --- ledger and prices ----------------------------------------------------------------------


def test_ledger_csv_and_jsonl() -> None:
    csv_recs = records("ledger", {"path": str(DATA / "ledger.csv"), "timezone": "Europe/Berlin"})
    assert csv_recs["L-0001"].attrs == {"desk": "otc", "approved_by": "alice"}
    assert csv_recs["L-0002"].ts.isoformat() == "2024-01-05T09:00:00+00:00"  # Berlin → UTC
    assert csv_recs["L-0003"].fee == Decimal("0.00001000")
    assert csv_recs["L-0003"].txid and csv_recs["L-0003"].fee_asset == "BTC"
    js = records("ledger", {"path": str(DATA / "ledger.jsonl"),
                            "kind_map": "customer_payout=payout"})
    assert js["L-0002"].kind == "payout" and js["L-0002"].amount == Decimal("-1234.56")
    assert str(js["L-0002"].amount) == "-1234.56"  # exact: parse_float=Decimal
    assert js["L-0003"].ts.isoformat() == "2024-01-07T11:00:00+00:00"


def test_ledger_errors(tmp_path: Path) -> None:
    ok = '{"id": "1", "ts": "2024-01-01T00:00:00Z", "kind": "fee", "asset": "EUR", "amount": "1"}'
    e = err("ledger", {"path": write(tmp_path, "l.jsonl", ok + "\n" + ok + "\n")})
    assert e.where == "l.jsonl:line 2" and "duplicate" in e.message
    e = err("ledger", {"path": write(tmp_path, "t.jsonl", ok + "\n" + ok[:30])})
    assert e.where == "t.jsonl:line 2" and "truncated" in e.message
    e = err("ledger", {"path": write(tmp_path, "ty.jsonl", ok.replace('"1"}', "true}"))})
    assert e.where == "ty.jsonl:line 1, field 'amount'"
    e = err("ledger", {"path": write(tmp_path, "k.jsonl", ok.replace('"fee"', '"weird"'))})
    assert e.where == "k.jsonl:line 1, field 'kind'"
    e = err("ledger", {"path": write(tmp_path, "c.csv", "id,ts\n1,2024-01-01\n")})
    assert e.where == "c.csv:line 1" and "'kind'" in e.message


def test_prices_csv_and_errors(tmp_path: Path) -> None:
    batches = run("prices-csv", {"path": str(DATA / "prices.csv")})
    prices = [p for b in batches for p in b.prices]
    assert len(prices) == 4 and prices[3].close == Decimal("42650.12345678")
    assert prices[3].interval == "1h" and prices[3].ts.hour == 13
    fixed = write(tmp_path, "btc.csv", "date;price\n2024-01-01;38512,37\n")
    prices = run("prices-csv", {"path": fixed, "base": "BTC", "quote": "EUR", "decimal": ",",
                                "ts_column": "date", "close_column": "price"})[0].prices
    assert prices[0].close == Decimal("38512.37") and prices[0].base == "BTC"
    bad = write(tmp_path, "neg.csv", "base,quote,ts,interval,close\nBTC,EUR,2024-01-01,1d,-1\n")
    assert err("prices-csv", {"path": bad}).where == "neg.csv:line 2, field 'close'"
    dup = write(tmp_path, "dup.csv", "base,quote,ts,interval,close\n"
                "BTC,EUR,2024-01-01,1d,1\nBTC,EUR,2024-01-01,1d,2\n")
    assert err("prices-csv", {"path": dup}).where == "dup.csv:line 3"
