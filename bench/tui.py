"""TUI benchmark: first paint of the workbench and cursor latency over N records per side.

Builds (once, reused across runs in a temp dir keyed by size) a store with ``--size``
synthetic records on each side of one pair, written with ``write_batch``; then launches the
app on that pair through Pilot and times the first painted rows, ``down`` moves and
``pagedown`` presses. Pilot adds ~60 ms of its own per key, so move figures are reported net
of the same presses on a 100-row store measured in the same run.

    .venv/bin/python bench/tui.py --size 100000 --json
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import parser, peak_rss_mb, report
from recon_tui.model import Record, Side, SourcePair
from recon_tui.services.prefetch import prefetch
from recon_tui.store import Store
from recon_tui.store.records import prepare_batch, write_batch
from recon_tui.store.sources import add_pair, add_source

BATCH = 20_000
PASS = "bench"
NAMES = ["ACME LTD", "Globex GmbH", "Initech Inc", "Umbrella plc", "Hooli SA", "Vandelay Imp"]


def _chunk(source: str, start: int, n: int) -> list[Record]:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    sign = 1 if source == "ledger" else -1
    return [
        Record(source=source, external_id=f"{source[0]}{i:09d}", kind="payment",
               ts=t0 + timedelta(seconds=i * 31), asset="EUR", account="acct",
               amount=Decimal(sign * (i % 100_000 - 50_000)).scaleb(-2),
               counterparty=NAMES[i % len(NAMES)], reference=f"INV-{i % 97_000:06d}",
               raw={"id": i})
        for i in range(start, min(start + BATCH, n))
    ]  # fmt: skip


def build(path: Path, n: int) -> Store:
    """Open the cached store for ``n`` per side, or build it."""
    if path.exists():
        return Store.open(path, passphrase=PASS)
    store = Store.init(path, passphrase=PASS)
    for source in ("ledger", "bank"):
        add_source(store, source, "csv")
        batches = (prepare_batch(source, _chunk(source, i, n)) for i in range(0, n, BATCH))
        for ready in prefetch(batches):
            write_batch(store, ready)
    add_pair(store, SourcePair("bench", Side("ledger", "acct"), Side("bank", "acct")))
    store.conn.execute("ANALYZE")
    return store


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p * (len(xs) - 1)))]


SPENT: list[float] = [0.0]
"""Seconds spent inside the pane (cursor watcher + line rendering) since the last reset."""


def _instrument() -> None:
    """Time the pane's own work per key, free of Pilot's overhead: the cursor watcher (keyset
    fetches, scrolling) and the rendering of the visible lines."""
    from recon_tui.widgets.record_pane import RecordPane

    if getattr(RecordPane, "_bench_wrapped", False):
        return
    for name in ("watch_cursor", "render_lines"):
        orig = getattr(RecordPane, name)

        def timed(self, *a, _orig=orig):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                return _orig(self, *a)
            finally:
                SPENT[0] += time.perf_counter() - t

        setattr(RecordPane, name, timed)
    RecordPane._bench_wrapped = True  # type: ignore[attr-defined]


async def measure(path: Path, n: int, moves: int, pages: int) -> dict[str, float]:
    from recon_tui.app import ReconApp
    from recon_tui.widgets.record_pane import RecordPane

    _instrument()

    t0 = time.perf_counter()
    store = build(path, n)
    opened = time.perf_counter()
    app = ReconApp(store, pair="bench")
    app.services.candidates.use_engine = False  # the engine would load every open item into memory
    out: dict[str, float] = {}
    async with app.run_test(size=(160, 48)) as pilot:
        pane: RecordPane | None = None
        while True:
            panes = list(app.screen.query(RecordPane))
            pane = panes[0] if panes else None
            if pane is not None and pane.first_paint_s is not None:
                break
            await asyncio.sleep(0.002)
        out["first_paint_s"] = pane.first_paint_s - t0
        out["first_paint_app_s"] = pane.first_paint_s - opened
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        down, down_in = [], []
        for _ in range(moves):
            t = time.perf_counter()
            SPENT[0] = 0.0
            await pilot.press("down")
            down.append((time.perf_counter() - t) * 1000)
            down_in.append(SPENT[0] * 1000)
        pgdn, pgdn_in = [], []
        for _ in range(pages):
            t = time.perf_counter()
            SPENT[0] = 0.0
            await pilot.press("pagedown")
            pgdn.append((time.perf_counter() - t) * 1000)
            pgdn_in.append(SPENT[0] * 1000)
        out["in_move_p50"] = statistics.median(down_in)
        out["in_move_p95"] = _pct(down_in, 0.95)
        out["in_page_p95"] = _pct(pgdn_in, 0.95)
        t = time.perf_counter()
        await pilot.press("G")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        out["end_s"] = time.perf_counter() - t
        out["count"] = float(pane.count or 0)
        out["move_p50"] = statistics.median(down)
        out["move_p95"] = _pct(down, 0.95)
        out["page_p50"] = statistics.median(pgdn)
        out["page_p95"] = _pct(pgdn, 0.95)
    store.close()
    return out


def main() -> None:
    args = parser(__doc__.splitlines()[0], 100_000).parse_args()
    root = Path(tempfile.gettempdir()) / "recon-tui-bench-tui"
    root.mkdir(exist_ok=True)
    t = time.perf_counter()
    big_path = root / f"n{args.size}.db"
    existed = big_path.exists()
    build(big_path, args.size).close()
    build_s = time.perf_counter() - t
    base = asyncio.run(measure(root / "n100.db", 100, 100, 30))
    big = asyncio.run(measure(big_path, args.size, 100, 30))
    report({
        "size_per_side": args.size,
        "store_reused": existed,
        "build_s": round(build_s, 1),
        "first_paint_s": round(big["first_paint_s"], 3),
        "first_paint_after_open_s": round(big["first_paint_app_s"], 3),
        "move_p50_ms": round(max(0.0, big["move_p50"] - base["move_p50"]), 1),
        # Percentiles net of the same percentile on the 100-row store (Pilot's own jitter).
        "move_p95_ms": round(max(0.0, big["move_p95"] - base["move_p95"]), 1),
        "pagedown_p50_ms": round(max(0.0, big["page_p50"] - base["page_p50"]), 1),
        "pagedown_p95_ms": round(max(0.0, big["page_p95"] - base["page_p95"]), 1),
        "pilot_baseline_move_p95_ms": round(base["move_p95"], 1),
        "in_app_move_p50_ms": round(big["in_move_p50"], 2),
        "in_app_move_p95_ms": round(big["in_move_p95"], 2),
        "in_app_pagedown_p95_ms": round(big["in_page_p95"], 2),
        "pilot_baseline_move_p50_ms": round(base["move_p50"], 1),
        "pilot_raw_move_p95_ms": round(big["move_p95"], 1),
        "pilot_raw_pagedown_p95_ms": round(big["page_p95"], 1),
        "jump_to_end_s": round(big["end_s"], 3),
        "rows_counted": int(big["count"]),
        "peak_rss_mb": peak_rss_mb(),
    }, args.json)  # fmt: skip


if __name__ == "__main__":
    main()
