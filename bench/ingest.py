"""Ingest benchmark: records/second into the encrypted store through ``apply_batch``.

Generates ``--size`` synthetic bank-like records (exact Decimals, memos, counterparties,
raw payloads; ``--demo`` takes the demo world's bank records instead), then times
writing them in 10,000-record batches into a fresh SQLCipher store — the same path
every sync takes (hashing, JSON, upsert lookup, executemany).
Also reports the insert-only rate (rows converted beforehand, only the SQL timed) and a
re-sync of the same records (all unchanged), which is what an idempotent re-import costs.

    .venv/bin/python bench/ingest.py --size 1000000 --json
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import parser, peak_rss_mb, report
from recon_tui.model import Record
from recon_tui.services.prefetch import prefetch
from recon_tui.store import Store
from recon_tui.store.records import apply_batch, prepare_batch, write_batch
from recon_tui.store.sources import add_source

BATCH = 10_000
NAMES = ["ACME LTD", "Globex GmbH", "Initech Inc", "Umbrella plc", "Hooli SA", "Vandelay Imp"]


def make(n: int) -> list[Record]:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        amount = Decimal(i % 100_000 - 50_000).scaleb(-2)
        out.append(Record(
            source="bank", external_id=f"B{i:09d}", kind="payment",
            ts=t0 + timedelta(seconds=i * 37), asset="EUR", amount=amount,
            counterparty=NAMES[i % len(NAMES)], reference=f"INV-{i % 97_000:06d}",
            memo=f"SEPA CT INV-{i % 97_000:06d} {NAMES[i % len(NAMES)]}",
            raw={"id": i, "amount": str(amount)},
        ))  # fmt: skip
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0], 100_000)
    p.add_argument("--demo", action="store_true",
                   help="ingest the demo world's bank source instead (slower to generate)")
    args = p.parse_args()
    if args.demo:
        from recon_tui.demo import generate

        records = generate(size=args.size).records["bank"]
    else:
        records = make(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.init(Path(tmp) / "bench.db", passphrase="bench")
        add_source(store, "bank", "csv")
        # The sync service's path: convert batch n+1 in a thread while batch n is written.
        t = time.perf_counter()
        chunks = (records[i : i + BATCH] for i in range(0, len(records), BATCH))
        for ready in prefetch(prepare_batch("bank", c) for c in chunks):
            write_batch(store, ready)
        seconds = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(0, len(records), BATCH):
            apply_batch(store, "bank", records[i : i + BATCH])
        resync = time.perf_counter() - t
        count = store.count("SELECT count(*) FROM records")
        assert count == len(records), (count, len(records))
        db_mb = sum(p.stat().st_size for p in store.file_paths()) / 2**20
        store.close()
        # The SQL side alone: rows converted beforehand, then only the writes are timed.
        prepared = [prepare_batch("bank", records[i : i + BATCH]) for i in range(0, len(records), BATCH)]
        store = Store.init(Path(tmp) / "insert-only.db", passphrase="bench")
        add_source(store, "bank", "csv")
        t = time.perf_counter()
        for ready in prepared:
            write_batch(store, ready)
        insert_only = time.perf_counter() - t
        store.close()
    report({
        "records": len(records),
        "seconds": round(seconds, 2),
        "records_per_s": round(len(records) / seconds),
        "insert_only_records_per_s": round(len(records) / insert_only),
        "resync_records_per_s": round(len(records) / resync),
        "db_mb": round(db_mb, 1),
        "peak_rss_mb": peak_rss_mb(),
    }, args.json)  # fmt: skip


if __name__ == "__main__":
    main()
