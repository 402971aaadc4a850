"""A big file read in a second process (``services.apart``) imports exactly what the
in-process path imports, and fails exactly as it does: same one-line error naming the
source and the place, nothing written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from recon_tui.services import sync
from recon_tui.services.sync import import_file
from recon_tui.store import Store
from tests.integrity_kit import new_store, write_books


def _digest(store: Store) -> str:
    h = hashlib.sha256()
    for q in (
        "SELECT id, source, external_id, content_hash, removed, version, raw, ts_us, amount, "
        "amount_e8, account FROM records ORDER BY id",
        "SELECT * FROM pair_states ORDER BY pair, record_id",
        "SELECT * FROM pair_totals ORDER BY 1, 2, 3, 4",
        "SELECT * FROM source_totals ORDER BY 1",
        "SELECT name, cursor, records_added, records_changed FROM sources ORDER BY name",
    ):
        for row in store.conn.execute(q):
            h.update(repr(row).encode())
    return h.hexdigest()


def _import_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 n: int) -> tuple[Store, Store, list[sync.SyncReport]]:  # fmt: skip
    lp, bp = write_books(tmp_path, n)
    stores, reports = [], []
    for apart in (False, True):
        monkeypatch.setattr(sync, "READ_APART_FROM", 0 if apart else 10**12)
        store = new_store(tmp_path / f"{apart}.db")
        reports += [import_file(store, "ledger", str(lp)), import_file(store, "bank", str(bp))]
        stores.append(store)
    return stores[0], stores[1], reports


def test_read_apart_imports_the_same_store(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    inside, apart, reports = _import_both(tmp_path, monkeypatch, 25_000)  # three batches
    assert all(r.ok for r in reports), [r.error for r in reports]
    assert [r.added for r in reports] == [25_000, 25_000, 25_000, 25_000]
    assert inside.count("SELECT count(*) FROM pair_states") == 50_000
    assert _digest(apart) == _digest(inside)
    # A re-import of the same file through the second process changes nothing.
    again = import_file(apart, "bank", str(tmp_path / "bank.csv"))
    assert again.ok and again.added == 0 and again.unchanged == 25_000
    assert _digest(apart) == _digest(inside)
    inside.close()
    apart.close()


def test_read_apart_fails_as_in_process(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    lp, _ = write_books(tmp_path, 3000)
    lines = lp.read_text("utf-8").splitlines()
    lines[2500] = lines[2500].replace(",", ",not-money", 1)  # line 2501: a bad amount
    lp.write_text("\n".join(lines) + "\n", "utf-8")
    errors = []
    for apart in (False, True):
        monkeypatch.setattr(sync, "READ_APART_FROM", 0 if apart else 10**12)
        store = new_store(tmp_path / f"bad{apart}.db")
        report = import_file(store, "ledger", str(lp))
        assert not report.ok
        assert store.count("SELECT count(*) FROM records") == 0
        errors.append(report.error)
        store.close()
    assert errors[0] == errors[1]
    assert "ledger" in (errors[0] or "") and "2501" in (errors[0] or ""), errors[0]
    assert "\n" not in (errors[0] or "")


def test_read_apart_disk_full_is_one_line_and_nothing_written(tmp_path: Path) -> None:
    from tests.integrity_kit import PASSPHRASE, crash_reports, run_cli

    db, home = tmp_path / "s.db", tmp_path / "home"
    store = new_store(db)
    small, _ = write_books(tmp_path, 40)
    assert import_file(store, "ledger", str(small)).ok
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    before = store.count("SELECT count(*) FROM records")
    store.close()
    big, _ = write_books(tmp_path, 30_000, tag="big")
    done = run_cli(db, home, "import", "ledger", str(big), RECON_TUI_READ_APART_BYTES="0",
                   RECON_TUI_TEST_MAX_PAGES=str(pages + 40))  # fmt: skip
    assert done.returncode == 1, done.stdout
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "is full: nothing was written" in done.stderr
    assert crash_reports(home) == []
    store = Store.open(db, passphrase=PASSPHRASE)
    try:
        assert store.count("SELECT count(*) FROM records") == before
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        out.update(int(c) for c in text.split())
    return out


def test_a_kill_mid_import_leaves_the_store_and_no_reader_behind(tmp_path: Path) -> None:
    import os
    import signal
    import time

    from tests.integrity_kit import PASSPHRASE, cli, wait_for_holder

    db, home = tmp_path / "s.db", tmp_path / "home"
    new_store(db).close()
    big, _ = write_books(tmp_path, 60_000, tag="big")
    p = cli(db, home, "import", "ledger", str(big), RECON_TUI_READ_APART_BYTES="0")
    try:
        wait_for_holder(db, "import", timeout=120)
        deadline = time.monotonic() + 60
        readers: set[int] = set()
        while not readers and time.monotonic() < deadline:
            readers = {c for c in _children(p.pid)
                       if "multiprocessing" in Path(f"/proc/{c}/cmdline").read_text()}
            time.sleep(0.05)
        assert readers, "the import did not start its reader process"
        time.sleep(1.0)  # the reader is parsing or the writer is writing: kill mid-way
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=60)  # EOF only once the reader, which shares the pipes, is gone
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{c}").exists() for c in readers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{c}").exists() for c in readers), "the reader outlived the kill"
    store = Store.open(db, passphrase=PASSPHRASE)
    try:
        assert store.count("SELECT count(*) FROM records") == 0
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()
