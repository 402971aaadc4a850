"""TUI benchmark: the screens a user waits for, and key latency, over N records per side.

Builds (once, reused across runs in a temp dir keyed by size) a store with ``--size``
synthetic records on each side of one pair, written with ``write_batch``; every 50th
ledger item has two bank look-alikes (same amount, reference and day), which the engine
(run once at build) can only suggest. Above ``ENGINE_MAX`` per side the build writes those
suggestions itself through the store's group writer (the engine would not fit in memory).
Then, driving the app through Pilot with keys only. Every figure a user waits for ends
at a *frame*: the moment the app has composed the screen that shows the result (Textual's
compositor update, what a terminal would be sent), timed inside the app, so Pilot's own
settling (it waits until the whole process is idle, ~60 ms or far more under load) is not
in it:

``dashboard_paint_s``  app start to the frame showing the dashboard's pairs and figures
``startup_idle_s``     app start to no worker left (the start's audit-trail walk included)
``pair_open_s``        Enter on the dashboard to the frame showing both panes' rows
``pair_settled_s``     Enter on the dashboard to the frame showing the first item's
                       candidates too (everything the opened workbench shows)
``first_paint_s``      the workbench opened directly on the pair (``--pair``): first rows
``move_*``/``pagedown_*``  a cursor key in a 1M-row pane to the frame showing the moved
                       cursor on loaded rows (p50/p95)
``candidates_ms``      cursor moved onto an item to the frame showing its candidates
``confirm_ms``         Enter on a suggestion to the frame showing the panes reloaded and
                       the candidates of the item now under the cursor (p50/p95)
``undo_ms``            ``u`` to the same frame after the undo (p50/p95)
``status_s``           the status service (what ``recon-tui status`` prints) on an open
                       store; ``status_cli_s`` the command itself, process start included
``overview_first_s`` / ``overview_refresh_s``  the headless service's aggregates (pairs,
                       break aging per asset, sessions), computed cold and again

Also kept, for comparison with earlier runs: ``pilot_*`` figures are ``pilot.press`` wall
times, raw and net of the same keys on a 100-row store (LIMITS.md: Pilot's ~60 ms per key).
They are not what a user waits for: Pilot returns only once the whole process has been
idle for 20 ms (twice), so they include the debounced candidates and detail refresh that
follows a move, every background thread's work, and the machine's load; and on the
100-row baseline most page-downs do nothing (the pane is at its end), so the "net" takes
off less than the harness adds. ``in_app_*`` is the pane's own work per key (cursor
watcher and line rendering). Widgets are found by class and observed through their
public state, so the bench keeps working while screens change; a figure it cannot take is
reported as null.

    .venv/bin/python bench/tui.py --size 100000 --json
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import parser, peak_rss_mb, produced, report
from recon_tui.model import Record, Side, SourcePair, canonical_amount
from recon_tui.store import Store, schema
from recon_tui.store.records import PreparedBatch, prepare_batch, write_batch
from recon_tui.store.sources import add_pair, add_source

BATCH = 20_000
PASS = "bench"
NAMES = ["ACME LTD", "Globex GmbH", "Initech Inc", "Umbrella plc", "Hooli SA", "Vandelay Imp"]


def _chunk(source: str, start: int, n: int) -> list[Record]:
    """Records ``start``.. of one side. Amounts never meet across sides, except every 50th
    ledger item, which has two bank look-alikes (same amount, reference, day): ambiguous,
    so the engine suggests them and never confirms them itself."""
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i in range(start, min(start + BATCH, n)):
        ts = t0 + timedelta(seconds=i * 31)
        if source == "ledger":
            amount = Decimal(1_000_000 + i).scaleb(-2)
            out.append(Record(source=source, external_id=f"l{i:09d}", kind="payment", ts=ts,
                              asset="EUR", account="acct", amount=amount,
                              counterparty=NAMES[i % len(NAMES)], reference=f"INV-{i:08d}",
                              raw={"id": i}))  # fmt: skip
            continue
        if i % 50 == 0:
            for copy in ("a", "b"):
                out.append(Record(source=source, external_id=f"b{i:09d}{copy}", kind="payment",
                                  ts=ts, asset="EUR", account="acct",
                                  amount=Decimal(1_000_000 + i).scaleb(-2),
                                  counterparty=NAMES[i % len(NAMES)], reference=f"INV-{i:08d}",
                                  raw={"id": i, "copy": copy}))  # fmt: skip
        else:
            out.append(Record(source=source, external_id=f"b{i:09d}", kind="payment", ts=ts,
                              asset="EUR", account="acct", amount=Decimal(-(i + 7)).scaleb(-2),
                              counterparty=NAMES[i % len(NAMES)], reference=f"PAY-{i:08d}",
                              raw={"id": i}))  # fmt: skip
    return out


def _prepared(source: str, start: int, n: int) -> Iterator[PreparedBatch]:
    yield prepare_batch(source, _chunk(source, start, n))


ENGINE_MAX = 200_000
"""Above this many per side the build writes the engine's suggestions itself (the engine
holds every open record in memory: ~630 MB and 3 minutes at 100k per side here, past the
machine's 4 GB at 1M)."""


