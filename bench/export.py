"""Export benchmark: time and peak memory of exporting one session of ``--size`` records.

Builds (once, cached under the temp dir keyed by size) a store with ``--size`` records in
one pair's scope (half ledger, half bank, written with ``write_batch``), matched by the
engine (exact txids; about 2% of each side left as breaks so the draft has unresolved
rows), and one open session over the whole period. Then, in a fresh child process so the
figure is the export's alone, exports that session as a draft folder (``--encrypt``: as
an encrypted bundle) and reports the wall time and the child's peak RSS.

``export_s`` is the whole export, the store's audit check (``verify_all(full=False)``,
which the export runs in a thread beside its writing, on a second connection in the same
snapshot, and refuses on) included; ``verify_s`` is that check alone, timed after it on
the same store (the check's CPU is in ``export_cpu_s``, not in the exporting thread's).
The check walks the logs only after the verified watermark
(:mod:`recon_tui.store.watermark`), which the app's start, ``recon-tui verify`` and every
export seal: a store without one gets it first, by a full walk outside the timing
(``watermark_sealed_s``, 0 when it had one); ``verify_full_s`` is the full walk
(``recon-tui verify``) on the same store, for comparison (``--no-full`` skips it). CPU
seconds are given too (``export_cpu_s`` this process, all its threads;
``export_main_thread_cpu_s`` the exporting thread alone, the critical path while the
reading and hashing threads and the workbook's child take the second core;
``workbook_cpu_s`` the workbook's child; ``*_cpu_s`` of the checks): on a busy machine
they say more than the wall time.
``--store`` reuses a store built before.

    .venv/bin/python bench/export.py --size 500000 --json
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ChildPeak, parser, peak_rss_mb, report

BATCH = 10_000
PASS = "bench"
NAMES = ["ACME LTD", "Globex GmbH", "Initech Inc", "Umbrella plc", "Hooli SA", "Vandelay Imp"]
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _chunk(source: str, start: int, stop: int) -> list:  # type: ignore[type-arg]
    from recon_tui.model import Record

    out = []
    for i in range(start, stop):
        if i % 50 == (7 if source == "ledger" else 13):
            continue  # a break: this side only
        cents = (i * 7919) % 2_000_000 + 100
        sign = 1 if i % 3 else -1
        out.append(Record(
            source=source, external_id=f"{source[0]}{i:09d}", kind="transfer",
            ts=T0 + timedelta(seconds=i * 53), asset="EUR", account="acct",
            amount=Decimal(sign * cents).scaleb(-2), txid=f"0x{i:016x}",
            counterparty=NAMES[i % len(NAMES)], reference=f"INV-{i:08d}",
            memo=f"=HYPERLINK(\"x\") {NAMES[i % len(NAMES)]}" if i % 1000 == 0 else None,
            raw={"id": i},
        ))  # fmt: skip
    return out


def build(path: Path, size: int) -> None:
    """The cached store: two sources, one pair, matched, one open session."""
    from recon_tui.model import Side, SourcePair
    from recon_tui.services.matching import MatchService
    from recon_tui.services.sessions import open_session
    from recon_tui.store import Store
    from recon_tui.store.db import remove_store
    from recon_tui.store.records import prepare_batch, write_batch
    from recon_tui.store.sources import add_pair, add_source

    remove_store(path)
    store = Store.init(path, passphrase=PASS)
    per_side = size // 2
    for source in ("ledger", "bank"):
        add_source(store, source, "csv")
        for i in range(0, per_side, BATCH):
            write_batch(store, prepare_batch(source, _chunk(source, i, min(i + BATCH, per_side))))
    add_pair(store, SourcePair("bench", Side("ledger", "acct"), Side("bank", "acct")))
    store.conn.execute("ANALYZE")
    MatchService(store).run_all()
    end = T0 + timedelta(seconds=per_side * 53 + 86_400)
    open_session(store, ["bench"], T0.date(), end.date() + timedelta(days=1), name="bench")
    store.close()
    path.with_suffix(".ok").touch()  # a build cut short is redone next time


def child(path: Path, out: Path, encrypt: bool, no_full: bool) -> None:
    import resource

    from recon_tui.services import export as export_service
    from recon_tui.services.export import export_session
    from recon_tui.store import Store

    store = Store.open(path, passphrase=PASS)
    watch = ChildPeak()
    t, cpu, main_cpu = time.perf_counter(), time.process_time(), time.thread_time()
    result = export_session(store, 1, out, force=True, encrypt=encrypt,
                            passphrase="bench-export" if encrypt else None)  # fmt: skip
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    main_cpu = time.thread_time() - main_cpu
    watch.stop()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = peak_rss_mb()
    # The store's own audit check, timed apart (the export ran the same one first), and the
    # full walk for comparison.
    checks = {}
    for name, full in (("verify", False), ("verify_full", True))[: 1 if no_full else 2]:
        t, c = time.perf_counter(), time.process_time()
        with export_service.reads.snapshot(store) as conn:
            export_service.sessions.verify_all(conn, full=full)
        checks[f"{name}_s"] = round(time.perf_counter() - t, 2)
        checks[f"{name}_cpu_s"] = round(time.process_time() - c, 2)
    store.close()
    size = sum(p.stat().st_size for p in out.rglob("*")) if out.is_dir() else out.stat().st_size
    print(json.dumps({
        "export_s": round(seconds, 2), "peak_rss_mb": peak, **checks,
        "export_cpu_s": round(cpu, 2), "export_main_thread_cpu_s": round(main_cpu, 2),
        # The workbook is built by a child process (services/xlsx_stream.py): its own peak
        # (VmHWM, polled; getrusage's figure for children counts the pages the spawn
        # shared with this process, so it only repeats this one's).
        "workbook_cpu_s": round(kids.ru_utime + kids.ru_stime, 2),
        "workbook_peak_rss_mb": watch.peak_mb,
        "files": len(result.files), "export_mb": round(size / 2**20, 1),
        "unresolved": result.unresolved,
    }))  # fmt: skip


def main() -> None:
    p = parser(__doc__.splitlines()[0], 100_000)
    p.add_argument("--encrypt", action="store_true", help="export an encrypted bundle")
    p.add_argument("--store", type=Path, help="a store built by an earlier run (its session 1 "
                   "is exported; default: the cached one for --size, built when missing)")
    p.add_argument("--no-full", action="store_true", help="skip timing the full walk")
    p.add_argument("--child", type=Path, help=argparse_hidden())
    p.add_argument("--out", type=Path, help=argparse_hidden())
    args = p.parse_args()
    if args.child:
        child(args.child, args.out, args.encrypt, args.no_full)
        return
    root = Path(tempfile.gettempdir()) / "recon-tui-bench-export"
    root.mkdir(exist_ok=True)
    path = args.store or root / f"n{args.size}.db"
    existed = args.store is not None or path.with_suffix(".ok").exists()
    t = time.perf_counter()
    if not existed:
        build(path, args.size)
    build_s = time.perf_counter() - t
    sealed_s = seal(path)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        out = Path(tmp) / ("bundle.rtbundle" if args.encrypt else "export")
        cmd = [sys.executable, __file__, "--child", str(path), "--out", str(out)]
        if args.encrypt:
            cmd.append("--encrypt")
        if args.no_full:
            cmd.append("--no-full")
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"export failed: {done.stderr.strip().splitlines()[-1:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    report({"records": args.size, "store_reused": existed, "build_s": round(build_s, 1),
            "encrypted": args.encrypt, "watermark_sealed_s": sealed_s, **figures}, args.json)  # fmt: skip


def seal(path: Path) -> float:
    """Seal the verified watermark when the store has none of this version (a full walk,
    here in the parent so that neither its time nor its memory is the export's); returns
    the seconds it took."""
    from recon_tui.services import verify
    from recon_tui.store import Store, watermark

    store = Store.open(path, passphrase=PASS)
    try:
        text = watermark.read_text(store.conn)
        if text is not None and not watermark.other_version(text):
            return 0.0
        t = time.perf_counter()
        verify.verify_store(store)
        return round(time.perf_counter() - t, 2)
    finally:
        store.close()


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
