"""Ingest benchmark: records/second into the encrypted store, end to end and per stage.

Generates ``--size`` synthetic bank-like records (exact Decimals, memos, counterparties,
raw payloads; ``--demo`` takes every source of the demo world instead, ``--size`` records
in all), then times, on a fresh SQLCipher store:

``convert``     records -> row tuples (``prepare_batch``: hashing, JSON), nothing written
``insert``      the prepared rows written (``write_batch``, 10,000 per transaction; each
                batch converted just before it is written, the two timed apart)
``end_to_end``  the sync service's path: batch n+1 converted in a producer thread while
                batch n is written (``prefetch``)
``end_to_end_process``  the same with the records made and converted in a second process
                (``bench.common.produced``), only written here (not with ``--demo``)
``resync``      the same records again (all unchanged): an idempotent re-import
``csv``         the same records as a CSV statement file, imported as a user imports it
                (``sync.import_file``: one transaction; a big file parsed and converted
                in a second process, whose CPU is ``csv_reader_cpu_s``; not with ``--demo``)

The records are admitted to their source pairs as they are written, as a real source's
are (a ledger-vs-bank pair; the demo's four pairs with ``--demo``); ``--no-pair`` leaves
the store without pairs (admission then costs nothing).

Each stage reports wall seconds, CPU seconds of this process (all threads), records
per second of each, and ``*_cpu_wait_s``: how long the writing thread was ready to run but
waited for a CPU (the neighbours' load, not this code). On a shared machine the wall
figures move with the load (given as ``load_avg``); records per CPU second are what the
code costs.

    .venv/bin/python bench/ingest.py --size 1000000 --json
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ChildPeak, parser, peak_rss_mb, produced, report
from recon_tui.model import Record, Side, SourcePair
from recon_tui.services.prefetch import prefetch
from recon_tui.store import Store
from recon_tui.store.records import PreparedBatch, apply_batch, prepare_batch, write_batch
from recon_tui.store.sources import add_pair, add_source

BATCH = 10_000
NAMES = ["ACME LTD", "Globex GmbH", "Initech Inc", "Umbrella plc", "Hooli SA", "Vandelay Imp"]


def make(n: int, start: int = 0) -> list[Record]:
    """Records ``start`` .. ``n - 1`` of the synthetic bank statement."""
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i in range(start, n):
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


def made_and_prepared(start: int, stop: int) -> Iterator[PreparedBatch]:
    """The producer process's job: records made (as an adapter reading a file would) and
    converted to rows there."""
    yield prepare_batch("bank", make(stop, start))


def queued() -> float:
    """Seconds this thread has spent runnable but not running (waiting for a CPU) so far:
    Linux's ``schedstat`` run delay; 0 where there is none."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def timed(fn: Callable[[], Any]) -> tuple[float, float, float]:
    """(wall, CPU of this process, run-queue wait of this thread) of ``fn()``."""
    wall, cpu, waited = time.perf_counter(), time.process_time(), queued()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu, queued() - waited


def prepared_timed(source: str, records: list[Record]) -> tuple[PreparedBatch,
                                                                tuple[float, float, float]]:
    out: list[PreparedBatch] = []
    took = timed(lambda: out.append(prepare_batch(source, records)))
    return out[0], took


def add(total: list[float], took: tuple[float, float, float]) -> None:
    for k in range(3):
        total[k] += took[k]


def chunks(records: list[Record]) -> list[list[Record]]:
    return [records[i : i + BATCH] for i in range(0, len(records), BATCH)]


def fresh(tmp: str, name: str, sources: list[str], pairs: list[SourcePair]) -> Store:
    store = Store.init(Path(tmp) / f"{name}.db", passphrase="bench")
    for s in {*sources, *(side.source for p in pairs for side in (p.left, p.right))}:
        add_source(store, s, "csv")
    for i, pair in enumerate(pairs):
        add_pair(store, pair, position=i)
    return store


def pairs_for(demo: bool, paired: bool) -> list[SourcePair]:
    """The pairs records are admitted to as they are written (what a real source has)."""
    if not paired:
        return []
    if demo:
        from recon_tui.demo import PAIRS

        return list(PAIRS)
    return [SourcePair("ledger-bank", Side("ledger"), Side("bank"))]


CSV_SETTINGS = {"date_column": "date", "amount_column": "amount", "id_column": "id",
                "reference_column": "reference", "counterparty_column": "counterparty",
                "memo_column": "memo", "kind_column": "kind", "currency": "EUR"}  # fmt: skip