def _engine_suggestions(store: Store, n: int) -> None:
    """What the engine leaves on this data, written through the store's group writer: the
    only items whose amounts meet are every 50th ledger item and its two bank look-alikes
    (same amount, reference, counterparty and day), so each gets two suggestions, neither
    confirmed (ambiguous), with the explanation the engine gives them (checked against an
    engine run at 100k per side: 4,000 suggested groups, rule ``reference``, score 1.0)."""
    from recon_tui.store import groups

    def ids(source: str, external_ids: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in range(0, len(external_ids), 10_000):
            part = external_ids[i : i + 10_000]
            out.update(store.conn.execute(
                f"SELECT external_id, id FROM records WHERE source = ? AND external_id IN "
                f"({', '.join('?' * len(part))})", (source, *part)).fetchall())  # fmt: skip
        return out

    items = range(0, n, 50)
    left = ids("ledger", [f"l{i:09d}" for i in items])
    right = ids("bank", [f"b{i:09d}{c}" for i in items for c in "ab"])
    with store.tx() as conn:
        for i in items:
            amount = canonical_amount(Decimal(1_000_000 + i).scaleb(-2))
            name = NAMES[i % len(NAMES)].split()[0].lower()
            explanation = {
                "amount": {"left": amount, "right": amount, "difference": "0", "agree": True,
                           "detail": "equal amounts"},
                "date": {"agree": True, "lag_days": 0,
                         "detail": "0 business days apart (window 5)"},
                "reference": {"agree": True, "similarity": 1.0, "detail": "same reference"},
                "counterparty": {"agree": True, "similarity": 1.0,
                                 "detail": f"'{name}' ~ '{name}'"},
                "memo": {"agree": None, "similarity": None, "detail": "missing on a side"},
                "key": {"agree": True, "field": "reference", "detail": "same reference"},
            }  # fmt: skip
            for c in "ab":  # the engine names the ambiguity on the first of the two
                why = {**explanation, "decision": {"agree": False, "detail": "ambiguous"}} \
                    if c == "a" else explanation  # fmt: skip
                groups.create_group(conn, "bench", [left[f"l{i:09d}"]], [right[f"b{i:09d}{c}"]],
                                    state="suggested", origin="engine", rule="reference",
                                    score=1.0, explanation=why)  # fmt: skip


def build(path: Path, n: int) -> Store:
    """Open the cached store for ``n`` per side, or build it (records, pair, one engine run)."""
    ok = path.with_suffix(".ok")
    if path.exists() and ok.exists():
        return Store.open(path, passphrase=PASS)
    from recon_tui.services.matching import MatchService
    from recon_tui.store.db import remove_store

    remove_store(path)
    store = Store.init(path, passphrase=PASS)
    t = time.perf_counter()
    for source in ("ledger", "bank"):
        add_source(store, source, "csv")
    add_pair(store, SourcePair("bench", Side("ledger", "acct"), Side("bank", "acct")))
    # Records made and converted in a second process, written (and admitted) here.
    jobs = [(source, i, n) for source in ("ledger", "bank") for i in range(0, n, BATCH)]
    for ready in produced(_prepared, jobs):
        write_batch(store, ready)
    print(f"build: records {time.perf_counter() - t:.1f}s", file=sys.stderr)
    store.conn.execute("ANALYZE")
    t = time.perf_counter()
    if n <= ENGINE_MAX:
        MatchService(store).run_all()
    else:
        _engine_suggestions(store, n)
    print(f"build: match {time.perf_counter() - t:.1f}s, peak {peak_rss_mb()} MB", file=sys.stderr)
    ok.touch()
    return store


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p * (len(xs) - 1)))]


