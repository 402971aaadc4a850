"""The export's audit check beside its writing (``services.export._AuditCheck`` on the twin
connection of ``store.exports.snapshots``), the CSV lines made by SQL
(``store.exports.csv_line``) and the digest's batches (``store.watermark._prefix``).

The attacker is a plain SQLCipher connection with the store's key and the guard triggers
dropped (``tests/test_integrity_tamper.attacker``)."""

from __future__ import annotations

import csv
import hashlib
import io
import random
import threading
from pathlib import Path

import pytest

from recon_tui.services import export as export_service
from recon_tui.services import sessions
from recon_tui.services import verify as verify_service
from recon_tui.store import Store, watermark
from recon_tui.store import exports as reads
from recon_tui.store.audit import head
from tests.sessionkit import OPERATOR, closed_session
from tests.test_integrity_tamper import attacker


@pytest.fixture
def marked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, int]:
    """A closed session; a full verify has sealed the watermark."""
    store, _world, s, _done = closed_session(tmp_path, monkeypatch)
    assert verify_service.verify_store(store).ok
    yield store, s.id
    store.close()


def _tamper_below_the_watermark(store: Store) -> None:
    """A state-log row below the watermark edited (its MAC left): only the digest sees it."""
    seq = store.conn.execute("SELECT min(seq) FROM state_log WHERE kind = 'member'").fetchone()[0]
    conn = attacker(store)
    conn.execute("UPDATE state_log SET value = 'L999999' WHERE seq = ?", (seq,))
    conn.close()


def _export_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("export-")]


def test_the_two_snapshots_are_one_state_while_writers_go_on(marked: tuple[Store, int]) -> None:
    store, _sid = marked
    before = head(store.conn)
    with reads.snapshots(store) as (conn, twin):
        assert twin is not None
        with store.tx() as w:  # a writer is not held up by either
            w.execute("UPDATE records SET memo = 'later' WHERE id = (SELECT min(id) FROM records)")
        seen = [c.execute("SELECT memo FROM records ORDER BY id LIMIT 1").fetchone() for c in
                (conn, twin)]  # fmt: skip
        assert seen[0] == seen[1] != ("later",)
        assert head(conn) == head(twin) == before


def test_a_writer_holding_the_lock_means_one_connection(marked: tuple[Store, int]) -> None:
    store, _sid = marked
    writer = store.open_reader()
    writer.execute("BEGIN IMMEDIATE")
    try:
        with reads.snapshots(store) as (conn, twin):
            assert twin is None  # the fence could not be had: the check runs on conn
            assert conn.in_transaction
    finally:
        writer.execute("ROLLBACK")
        writer.close()


@pytest.mark.parametrize("kind", ["folder", "zip", "bundle"])
def test_a_check_failing_beside_the_writing_publishes_and_records_nothing(
        marked: tuple[Store, int], tmp_path: Path, kind: str) -> None:  # fmt: skip
    store, sid = marked
    _tamper_below_the_watermark(store)
    before = head(store.conn)
    out = tmp_path / {"folder": "out", "zip": "out.zip", "bundle": "out.rtbundle"}[kind]
    with pytest.raises(export_service.ExportError, match="audit trail") as err:
        export_service.export_session(store, sid, out, zip_archive=kind == "zip",
                                      encrypt=kind == "bundle",
                                      passphrase="pw" if kind == "bundle" else None)  # fmt: skip
    assert "changed after they were verified" in str(err.value)
    assert not out.exists()
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
    assert head(store.conn) == before  # no session_export decision
    assert _export_threads() == []


def test_the_audit_problem_comes_before_any_other_refusal(marked: tuple[Store, int],
                                                          tmp_path: Path) -> None:  # fmt: skip
    store, sid = marked
    sessions.reopen_session(store, sid, "late correction", actor=OPERATOR)
    assert verify_service.verify_store(store).ok
    with pytest.raises(export_service.ExportRefused):  # not closed, no --force
        export_service.export_session(store, sid, tmp_path / "a")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / export_service.default_name(
        sessions.get_session(store.conn, sid), True)).mkdir()  # fmt: skip
    _tamper_below_the_watermark(store)
    for out, force in ((tmp_path / "b", False), (tmp_path / "taken", True)):
        with pytest.raises(export_service.ExportError, match="audit trail") as err:
            export_service.export_session(store, sid, out, force=force)
        assert not isinstance(err.value, export_service.ExportRefused)
    assert _export_threads() == []


