"""The look of the app, pinned: dashboard, workbench with candidates, filter, manual match
and help, at 80x24 and 200x50.

Deterministic by construction: a demo world without a matching run (suggestions are made
here, by amount), pinned sync times, a fixed "now", and stored suggestions only (the
engine's on-demand candidates follow the matcher's evolution, which these must not)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from recon_tui.app import ReconApp
from recon_tui.services.decisions import create_group, refresh_states
from recon_tui.services.workspace import build_demo
from recon_tui.store import Store
from tests.workbench_fixtures import NOW, SYNCED_US, settle

SIZES = [(80, 24), (200, 50)]
PAIR = "ledger-bank"


@pytest.fixture
def snap_store(tmp_path: Path) -> Store:
    store = build_demo(tmp_path / "snap.db", size=60, seed=7, match=False)
    with store.tx() as conn:
        conn.execute("UPDATE sources SET last_sync_us = ?, last_success_us = ?",
                     (SYNCED_US, SYNCED_US))  # fmt: skip
        # Suggest ledger/bank items with equal amounts, oldest first (a deterministic stand-in
        # for the matcher).
        rows = conn.execute(
            "SELECT l.id, r.id, l.ts_us, r.ts_us FROM records l JOIN records r "
            "ON r.source = 'bank' AND r.amount = l.amount WHERE l.source = 'ledger' "
            "AND l.account = 'bank-eur' ORDER BY l.ts_us, l.id, r.id LIMIT 40"
        ).fetchall()
        used: set[int] = set()
        touched: list[int] = []
        for i, (left, right, lt, rt) in enumerate(rows):
            if right in used or left in used or len(touched) >= 20:
                continue
            used.update((left, right))
            lag = abs(rt - lt) // 86_400_000_000
            create_group(
                conn, PAIR, [left], [right], state="suggested", origin="engine",
                rule="exact-amount", score=round(0.99 - 0.03 * i, 2),
                explanation={"amount": {"agree": True, "detail": "equal"},
                             "date": {"agree": lag <= 3, "detail": f"{lag}d apart"}},
            )  # fmt: skip
            touched += [left, right]
        refresh_states(conn, touched)
    yield store
    store.close()


def _app(store: Store, pair: str | None = None) -> ReconApp:
    app = ReconApp(store, now=NOW, pair=pair, blink=False)
    app.services.candidates.use_engine = False
    return app


def _keys(*keys: str):  # type: ignore[no-untyped-def]
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        for k in keys:
            await pilot.press(k)
            await settle(pilot, 1)
        await settle(pilot)

    return run


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare, snap_store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_app(snap_store), terminal_size=size, run_before=_keys())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_workbench_candidates(snap_compare, snap_store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_app(snap_store, PAIR), terminal_size=size, run_before=_keys("s"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_filter_dialog(snap_compare, snap_store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_app(snap_store, PAIR), terminal_size=size,
                        run_before=_keys("slash"))  # fmt: skip


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_manual_match_dialog(snap_compare, snap_store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    keys = ("space", "space", "tab", "space", "m")
    assert snap_compare(_app(snap_store, PAIR), terminal_size=size, run_before=_keys(*keys))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help(snap_compare, snap_store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_app(snap_store, PAIR), terminal_size=size,
                        run_before=_keys("question_mark"))  # fmt: skip
