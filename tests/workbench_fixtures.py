"""Shared helpers of the app tests: a small deterministic demo store and a settle helper."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerError, WorkerFailed, WorkerState

from recon_tui.app import ReconApp
from recon_tui.services.workspace import build_demo
from recon_tui.store import Store

NOW = datetime(2026, 11, 1, tzinfo=UTC)
"""Views measure ages against this instead of the wall clock (deterministic snapshots)."""
SYNCED_US = int(datetime(2026, 10, 31, 23, 55, tzinfo=UTC).timestamp()) * 1_000_000


def demo_store(path: Path, size: int = 60) -> Store:
    store = build_demo(path / "demo.db", size=size, seed=7)
    with store.tx() as conn:
        # Sync times are wall-clock; pin them so the dashboard reads the same every run.
        conn.execute("UPDATE sources SET last_sync_us = ?, last_success_us = ?",
                     (SYNCED_US, SYNCED_US))  # fmt: skip
    return store


@pytest.fixture(name="store")
def demo_store_fixture(tmp_path: Path) -> Iterator[Store]:
    """``store``: a small demo store for one test, closed after it (import into the test
    module; it overrides conftest's empty store there)."""
    s = demo_store(tmp_path)
    yield s
    s.close()


def app_for(store: Store, pair: str | None = None) -> ReconApp:
    return ReconApp(store, now=NOW, pair=pair)


async def settle(pilot: Pilot, rounds: int = 2) -> None:
    """Let debounce timers fire and workers land, twice over (a worker may start another).

    Exclusive workers cancel their predecessors, and a worker may be created but not yet
    started when we look: wait for each one alone and ignore those outcomes, then look
    again until nothing is running.
    """
    for _ in range(rounds):
        await pilot.pause(0.08)
        for _ in range(50):
            pending = [w for w in pilot.app.workers if not w.is_finished]
            if not pending:
                break
            for worker in pending:
                if worker.state == WorkerState.PENDING:
                    continue
                with contextlib.suppress(WorkerCancelled, WorkerFailed, WorkerError):
                    await worker.wait()
            await pilot.pause(0.02)
        await pilot.pause()


async def eventually(pilot: Pilot, check: Callable[[], None], timeout: float = 20.0) -> None:
    """Settle until ``check`` (which asserts) passes, or raise its last failure.

    A burst of queued keys on a loaded machine may still be in the app's and the new
    screen's queues after one settle (the workers are idle, the keys not yet read). A key
    that is kept shows up a little later; a key that is lost never does, so the check still
    fails then, only after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        await settle(pilot, rounds=1)


async def agree_if_asked(pilot: Pilot) -> bool:
    """Answer OK when the workbench asks first whether to dissolve suggestions (an
    explanation or manual match over records of live suggestions); True if it asked."""
    from recon_tui.screens.confirm import ConfirmScreen

    screen = pilot.app.screen
    if isinstance(screen, ConfirmScreen) and screen.title_text.startswith("Dissolve"):
        await pilot.press("ctrl+s")
        await settle(pilot)
        return True
    return False