def test_an_export_that_fails_stops_the_check_and_its_thread(
        marked: tuple[Store, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    store, sid = marked

    def broken(conn, session, **kw):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(export_service, "_gather", broken)
    with pytest.raises(KeyboardInterrupt):
        export_service.export_session(store, sid, tmp_path / "out")
    assert _export_threads() == []
    assert not (tmp_path / "out").exists()


def test_a_passing_export_moves_the_watermark_from_the_twin(marked: tuple[Store, int],
                                                            tmp_path: Path) -> None:  # fmt: skip
    store, sid = marked
    sessions.reopen_session(store, sid, "late correction", actor=OPERATOR)
    was = watermark.read_text(store.conn)
    result = export_service.export_session(store, sid, tmp_path / "out", force=True)
    assert export_service.check_manifest(result.path) == []
    now = watermark.read_text(store.conn)
    assert now is not None and now != was
    assert verify_service.verify_all(store.connection(), full=False).ok


def test_sql_csv_lines_are_what_csv_writer_writes() -> None:
    """Random fields of the characters CSV quoting turns on, ints and NULLs."""
    import sqlcipher3

    db = sqlcipher3.connect(":memory:")
    sql = "SELECT " + reads.csv_line(["?1", "?2", "?3", "?4"])
    head_sql = "SELECT " + reads.csv_line(["?1", "?2"], end="','")
    alphabet = ["a", ",", '"', "\r", "\n", " ", "\t", "'", "=", "-", "é", ";", "\\", '""']
    rng = random.Random(13)
    for _ in range(3000):
        values = [rng.choice([None, rng.randint(-10**12, 10**12), "".join(
            rng.choice(alphabet) for _ in range(rng.randint(0, 5)))]) for _ in range(4)]  # fmt: skip
        buf = io.StringIO()
        csv.writer(buf).writerow(values)
        assert db.execute(sql, values).fetchone()[0] == buf.getvalue(), values
        buf = io.StringIO()
        csv.writer(buf).writerow([*values[:2], "x"])
        assert db.execute(head_sql, values[:2]).fetchone()[0] + "x\r\n" == buf.getvalue()
    db.close()


def test_the_digest_in_batches_is_the_digest_of_every_line(
        marked: tuple[Store, int], monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    store, _sid = marked
    monkeypatch.setattr(watermark, "_BATCH", 7)  # many batches, a last one that is partial
    conn = store.connection()
    for table, tail, line, columns in (
        ("state_log", "mac", watermark.STATE_LINE, watermark.STATE_COLUMNS),
        ("decisions", "hash", watermark.DECISION_LINE, watermark.DECISION_COLUMNS),
    ):
        # The digest's lines as version 2 defines them (sealed watermarks hold it): every
        # column quote()d, comma-joined; written out here apart from the module's SQL.
        v2 = "||','||".join(f"quote({c.strip()})" for c in columns.split(","))
        lines = [r[0] for r in conn.execute(f"SELECT {v2} FROM {table} ORDER BY seq")]
        top, last = conn.execute(f"SELECT max(seq), {tail} FROM {table}").fetchone()
        for upto in (top, top - 3, 7, 14):
            h = hashlib.sha256()
            n, seq, value = watermark._prefix(conn, table, tail, line, upto, h)
            want = hashlib.sha256(("\n".join(lines[:upto]) + "\n").encode()).hexdigest()
            assert (n, seq, h.hexdigest()) == (upto, upto, want)
            if upto == top:
                assert value == last


@pytest.mark.parametrize("seq", [0, -5, -(2**63)])
def test_a_row_inserted_at_any_seq_below_the_watermark_is_named(
        marked: tuple[Store, int], monkeypatch: pytest.MonkeyPatch, seq: int) -> None:  # fmt: skip
    store, _sid = marked
    monkeypatch.setattr(watermark, "_BATCH", 5)
    conn = attacker(store)
    conn.execute("INSERT INTO state_log (seq, at_us, kind, ref, field, value, mac) SELECT ?, "
                 "at_us, kind, ref, field, value, mac FROM state_log WHERE seq = 1", (seq,))  # fmt: skip
    conn.close()
    report = verify_service.verify_all(store.connection(), full=False)
    assert not report.ok and "deleted or inserted" in " ".join(report.lines())
