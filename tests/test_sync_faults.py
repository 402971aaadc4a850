"""Fault tests of the sync service: a SIGKILL mid-sync resumes with nothing lost or doubled,
and one failing source leaves the others (and earlier records) untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recon_tui.store import Store
from recon_tui.store.sources import add_source, set_secret
from tests.fakes import exchange_binance

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(RECON_TUI_PASSPHRASE="pw", RECON_TUI_HOME=str(tmp / "home"),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")  # fmt: skip
    return env


def _make_store(path: Path, port: int) -> None:
    s = Store.init(path, passphrase="pw")
    add_source(s, "binance", "ccxt", {
        "exchange": "binance", "base_url": f"http://127.0.0.1:{port}", "what": "trades",
        "page_limit": 50, "rate_limit_ms": 1, "retry_wait_initial": 0.01,
    })  # fmt: skip
    set_secret(s, "binance", "apiKey", exchange_binance.API_KEY)
    set_secret(s, "binance", "secret", exchange_binance.SECRET)
    s.close()


def _rows(path: Path) -> list[tuple[str, str]]:
    s = Store.open(path, passphrase="pw")
    try:
        return s.conn.execute(
            "SELECT external_id, amount FROM records ORDER BY external_id"
        ).fetchall()
    finally:
        s.close()


def _count(path: Path) -> int:
    s = Store.open(path, passphrase="pw")
    try:
        return s.count("SELECT count(*) FROM records")
    finally:
        s.close()


def _sync(db: Path, tmp: Path, **kw) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "recon_tui.cli", "--store", str(db), "sync", "binance", "--no-match"],
        cwd=ROOT, env=_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw,
    )  # fmt: skip


@pytest.fixture
def fake_exchange():
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.exchange_binance", "--port", "0", "--rows", "1500",
         "--delay-ms", "30"], cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    yield int(line.split()[1])
    proc.kill()
    proc.wait()


def test_sigkill_mid_sync_resumes_exactly(tmp_path: Path, fake_exchange: int) -> None:
    reference, victim = tmp_path / "ref.db", tmp_path / "victim.db"
    _make_store(reference, fake_exchange)
    _make_store(victim, fake_exchange)
    done = _sync(reference, tmp_path)
    assert done.wait(timeout=240) == 0, done.stderr.read() if done.stderr else ""
    expected = _rows(reference)
    assert len(expected) > 1000

    proc = _sync(victim, tmp_path)
    deadline = time.monotonic() + 120
    seen = 0
    while time.monotonic() < deadline:  # kill once some, not all, batches are committed
        time.sleep(0.2)
        seen = _count(victim)
        if seen > 100:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = _count(victim)
    assert 0 < partial < len(expected), "the kill must land mid-sync"

    again = _sync(victim, tmp_path)
    assert again.wait(timeout=240) == 0
    assert _rows(victim) == expected  # nothing lost, nothing duplicated, amounts exact


def test_one_failing_source_leaves_the_others_untouched(tmp_path: Path, fake_exchange: int) -> None:
    db = tmp_path / "s.db"
    _make_store(db, fake_exchange)
    s = Store.open(db, passphrase="pw")
    add_source(s, "broken", "ccxt", {"exchange": "binance", "base_url": "http://127.0.0.1:9",
                                     "retry_attempts": 1, "timeout_ms": 500})  # fmt: skip
    set_secret(s, "broken", "apiKey", "k")
    set_secret(s, "broken", "secret", "s")
    s.close()
    proc = subprocess.run(
        [sys.executable, "-m", "recon_tui.cli", "--store", str(db), "sync", "--no-match"],
        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "broken: FAILED" in proc.stdout and "binance: +" in proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout
    s = Store.open(db, passphrase="pw")
    health = dict(s.conn.execute("SELECT name, last_error IS NULL FROM sources"))
    assert health == {"binance": 1, "broken": 0}
    assert s.count("SELECT count(*) FROM records WHERE source = 'binance'") > 0
    s.close()


def test_due_sources_follow_each_interval(store: Store) -> None:
    from recon_tui.services.sync import due_sources
    from recon_tui.store.sources import record_success

    add_source(store, "fast", "ccxt", {"exchange": "binance"}, interval_s=60)
    add_source(store, "slow", "ccxt", {"exchange": "kraken"}, interval_s=3600)
    add_source(store, "plain", "ccxt", {"exchange": "kraken"})
    add_source(store, "stmt", "csv", {})  # a file source without a path: import only
    now = 10**15
    assert due_sources(store, now) == ["fast", "slow"]
    assert due_sources(store, now, default_interval_s=300) == ["fast", "plain", "slow"]
    for name in ("fast", "slow", "plain"):
        record_success(store, name, 0, 0, 0)
    synced = store.conn.execute("SELECT last_sync_us FROM sources WHERE name='fast'").fetchone()[0]
    later = synced + 120 * 1_000_000
    assert due_sources(store, later, default_interval_s=300) == ["fast"]
    assert due_sources(store, later + 3600 * 1_000_000, names=["slow"]) == ["slow"]
