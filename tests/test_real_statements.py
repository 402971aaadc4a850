"""Replays every real third-party statement in tests/data/real/ (see SOURCES.md).

For each file: the records the importer stores must equal the transactions counted
independently of our parsers (plain regular expressions over the raw text: ``:61:``
lines, ``<Ntry>`` elements, ``<STMTTRN>`` and investment elements with a ``<TOTAL>``),
the signed sum and the first and last amounts and dates must match what those
expressions read, the statement balance check must hold (or the file is refused with the
one line asserted verbatim, and imports with that line as a warning under
``balance_check=warn``), and a second import must add nothing.
"""

# ruff: noqa: E501  (the refusal lines are asserted verbatim, one per line)
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from recon_tui.services.sources import add_source
from recon_tui.services.sync import import_file
from recon_tui.store import Store
from recon_tui.store import statements as stored
from recon_tui.store.records import iter_records

REAL = Path(__file__).parent / "data" / "real"


@dataclass(frozen=True)
class Entry:
    """One movement as a plain regular expression reads it from the raw file."""

    day: date
    amount: Decimal


def _dec(text: str) -> Decimal:
    return Decimal(text.replace(",", ".").rstrip("."))


def mt940_entries(raw: str) -> list[Entry]:
    out = []
    for m in re.finditer(r"(?m)^:61:(\d{2})(\d{2})(\d{2})(\d{4}|\s{4})?\s*(RC|RD|C|D)[A-Z]?"
                         r"\s?([0-9][0-9,]*)", raw):  # fmt: skip
        yy, mm, dd, entry, mark, amt = m.groups()
        sign = -1 if mark in ("D", "RC") else 1
        day = date(2000 + int(yy), int(mm), int(dd))
        if entry and entry.strip():  # the booking (entry) date is the record's date
            eday = date(day.year, int(entry[:2]), int(entry[2:]))
            if (eday - day).days > 180:
                eday = eday.replace(year=eday.year - 1)
            elif (day - eday).days > 180:
                eday = eday.replace(year=eday.year + 1)
            day = eday
        out.append(Entry(day, sign * _dec(amt)))
    return out


def camt_entries(raw: str) -> list[Entry]:
    out = []
    for stmt in re.findall(r"<(?:Stmt|Rpt|Ntfctn)>(.*?)</(?:Stmt|Rpt|Ntfctn)>", raw, re.S):
        # An entry without dates takes its statement's day (period end, else closing date).
        fallback = (re.search(r"<ToDtTm>\s*(\d{4}-\d{2}-\d{2})", stmt)
                    or re.search(r"<Cd>CLBD</Cd>.*?<Dt>\s*<Dt>\s*(\d{4}-\d{2}-\d{2})", stmt,
                                 re.S))  # fmt: skip
        for block in re.findall(r"<Ntry>(.*?)</Ntry>", stmt, re.S):
            if re.search(r"<Sts>\s*(<Cd>)?\s*INFO", block):
                continue
            amt = re.search(r"<Amt[^>]*>\s*([0-9.]+)\s*</Amt>", block)
            ind = re.search(r"<CdtDbtInd>\s*(\w+)", block)
            day = (re.search(r"<BookgDt>\s*<Dt(?:Tm)?>\s*(\d{4}-\d{2}-\d{2})", block)
                   or re.search(r"<ValDt>\s*<Dt(?:Tm)?>\s*(\d{4}-\d{2}-\d{2})", block)
                   or fallback)  # fmt: skip
            assert amt and ind and day
            sign = -1 if ind.group(1) == "DBIT" else 1
            out.append(Entry(date.fromisoformat(day.group(1)), sign * Decimal(amt.group(1))))
    return out


_INV = ("BUYMF|SELLMF|BUYSTOCK|SELLSTOCK|BUYOPT|SELLOPT|BUYDEBT|SELLDEBT|BUYOTHER|"
        "SELLOTHER|INCOME|REINVEST|TRANSFER")  # fmt: skip