def _no_engine(app: Any) -> None:
    """Turn the on-demand engine off wherever this version of the app keeps the switch."""
    services = getattr(app, "services", None)
    for holder in (getattr(services, "candidates", None), getattr(app, "service", None)):
        if holder is not None and hasattr(holder, "use_engine"):
            holder.use_engine = False


FRAMES: list[tuple[float, Any]] = []
"""(perf_counter, probe()) of every frame the app composed (see :func:`_watch_frames`)."""
PROBE: list[Any] = [lambda: None]
"""What each frame records besides its time (the measured pane's cursor and whether its
row is loaded, while keys are measured)."""


def _watch_frames() -> None:
    """Record each composed frame: ``App._display`` is handed every compositor update
    (in a terminal, what is written to it; headless, the same update, not written)."""
    from textual.app import App

    if getattr(App, "_bench_frames", False):
        return
    orig = App._display

    def display(self, screen, renderable):  # type: ignore[no-untyped-def]
        if renderable is not None:
            FRAMES.append((time.perf_counter(), PROBE[0]()))
        return orig(self, screen, renderable)

    App._display = display  # type: ignore[method-assign]
    App._bench_frames = True  # type: ignore[attr-defined]


def _frame_after(t: float, check: Any = None) -> float | None:
    """The time of the first frame composed at or after ``t`` (whose probe passes
    ``check``, if given)."""
    return next((ft for ft, probe in FRAMES if ft >= t and (check is None or check(probe))),
                None)  # fmt: skip


async def _frame_at_or_after(pilot: Any, t: float, check: Any = None,
                             timeout: float = 30.0) -> float | None:  # fmt: skip
    """Wait for (and return) the first frame at or after ``t`` (passing ``check``)."""
    if await _until(pilot, lambda: _frame_after(t, check) is not None, timeout):
        return _frame_after(t, check)
    return None


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
    _watch_frames()

    t0 = time.perf_counter()
    store = build(path, n)
    opened = time.perf_counter()
    app = ReconApp(store, pair="bench")
    _no_engine(app)  # the engine would load every open item into memory
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
        measured = pane
        PROBE[0] = lambda: (measured.cursor, measured.row_at(measured.cursor) is not None)

        async def key(name: str, raw: list[float], work: list[float],
                      shown: list[float]) -> None:  # fmt: skip
            before = measured.cursor
            t = time.perf_counter()
            SPENT[0] = 0.0
            await pilot.press(name)
            raw.append((time.perf_counter() - t) * 1000)
            work.append(SPENT[0] * 1000)
            want = measured.cursor  # where the key left the cursor (Pilot waited for it)
            if want == before:
                return  # at the end: nothing to show, no frame to wait for
            frame = await _frame_at_or_after(pilot, t, lambda p: p == (want, True), timeout=10)
            if frame is not None:
                shown.append((frame - t) * 1000)

        down, down_in, down_shown = [], [], []
        for _ in range(moves):
            await key("down", down, down_in, down_shown)
        pgdn, pgdn_in, pgdn_shown = [], [], []
        for _ in range(pages):
            await key("pagedown", pgdn, pgdn_in, pgdn_shown)
        PROBE[0] = lambda: None
        out["shown_move"] = down_shown
        out["shown_page"] = pgdn_shown
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