def csv_import(tmp: str, records: list[Record], pairs: list[SourcePair],
               stage: Callable[[str, float, float, float], None],
               figures: dict[str, Any]) -> None:  # fmt: skip
    """The records written as a CSV statement, then imported through the sync service."""
    import csv

    from recon_tui.services.sync import import_file

    path = Path(tmp) / "bank.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["date", "amount", "id", "reference", "counterparty", "memo", "kind"])
        out.writerows((r.ts.date().isoformat(), f"{r.amount:f}", r.external_id, r.reference,
                       r.counterparty, r.memo, r.kind) for r in records)  # fmt: skip
    store = Store.init(Path(tmp) / "csv.db", passphrase="bench")
    for s in {"bank", *(side.source for p in pairs for side in (p.left, p.right))}:
        add_source(store, s, "csv", dict(CSV_SETTINGS))
    for i, pair in enumerate(pairs):
        add_pair(store, pair, position=i)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    report: list[Any] = []
    stage("csv", *timed(lambda: report.append(import_file(store, "bank", str(path)))))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert report[0].ok and report[0].added == len(records), report[0].line()
    figures["csv_reader_cpu_s"] = round(
        after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime, 2)
    figures["csv_mb"] = round(path.stat().st_size / 2**20, 1)
    store.close()


def main() -> None:
    p = parser(__doc__.splitlines()[0], 100_000)
    p.add_argument("--demo", action="store_true",
                   help="ingest the demo world's records (every source) instead")
    p.add_argument("--no-pair", action="store_true",
                   help="no source pairs (records are not admitted to any pair)")
    args = p.parse_args()
    watch = ChildPeak()
    pairs = pairs_for(args.demo, not args.no_pair)
    load = os.getloadavg()[0]
    by_source = demo_records(args.size) if args.demo else {"bank": make(args.size)}
    n = sum(len(v) for v in by_source.values())
    figures: dict[str, Any] = {"records": n, "demo": args.demo, "paired": bool(pairs),
                               "load_avg": round(load, 1)}  # fmt: skip

    def stage(name: str, wall: float, cpu: float, waited: float) -> None:
        figures[f"{name}_s"] = round(wall, 2)
        figures[f"{name}_cpu_s"] = round(cpu, 2)
        # Wall the main (writing) thread spent runnable but without a CPU: the neighbours'
        # share of the wall figure, not this code's.
        figures[f"{name}_cpu_wait_s"] = round(waited, 2)
        figures[f"{name}_records_per_s"] = round(n / wall)
        figures[f"{name}_records_per_cpu_s"] = round(n / cpu) if cpu else None

    with tempfile.TemporaryDirectory() as tmp:
        # Converted and written a batch at a time, each step timed on its own: the same two
        # figures as converting everything and then writing it, without every prepared row
        # of the run held at once (~0.6 GB at 1M, a third of the peak).
        store = fresh(tmp, "insert", list(by_source), pairs)
        convert, insert = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
        for s, recs in by_source.items():
            for c in chunks(recs):
                ready, took = prepared_timed(s, c)
                add(convert, took)
                add(insert, timed(lambda: write_batch(store, ready)))  # noqa: B023
        stage("convert", *convert)
        stage("insert", *insert)
        store.close()
        store = fresh(tmp, "e2e", list(by_source), pairs)

        def end_to_end() -> None:
            for s, recs in by_source.items():
                for ready in prefetch(prepare_batch(s, c) for c in chunks(recs)):
                    write_batch(store, ready)

        stage("end_to_end", *timed(end_to_end))
        if not args.demo:
            # Records read and converted in a second process, written here: what a file
            # import costs when the parsing runs beside the writer instead of under its GIL.
            store.close()
            store = fresh(tmp, "e2e_process", list(by_source), pairs)
            children = resource.getrusage(resource.RUSAGE_CHILDREN)

            def end_to_end_process() -> None:
                jobs = [(i, min(i + BATCH, n)) for i in range(0, n, BATCH)]
                for ready in produced(made_and_prepared, jobs):
                    write_batch(store, ready)

            stage("end_to_end_process", *timed(end_to_end_process))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            figures["end_to_end_process_producer_cpu_s"] = round(
                after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime, 2)
        stage("resync", *timed(lambda: [apply_batch(store, s, c) for s, recs in
                                        by_source.items() for c in chunks(recs)]))  # fmt: skip
        count = store.count("SELECT count(*) FROM records")
        assert count == n, (count, n)
        figures["db_mb"] = round(sum(f.stat().st_size for f in store.file_paths()) / 2**20, 1)
        store.close()
        if not args.demo:
            csv_import(tmp, by_source["bank"], pairs, stage, figures)
    figures["records_per_s"] = figures["end_to_end_records_per_s"]
    figures["insert_only_records_per_s"] = figures["insert_records_per_s"]
    figures["resync_records_per_s"] = figures["resync_records_per_s"]
    if "csv_records_per_s" in figures:
        figures["csv_import_records_per_s"] = figures["csv_records_per_s"]
    figures["peak_rss_mb"] = peak_rss_mb()
    # The largest child's peak (the CSV reader process, or the end_to_end_process producer),
    # its own VmHWM polled: RUSAGE_CHILDREN's maxrss would carry what exec inherited.
    watch.stop()
    figures["children_peak_rss_mb"] = watch.peak_mb
    report(figures, args.json)


if __name__ == "__main__":
    main()