def ofx_entries(raw: str) -> list[Entry]:
    out = []
    for tag, block in re.findall(rf"<(STMTTRN|{_INV})>(.*?)</\1>", raw, re.S | re.I):
        if tag.upper() == "STMTTRN":
            amt = re.search(r"<TRNAMT>\s*([-+]?[0-9.]+)", block, re.I)
            day = re.search(r"<DTPOSTED>\s*(\d{8})", block, re.I)
        else:
            amt = re.search(r"<TOTAL>\s*([-+]?[0-9.]+)", block, re.I)
            day = (re.search(r"<DTSETTLE>\s*(\d{8})", block, re.I)
                   or re.search(r"<DTTRADE>\s*(\d{8})", block, re.I))  # fmt: skip
            if amt is None:
                continue  # a securities-only movement: no cash
        assert amt and day, block[:80]
        d = day.group(1)
        out.append(Entry(date(int(d[:4]), int(d[4:6]), int(d[6:])), Decimal(amt.group(1))))
    return out


def _csv_rows(rel: str) -> list[dict[str, str]]:
    """Rows of a CSV file read with the standard library and the file's own rules below."""
    spec = CSV[rel]
    raw = (REAL / rel).read_bytes().decode(spec.get("enc", "utf-8-sig"))
    lines = raw.splitlines()
    start = next(i for i, ln in enumerate(lines) if spec["header"] in ln)
    reader = csv.DictReader(lines[start:], delimiter=spec.get("delim", ","),
                            escapechar=spec.get("esc"), doublequote=not spec.get("esc"))
    return [r for r in reader if spec.get("keep", lambda r: True)(r)]


def csv_entries_for(rel: str) -> list[Entry]:
    spec = CSV[rel]
    out = []
    for r in _csv_rows(rel):
        amount = spec["amount"](r)
        day = spec["day"](r)
        out.append(Entry(day, amount))
    return out


def _de(text: str) -> Decimal:
    return Decimal(text.replace(".", "").replace(",", "."))


def _dmy(text: str, sep: str = ".") -> date:
    d, m, y = text.split(" ")[0].split(sep)
    return date(int(y) + (2000 if len(y) == 2 else 0), int(m), int(d))


def _mdy(text: str) -> date:
    m, d, y = text.split(" ")[0].split("/")
    return date(int(y) + (2000 if len(y) == 2 else 0), int(m), int(d))


COINBASE_IN = {"Buy", "Receive", "Coinbase Earn", "Rewards Income", "Staking Income"}

CSV: dict[str, dict[str, Any]] = {
    "csv/revolut_chf.csv": {"settings": {"preset": "revolut"}, "header": "Type,Product",
                            "day": lambda r: date.fromisoformat(r["Completed Date"][:10]),
                            "amount": lambda r: Decimal(r["Amount"])},
    "csv/revolut_eur.csv": {"settings": {"preset": "revolut"}, "header": "Type,Product",
                            "day": lambda r: date.fromisoformat(r["Completed Date"][:10]),
                            "amount": lambda r: Decimal(r["Amount"])},
    "csv/n26.csv": {"settings": {"preset": "n26"}, "header": "Booking Date", "esc": "\\",
                    "day": lambda r: date.fromisoformat(r["Booking Date"]),
                    "amount": lambda r: Decimal(r["Amount (EUR)"])},
    "csv/wise_new.csv": {"settings": {"preset": "wise"}, "header": "TransferWise ID",
                         "day": lambda r: _dmy(r["Date"], "-"),
                         "amount": lambda r: Decimal(r["Amount"])},
    "csv/wise_old.csv": {"settings": {"preset": "wise"}, "header": "TransferWise ID",
                         "day": lambda r: _dmy(r["Date"], "-"),
                         "amount": lambda r: Decimal(r["Amount"])},
    "csv/ing_de.csv": {"settings": {"preset": "ing"}, "header": '"Buchung"', "delim": ";",
                       "enc": "latin-1", "day": lambda r: _dmy(r["Buchung"]),
                       "amount": lambda r: _de(r["Betrag"])},
    "csv/coinbase_report.csv": {
        "settings": {"preset": "coinbase"}, "header": "Timestamp,Transaction Type",
        "day": lambda r: _mdy(r["Timestamp"]),
        "amount": lambda r: Decimal(r["Quantity Transacted"]) * (
            1 if r["Transaction Type"] in COINBASE_IN else -1)},
    "csv/coinbase_wallet.csv": {"settings": {"preset": "coinbase-wallet"},
                                "header": "Timestamp,Balance", "day": lambda r: _mdy(r["Timestamp"]),
                                "amount": lambda r: Decimal(r["Amount"])},
    "csv/coinbase_wallet_multi.csv": {"settings": {"preset": "coinbase-wallet"},
                                      "header": "Timestamp,Balance",
                                      "day": lambda r: _mdy(r["Timestamp"]),
                                      "amount": lambda r: Decimal(r["Amount"])},
    "csv/kraken_ledgers.csv": {"settings": {"preset": "kraken"}, "header": '"txid"',
                               "keep": lambda r: bool(r["txid"]),
                               "day": lambda r: date.fromisoformat(r["time"][:10]),
                               "amount": lambda r: Decimal(r["amount"])},
    "csv/zkb.csv": {"settings": {"preset": "zkb"}, "header": '"Date"', "delim": ";",
                    "day": lambda r: _dmy(r["Date"]),
                    "amount": lambda r: Decimal(r["Credit CHF"] or 0) - Decimal(r["Debit CHF"]
                                                                                or 0)},
    "csv/neon.csv": {"settings": {"delimiter": ";", "date_column": "Date",
                                  "amount_column": "Amount", "memo_column": "Description",
                                  "counterparty_column": "Subject", "currency": "CHF"},
                     "header": '"Date"', "delim": ";",
                     "day": lambda r: date.fromisoformat(r["Date"]),
                     "amount": lambda r: Decimal(r["Amount"])},
    "csv/monobank.csv": {"settings": {"date_column": "Дата i час операції",
                                      "date_formats": "%d.%m.%Y",
                                      "amount_column": "Сума в валюті картки (UAH)",
                                      "currency": "UAH",
                                      "balance_column": "Залишок після операції",
                                      "memo_column": "Деталі операції",
                                      "allow_unterminated": "yes"},
                         "header": "Дата", "day": lambda r: _dmy(r["Дата i час операції"]),
                         "amount": lambda r: Decimal(r["Сума в валюті картки (UAH)"])},
    "csv/nexo.csv": {"settings": {"date_column": "Date / Time", "amount_column": "Input Amount",
                                  "currency_column": "Input Currency",
                                  "id_column": "Transaction", "kind_column": "Type",
                                  "allow_unterminated": "yes"},
                     "header": "Transaction,Type",
                     "day": lambda r: date.fromisoformat(r["Date / Time"][:10]),
                     "amount": lambda r: Decimal(r["Input Amount"])},
}  # fmt: skip

