"""The app beside another writing run: the sessions screen takes the store's run lock like
the CLI does (says whom it waits for, opens once the run ends, or refuses in one line),
driven through Pilot with the lock held by a real second process."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.app import App

from recon_tui.model import Side, SourcePair, make_record
from recon_tui.services import sessions
from recon_tui.store import Store
from recon_tui.store.lock import holder
from recon_tui.store.records import apply_batch
from recon_tui.store.sources import add_pair, add_source
from tests.integrity_kit import ROOT, env

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from recon_tui.store.lock import run_lock
    db, release = Path(sys.argv[1]), Path(sys.argv[2])
    with run_lock(db, "match", wait=0):
        print("held", flush=True)
        while not release.exists():
            time.sleep(0.02)
    """
)


@pytest.fixture
def booked(tmp_path: Path) -> Iterator[Store]:
    store = Store.init(tmp_path / "app.db", passphrase="pw")
    add_source(store, "ledger", "csv")
    add_source(store, "bank", "csv")
    add_pair(store, SourcePair("lb", Side("ledger"), Side("bank")))

    def rec(src: str, ext: str, amount: str) -> object:
        return make_record(source=src, external_id=ext, kind="payment",
                           ts="2026-03-10T10:00:00Z", asset="EUR", amount=amount)  # fmt: skip

    apply_batch(store, "ledger", [rec("ledger", "L1", "100.00")])  # type: ignore[list-item]
    apply_batch(store, "bank", [rec("bank", "B1", "100.00")])  # type: ignore[list-item]
    yield store
    store.close()


def _hold(db: Path, release: Path) -> subprocess.Popen[str]:
    """Another process holding the store's run lock (as a CLI ``match`` would) until told."""
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), str(release)], cwd=ROOT,
                         env=env(db.parent / "home"), stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def _messages(app: object) -> list[str]:
    return [str(n.message) for n in app._notifications]  # type: ignore[attr-defined]


def _said(app: object, text: str) -> bool:
    return any(text in m for m in _messages(app))


async def _until(pilot: object, app: object, done: Callable[[], bool], timeout: float) -> None:
    """Let the app run until ``done()`` holds; fail with its notifications after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, _messages(app)
        await pilot.pause(0.05)  # type: ignore[attr-defined]


def _sessions_app(store: Store) -> App[None]:
    """A bare app showing only the sessions screen over ``store``."""
    from recon_tui.screens.sessions import SessionsScreen

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(SessionsScreen(store))

    return Host()


async def _open_march(pilot: object, app: object) -> None:
    from textual.widgets import Input

    await pilot.press("n")  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]
    app.screen.query_one("#session-from", Input).value = "2026-03-01"  # type: ignore[attr-defined]
    app.screen.query_one("#session-to", Input).value = "2026-04-01"  # type: ignore[attr-defined]
    app.screen.query_one("#session-name", Input).value = "March"  # type: ignore[attr-defined]
    await pilot.press("ctrl+s")  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_session_changes_from_the_app_wait_for_a_run_then_go_ahead(
    booked: Store, tmp_path: Path
) -> None:
    from recon_tui.screens.sessions import SessionsScreen
    from tests.workbench_fixtures import settle

    store = booked
    release = tmp_path / "release"
    other = _hold(store.path, release)
    try:
        app = _sessions_app(store)
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            await _open_march(pilot, app)
            await _until(pilot, app, lambda: _said(app, "waiting for match"), 10)
            line = next(m for m in _messages(app) if "waiting for match" in m)
            assert f"(pid {other.pid}" in line and "\n" not in line
            # Still waiting (the UI answers meanwhile): nothing opened behind the run's back.
            await pilot.pause(0.3)
            assert sessions.list_sessions(store.connection()) == []
            assert isinstance(app.screen, SessionsScreen)
            release.touch()  # the run ends: the session opens
            other.wait(timeout=30)
            await _until(pilot, app, lambda: bool(sessions.list_sessions(store.connection())), 20)
            await settle(pilot)
            assert any("opened session 1 'March'" in m for m in _messages(app))
            assert holder(store.path) is None  # and the screen's worker let the lock go
    finally:
        release.touch()
        other.wait(timeout=30)


@pytest.mark.anyio
async def test_a_session_change_against_a_busy_store_is_one_line(
    booked: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recon_tui.screens.sessions import SessionsScreen
    from tests.workbench_fixtures import settle

    monkeypatch.setenv("RECON_TUI_LOCK_WAIT", "0.3")
    store = booked
    opened = sessions.open_session(store, ["lb"], "2026-03-01", "2026-04-01", name="March")
    release = tmp_path / "release"
    other = _hold(store.path, release)
    try:
        app = _sessions_app(store)
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            await pilot.press("c", "enter")  # close the selected session: asks first
            await _until(pilot, app, lambda: _said(app, "is busy"), 10)
            await settle(pilot)
            busy = [m for m in _messages(app) if "is busy" in m]
            assert len(busy) == 1 and "\n" not in busy[0]
            assert busy[0].startswith(f"the store is busy: match (pid {other.pid}")
            assert isinstance(app.screen, SessionsScreen)  # no crash, no unresolved list
            assert sessions.get_session(store.connection(), opened.id).state == "open"
    finally:
        release.touch()
        other.wait(timeout=30)


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from recon_tui.store import Store
    from recon_tui.store.lock import run_lock
    db, release, passphrase = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    with run_lock(db, "import", wait=0):  # as 'recon-tui import' holds it
        store = Store.open(db, passphrase=passphrase)
        store.conn.execute("BEGIN IMMEDIATE")  # its one transaction: SQLite's write lock
        store.conn.execute("UPDATE meta SET value = value WHERE key = 'rev'")
        print("writing", flush=True)
        while not release.exists():
            time.sleep(0.02)
        store.conn.execute("COMMIT")
        store.close()
    """
)


