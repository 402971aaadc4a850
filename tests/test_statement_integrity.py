"""The silently-wrong cases of issue 14, each as the user met it: reversal signs,
encodings, a changed setting duplicating records, balance checks, cut files, non-ASCII
digits, bank ids that are not ids, and CSV layouts of real exports."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters import registry
from adapters.base import SourceError
from recon_tui.services.sources import SourceSettingsError, add_source, check_import, edit_source
from recon_tui.services.sync import import_file
from recon_tui.store import Store
from recon_tui.store import statements as stored
from recon_tui.store.records import iter_records


def write(tmp_path: Path, name: str, data: str | bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(p)


def recs(kind: str, settings: dict[str, Any]) -> list[Any]:
    adapter = registry.get(kind)("s", settings)
    return [r for b in adapter.batches(None) for r in b.records]


def refusal(kind: str, settings: dict[str, Any]) -> str:
    with pytest.raises(SourceError) as info:
        recs(kind, settings)
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text
    return text


MT940 = """:20:REV
:25:NL91ABNA0417164300
:28C:1/1
:60F:C240101EUR100,00
:61:2401020102RC10,00NTRFNONREF//B1
:86:/NAME/Café Müller/REMI/reversal of a credit
:61:2401020102RD4,00NTRFNONREF//B2
:86:/NAME/Bäckerei/REMI/reversal of a debit
:61:2401030103D500NTRFNONREF
:86:no decimal comma
:61:2401030103C1,NOV NONREF
:86:four-character type code with a space
:62F:C240103EUR-404,
-
"""


def test_mt940_reversals_signed_by_their_meaning(tmp_path: Path) -> None:
    # RC takes money out, RD puts it back; the closing balance proves it (100-10+4-500+1).
    text = MT940.replace(":62F:C240103EUR-404,", ":62F:D240103EUR405,00")
    rows = recs("mt940", {"path": write(tmp_path, "r.sta", text)})
    assert [r.amount for r in rows] == [Decimal("-10.00"), Decimal("4.00"), Decimal("-500"),
                                        Decimal("1")]  # fmt: skip
    assert all(r.attrs.get("reversal") for r in rows[:2])
    # Had RC been read as a credit the file would not add up, and it would say by how much.
    wrong = text.replace(":62F:D240103EUR405,00", ":62F:D240103EUR385,00")
    assert refusal("mt940", {"path": write(tmp_path, "w.sta", wrong)}) == (
        "source 's' at w.sta:line 1: statement does not add up: opening 100.00 + lines "
        "-505.00 = -405.00, but the closing balance is -385.00 EUR (off by +20.00); set "
        "balance_check=warn to import anyway")


def test_mt940_utf8_read_as_utf8_and_encoding_change_does_not_duplicate(
    tmp_path: Path, store: Store
) -> None:
    text = MT940.replace(":62F:C240103EUR-404,", ":62F:D240103EUR405,00")
    path = write(tmp_path, "u.sta", text.encode("utf-8"))
    names = {r.counterparty for r in recs("mt940", {"path": path})}
    assert "Café Müller" in names  # not "CafÃ© MÃ¼ller": UTF-8 is detected first
    add_source(store, "b", "mt940", {})
    assert import_file(store, "b", path).added == 4
    # The same statement re-exported in the bank's 8-bit code page: same records.
    latin = write(tmp_path, "l.sta", text.encode("cp1252"))
    again = import_file(store, "b", latin)
    assert again.ok and again.added == 0
    # Forcing a wrong code page on the UTF-8 file garbles the text but keeps identity.
    edit_source(store, "b", {"encoding": "latin-1"})
    forced = import_file(store, "b", path)
    assert forced.ok and forced.added == 0
    total = list(iter_records(store.conn, "source = 'b' AND removed = 0"))
    assert len(total) == 4


def test_csv_mapping_change_does_not_duplicate(tmp_path: Path, store: Store) -> None:
    path = write(tmp_path, "b.csv", "Date;Text;Amount;Who\n2024-01-02;Rent;-900,00;ACME\n"
                                    "2024-01-02;Rent;-900,00;ACME\n2024-01-03;Fee;-1,00;Bank\n")
    add_source(store, "c", "csv", {"date_column": "Date", "amount_column": "Amount",
                                   "decimal": ",", "memo_column": "Text"})  # fmt: skip
    assert import_file(store, "c", path).added == 3  # two identical rent lines stay two
    edit_source(store, "c", {"counterparty_column": "Who", "memo_column": ""})
    again = import_file(store, "c", path)
    assert again.ok and again.added == 0 and again.changed == 3
    rows = list(iter_records(store.conn, "source = 'c' AND removed = 0"))
    assert len(rows) == 3 and {r.counterparty for r in rows} == {"ACME", "Bank"}


def test_mt942_is_interim_not_truncated(tmp_path: Path) -> None:
    text = (":20:INT\n:25:DE1234\n:28C:1/1\n:34F:EURD0,00\n:13D:2401021200+0100\n"
            ":61:2401020102D2,50NMSCNONREF//X1\n:86:coffee\n:90D:1EUR2,50\n:90C:0EUR0,00\n-\n")
    rows = recs("mt940", {"path": write(tmp_path, "i.942", text)})
    assert len(rows) == 1 and rows[0].amount == Decimal("-2.50") and rows[0].attrs["interim"]
    bad = text.replace(":90D:1EUR2,50", ":90D:1EUR3,50")
    assert "interim report does not add up" in refusal("mt940", {"path": write(tmp_path, "b.942",
                                                                                  bad)})


def test_camt_repeated_acctsvcrref_uses_ntryref_and_content_ids(tmp_path: Path) -> None:
    entry = ("<Ntry><NtryRef>{ref}</NtryRef><Amt Ccy=\"EUR\">{amt}</Amt>"
             "<CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2024-01-02</Dt></BookgDt>"
             "<AcctSvcrRef>SAME</AcctSvcrRef></Ntry>")
    xml = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Document xmlns=\"urn:iso:std:iso:20022:"
           "tech:xsd:camt.053.001.02\"><BkToCstmrStmt><Stmt><Id>S1</Id><Acct><Id><IBAN>NL1</IBAN>"
           "</Id></Acct>" + entry.format(ref="A-77", amt="1.00") + entry.format(ref="A-78",
           amt="2.00") + entry.format(ref="3", amt="3.00") + entry.format(ref="4", amt="3.00")
           + "</Stmt></BkToCstmrStmt></Document>")  # fmt: skip
    ids = [r.external_id for r in recs("camt", {"path": write(tmp_path, "c.xml", xml)})]
    assert ids[:2] == ["NL1:svcr:SAME#A-77", "NL1:svcr:SAME#A-78"]
    assert ids[2] == "NL1:svcr:SAME#3" and ids[3] == "NL1:svcr:SAME#4"


def test_ofx_charset_1252_decoded_once(tmp_path: Path) -> None:
    body = ("OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\n"
            "CHARSET:1252\nCOMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n<OFX><BANKMSGSRSV1>"
            "<STMTTRNRS><STMTRS><CURDEF>EUR<BANKACCTFROM><BANKID>1<ACCTID>42<ACCTTYPE>CHECKING"
            "</BANKACCTFROM><BANKTRANLIST><STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240102<TRNAMT>-3.20"
            "<FITID>F1<NAME>Café Crème</STMTTRN></BANKTRANLIST><LEDGERBAL><BALAMT><DTASOF>"
            "</LEDGERBAL></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n")  # fmt: skip
    rows = recs("ofx", {"path": write(tmp_path, "c.ofx", body.encode("cp1252"))})
    assert [r.counterparty for r in rows] == ["Café Crème"]  # and the empty LEDGERBAL is fine


@pytest.mark.parametrize("cut", ["2024-01-03,Fee,12", '2024-01-03,"Fee,1.00'])
def test_csv_cut_last_line_is_refused(tmp_path: Path, cut: str) -> None:
    path = write(tmp_path, "t.csv", f"Date,Memo,Amount\n2024-01-02,Rent,-900.00\n{cut}")
    e = refusal("csv", {"path": path, "date_column": "Date", "amount_column": "Amount"})
    assert e.startswith("source 's' at t.csv:line 3")


@pytest.mark.parametrize("amount", ["١٢٣", "１２３", "12٫5"])
def test_non_ascii_digits_are_refused(tmp_path: Path, amount: str) -> None:
    path = write(tmp_path, "d.csv", f"Date,Amount\n2024-01-02,{amount}\n")
    e = refusal("csv", {"path": path, "date_column": "Date", "amount_column": "Amount"})
    assert "t.csv" not in e and "d.csv:line 2, field 'amount'" in e


def test_csv_direction_column_symbols_skip_rows_fee_and_balance(tmp_path: Path) -> None:
    text = ('"Datum","Naam","Af Bij","Bedrag","Kosten","Saldo"\n'
            '"2024-01-01","Saldo Anterior","","€ 1.000,00","","€ 1.000,00"\n'
            '"2024-01-02","Shop \\"Best\\"","Af","€ 25,50","€ 0,50","€ 974,00"\n'
            '"2024-01-03","Salary","Bij","€ 2.000,00","","€ 2.974,00"\n')
    settings = {"path": write(tmp_path, "ing.csv", text), "date_column": "Datum",
                "amount_column": "Bedrag", "direction_column": "Af Bij", "decimal": ",",
                "thousands": ".", "fee_column": "Kosten", "balance_column": "Saldo",
                "counterparty_column": "Naam", "escapechar": "\\", "currency": "USD",
                "skip_rows": "^Saldo Anterior$"}  # fmt: skip
    rows = recs("csv", settings)
    assert [(r.amount, r.asset, r.fee) for r in rows] == [
        (Decimal("-25.50"), "EUR", Decimal("0.50")), (Decimal("2000.00"), "EUR", None)]
    assert rows[0].counterparty == 'Shop "Best"'
    adapter = registry.get("csv")("s", settings)
    balances = [b for batch in adapter.batches(None) for b in batch.balances]
    assert [(b.kind, b.amount) for b in balances] == [("opening", Decimal("1000.00")),
                                                      ("closing", Decimal("2974.00"))]
    wrong = text.replace("€ 2.974,00", "€ 2.975,00")
    settings["path"] = write(tmp_path, "ing2.csv", wrong)
    assert refusal("csv", settings).startswith(
        "source 's' at ing2.csv:line 4, field 'balance': running balance does not add up")


def test_header_no_from_the_cli_settings(store: Store, tmp_path: Path) -> None:
    add_source(store, "h", "csv", {"header": "no", "date_column": "1", "amount_column": "2"})
    path = write(tmp_path, "h.csv", "2024-01-01,5\n2024-01-02,6\n")
    report = import_file(store, "h", path)
    assert report.ok and report.added == 2
    with pytest.raises(SourceSettingsError) as info:
        add_source(store, "h2", "csv", {"header": "maybe", "date_column": "1",
                                        "amount_column": "2"})  # fmt: skip
    assert str(info.value) == "setting 'header': 'maybe' is not one of auto, yes, no"


def test_required_settings_and_import_into_a_non_file_source(store: Store) -> None:
    with pytest.raises(SourceSettingsError) as info:
        add_source(store, "x", "csv", {})
    assert "date_column" in str(info.value)
    with pytest.raises(SourceSettingsError) as info:
        add_source(store, "x", "csv", {"date_column": "D"})
    assert "amount_column" in str(info.value)
    add_source(store, "chain", "esplora", {"addresses": "bc1qexample"})
    with pytest.raises(SourceSettingsError) as info:
        check_import(store, "chain")
    assert str(info.value) == ("source 'chain' (esplora) does not read files; use "
                               "'recon-tui sync chain'")  # fmt: skip


def test_balances_are_stored_once_per_statement(store: Store, tmp_path: Path) -> None:
    text = MT940.replace(":62F:C240103EUR-404,", ":62F:D240103EUR405,00")
    path = write(tmp_path, "r.sta", text)
    add_source(store, "b", "mt940", {})
    import_file(store, "b", path)
    import_file(store, "b", path)
    rows = stored.balances(store.conn, source="b")
    assert [(b.kind, b.amount) for b in rows] == [("opening", Decimal("100.00")),
                                                  ("closing", Decimal("-405.00"))]
    last = stored.latest_closing(store.conn, "b", "NL91ABNA0417164300", "EUR")
    assert last is not None and last.amount == Decimal("-405.00")


def test_ledger_export_without_kind_column_uses_default_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "l.csv", "id,ts,asset,amount\nJ1,2024-01-02T10:00:00Z,EUR,-5.00\n")
    rows = recs("ledger", {"path": path, "default_kind": "transfer"})
    assert [(r.external_id, r.kind, r.amount) for r in rows] == [("J1", "transfer",
                                                                  Decimal("-5.00"))]
    with pytest.raises(SourceError) as info:
        recs("ledger", {"path": path})
    assert "'kind'" in info.value.message


def test_cli_header_no_and_import_refusals(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "RECON_TUI_PASSPHRASE": "pw",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    db = str(tmp_path / "c.db")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "recon_tui.cli", "--store", db, *args],
                              capture_output=True, text=True, env=env, timeout=120,
                              stdin=subprocess.DEVNULL)  # fmt: skip

    assert cli("init").returncode == 0
    card = write(tmp_path, "card.csv", "2024-02-01;12.50;Coffee\n2024-02-02;-100.00;Refund\n")
    r = cli("source", "add", "card", "csv", "--set", "header=no", "--set", "date_column=1",
            "--set", "amount_column=2", "--set", "delimiter=;")
    assert r.returncode == 0, r.stderr
    r = cli("import", "card", card)
    assert r.returncode == 0 and "+2 new" in r.stdout, r.stderr
    r = cli("source", "add", "bad", "csv", "--set", "date_column=1")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "amount_column" in r.stderr and "Traceback" not in r.stderr
    assert cli("source", "add", "chain", "esplora", "--set", "addresses=bc1q").returncode == 0
    r = cli("import", "chain", card)
    assert r.returncode == 1 and r.stderr.strip() == (
        "Error: source 'chain' (esplora) does not read files; use 'recon-tui sync chain'")