COUNTERS = {"mt940": mt940_entries, "camt": camt_entries, "ofx": ofx_entries}

# Files whose own balances do not add up (anonymised fixtures), or that are not valid
# statements: the one line each is refused with, verbatim.
REFUSED = {
    "mt940/abnamro.sta": "source 'real' at abnamro.sta:line 4: statement does not add up: opening 3236.28 + lines -321.44 = 2914.84, but the closing balance is 876.84 EUR (off by -2038.00)",
    "mt940/betterplace_sepa.sta": "source 'real' at betterplace_sepa.sta:line 25: statement does not add up: opening -1970431.87 + lines -2501917.30 = -4472349.17, but the closing balance is -4472049.09 EUR (off by +300.08)",
    "mt940/commerzbank.sta": "source 'real' at commerzbank.sta:line 1: statement does not add up: opening 0.00 + lines -12.35 = -12.35, but the closing balance is 0.00 EUR (off by +12.35)",
    "mt940/deutschebank.sta": "source 'real' at deutschebank.sta:line 1: statement does not add up: opening 0.00 + lines -12.35 = -12.35, but the closing balance is 0.00 EUR (off by +12.35)",
    "mt940/generic_mt942.sta": "source 'real' at generic_mt942.sta:line 1: interim report does not add up: :90D: states 1 entries for 2.30 EUR, the lines give 1 for 0.42",
    "mt940/ing.sta": "source 'real' at ing.sta:line 4: statement does not add up: opening 0.00 + lines -45.59 = -45.59, but the closing balance is 3.47 EUR (off by +49.06)",
    "mt940/knab.sta": "source 'real' at knab.sta:line 10: statement does not add up: opening 3058.98 + lines -6760 = -3701.02, but the closing balance is 798.98 EUR (off by +4500.00)",
    "mt940/olb.sta": "source 'real' at olb.sta:line 1: statement does not add up: opening 0 + lines 104.50 = 104.50, but the closing balance is 0 EUR (off by -104.50)",
    "mt940/postfinance.sta": "source 'real' at postfinance.sta:line 15: statement does not add up: opening 229.2 + lines -69.8 = 159.4, but the closing balance is 159.6 CHF (off by +0.2)",
    "mt940/rabobank.sta": "source 'real' at rabobank.sta:line 2: statement does not add up: opening 473.17 + lines -1213.28 = -740.11, but the closing balance is 395.82 EUR (off by +1135.93)",
    "mt940/raiffeisen_cmi.sta": "source 'real' at raiffeisen_cmi.sta:line 1: statement does not add up: opening 25170637.10 + lines -1012213.50 = 24158423.60, but the closing balance is 25281687.60 HUF (off by +1123264.00)",
    "mt940/triodos.sta": "source 'real' at triodos.sta:line 1: statement does not add up: opening 4975.09 + lines -715.70 = 4259.39, but the closing balance is 4370.79 EUR (off by +111.40)",
    "csv/wise_new.csv": "source 'real' at wise_new.csv:line 3, field 'balance': running balance does not add up: previous balance 2000.00 + movement -75.00 = 1925.00, but the row says 1964.50 EUR (off by +39.50)",
    "csv/wise_old.csv": "source 'real' at wise_old.csv:line 4, field 'balance': running balance does not add up: previous balance 1450.00 + movement -500.00 = 950.00, but the row says 1400.00 EUR (off by +450.00)",
    "csv/coinbase_wallet_multi.csv": "source 'real' at coinbase_wallet_multi.csv:line 8, field 'balance': running balance does not add up: previous balance 1 + movement -1 = 0, but the row says 18.128 BTC (off by +18.128)",
    "csv/monobank.csv": "source 'real' at monobank.csv:line 3, field 'balance': running balance does not add up: previous balance 9499.41 + movement -431.09 = 9068.32, but the row says 48981.04 UAH (off by +39912.72)",
    "mt940/hsbc.sta": "source 'real' at hsbc.sta:line 1: statement does not add up: opening 0.00 + lines -20000.00 = -20000.00, but the closing balance is 0.00 HKD (off by +20000.00)",
    "mt940/ing_nov.sta": "source 'real' at ing_nov.sta:line 4: statement does not add up: opening 0.00 + lines 7.15 = 7.15, but the closing balance is 3.47 EUR (off by -3.68)",
    "camt/genkgo_camt053_balance_types.xml": "source 'real' at genkgo_camt053_balance_types.xml:line 10 (Stmt[1]): statement does not add up: opening 1.01 + lines 8.850 = 9.860, but the closing balance is 4.04 EUR (off by -5.820)",
    "camt/genkgo_camt053_v2_minimal.xml": "source 'real' at genkgo_camt053_v2_minimal.xml:line 26 (Stmt[1]): statement does not add up: opening 18.15 + lines 8.85 = 27.00, but the closing balance is -27.00 SEK (off by -54.00)",
    "camt/genkgo_camt053_v3.xml": "source 'real' at genkgo_camt053_v3.xml:line 26 (Stmt[1]): statement does not add up: opening 18.15 + lines 8.85 = 27.00, but the closing balance is -27.00 SEK (off by -54.00)",
    "camt/genkgo_camt053_v4.xml": "source 'real' at genkgo_camt053_v4.xml:line 30 (Stmt[1]): statement does not add up: opening 18.15 + lines 8.85 = 27.00, but the closing balance is -27.00 SEK (off by -54.00)",
    "camt/genkgo_camt053_v8.xml": "source 'real' at genkgo_camt053_v8.xml:line 30 (Stmt[1]): statement does not add up: opening 18.15 + lines 8.85 = 27.00, but the closing balance is -27.00 SEK (off by -54.00)",
}  # fmt: skip
BALANCE_HINT = "; set balance_check=warn to import anyway"