def _import_running(db: Path, release: Path) -> subprocess.Popen[str]:
    """Another process in the middle of a long import: the run lock and the write lock."""
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(release), "demo"],
                         cwd=ROOT, env=env(db.parent / "home"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert p.stdout is not None and p.stdout.readline().strip() == "writing", p.communicate()
    return p


@contextlib.contextmanager
def _demo_beside_import(tmp_path: Path) -> Iterator[tuple[Store, subprocess.Popen[str], Path]]:
    """A demo store with another process holding it in a long import until ``release``
    exists; the import is released and waited for, and the store closed, afterwards."""
    from tests.workbench_fixtures import demo_store

    store = demo_store(tmp_path)
    release = tmp_path / "release"
    other = _import_running(store.path, release)
    try:
        yield store, other, release
    finally:
        release.touch()
        other.wait(timeout=30)
        store.close()


async def _confirm_first_suggestion(pilot: object, app: object) -> int:
    from recon_tui.screens.workbench import WorkbenchScreen
    from tests.workbench_fixtures import settle

    await settle(pilot)  # type: ignore[arg-type]
    await pilot.press("s")  # type: ignore[attr-defined]
    await settle(pilot)  # type: ignore[arg-type]
    wb = app.screen  # type: ignore[attr-defined]
    assert isinstance(wb, WorkbenchScreen)
    gid = wb.candidates.candidates[0].group_id
    assert gid is not None
    await pilot.press("enter")  # type: ignore[attr-defined]
    return int(gid)


def _state(store: Store, gid: int) -> str:
    return str(store.connection().execute("SELECT state FROM match_groups WHERE id = ?",
                                          (gid,)).fetchone()[0])  # fmt: skip


@pytest.mark.anyio
async def test_a_decision_during_a_long_import_waits_visibly_then_lands(tmp_path: Path) -> None:
    """The operator confirms while another process imports (one long transaction): the
    app says at once whom the decision waits for, the UI keeps answering, and the
    decision lands when the import commits (not refused after SQLite's 40 s)."""
    from recon_tui.screens.workbench import WorkbenchScreen
    from tests.workbench_fixtures import app_for, settle

    with _demo_beside_import(tmp_path) as (store, other, release):
        app = app_for(store, "ledger-bank")
        async with app.run_test(size=(160, 48)) as pilot:
            gid = await _confirm_first_suggestion(pilot, app)
            await _until(pilot, app, lambda: _said(app, "waiting for import"), 10)
            line = next(m for m in _messages(app) if "waiting for import" in m)
            assert f"(pid {other.pid}" in line and "\n" not in line
            t0 = time.monotonic()
            await pilot.press("down")  # the UI answers while the decision waits
            assert time.monotonic() - t0 < 5  # Pilot's own ~60 ms, on a busy machine
            assert isinstance(app.screen, WorkbenchScreen)
            assert _state(store, gid) == "suggested"
            release.touch()
            assert other.wait(timeout=30) == 0
            await _until(pilot, app, lambda: _state(store, gid) == "confirmed", 20)
            await settle(pilot)
            assert not any("busy" in m for m in _messages(app))


@pytest.mark.anyio
async def test_a_decision_that_outwaits_its_bound_is_one_line_and_the_app_lives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recon_tui.screens.workbench import WorkbenchScreen
    from recon_tui.store import db as dbmod
    from tests.workbench_fixtures import app_for, settle

    monkeypatch.setattr(dbmod, "BUSY_RETRY_S", 0.5)
    monkeypatch.setenv("RECON_TUI_LOCK_WAIT", "1")
    with _demo_beside_import(tmp_path) as (store, other, _release):
        app = app_for(store, "ledger-bank")
        async with app.run_test(size=(160, 48)) as pilot:
            gid = await _confirm_first_suggestion(pilot, app)
            await _until(pilot, app, lambda: _said(app, "kept writing"), 15)
            await settle(pilot)
            refused = [m for m in _messages(app) if "kept writing" in m]
            assert len(refused) == 1 and "\n" not in refused[0]
            assert refused[0].startswith(f"the store is busy: import (pid {other.pid}")
            assert "nothing was written" in refused[0]
            assert isinstance(app.screen, WorkbenchScreen)  # the worker did not take the app down
            assert _state(store, gid) == "suggested"


def test_the_start_up_check_beside_a_writing_import_does_not_wait_for_it(tmp_path: Path) -> None:
    """The app's start-up audit check only reads: beside an import holding the write lock
    it answers at once (recording its run waited out RECON_TUI_LOCK_WAIT, 120 s, first, so a
    broken trail was said two minutes late), and records no run while the import writes."""
    from recon_tui.services.verify import startup_check

    with _demo_beside_import(tmp_path) as (store, other, release):
        runs = store.count("SELECT count(*) FROM runs WHERE kind = 'verify'")
        t0 = time.monotonic()
        assert startup_check(store) is None
        assert time.monotonic() - t0 < 20  # was 120 s
        assert store.count("SELECT count(*) FROM runs WHERE kind = 'verify'") == runs
        release.touch()
        other.wait(timeout=30)
        assert startup_check(store) is None  # the store free again: recorded as before
        assert store.count("SELECT count(*) FROM runs WHERE kind = 'verify'") == runs + 1
