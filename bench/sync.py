"""Sync benchmark: records/s from a fake exchange (real ccxt over loopback) and from a big
CSV statement, each into a fresh encrypted store through the sync service.

The exchange leg uses the Binance fake (HMAC-checked requests, 1,000 trades a page; each
trade is two records, one per asset leg); the fake's page selection is linear, so that leg
is capped at 200,000 trades. The CSV leg writes ``--size`` lines of a German-style bank
export (semicolons, decimal commas) and imports it with a saved column mapping.

    .venv/bin/python bench/sync.py --size 1000000 --json
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import parser, peak_rss_mb, report
from recon_tui.services.sync import import_file, sync_source
from recon_tui.store import Store
from recon_tui.store.sources import add_source, set_secret
from tests.fakes import exchange_binance

NAMES = ["ACME LTD", "Globex GmbH", "Initech Inc", "Umbrella plc", "Hooli SA", "Vandelay"]


def write_csv(path: Path, n: int) -> None:
    rnd = random.Random(7)
    with path.open("w", encoding="utf-8") as f:
        f.write("Buchungstag;Valuta;Auftraggeber/Empfänger;Verwendungszweck;Betrag;Währung;Id\n")
        for i in range(n):
            day = 1 + i % 28
            cents = rnd.randint(-5_000_000, 5_000_000)
            sign, a = ("-" if cents < 0 else ""), abs(cents)
            amount = sign + f"{a // 100:,}".replace(",", ".") + f",{a % 100:02d}"
            f.write(f"{day:02d}.01.2026;{day:02d}.01.2026;{NAMES[i % 6]};SEPA CT INV-{i:08d};"
                    f"{amount};EUR;TX{i:09d}\n")  # fmt: skip


def main() -> None:
    args = parser(__doc__.splitlines()[0], 100_000).parse_args()
    trades = min(args.size, 200_000)
    with tempfile.TemporaryDirectory() as tmp:
        fake = exchange_binance.FakeBinance(rows=trades).start(0)
        store = Store.init(Path(tmp) / "sync.db", passphrase="bench")
        add_source(store, "binance", "ccxt", {
            "exchange": "binance", "base_url": f"http://127.0.0.1:{fake.port}", "what": "trades",
            "page_limit": 1000, "rate_limit_ms": 1,
        })  # fmt: skip
        set_secret(store, "binance", "apiKey", exchange_binance.API_KEY)
        set_secret(store, "binance", "secret", exchange_binance.SECRET)
        t = time.perf_counter()
        ex = sync_source(store, "binance")
        ex_s = time.perf_counter() - t
        fake.stop()
        if not ex.ok:
            raise SystemExit(ex.error)

        csv_path = Path(tmp) / "statement.csv"
        write_csv(csv_path, args.size)
        add_source(store, "bank", "csv", {
            "delimiter": ";", "decimal": ",", "thousands": ".", "date_formats": "%d.%m.%Y",
            "date_column": "Buchungstag", "value_date_column": "Valuta", "amount_column": "Betrag",
            "currency_column": "Währung", "counterparty_column": "Auftraggeber/Empfänger",
            "memo_column": "Verwendungszweck", "id_column": "Id", "account": "DE89370400440532013000",
        })  # fmt: skip
        t = time.perf_counter()
        cs = import_file(store, "bank", str(csv_path))
        csv_s = time.perf_counter() - t
        if not cs.ok:
            raise SystemExit(cs.error)
        t = time.perf_counter()
        again = import_file(store, "bank", str(csv_path))
        reimport_s = time.perf_counter() - t
        assert again.added == 0, "re-import must add nothing"
        store.close()
    report({
        "exchange_records": ex.added,
        "exchange_seconds": round(ex_s, 2),
        "exchange_records_per_s": round(ex.added / ex_s),
        "csv_records": cs.added,
        "csv_seconds": round(csv_s, 2),
        "csv_records_per_s": round(cs.added / csv_s),
        "csv_reimport_records_per_s": round(args.size / reimport_s),
        "peak_rss_mb": peak_rss_mb(),
    }, args.json)  # fmt: skip


if __name__ == "__main__":
    main()
