"""A store built by release 419601b, whose content ids hashed the mapped fields, gets
nothing twice when today's release (content ids of the line's own text) re-imports the
same statements: the adapters carry the old id as ``attrs['legacy_id']`` and the import
renames the stored record to the new id in the batch's transaction.

``legacy-ids-419601b.db`` was made by ``tests/data/stores/make_legacy_ids_fixture.py``
with the CLI of commit 419601b: one source per file of its ``FILES`` (CSV, MT940, camt
and OFX, most lines with content ids) and a matched pair of two overlapping statements.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from adapters import registry
from recon_tui.model import Record
from recon_tui.services.sources import add_source
from recon_tui.services.sync import import_file
from recon_tui.services.verify import verify_all
from recon_tui.store import Store
from recon_tui.store.records import adopt_legacy_ids, apply_batch, iter_records

DATA = Path(__file__).parent / "data"
STORES = DATA / "stores"
FIXTURE = "legacy-ids-419601b.db"
PASSPHRASE = "legacy-ids"


def _fixture_files() -> dict[str, tuple[str, str, dict[str, str]]]:
    spec = importlib.util.spec_from_file_location(
        "make_legacy_ids_fixture", STORES / "make_legacy_ids_fixture.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.FILES


FILES = _fixture_files()


def _settings(kind: str, rel: str, settings: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {**settings, "path": str(DATA / rel)}
    if kind in ("mt940", "camt"):
        out["balance_check"] = "warn"  # some anonymised fixtures do not add up
    return out


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    for name in (FIXTURE, FIXTURE + ".keyinfo.json"):
        shutil.copy(STORES / name, tmp_path / name)
    return tmp_path / FIXTURE


def _stored(store: Store, source: str) -> list[tuple[int, str]]:
    return store.conn.execute(
        "SELECT id, external_id FROM records WHERE source = ? ORDER BY id", (source,)
    ).fetchall()


def _read(kind: str, rel: str, settings: dict[str, str], source: str = "src") -> list[Record]:
    adapter = registry.get(kind)(source, _settings(kind, rel, settings))
    return [r for b in adapter.batches(None) for r in b.records]


def test_legacy_ids_equal_the_ids_release_419601b_stored(old_store: Path) -> None:
    """For every line of every file, ``legacy_id`` (or, where the id did not change, the
    id itself) is what the old release's own code stored for that line, in file order."""
    probe = Store.open(old_store, passphrase=PASSPHRASE, migrate=False)
    try:
        content_lines = 0
        for name, (kind, rel, settings) in FILES.items():
            old = [ext for _, ext in _stored(probe, name)]
            assert old, name
            recs = _read(kind, rel, settings)
            assert [r.attrs.get("legacy_id") or r.external_id for r in recs] == old, name
            content_lines += sum(1 for ext in old if ext.startswith("h:"))
            # Where it would change nothing there is no marker at all.
            assert all(r.attrs["legacy_id"] != r.external_id
                       for r in recs if "legacy_id" in r.attrs)  # fmt: skip
        assert content_lines >= 200  # the fixture is mostly content-id lines
    finally:
        probe.close()


def test_reimport_after_the_upgrade_adds_nothing_and_verify_is_clean(old_store: Path) -> None:
    store = Store.open(old_store, passphrase=PASSPHRASE)  # migrates to this release
    try:
        conn = store.conn
        before = {name: _stored(store, name) for name in FILES}
        members = conn.execute(
            "SELECT group_id, record_id FROM group_members ORDER BY 1, 2"
        ).fetchall()
        assert members, "the fixture has confirmed matches"
        assert verify_all(conn).ok
        renamed = 0
        for name, (kind, rel, settings) in FILES.items():
            add_source(store, name, kind, _settings(kind, rel, settings), replace=True)
            report = import_file(store, name, str(DATA / rel))
            assert report.ok, report.error
            assert report.added == 0, (name, report.line())
            after = _stored(store, name)
            # The same rows (ids, so decisions and matches still name them) ...
            assert [i for i, _ in after] == [i for i, _ in before[name]], name
            # ... now under the ids this release gives those lines.
            assert [e for _, e in after] == [r.external_id for r in _read(kind, rel, settings)]
            renamed += sum(1 for (_, a), (_, b) in zip(after, before[name], strict=True)
                           if a != b)  # fmt: skip
        assert renamed >= 200  # every old content id, and camt ids of the new form
        assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == sum(
            len(v) for v in before.values()
        )
        assert (
            conn.execute("SELECT group_id, record_id FROM group_members ORDER BY 1, 2").fetchall()
            == members
        )
        # The marker is never stored: it is not part of a record.
        assert not any("legacy_id" in r.attrs for r in iter_records(conn))
        report = verify_all(conn)
        assert report.ok, report.lines()
        # A second import finds every line as it is.
        for name, (_kind, rel, _unused) in FILES.items():
            again = import_file(store, name, str(DATA / rel))
            assert again.ok and again.added == 0 and again.changed == 0, (name, again.line())
    finally:
        store.close()


