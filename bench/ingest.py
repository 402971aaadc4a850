"""Ingest benchmark: records/second into the encrypted store, end to end and per stage.

Generates ``--size`` synthetic bank-like records (exact Decimals, memos, counterparties,
raw payloads; ``--demo`` takes every source of the demo world instead, ``--size`` records
in all), then times, on a fresh SQLCipher store:

``convert``     records -> row tuples (``prepare_batch``: hashing, JSON), nothing written
``insert``      the prepared rows written (``write_batch``, 10,000 per transaction)
``end_to_end``  the sync service's path: batch n+1 converted in a producer thread while
                batch n is written (``prefetch``)
``resync``      the same records again (all unchanged): an idempotent re-import

Each stage reports wall seconds, CPU seconds of this process (all threads) and records
per second of each. On a shared machine the wall figures move with the load (given as
``load_avg``); records per CPU second are what the code costs.

    .venv/bin/python bench/ingest.py --size 1000000 --json
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

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


def demo_records(size: int) -> dict[str, list[Record]]:
    """About ``size`` records of the demo world, every source (booked versions)."""
    from recon_tui.demo import generate

    world = generate(size=max(1, size // 8))
    return {name: recs for name, recs in world.records.items() if recs}


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def chunks(records: list[Record]) -> list[list[Record]]:
    return [records[i : i + BATCH] for i in range(0, len(records), BATCH)]


def fresh(tmp: str, name: str, sources: list[str]) -> Store:
    store = Store.init(Path(tmp) / f"{name}.db", passphrase="bench")
    for s in sources:
        add_source(store, s, "csv")
    return store


def main() -> None:
    p = parser(__doc__.splitlines()[0], 100_000)
    p.add_argument("--demo", action="store_true",
                   help="ingest the demo world's records (every source) instead")
    args = p.parse_args()
    load = os.getloadavg()[0]
    by_source = demo_records(args.size) if args.demo else {"bank": make(args.size)}
    n = sum(len(v) for v in by_source.values())
    figures: dict[str, Any] = {"records": n, "demo": args.demo, "load_avg": round(load, 1)}

    def stage(name: str, wall: float, cpu: float) -> None:
        figures[f"{name}_s"] = round(wall, 2)
        figures[f"{name}_cpu_s"] = round(cpu, 2)
        figures[f"{name}_records_per_s"] = round(n / wall)
        figures[f"{name}_records_per_cpu_s"] = round(n / cpu) if cpu else None

    with tempfile.TemporaryDirectory() as tmp:
        prepared: list[Any] = []
        stage("convert", *timed(lambda: prepared.extend(
            prepare_batch(s, c) for s, recs in by_source.items() for c in chunks(recs))))
        store = fresh(tmp, "insert", list(by_source))
        stage("insert", *timed(lambda: [write_batch(store, b) for b in prepared]))
        store.close()
        prepared.clear()
        store = fresh(tmp, "e2e", list(by_source))

        def end_to_end() -> None:
            for s, recs in by_source.items():
                for ready in prefetch(prepare_batch(s, c) for c in chunks(recs)):
                    write_batch(store, ready)

        stage("end_to_end", *timed(end_to_end))
        stage("resync", *timed(lambda: [apply_batch(store, s, c) for s, recs in
                                        by_source.items() for c in chunks(recs)]))  # fmt: skip
        count = store.count("SELECT count(*) FROM records")
        assert count == n, (count, n)
        figures["db_mb"] = round(sum(f.stat().st_size for f in store.file_paths()) / 2**20, 1)
        store.close()
    figures["records_per_s"] = figures["end_to_end_records_per_s"]
    figures["insert_only_records_per_s"] = figures["insert_records_per_s"]
    figures["resync_records_per_s"] = figures["resync_records_per_s"]
    figures["peak_rss_mb"] = peak_rss_mb()
    report(figures, args.json)


if __name__ == "__main__":
    main()
