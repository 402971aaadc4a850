"""How ``legacy-ids-419601b.db`` was made: the CLI of commit 419601b (the release before
content ids hashed a line's own text) imports statement files whose lines use content
ids, one source per file (``FILES`` below: their kind and settings), then a pair of the
two overlapping German statements is matched (the matcher confirms the lines the two
have in common), so the store holds decisions that name content-id records. Not run by the tests (they open
the committed file, ``tests/test_legacy_ids.py``); to remake it::

    git -C /work/main archive 419601b | tar -x -C /tmp/old
    cd tests/data && RECON_TUI_PASSPHRASE=legacy-ids PYTHONPATH=/tmp/old \\
        python stores/make_legacy_ids_fixture.py stores/legacy-ids-419601b.db

File paths are stored relative to tests/data (the test passes each file again).
"""

import sys
from pathlib import Path

from recon_tui.cli import main

GERMAN = {
    "account": "DE89370400440532013000",
    "decimal": ",",
    "thousands": ".",
    "date_formats": "%d.%m.%Y",
    "date_column": "Buchungstag",
    "value_date_column": "Valuta",
    "amount_column": "Betrag",
    "currency_column": "Währung",
    "counterparty_column": "Auftraggeber/Empfänger",
    "memo_column": "Verwendungszweck",
}
FILES: dict[str, tuple[str, str, dict[str, str]]] = {
    "bank-jan": ("csv", "bank_jan.csv", GERMAN),
    "bank-jan15": ("csv", "bank_jan15_feb15.csv", GERMAN),
    "us-ops": (
        "csv",
        "bank_debit_credit.csv",
        {
            "account": "US-OPS",
            "thousands": ",",
            "date_column": "Date",
            "value_date_column": "Value Date",
            "debit_column": "Debit",
            "credit_column": "Credit",
            "currency_column": "Currency",
            "reference_column": "Reference",
            "counterparty_column": "Counterparty",
            "memo_column": "Description",
        },
    ),
    "neon": (
        "csv",
        "real/csv/neon.csv",
        {
            "delimiter": ";",
            "date_column": "Date",
            "amount_column": "Amount",
            "memo_column": "Description",
            "counterparty_column": "Subject",
            "currency": "CHF",
        },
    ),
    "ing-de": (
        "csv",
        "real/csv/ing_de.csv",
        {
            "date_column": "Buchung",
            "date_formats": "%d.%m.%Y",
            "amount_column": "Betrag",
            "decimal": ",",
            "thousands": ".",
            "currency_column": "Währung",
            "memo_column": "Verwendungszweck",
            "counterparty_column": "Auftraggeber/Empfänger",
            "encoding": "latin-1",
            "delimiter": ";",
        },
    ),
    "sta": ("mt940", "statement.sta", {}),
    "bunq": ("mt940", "real/mt940/bunq.sta", {}),
    "ing-nl": ("mt940", "real/mt940/ing.sta", {}),
    "sparkasse": ("mt940", "real/mt940/sparkasse.sta", {}),
    "komercijalna": ("mt940", "real/mt940/komercijalna.sta", {}),
    "volksbank": ("mt940", "real/mt940/volksbank.sta", {}),
    "camt-jan": ("camt", "camt053_jan.xml", {}),
    "camt-multi": ("camt", "real/camt/genkgo_camt053_v2_multi.xml", {}),
    "camt-be": ("camt", "real/camt/subite_be_statement.xml", {}),
    "ofx-jan": ("ofx", "statement_jan.ofx", {}),
    "ofx-checking": ("ofx", "real/ofx/checking.ofx", {}),
}


def cli(*args: str) -> None:
    main([*args])  # the old release's entry point: exits non-zero on any failure


if __name__ == "__main__":
    out = str(Path(sys.argv[1]).resolve())
    cli("--store", out, "init", "--passphrase")
    for name, (kind, rel, settings) in FILES.items():
        sets = [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]
        cli("--store", out, "source", "add", name, kind, "--set", f"path={rel}", *sets)
        cli("--store", out, "import", name, rel)
    cli("--store", out, "pair", "add", "jan-overlap", "bank-jan", "bank-jan15")
    cli("--store", out, "match")