def test_without_the_legacy_ids_the_reimport_would_duplicate(old_store: Path) -> None:
    """The control: the same files with the marker dropped add their content-id lines
    again, so the test above could fail."""
    store = Store.open(old_store, passphrase=PASSPHRASE)
    try:
        kind, rel, settings = FILES["bank-jan"]
        recs = _read(kind, rel, settings, "bank-jan")
        for r in recs:
            r.attrs.pop("legacy_id", None)
        result = apply_batch(store, "bank-jan", recs)
        assert result.added == len(recs) == 6
    finally:
        store.close()


def _rec(ext: str, amount: str = "10", memo: str = "x") -> Record:
    from datetime import UTC, datetime
    from decimal import Decimal

    return Record(source="s", external_id=ext, kind="deposit",
                  ts=datetime(2024, 1, 2, tzinfo=UTC), asset="EUR", amount=Decimal(amount),
                  memo=memo)  # fmt: skip


def test_adopt_renames_only_a_present_legacy_id_to_an_absent_new_one(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "s.db", passphrase="pw")
    try:
        apply_batch(store, "s", [_rec("old-1"), _rec("old-2"), _rec("new-2"), _rec("other")])
        ids = dict(store.conn.execute("SELECT external_id, id FROM records"))
        with store.tx() as conn:
            n = adopt_legacy_ids(conn, "s", [
                ("old-1", "new-1"),   # renamed
                ("old-2", "new-2"),   # new id already stored: left alone
                ("gone", "new-3"),    # nothing under the legacy id
                ("other", "new-4"), ("other", "new-5"),  # one legacy id, first pair wins
            ])  # fmt: skip
        assert n == 2
        now = dict(store.conn.execute("SELECT external_id, id FROM records"))
        assert now == {"new-1": ids["old-1"], "old-2": ids["old-2"], "new-2": ids["new-2"],
                       "new-4": ids["other"]}  # fmt: skip
        # Another source's record is never touched.
        with store.tx() as conn:
            assert adopt_legacy_ids(conn, "t", [("new-1", "newer")]) == 0
        # A rename rolls back with a failing batch: the store is as it was.
        with pytest.raises(RuntimeError), store.tx() as conn:
            adopt_legacy_ids(conn, "s", [("new-1", "newest")])
            raise RuntimeError("the batch failed")
        assert dict(store.conn.execute("SELECT external_id, id FROM records")) == now
    finally:
        store.close()


# --- against the old code itself, on the whole corpus ------------------------------------

_OLD_READER = """
import importlib, inspect, json, sys
from adapters.base import Adapter
out = []
for kind, settings in json.loads(sys.stdin.read()):
    mod = importlib.import_module(f"adapters.file_{kind}")
    cls = next(c for _, c in inspect.getmembers(mod, inspect.isclass)
               if issubclass(c, Adapter) and c.__module__ == mod.__name__)
    try:
        out.append([r.external_id for b in cls("src", settings).batches(None)
                    for r in b.records])
    except Exception as exc:  # that release refused the file: nothing of it is stored
        out.append(type(exc).__name__)
print(json.dumps(out))
"""


def _old_release(tmp_path: Path) -> Path:
    repo = Path(__file__).resolve().parent.parent
    tree = tmp_path / "old"
    tree.mkdir()
    try:
        archive = subprocess.run(
            ["git", "-C", str(repo), "archive", "419601b", "adapters", "recon_tui/model.py"],
            capture_output=True, check=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("commit 419601b is not in this checkout (a shallow clone)")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
    (tree / "recon_tui" / "__init__.py").write_text("")
    return tree


def test_legacy_ids_equal_the_old_code_on_the_whole_corpus(tmp_path: Path) -> None:
    """Release 419601b's own adapters, run on every statement of tests/data and
    tests/data/real, give exactly the ids today's adapters carry as the legacy ones."""
    tree = _old_release(tmp_path)
    cases: list[tuple[str, str, dict[str, str]]] = [v for v in FILES.values()]
    for kind in ("mt940", "camt", "ofx"):
        cases += [
            (kind, str(p.relative_to(DATA)), {}) for p in sorted((DATA / "real" / kind).iterdir())
        ]
    cases += [("csv", "real/csv/zkb.csv", {
        "date_column": "Date", "date_formats": "%d.%m.%Y", "debit_column": "Debit CHF",
        "credit_column": "Credit CHF", "memo_column": "Booking text", "currency": "CHF"})]  # fmt: skip
    payload = json.dumps([(k, {**s, "path": str(DATA / rel)}) for k, rel, s in cases])
    done = subprocess.run(
        [sys.executable, "-c", _OLD_READER], input=payload, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree, check=True,
    )  # fmt: skip
    old_ids = json.loads(done.stdout.strip().splitlines()[-1])
    compared = content = 0
    for (kind, rel, settings), old in zip(cases, old_ids, strict=True):
        if isinstance(old, str):
            continue  # refused by that release
        recs = _read(kind, rel, settings)
        assert [r.attrs.get("legacy_id") or r.external_id for r in recs] == old, rel
        compared += 1
        content += sum(1 for e in old if e.startswith("h:"))
    # (Had the old reader picked up today's adapters, every marked line would differ.)
    assert compared >= 55 and content >= 400, (compared, content)