INVALID = {
    "mt940/sparkasse_fragment.sta": "source 'real' at sparkasse_fragment.sta: not an MT940/MT942 file (no ':20:' statement header)",
    "camt/genkgo_camt053_wrong.xml": "source 'real' at genkgo_camt053_wrong.xml:line 3: <BkToCstmrStmt> has no <Stmt>/<Rpt>/<Ntfctn>: not camt.052/053/054",
    "csv/nexo.csv": "source 'real' at nexo.csv:line 5: the last line has no line end while the others do: the file looks cut short (download it again, or set allow_unterminated=yes if it is complete)",
    "ofx/date_missing.ofx": "source 'real' at date_missing.ofx:line 33: a transaction cannot be read: Missing Transaction Date (a required field)",
    "ofx/decimal_error.ofx": "source 'real' at decimal_error.ofx:line 34: a transaction cannot be read: Invalid Transaction Amount: '$120'",
}  # fmt: skip

FILES = sorted(str(p.relative_to(REAL)) for p in REAL.glob("*/*") if p.suffix != ".md")


def _import(store: Store, rel: str, **settings: str) -> tuple[bool, str | None, list[str]]:
    kind = rel.split("/")[0]
    if kind == "csv":
        base = dict(CSV[rel]["settings"])
        if rel in INVALID:
            base.pop("allow_unterminated", None)
        settings = {**base, **settings}
    add_source(store, "real", kind, settings, replace=True)
    report = import_file(store, "real", str(REAL / rel))
    return report.ok, report.error, report.warnings


