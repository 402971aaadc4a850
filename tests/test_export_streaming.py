"""The streaming export: spreadsheet formulas neutralised (CSV and XLSX alike, amounts kept
numeric), file modes, partial folders cleaned up and never plaintext for sealed exports, a
read snapshot that never holds the write lock, and the streaming XLSX read back by openpyxl."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path

import pytest

from recon_tui.services import export
from recon_tui.services.xlsx_stream import Workbook
from recon_tui.store import exports as reads
from tests.sessionkit import closed_session

FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "=cmd|' /C calc'!A0", "+1+2", "-3+4", "@SUM(A1)",
            "\tTAB", "\rCR"]  # fmt: skip


@pytest.fixture
def closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    store, world, s, done = closed_session(tmp_path, monkeypatch)
    yield store, world, s, done
    store.close()


def test_safe_cell_follows_owasp_and_keeps_numbers() -> None:
    for f in FORMULAS:
        assert export.safe_cell(f) == "'" + f
        assert export.safe_cell(f, numeric=True) == "'" + f
    assert export.safe_cell("-12.50", numeric=True) == "-12.50"
    assert export.safe_cell("-12.50") == "'-12.50"  # a text column: quoted like any text
    assert export.safe_cell("-1.2.3", numeric=True) == "'-1.2.3"
    assert export.safe_cell("ACME = fine") == "ACME = fine"
    assert export.safe_cell(True) == "true" and export.safe_cell(None) is None
    assert export.safe_cell(5) == 5


def _poison(store) -> list[int]:  # type: ignore[no-untyped-def]
    """Put formula text into member records' memo/counterparty; returns their ids."""
    ids = [r for (r,) in store.conn.execute(
        "SELECT m.record_id FROM group_members m JOIN match_groups g ON g.id = m.group_id "
        "WHERE g.state = 'confirmed' ORDER BY m.record_id LIMIT ?", (len(FORMULAS),))]  # fmt: skip
    with store.tx() as conn:
        for rid, f in zip(ids, FORMULAS, strict=True):
            conn.execute("UPDATE records SET memo = ?, counterparty = ? WHERE id = ?",
                         (f, f"{f} & <Co> #R# x", rid))  # fmt: skip
    return ids