SHOWN: list[tuple[float, bool]] = []
"""(time, final) of every candidates-pane update: final unless it is the interim note."""


def _watch_candidates() -> bool:
    """Record every candidates-pane update (public ``show``); False if there is no pane."""
    try:
        from recon_tui.widgets.candidates import CandidatesPane
    except ImportError:
        return False
    if getattr(CandidatesPane, "_bench_watched", False):
        return True
    orig = getattr(CandidatesPane, "show", None)
    if orig is None:
        return False

    def show(self, candidates, focused_id=None, note="", *a, **k):  # type: ignore[no-untyped-def]
        SHOWN.append((time.perf_counter(), bool(candidates) or "looking" not in str(note)))
        return orig(self, candidates, focused_id, note, *a, **k)

    CandidatesPane.show = show  # type: ignore[method-assign]
    CandidatesPane._bench_watched = True  # type: ignore[attr-defined]
    return True


async def _until(pilot: Any, check: Any, timeout: float = 120.0) -> bool:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if check():
            return True
        await pilot.pause(0.005)
    return False


def _busy(app: Any, group: str | None = None) -> bool:
    return any((w.is_running or w.state.name == "PENDING") and group in (None, w.group)
               for w in app.workers)  # fmt: skip


async def _shown_after(pilot: Any, app: Any, t0: float, timeout: float = 30.0) -> float | None:
    """Seconds from ``t0`` to the first frame composed after the first final candidates
    update after it (the candidates on screen); then waits until the app is idle."""
    ok = await _until(pilot, lambda: any(t > t0 and final for t, final in SHOWN), timeout)
    if not ok:
        return None
    t = next(t for t, final in SHOWN if t > t0 and final)
    frame = await _frame_at_or_after(pilot, t, timeout=timeout)
    await _until(pilot, lambda: not _busy(app), timeout)
    return None if frame is None else frame - t0


DASH_SHOWN: list[float] = []
"""Times the dashboard was handed its data (its public ``show``)."""


def _watch_dashboard() -> bool:
    try:
        from recon_tui.screens.dashboard import DashboardScreen
    except ImportError:
        return False
    if getattr(DashboardScreen, "_bench_watched", False):
        return True
    orig = getattr(DashboardScreen, "show", None)
    if orig is None:
        return False

    def show(self, *a, **k):  # type: ignore[no-untyped-def]
        try:
            return orig(self, *a, **k)
        finally:
            DASH_SHOWN.append(time.perf_counter())

    DashboardScreen.show = show  # type: ignore[method-assign]
    DashboardScreen._bench_watched = True  # type: ignore[attr-defined]
    return True


