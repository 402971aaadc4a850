"""The service's scheduler (APScheduler 3): scheduled jobs fire and record runs, a sync that
adds records is followed by the incremental match of its pair, a failing source is isolated,
schedule edits apply to a running scheduler, and ``sync --every`` runs on the same jobs."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from recon_tui.cli import cli
from recon_tui.model import Side, SourcePair
from recon_tui.services.scheduler import (
    ScheduleError,
    ServiceScheduler,
    effective_schedule,
    remove_entry,
    set_entry,
)
from recon_tui.store import Store
from recon_tui.store import runs as runs_store
from recon_tui.store.sources import add_pair, add_source
from tests.service_kit import wait_for

ROOT = Path(__file__).resolve().parents[1]
HEADER = "date,amount,reference\n"


def _csv_source(store: Store, name: str, path: Path, interval_s: int | None = None) -> None:
    if not path.exists():
        path.write_text(HEADER, "utf-8")
    add_source(store, name, "csv", {
        "path": str(path), "delimiter": ",", "header": "yes", "date_column": "date",
        "amount_column": "amount", "reference_column": "reference", "account": name,
    }, interval_s=interval_s)  # fmt: skip


def _runs(store: Store, **kw: object) -> list[runs_store.RunRow]:
    return runs_store.list_runs(store.connection(), limit=500, **kw)  # type: ignore[arg-type]


@pytest.fixture
def books(store: Store, tmp_path: Path) -> tuple[Path, Path]:
    left, right = tmp_path / "left.csv", tmp_path / "right.csv"
    left.write_text(HEADER + "2026-11-02,100.50,INV-1\n", "utf-8")
    right.write_text(HEADER + "2026-11-02,100.50,INV-1\n", "utf-8")
    _csv_source(store, "l", left)
    _csv_source(store, "r", right)
    add_pair(store, SourcePair("l-r", Side("l"), Side("r")))
    return left, right


def test_scheduled_sync_fires_records_runs_and_matches_what_it_added(
    store: Store, books: tuple[Path, Path]
) -> None:
    left, right = books
    set_entry(store, "sync:l", interval_s=1)
    set_entry(store, "sync:r", interval_s=1)
    sched = ServiceScheduler(store, reload_every=0.2)
    sched.start()
    try:
        assert {j["job"] for j in sched.jobs()} == {"sync:l", "sync:r", "match:l-r"}
        wait_for(lambda: len(_runs(store, kind="sync", scope="l", outcome="ok")) >= 2)
        first = _runs(store, kind="sync", scope="l")[-1]
        assert (first.origin, first.started_by, first.counts["added"]) == ("service", "scheduler", 1)
        wait_for(lambda: _runs(store, kind="match", scope="l-r", outcome="ok"))
        last_match = _runs(store, kind="match", scope="l-r")[0].id
        with left.open("a") as f:
            f.write("2026-11-03,-42.00,INV-2\n")
        with right.open("a") as f:
            f.write("2026-11-03,-42.00,INV-2\n")
        # The sync that picks the new rows up is followed by the pair's incremental match.
        later = wait_for(lambda: next((r for r in _runs(store, kind="match", scope="l-r",
                                                     outcome="ok") if r.id > last_match), None),
                         timeout=30)  # fmt: skip
        assert later.counts["mode"] == "incremental" and later.outcome == "ok"
        wait_for(lambda: store.count("SELECT count(*) FROM pair_states WHERE state = 'matched'") == 4)
    finally:
        sched.stop()
    assert not sched.running
    assert all(r.outcome != "running" for r in _runs(store))


def test_a_failing_source_never_stops_the_others(store: Store, books: tuple[Path, Path],
                                                 tmp_path: Path) -> None:  # fmt: skip
    _csv_source(store, "broken", tmp_path / "missing.csv")
    (tmp_path / "missing.csv").unlink()
    set_entry(store, "sync:broken", interval_s=1)
    set_entry(store, "sync:l", interval_s=1)
    sched = ServiceScheduler(store, reload_every=0.2)
    sched.start()
    try:
        wait_for(lambda: len(_runs(store, kind="sync", scope="broken", outcome="failed")) >= 2)
        failed_at = _runs(store, kind="sync", scope="broken", outcome="failed")[-1].started_us
        wait_for(lambda: sum(r.started_us > failed_at
                             for r in _runs(store, kind="sync", scope="l", outcome="ok")) >= 2)  # fmt: skip
        assert sched.running
    finally:
        sched.stop()
    bad = _runs(store, kind="sync", scope="broken")[0]
    assert bad.outcome == "failed" and "broken" in (bad.error or "")
    health = {s: e is None for s, e in store.conn.execute("SELECT name, last_error FROM sources")}
    assert health["broken"] is False and health["l"] is True


def test_schedule_is_data_with_defaults_and_live_edits(store: Store, books: tuple[Path, Path]) -> None:
    add_source(store, "exch", "ccxt", {"exchange": "kraken"}, interval_s=300)
    entries = {e.job: e for e in effective_schedule(store)}
    assert entries["sync:exch"].interval_s == 300 and entries["sync:exch"].default
    assert entries["match:l-r"].cron == "0 2 * * *" and entries["match:l-r"].full
    assert not entries["sync:l"].enabled  # no interval of its own: not scheduled
    e = set_entry(store, "match:l-r", cron="30 3 * * 1-5")
    assert (e.cron, e.full, e.default) == ("30 3 * * 1-5", True, False)
    for bad, kw in (("match:l-r", {"cron": "every day"}), ("sync:nope", {"interval_s": 5}),
                    ("frob:l", {"interval_s": 5}),
                    ("sync:l", {"interval_s": 5, "cron": "* * * * *"})):  # fmt: skip
        with pytest.raises(ScheduleError):
            set_entry(store, bad, **kw)  # type: ignore[arg-type]
    assert remove_entry(store, "match:l-r")
    assert {e.job: e for e in effective_schedule(store)}["match:l-r"].default

    sched = ServiceScheduler(store, reload_every=0.2)
    sched.start()
    try:
        assert "sync:l" not in {j["job"] for j in sched.jobs()}
        set_entry(store, "sync:l", interval_s=1)  # edited while the scheduler runs
        wait_for(lambda: _runs(store, kind="sync", scope="l"))
        set_entry(store, "sync:l", enabled=False)
        wait_for(lambda: "sync:l" not in {j["job"] for j in sched.jobs()})
    finally:
        sched.stop()


def test_schedule_cli(store: Store, books: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECON_TUI_PASSPHRASE", "test-passphrase")
    path = str(store.path)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, ["--store", path, *args])
        return result.exit_code, result.output

    code, out = run("schedule", "set", "sync:l", "--every", "5m")
    assert code == 0 and "sync:l: every 300s" in out
    code, out = run("schedule", "set", "match:l-r", "--cron", "0 4 * * *", "--incremental")
    assert code == 0
    code, out = run("schedule", "list")
    assert "sync:l" in out and "cron '0 4 * * *'" in out and "(default)" not in out.split(
        "match:l-r")[1].splitlines()[0]  # fmt: skip
    code, out = run("schedule", "set", "match:l-r", "--cron", "61 * * * *")
    assert code == 1 and "cron" in out and "Traceback" not in out
    code, out = run("schedule", "remove", "match:l-r")
    assert code == 0 and "back to its default" in out


def test_sync_every_is_the_scheduler(store: Store, books: tuple[Path, Path], tmp_path: Path) -> None:
    store.close()
    env = dict(os.environ, RECON_TUI_PASSPHRASE="test-passphrase",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "recon_tui.cli", "--store", str(store.path), "sync", "l",
         "--every", "1s", "--no-match"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    s = Store.open(store.path, passphrase="test-passphrase")
    try:
        wait_for(lambda: len(_runs(s, kind="sync", scope="l", origin="cli")) >= 3, timeout=60)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "scheduled: sync:l" in out and "Traceback" not in err
        assert out.count("l: +0 new") >= 2  # each scheduled sync says what it did
        assert not _runs(s, kind="sync", scope="r")  # only the named source
        assert all(r.outcome in ("ok", "interrupted") for r in _runs(s))
    finally:
        if proc.poll() is None:
            proc.kill()
        s.close()


@pytest.fixture
def slow_exchange():  # the Binance fake, 30 ms per page: a first sync of a few seconds
    from tests.fakes import exchange_binance

    fake = exchange_binance.FakeBinance(rows=1500, delay_ms=30).start(0)
    yield fake
    fake.stop()


def test_a_job_never_overlaps_itself(store: Store, slow_exchange) -> None:  # type: ignore[no-untyped-def]
    from recon_tui.store.sources import set_secret
    from tests.fakes import exchange_binance

    add_source(store, "binance", "ccxt", {
        "exchange": "binance", "base_url": f"http://127.0.0.1:{slow_exchange.port}",
        "what": "trades", "page_limit": 50, "rate_limit_ms": 1,
    })  # fmt: skip
    set_secret(store, "binance", "apiKey", exchange_binance.API_KEY)
    set_secret(store, "binance", "secret", exchange_binance.SECRET)
    set_entry(store, "sync:binance", interval_s=1)  # fires far more often than a sync lasts
    sched = ServiceScheduler(store, reload_every=0.2, match_after_sync=False)
    sched.start()
    try:
        wait_for(lambda: len(_runs(store, kind="sync", scope="binance", outcome="ok")) >= 3,
                 timeout=120)  # fmt: skip
    finally:
        sched.stop()
    spans = sorted((r.started_us, r.finished_us) for r in _runs(store, kind="sync"))
    assert spans[0][1] - spans[0][0] > 1_000_000, "the first sync outlasts the interval"
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, "two runs of one job overlapped"