def test_formulas_are_neutralised_in_csv_and_xlsx_and_kept_in_json(closed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import openpyxl

    store, _world, s, _ = closed
    ids = _poison(store)
    folder = export.export_session(store, s.id, tmp_path / "out").path
    doc = json.loads((folder / "session.json").read_text("utf-8"))
    memos = {m["record_id"]: m["memo"] for g in doc["groups"] + doc["explained"]
             for m in g["members"]}  # fmt: skip
    assert {memos[i] for i in ids} == set(FORMULAS)  # the data itself is verbatim
    with open(folder / "groups.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(folder / "explained.csv", encoding="utf-8", newline="") as f:
        rows += list(csv.DictReader(f))
    by_id = {int(r["record_id"]): r for r in rows}
    for rid, f in zip(ids, FORMULAS, strict=True):
        assert by_id[rid]["memo"] == "'" + f
        assert by_id[rid]["counterparty"] == f"'{f} & <Co> #R# x"
    negative = [r for r in rows if r["amount"].startswith("-")]
    assert negative and all(not r["amount"].startswith("'") for r in negative)
    for r in rows:  # no cell a spreadsheet would run
        for v in r.values():
            assert not v or (v[0] not in "=+@\t\r" and (v[0] != "-" or v[1:2].isdigit())), v
    wb = openpyxl.load_workbook(folder / "workbook.xlsx", read_only=True)
    sheet = [list(r) for r in wb["Groups"].iter_rows(values_only=True)]
    sheet += [list(r) for r in wb["Explained"].iter_rows(values_only=True)][1:]
    header = sheet[0]
    cells = {r[header.index("record_id")]: r for r in sheet[1:]}
    for rid, f in zip(ids, FORMULAS, strict=True):
        memo = cells[rid][header.index("memo")]
        # XML cannot hold CR/TAB-only differences everywhere; the quote is what matters.
        assert memo.startswith("'") and memo[1:].strip() == f.strip()
        assert cells[rid][header.index("counterparty")].endswith("& <Co> #R# x")
    amounts = [r[header.index("amount")] for r in sheet[1:]]
    assert any(a.startswith("-") for a in amounts) and not any(a.startswith("'") for a in amounts)
    wb.close()


def test_files_are_private_and_folders_0700(closed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, _world, s, _ = closed
    folder = export.export_session(store, s.id, tmp_path / "new" / "out").path
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    for p in folder.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    for kw in ({"zip_archive": True}, {"encrypt": True, "passphrase": "pw"}):
        path = export.export_session(store, s.id, tmp_path / f"o{len(kw)}", **kw).path  # type: ignore[arg-type]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_killed_sealed_export_leaves_no_plaintext_and_is_cleaned_next_time(
    closed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    store, world, s, _ = closed
    target = tmp_path / "b.rtbundle"

    class Killed(BaseException):
        pass

    def die(*_a: object, **_k: object) -> None:
        raise Killed  # as if SIGKILLed after staging, before the archive

    monkeypatch.setattr(export, "_zip_into", die)
    monkeypatch.setattr(export.shutil, "rmtree", lambda *a, **k: None)  # a kill cleans nothing
    with pytest.raises(Killed):
        export.export_session(store, s.id, target, encrypt=True, passphrase="pw")
    monkeypatch.undo()
    left = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert len(left) == 1 and not target.exists()
    staged = list(left[0].iterdir())
    assert {p.name for p in staged} >= {"session.json", "groups.csv", "workbook.xlsx"}
    some_id = world.records["bank"][0].external_id
    for p in staged:
        blob = p.read_bytes()
        if p.name == "archive":  # the bundle being written: its public header, then ciphertext
            assert blob.startswith(export.BUNDLE_MAGIC)
            blob = blob[12 + int.from_bytes(blob[8:12], "big"):]
        for plain in (b'"format"', b"recon-tui", some_id.encode(), b"EUR", b"PK\x03\x04"):
            assert plain not in blob, (p.name, plain)
    # The writer is gone (its pid is reused here: rename to a dead one), so the next run
    # to that place removes the leftover.
    dead = left[0].with_name(f".{target.name}.999999999.partial")
    left[0].rename(dead)
    export.export_session(store, s.id, target, encrypt=True, passphrase="pw")
    assert target.exists() and not dead.exists()
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_export_reads_a_snapshot_and_never_holds_the_write_lock(closed, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    from recon_tui.store.audit import append, head

    store, _world, s, _ = closed
    before = head(store.conn)
    real = reads.group_members
    wrote: list[int] = []

    def meanwhile(conn, kind):  # type: ignore[no-untyped-def]
        if not wrote:  # a writer commits while the export is reading
            with store.tx() as w:
                append(w, "note", actor="bob", note="written during an export")
                w.execute("UPDATE records SET memo = 'CHANGED' WHERE id IN "
                          "(SELECT record_id FROM group_members)")  # fmt: skip
            wrote.append(head(store.conn)[0])
        yield from real(conn, kind)

    monkeypatch.setattr(reads, "group_members", meanwhile)
    result = export.export_session(store, s.id, tmp_path / "out")
    assert wrote and wrote[0] == before[0] + 1  # the write went through at once
    manifest = json.loads((result.path / "manifest.json").read_text("utf-8"))
    assert manifest["snapshot"]["audit_seq"] == before[0] == result.snapshot["audit_seq"]
    doc = json.loads((result.path / "session.json").read_text("utf-8"))
    assert doc["audit"]["head_seq"] == before[0]
    assert "CHANGED" not in (result.path / "groups.csv").read_text("utf-8")
    assert all(d["seq"] <= before[0] for d in doc["decisions"])


def test_streaming_workbook_reads_back(tmp_path: Path) -> None:
    import openpyxl

    path = tmp_path / "w.xlsx"
    with open(path, "wb") as f:
        wb = Workbook(f)
        sh = wb.sheet("Data", widths={0: 12})
        sh.row(["text", "int", "none", "float"], style=1)
        sh.row(["a & b <c> ", 7, None, 1.5])
        sh.row(["ctrl\x01char", -3, None, None])
        sh.csv_text('from csv #1,9\r\n', ints=frozenset({1}))
        wb.sheet("Other")
        wb.close()
    book = openpyxl.load_workbook(path)
    rows = list(book["Data"].iter_rows(values_only=True))
    assert rows == [("text", "int", "none", "float"), ("a & b <c> ", 7, None, 1.5),
                    ("ctrlchar", -3, None, None), ("from csv #1", 9, None, None)]  # fmt: skip
    assert book.sheetnames == ["Data", "Other"] and book["Data"]["A1"].font.b


def test_export_matches_the_sessions_balances(closed) -> None:  # type: ignore[no-untyped-def]
    """The streamed summary equals ``sessions.balances`` (the close-time figures)."""
    from recon_tui.services import sessions

    store, _world, s, _ = closed
    with reads.snapshot(store) as conn:
        doc = export._gather(conn, s, actor="x", draft=False, generated_at="2026-01-01T00:00:00Z")
        expected = sessions.balances(conn, s)
        decided = [d["seq"] for d in sessions.decisions_for(conn, session_id=s.id)]
        staged = [seq for (seq,) in conn.execute("SELECT seq FROM x_decisions ORDER BY seq")]
    assert doc["summary"]["by_pair"] == expected["by_pair"]
    assert doc["summary"]["by_asset"] == expected["by_asset"]
    assert staged == decided


def test_csv_text_matches_csv_writer(closed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The CSV rows re-read equal the JSON values (neutralised), so the SQL-side text and
    csv.writer agree on quoting: commas, quotes and newlines in text."""
    store, _world, s, _ = closed
    with store.tx() as conn:
        conn.execute("UPDATE records SET memo = ? WHERE id = (SELECT min(record_id) FROM "
                     "group_members)", ('a, "quoted"\nline',))  # fmt: skip
    folder = export.export_session(store, s.id, tmp_path / "out").path
    doc = json.loads((folder / "session.json").read_text("utf-8"))
    rows = list(csv.DictReader(io.StringIO((folder / "groups.csv").read_text("utf-8"), newline="")))
    members = [m for g in doc["groups"] for m in g["members"]]
    assert [r["memo"] for r in rows] == [m["memo"] or "" for m in members]
    assert 'a, "quoted"\nline' in [r["memo"] for r in rows]
    assert os.path.getsize(folder / "groups.csv") > 0


def test_a_workbook_child_that_dies_fails_the_export_cleanly(closed, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """The workbook's child process exiting early is one ExportError line, and nothing is
    left behind (no partial folder, no export logged); a working child afterwards exports."""
    store, _world, s, _ = closed
    before = store.count("SELECT count(*) FROM decisions")
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\necho 'workbook child gave up' >&2\nexit 3\n")
    fake.chmod(0o700)
    monkeypatch.setattr(export.sys, "executable", str(fake))
    with pytest.raises(export.ExportError, match=r"writing workbook\.xlsx failed: workbook child gave up"):
        export.export_session(store, s.id, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p for p in tmp_path.iterdir() if ".partial" in p.name] == []
    assert store.count("SELECT count(*) FROM decisions") == before
    monkeypatch.undo()
    assert export.export_session(store, s.id, tmp_path / "out").path.is_dir()


def test_the_workbook_child_gets_no_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECON_TUI_PASSPHRASE", "SECRET-CANARY-env")
    monkeypatch.setenv(export.PASSPHRASE_ENV, "SECRET-CANARY-export")
    env = export._child_env()
    assert not any("SECRET-CANARY" in v for v in env.values())
    assert set(env) <= {"PATH", "SYSTEMROOT", "LANG", "LC_ALL"}


def test_a_recon_tui_folder_in_the_working_directory_is_not_the_workbook_child(
        closed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """Exporting from inside another checkout (an older recon_tui in the working
    directory) still runs this package's workbook writer."""
    import openpyxl

    store, _world, s, _ = closed
    decoy = tmp_path / "cwd" / "recon_tui" / "services"
    decoy.mkdir(parents=True)
    for d in (decoy.parent, decoy):
        (d / "__init__.py").write_text("")
    (decoy / "xlsx_stream.py").write_text("import sys\nsys.exit(0)  # an old module: no writer\n")
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "cwd"))
    folder = export.export_session(store, s.id, tmp_path / "out").path
    wb = openpyxl.load_workbook(folder / "workbook.xlsx", read_only=True)
    assert "Groups" in wb.sheetnames
    wb.close()


def test_a_read_that_fails_midway_fails_the_export_and_leaves_nothing(
        closed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """The big tables are read a batch ahead by a thread (_ReadAhead): its error reaches the
    export, the export's threads are gone after it, and no partial folder is left."""
    import threading

    store, _world, s, _ = closed
    real = reads.decisions

    def broken(conn):  # type: ignore[no-untyped-def]
        rows = real(conn)
        yield next(rows)
        raise OSError(5, "disk read failed")  # after the first row: mid-stream

    monkeypatch.setattr(reads, "decisions", broken)
    with pytest.raises(export.ExportError, match="disk read failed"):
        export.export_session(store, s.id, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
    left = [t.name for t in threading.enumerate() if t.name.startswith("export-")]
    assert left == []


def test_read_ahead_keeps_order_and_stops_when_given_up() -> None:
    rows = [(i, str(i)) for i in range(3 * 4096 + 5)]
    with export._read_ahead(iter(rows)) as ahead:
        assert list(ahead) == rows
    endless = ((i,) for i in iter(int, 1))  # the reader would never end on its own
    with export._read_ahead(endless) as ahead:
        assert next(ahead) == (0,)
    # close() returned: the reading thread is gone although the queue was full


def test_sink_thread_hashes_what_it_was_given_and_reports_a_failed_write(tmp_path: Path) -> None:
    import hashlib

    chunks = [os.urandom(n) for n in (1, 70_000, 1 << 20, 3)]
    with open(tmp_path / "f", "wb") as raw:
        sink = export._SinkThread(raw)
        buf = bytearray(b"reused")
        sink.write(memoryview(buf))
        buf[:] = b"XXXXXX"  # the caller's buffer changes after the hand-over
        for c in chunks:
            sink.write(c)
        sink.finish()
    data = b"reused" + b"".join(chunks)
    assert (tmp_path / "f").read_bytes() == data
    assert sink.sha256.hexdigest() == hashlib.sha256(data).hexdigest() and sink.size == len(data)

    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b):  # type: ignore[no-untyped-def]
            raise OSError(28, "No space left on device")

    sink = export._SinkThread(Full())  # type: ignore[arg-type]
    with pytest.raises(OSError, match="No space"):
        for _ in range(100):
            sink.write(b"x" * 1000)
        sink.finish()
    sink.abort()


@pytest.mark.parametrize("in_process", [False, True])
def test_aborting_the_workbook_leaves_no_thread_whatever_it_had_buffered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process: bool) -> None:  # fmt: skip
    """An export that fails early aborts the workbook while the feeding thread still holds
    a few buffered messages: the end it takes off the queue is the last thing it waits for,
    even when closing the pipe then fails (the child was killed). It used to wait for a
    second end that never came (a thread left behind, 1 run in 2 on a busy machine)."""
    import threading

    if in_process:
        monkeypatch.setenv("RECON_TUI_EXPORT_XLSX_INPROCESS", "1")
    for _ in range(5):
        with open(tmp_path / "w.xlsx", "wb") as f:
            sheets = export._Sheets(f)
            assert sheets.remote is not in_process
            sheets.sheet("Groups", ("group_id", "rule"))
            sheets.send("rows", "1,x\r\n" * 10)
            sheets.abort()
        left = [t.name for t in threading.enumerate()
                if t.name.startswith("export-workbook") and t.is_alive()]  # fmt: skip
        assert left == []
