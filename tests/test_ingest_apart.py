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
