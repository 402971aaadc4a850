"""The demo generated in a child process (``demo.load.generate_and_load``) writes exactly
the store the in-process path writes: the same records with the same ids, versions,
pair states, totals, cursors and runs' counts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from recon_tui.services import workspace
from recon_tui.store import Store


def _digest(store: Store) -> str:
    h = hashlib.sha256()
    for q in (
        "SELECT id, source, external_id, content_hash, removed, version, raw FROM records "
        "ORDER BY id",
        "SELECT * FROM pair_states ORDER BY pair, record_id",
        "SELECT * FROM pair_totals ORDER BY 1, 2, 3, 4",
        "SELECT * FROM source_totals ORDER BY 1",
        "SELECT record_id, version, snapshot FROM record_versions ORDER BY 1, 2",
        "SELECT name, cursor, records_added, records_changed FROM sources ORDER BY name",
        "SELECT name, left_source, left_account, right_source, right_account, position "
        "FROM source_pairs ORDER BY name",
        "SELECT count(*) FROM prices",
        "SELECT kind, scope, outcome, counts FROM runs ORDER BY id",
    ):
        for row in store.conn.execute(q):
            h.update(repr(row).encode())
    return h.hexdigest()


def test_child_process_load_equals_in_process(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("RECON_TUI_PASSPHRASE", "demo")
    monkeypatch.setattr(workspace, "GENERATE_APART_FROM", 10**9)
    inside = workspace.build_demo(tmp_path / "in.db", size=150, seed=7, match=False)
    lines: list[str] = []
    monkeypatch.setattr(workspace, "GENERATE_APART_FROM", 0)
    apart = workspace.build_demo(tmp_path / "apart.db", size=150, seed=7, match=False,
                                 progress=lines.append)  # fmt: skip
    assert inside.count("SELECT count(*) FROM records") > 500
    assert _digest(apart) == _digest(inside)
    assert any(line.strip().startswith("ledger: +") for line in lines)
    inside.close()
    apart.close()


def test_child_failure_is_one_error(tmp_path: Path) -> None:
    """A generator that fails in the child is raised in the writer, with nothing of the
    world written (the failure comes before any batch)."""
    from recon_tui.demo.load import generate_and_load

    store = Store.init(tmp_path / "f.db", passphrase="x")
    called: list[int] = []
    with pytest.raises(RuntimeError, match="the demo generator failed"):
        generate_and_load(store, 0, 7, lambda s, p: called.append(1))  # size 0 is refused
    assert not called
    assert store.count("SELECT count(*) FROM records") == 0
    store.close()


def test_the_engine_runs_once_over_the_loaded_store(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The demo loads every source first, then matches each pair once, over the whole store
    (not per batch, not per source): one match run per pair, after the last sync run."""
    monkeypatch.setenv("RECON_TUI_PASSPHRASE", "demo")
    monkeypatch.setattr(workspace, "GENERATE_APART_FROM", 0)
    store = workspace.build_demo(tmp_path / "d.db", size=150, seed=7)
    runs = store.conn.execute("SELECT id, kind, scope, outcome FROM runs ORDER BY id").fetchall()
    pairs = [name for (name,) in store.conn.execute("SELECT name FROM source_pairs")]
    matches = [r for r in runs if r[1] == "match"]
    syncs = [r for r in runs if r[1] == "sync"]
    assert sorted(r[2] for r in matches) == sorted(pairs) and len(pairs) == 4
    assert len(syncs) == 5 and max(r[0] for r in syncs) < min(r[0] for r in matches)
    assert {r[3] for r in runs} == {"ok"}
    # Each pair's one run covered every record it holds (a full run at the store's rev).
    rev = store.meta("rev")
    assert all(store.meta(f"matched_rev:{p}") == rev for p in pairs)
    store.close()


def test_stream_hands_each_source_complete_and_early() -> None:
    """``demo.stream`` gives every source in sync's order with exactly the records and
    pending versions ``generate`` makes, and gives the bank before the later generators
    have run (so the writer can start while they do)."""
    from recon_tui import demo

    whole = demo.generate(size=300, seed=11)
    seen: list[str] = []
    for w, name in demo.stream(size=300, seed=11):
        if name is None:
            assert demo.sources_of(w) == whole.sources
            continue
        seen.append(name)
        assert w.records[name] == whole.records[name] and w.records[name]
        assert w.pending[name] == whole.pending[name]
        if name == "bank":
            assert not w.records["wallet"] and not w.records["kraken"]
        w.records[name] = []  # what the loader does: a handed source may be dropped
        w.pending[name] = []
    assert seen == sorted(demo.SOURCE_NAMES)
    assert w.truth == whole.truth and w.prices == whole.prices