def _stored(store: Store) -> list[Entry]:
    recs = list(iter_records(store.conn, "source = ? AND removed = 0", ("real",)))
    return [Entry(r.booking_date or r.ts.date(), r.amount) for r in recs]


def test_the_corpus_is_big_and_varied_enough() -> None:
    sources = (REAL / "SOURCES.md").read_text("utf-8")
    assert len(FILES) >= 40
    for rel in FILES:
        assert f"| {rel} |" in sources, f"{rel} has no provenance line"
        assert (REAL / rel).stat().st_size < 200_000
    banks = {line.split("|")[2].strip() for line in sources.splitlines()
             if line.startswith("| ") and "/" in line.split("|")[1]}  # fmt: skip
    assert len(banks) >= 15


@pytest.mark.parametrize("rel", [f for f in FILES if f not in INVALID])
def test_replay(store: Store, rel: str) -> None:
    kind = rel.split("/")[0]
    if kind == "csv":
        expected = csv_entries_for(rel)
    else:
        expected = COUNTERS[kind]((REAL / rel).read_text("utf-8", errors="replace"))
    ok, error, warnings = _import(store, rel)
    if rel in REFUSED:
        assert not ok and error == REFUSED[rel] + BALANCE_HINT
        assert _stored(store) == []  # nothing of a refused file is kept
        ok, error, warnings = _import(store, rel, balance_check="warn")
        assert ok, error
        assert warnings[0] == REFUSED[rel]  # one line per statement that does not add up
        assert all(w.startswith("source 'real' at ") and "\n" not in w for w in warnings)
    else:
        assert ok, error
        assert warnings == []
    got = _stored(store)
    assert len(got) == len(expected)
    assert sum(e.amount for e in got) == sum(e.amount for e in expected)
    if expected:
        key = sorted((e.day, e.amount) for e in expected)
        mine = sorted((e.day, e.amount) for e in got)
        assert mine[0] == key[0] and mine[-1] == key[-1]
        assert mine == key
    again = import_file(store, "real", str(REAL / rel))
    assert again.ok and again.added == 0 and again.changed == 0
    raw = (REAL / rel).read_text("utf-8", errors="replace")
    if re.search(r"(?m)^:62[FM]:|<Cd>CLBD</Cd>|<LEDGERBAL>\s*<BALAMT>\s*-?[0-9]", raw) or (
            kind == "csv" and CSV[rel]["settings"].get("preset") in ("revolut", "ing", "zkb")):
        kinds = {b.kind for b in stored.balances(store.conn, source="real")}
        assert kinds & {"closing", "interim_closing", "ledger"}


@pytest.mark.parametrize("name", ["revolut", "n26", "wise", "ing", "coinbase", "kraken"])
def test_each_required_preset_has_a_real_sample(name: str) -> None:
    from adapters.csv_presets import PRESETS

    assert name in PRESETS
    assert any(spec["settings"].get("preset") == name for spec in CSV.values())


@pytest.mark.parametrize("rel", sorted(INVALID))
def test_invalid_files_are_refused_in_one_line(store: Store, rel: str) -> None:
    ok, error, _ = _import(store, rel)
    assert not ok and error == INVALID[rel]
    assert "\n" not in error and "Traceback" not in error and "line ?" not in error
    assert _stored(store) == []


def test_reversals_and_balances_of_one_statement(store: Store) -> None:
    """Volksbank: twelve credits over five statements, each proving itself."""
    ok, error, _ = _import(store, "mt940/volksbank.sta")
    assert ok, error
    closings = [b for b in stored.balances(store.conn, source="real") if b.kind == "closing"]
    openings = [b for b in stored.balances(store.conn, source="real") if b.kind == "opening"]
    assert len(closings) == len(openings) >= 5
    assert closings[0].amount == Decimal("3230.00") and closings[0].as_of == date(2020, 2, 19)