async def measure_flow(path: Path, n: int, keys: int) -> dict[str, Any]:
    """Dashboard, pair opening, candidates, confirm and undo, through keys only."""
    from textual.widgets import DataTable

    from recon_tui.app import ReconApp

    watched = _watch_candidates()
    _watch_frames()
    dash_shown = _watch_dashboard()
    store = build(path, n)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    app = ReconApp(store)
    _no_engine(app)  # stored suggestions only: the engine would load it all
    async with app.run_test(size=(160, 48)) as pilot:

        def painted() -> bool:
            tables = list(app.screen.query(DataTable))
            return bool(tables) and any(t.row_count for t in tables) and not _busy(app, "dashboard")

        if await _until(pilot, painted):
            # The frame after the dashboard was last handed data before it read as painted
            # (its loader done); without the hook, when the poll saw it.
            t = max((d for d in DASH_SHOWN if d >= t0), default=None) if dash_shown else None
            frame = await _frame_at_or_after(pilot, t) if t is not None else time.perf_counter()
            out["dashboard_paint_s"] = None if frame is None else frame - t0
        else:
            out["dashboard_paint_s"] = None
        # The start's other work (the audit trail's walk) runs beside the dashboard, which
        # it does not hold up; the time until the app is idle is its own figure.
        out["startup_idle_s"] = (time.perf_counter() - t0) if await _until(
            pilot, lambda: not _busy(app), timeout=600) else None  # fmt: skip
        from recon_tui.widgets.record_pane import RecordPane

        SHOWN.clear()
        t = time.perf_counter()
        await pilot.press("enter")

        def painted_panes() -> list[float] | None:
            panes = list(app.screen.query(RecordPane))
            firsts = [p.first_paint_s for p in panes]
            return firsts if len(panes) >= 2 and None not in firsts else None  # type: ignore[return-value]

        def opened() -> bool:
            return painted_panes() is not None and not _busy(app)

        out["pair_open_s"] = out["pair_settled_s"] = None
        if await _until(pilot, opened):
            # Both panes rendered their rows within a frame's composition: that frame.
            frame = _frame_after(max(painted_panes() or [t]))
            out["pair_open_s"] = None if frame is None else frame - t
            final = next((s for s, done in SHOWN if s > t and done), None)
            settled = _frame_after(final) if final is not None else None
            out["pair_settled_s"] = None if settled is None else settled - t
        if not watched or out["pair_open_s"] is None:
            store.close()
            return out
        await pilot.pause(0.3)
        cands: list[float] = []
        for _ in range(keys):  # moving onto the next item shows its candidates
            t = time.perf_counter()
            await pilot.press("down")
            got = await _shown_after(pilot, app, t)
            if got is not None:
                cands.append(got * 1000)
        out["candidates_ms"] = cands
        confirms: list[float] = []
        undos: list[float] = []
        for _ in range(keys):
            # "s" jumps to the next suggested item (its candidates shown), Enter confirms it.
            t = time.perf_counter()
            await pilot.press("s")
            await _shown_after(pilot, app, t)
            t = time.perf_counter()
            await pilot.press("enter")
            got = await _shown_after(pilot, app, t)
            if got is not None:
                confirms.append(got * 1000)
            t = time.perf_counter()
            await pilot.press("u")
            got = await _shown_after(pilot, app, t)
            if got is not None:
                undos.append(got * 1000)
        out["confirm_ms"] = confirms
        out["undo_ms"] = undos
    store.close()
    return out


def _status(path: Path) -> dict[str, Any]:
    from recon_tui.services import status

    store = Store.open(path, passphrase=PASS)
    store.connection().execute("SELECT 1").fetchone()
    t = time.perf_counter()
    status.status(store)
    service = time.perf_counter() - t
    store.close()
    env = {**os.environ, "RECON_TUI_PASSPHRASE": PASS}
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "recon_tui.cli", "--store", str(path), "status"],
                          capture_output=True, text=True, env=env, check=False)  # fmt: skip
    cli = time.perf_counter() - t if done.returncode == 0 else None
    return {"status_s": round(service, 3), "status_cli_s": round(cli, 3) if cli else None,
            **_overview(path)}  # fmt: skip


def _overview(path: Path) -> dict[str, Any]:
    """The headless service's aggregates, computed on a freshly opened store, then again."""
    from recon_tui.services.overview import Overview

    store = Store.open(path, passphrase=PASS)
    store.connection().execute("SELECT 1").fetchone()
    ov = Overview(store)
    t = time.perf_counter()
    ov.refresh()
    first = time.perf_counter() - t
    t = time.perf_counter()
    ov.refresh()
    again = time.perf_counter() - t
    store.close()
    return {"overview_first_s": round(first, 3), "overview_refresh_s": round(again, 3)}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _p(xs: list[float] | None, p: float) -> float | None:
    return round(_pct(xs, p), 1) if xs else None


def _net(big: list[float] | None, base: list[float] | None, p: float) -> float | None:
    if not big:
        return None
    return round(max(0.0, _pct(big, p) - (_pct(base, p) if base else 0.0)), 1)


def main() -> None:
    p = parser(__doc__.splitlines()[0], 100_000)
    p.add_argument("--keys", type=int, default=20, help="candidates/confirm/undo samples")
    args = p.parse_args()
    root = Path(tempfile.gettempdir()) / "recon-tui-bench-tui"
    root.mkdir(exist_ok=True)
    t = time.perf_counter()
    # Keyed by the schema's source too: a store cached by another checkout may carry other
    # migrations under the same version number.
    tag = hashlib.sha1(Path(schema.__file__).read_bytes()).hexdigest()[:8]
    big_path = root / f"v2-{tag}-n{args.size}.db"
    existed = big_path.with_suffix(".ok").exists()
    build(big_path, args.size).close()
    build_s = time.perf_counter() - t
    base = asyncio.run(measure(root / f"v2-{tag}-n100.db", 100, 100, 30))
    big = asyncio.run(measure(big_path, args.size, 100, 30))
    base_flow = asyncio.run(measure_flow(root / f"v2-{tag}-n100.db", 100, args.keys))
    flow = asyncio.run(measure_flow(big_path, args.size, args.keys))
    status_figures = _status(big_path)
    report({
        "size_per_side": args.size,
        "store_reused": existed,
        "build_s": round(build_s, 1),
        "first_paint_s": round(big["first_paint_s"], 3),
        "first_paint_after_open_s": round(big["first_paint_app_s"], 3),
        # Key to the frame showing the moved cursor on loaded rows, inside the app.
        "move_p50_ms": _p(big["shown_move"], 0.5),
        "move_p95_ms": _p(big["shown_move"], 0.95),
        "pagedown_p50_ms": _p(big["shown_page"], 0.5),
        "pagedown_p95_ms": _p(big["shown_page"], 0.95),
        # pilot.press wall times net of the same percentile on the 100-row store.
        "pilot_net_move_p95_ms": round(max(0.0, big["move_p95"] - base["move_p95"]), 1),
        "pilot_net_pagedown_p50_ms": round(max(0.0, big["page_p50"] - base["page_p50"]), 1),
        "pilot_net_pagedown_p95_ms": round(max(0.0, big["page_p95"] - base["page_p95"]), 1),
        "pilot_baseline_move_p95_ms": round(base["move_p95"], 1),
        "in_app_move_p50_ms": round(big["in_move_p50"], 2),
        "in_app_move_p95_ms": round(big["in_move_p95"], 2),
        "in_app_pagedown_p95_ms": round(big["in_page_p95"], 2),
        "pilot_baseline_move_p50_ms": round(base["move_p50"], 1),
        "pilot_raw_move_p95_ms": round(big["move_p95"], 1),
        "pilot_raw_pagedown_p95_ms": round(big["page_p95"], 1),
        "jump_to_end_s": round(big["end_s"], 3),
        "dashboard_paint_s": _r(flow.get("dashboard_paint_s")),
        "startup_idle_s": _r(flow.get("startup_idle_s")),
        "pair_open_s": _r(flow.get("pair_open_s")),
        "pair_settled_s": _r(flow.get("pair_settled_s")),
        "candidates_ms_p50": _p(flow.get("candidates_ms"), 0.5),
        "candidates_ms_p95": _p(flow.get("candidates_ms"), 0.95),
        "candidates_ms_p95_net": _net(flow.get("candidates_ms"), base_flow.get("candidates_ms"), 0.95),
        "confirm_ms_p50": _p(flow.get("confirm_ms"), 0.5),
        "confirm_ms_p95": _p(flow.get("confirm_ms"), 0.95),
        "confirm_ms_p95_net": _net(flow.get("confirm_ms"), base_flow.get("confirm_ms"), 0.95),
        "undo_ms_p50": _p(flow.get("undo_ms"), 0.5),
        "undo_ms_p95": _p(flow.get("undo_ms"), 0.95),
        "undo_ms_p95_net": _net(flow.get("undo_ms"), base_flow.get("undo_ms"), 0.95),
        "confirms_measured": len(flow.get("confirm_ms") or []),
        **status_figures,
        "load_avg": round(os.getloadavg()[0], 1),
        "rows_counted": int(big["count"]),
        "peak_rss_mb": peak_rss_mb(),
    }, args.json)  # fmt: skip


if __name__ == "__main__":
    main()
