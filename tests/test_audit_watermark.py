"""The verified watermark of the audit walk (:mod:`recon_tui.store.watermark`): the cheap
check (the app's start, each export) walks only what came after it, and every way of
abusing it that the threat review names is caught: a forged row above it, an edited or
deleted row below it, the watermark edited, moved forward, rolled back or copied from
another store. The attacker is a plain SQLCipher connection with the store's key and the
guard triggers dropped (``tests/test_integrity_tamper.attacker``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recon_tui.cli import main
from recon_tui.services import export as export_service
from recon_tui.services import sessions
from recon_tui.services import verify as verify_service
from recon_tui.store import Store, watermark
from tests.sessionkit import OPERATOR, closed_session
from tests.test_integrity_tamper import attacker


@pytest.fixture
def marked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, int]:
    """A closed, reopened session; a full verify has sealed the watermark."""
    store, _world, s, _done = closed_session(tmp_path, monkeypatch)
    sessions.reopen_session(store, s.id, "late bank correction", actor=OPERATOR)
    report = verify_service.verify_store(store)
    assert report.ok and report.full
    assert watermark.read_text(store.conn) is not None
    yield store, s.id
    store.close()


def _wm(store: Store) -> dict:  # type: ignore[type-arg]
    return json.loads(watermark.read_text(store.conn) or "{}")


def _set_wm(store: Store, text: str) -> None:
    conn = attacker(store)
    conn.execute("UPDATE meta SET value = ? WHERE key = ?", (text, watermark.META_KEY))
    conn.close()


def _cheap(store: Store) -> verify_service.AuditReport:
    return verify_service.verify_all(store.connection(), full=False)


def _problem(report: verify_service.AuditReport) -> str:
    assert not report.ok
    return " | ".join(report.lines())


def _more_history(store: Store, sid: int) -> None:
    """Audited changes after the watermark: a close (session state, decision)."""
    sessions.close_session(store, sid, actor=OPERATOR, note="again")


def test_the_cheap_check_walks_only_after_the_watermark_and_moves_it(
    marked: tuple[Store, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, sid = marked
    before = _wm(store)
    assert before["state_seq"] == store.conn.execute("SELECT max(seq) FROM state_log").fetchone()[0]
    _more_history(store, sid)
    macs: list[int] = []
    real = watermark.state_mac
    monkeypatch.setattr(watermark, "state_mac", lambda *a: macs.append(1) or real(*a))
    report = _cheap(store)
    assert report.ok and not report.full, report.lines()
    new_rows = store.conn.execute("SELECT count(*) FROM state_log WHERE seq > ?",
                                  (before["state_seq"],)).fetchone()[0]  # fmt: skip
    assert 0 < len(macs) == new_rows  # only the rows after the watermark had their MAC redone
    assert verify_service.keep_watermark(store, report)
    after = _wm(store)
    assert after["state_seq"] == before["state_seq"] + new_rows
    assert after["decision_seq"] > before["decision_seq"]
    assert _cheap(store).ok


def test_a_forged_state_row_above_the_watermark_is_named(marked: tuple[Store, int]) -> None:
    store, _sid = marked
    gid = store.conn.execute("SELECT id FROM match_groups WHERE state = 'confirmed' LIMIT 1"
                             ).fetchone()[0]  # fmt: skip
    conn = attacker(store)
    conn.execute("UPDATE match_groups SET state = 'rejected' WHERE id = ?", (gid,))
    conn.execute("INSERT INTO state_log (at_us, kind, ref, field, value, mac) VALUES "
                 "(1, 'group', ?, 'state', 'rejected', ?)", (gid, "0" * 64))  # fmt: skip
    conn.close()
    line = _problem(_cheap(store))
    assert "was altered or forged: its keyed MAC does not match" in line
    assert f"group {gid} state rejected" in line


def test_a_forged_decision_above_the_watermark_is_named(marked: tuple[Store, int]) -> None:
    store, sid = marked
    _more_history(store, sid)
    last = store.conn.execute("SELECT max(seq) FROM decisions").fetchone()[0]
    conn = attacker(store)
    conn.execute("UPDATE decisions SET note = 'forged' WHERE seq = ?", (last,))
    conn.close()
    report = _cheap(store)
    assert report.broken_at == last
    assert "altered" in _problem(report)


@pytest.mark.parametrize("column", ["value", "mac"])
def test_an_edited_state_row_below_the_watermark_is_named(marked: tuple[Store, int],
                                                         column: str) -> None:  # fmt: skip
    store, _sid = marked
    seq = _wm(store)["state_seq"] // 2
    conn = attacker(store)
    new = "'L999999'" if column == "value" else "'" + "e" * 64 + "'"
    conn.execute(f"UPDATE state_log SET {column} = {new} WHERE seq = ?", (seq,))
    conn.close()
    line = _problem(_cheap(store))
    assert "changed after they were verified" in line or "not the one verified" in line


def test_an_edited_decision_below_the_watermark_is_named(marked: tuple[Store, int]) -> None:
    store, _sid = marked
    conn = attacker(store)
    conn.execute("UPDATE decisions SET note = 'forged' WHERE seq = 2")  # hash left as it was
    conn.close()
    assert "changed after they were verified" in _problem(_cheap(store))


@pytest.mark.parametrize("table", ["state_log", "decisions"])
def test_deleted_rows_below_or_at_the_watermark_are_named(marked: tuple[Store, int],
                                                         table: str) -> None:  # fmt: skip
    store, _sid = marked
    top = store.conn.execute(f"SELECT max(seq) FROM {table}").fetchone()[0]
    for seq in (3, top):  # inside the prefix, and the watermark's own row
        conn = attacker(store)
        conn.execute("SAVEPOINT t")
        conn.execute(f"DELETE FROM {table} WHERE seq = ?", (seq,))
        if table == "decisions":  # hide it from the remembered head too
            conn.execute("UPDATE meta SET value = (SELECT seq || ':' || hash FROM decisions "
                         "ORDER BY seq DESC LIMIT 1) WHERE key = 'audit_head'")  # fmt: skip
        conn.execute("RELEASE t")
        conn.close()
        assert not _cheap(store).ok, (table, seq)
        assert not verify_service.verify_all(store.connection()).ok, (table, seq)


def test_a_watermark_edited_or_moved_forward_is_refused(marked: tuple[Store, int]) -> None:
    store, sid = marked
    good = _wm(store)
    _more_history(store, sid)
    # Forward, over rows nobody checked: the seal no longer matches its fields.
    forged = dict(good, state_seq=good["state_seq"] + 1)
    _set_wm(store, json.dumps(forged))
    assert "watermark (meta.audit_watermark) was altered or forged" in _problem(_cheap(store))
    # Garbage, and a re-sealed one under a key the store does not have.
    _set_wm(store, "not json")
    assert not _cheap(store).ok
    from recon_tui.store.audit import AuditKey

    other = AuditKey(b"\x01" * 32, 1)
    _set_wm(store, watermark.seal(other, watermark.full_watermark(store.conn)))
    assert "altered or forged" in _problem(_cheap(store))
    # The full walk does not trust it, and replaces it once everything else checks out.
    report = verify_service.verify_store(store)
    assert report.ok and report.full
    assert _cheap(store).ok


def test_a_watermark_copied_from_another_store_is_refused(
    marked: tuple[Store, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _sid = marked
    other, _w, _s, _d = closed_session(tmp_path / "other", monkeypatch)
    try:
        assert verify_service.verify_store(other).ok
        _set_wm(store, watermark.read_text(other.conn) or "")
    finally:
        other.close()
    assert "altered or forged" in _problem(_cheap(store))


def test_a_rolled_back_watermark_hides_nothing(marked: tuple[Store, int]) -> None:
    store, sid = marked
    old = watermark.read_text(store.conn) or ""
    _more_history(store, sid)
    assert verify_service.keep_watermark(store, _cheap(store))
    assert watermark.read_text(store.conn) != old
    # A row between the old and the new watermark edited, and the old watermark put back:
    # the walk starts lower, so the edited row has its MAC checked again.
    seq = store.conn.execute("SELECT max(seq) FROM state_log").fetchone()[0]
    conn = attacker(store)
    conn.execute("UPDATE state_log SET value = 'open' WHERE seq = ?", (seq,))
    conn.close()
    assert "changed after they were verified" in _problem(_cheap(store))  # below the new one
    _set_wm(store, old)
    assert "keyed MAC does not match" in _problem(_cheap(store))


def test_a_check_never_moves_the_watermark_backwards(marked: tuple[Store, int]) -> None:
    store, sid = marked
    stale = _cheap(store)  # earned at the current heads
    _more_history(store, sid)
    assert verify_service.keep_watermark(store, _cheap(store))
    high = watermark.read_text(store.conn)
    assert not verify_service.keep_watermark(store, stale)
    assert watermark.read_text(store.conn) == high


def test_export_refuses_a_store_edited_below_the_watermark(marked: tuple[Store, int],
                                                          tmp_path: Path) -> None:  # fmt: skip
    store, sid = marked
    conn = attacker(store)
    conn.execute("UPDATE decisions SET note = 'forged' WHERE seq = 2")
    conn.close()
    with pytest.raises(export_service.ExportError, match="audit trail"):
        export_service.export_session(store, sid, tmp_path / "out", force=True)
    assert not (tmp_path / "out").exists()


def test_the_startup_check_uses_and_moves_the_watermark(marked: tuple[Store, int]) -> None:
    store, sid = marked
    before = _wm(store)
    _more_history(store, sid)
    assert verify_service.startup_check(store) is None
    assert _wm(store)["decision_seq"] > before["decision_seq"]


def test_verify_full_flag(marked: tuple[Store, int], capsys: pytest.CaptureFixture[str]) -> None:
    store, _sid = marked
    path = str(store.path)
    for args, walk in ((["verify"], "full walk"), (["verify", "--full"], "full walk"),
                       (["verify", "--since-watermark"], "after the verified watermark")):  # fmt: skip
        main(["--store", path, *args])  # success returns (the CLI's main, standalone off)
        out = capsys.readouterr().out
        assert "Audit trail intact" in out and walk in out, out
    conn = attacker(store)
    conn.execute("UPDATE decisions SET note = 'forged' WHERE seq = 2")
    conn.close()
    for args in (["verify"], ["verify", "--since-watermark"]):
        with pytest.raises(SystemExit) as done:
            main(["--store", path, *args])
        assert done.value.code == 1
        assert "BROKEN" in capsys.readouterr().err


def test_a_watermark_of_another_version_means_a_full_walk(marked: tuple[Store, int]) -> None:
    store, _sid = marked
    _set_wm(store, json.dumps(dict(_wm(store), v=1)))
    report = _cheap(store)
    assert report.ok and report.full  # walked everything, as without a watermark
    assert verify_service.keep_watermark(store, report)
    assert _wm(store)["v"] == watermark.VERSION and not _cheap(store).full


# --- groups against their decisions: only where the logs moved, same findings ------------


def _confirmed(store: Store, n: int = 3) -> list[int]:
    return [g for (g,) in store.conn.execute(
        "SELECT g.id FROM match_groups g WHERE g.state = 'confirmed' AND (SELECT count(*) "
        "FROM group_members m WHERE m.group_id = g.id) >= 2 ORDER BY g.id LIMIT ?", (n,))]  # fmt: skip


def _same_findings(store: Store) -> list[str]:
    """The cheap check's problems, which must be the full walk's, word for word."""
    cheap = _cheap(store)
    full = verify_service.verify_all(store.connection())
    assert not cheap.ok and not full.ok
    assert cheap.state_problems == full.state_problems
    return cheap.state_problems


@pytest.mark.parametrize("tamper", ["state", "member_removed", "member_added", "deleted"])
def test_tables_edited_behind_the_logs_after_the_watermark_are_worded_as_by_the_full_walk(
    marked: tuple[Store, int], tamper: str
) -> None:
    store, sid = marked
    _more_history(store, sid)  # the logs moved on, but not over this group
    gid = _confirmed(store)[1]
    members = store.conn.execute("SELECT record_id, side FROM group_members WHERE group_id = ? "
                                 "ORDER BY record_id", (gid,)).fetchall()  # fmt: skip
    conn = attacker(store)
    if tamper == "state":
        conn.execute("UPDATE match_groups SET state = 'rejected' WHERE id = ?", (gid,))
    elif tamper == "member_removed":
        conn.execute("DELETE FROM group_members WHERE group_id = ? AND record_id = ?",
                     (gid, members[0][0]))  # fmt: skip
    elif tamper == "member_added":
        other = store.conn.execute("SELECT id FROM records WHERE id NOT IN (SELECT record_id "
                                   "FROM group_members) LIMIT 1").fetchone()[0]  # fmt: skip
        conn.execute("INSERT INTO group_members (group_id, record_id, side) VALUES (?, ?, 'L')",
                     (gid, other))  # fmt: skip
    else:
        conn.execute("DELETE FROM group_members WHERE group_id = ?", (gid,))
        conn.execute("DELETE FROM match_groups WHERE id = ?", (gid,))
    conn.close()
    problems = _same_findings(store)
    assert any(f"group {gid}" in p for p in problems), problems


def test_a_keyed_decision_after_the_watermark_that_contradicts_the_tables_is_found(
    marked: tuple[Store, int],
) -> None:
    """The app's own key writes a decision (so its MAC checks) saying a confirmed group was
    rejected, while the tables and the state log still say confirmed: only the comparison of
    groups with their decisions can see it, and it looks at that group because the new
    decision names it."""
    from recon_tui.store import integrity
    from recon_tui.store.audit import append

    store, _sid = marked
    gid, untouched = _confirmed(store, 2)
    wm = _wm(store)
    with store.tx() as conn:
        append(conn, "reject", actor="x", pair="p", group_id=gid, after={"state": "rejected"})
    scope = integrity.touched_scope(store.conn, wm["state_seq"], wm["decision_seq"])
    assert scope is not None and gid in scope.touched and untouched not in scope.touched
    problems = _same_findings(store)
    assert f"group {gid} is confirmed but the log says rejected" in problems


def test_a_bulk_confirm_undone_after_the_watermark_brings_its_groups_into_the_scope(
    marked: tuple[Store, int],
) -> None:
    from recon_tui.store import integrity
    from recon_tui.store.audit import append

    store, _sid = marked
    groups = _confirmed(store, 3)
    members = [r for (r,) in store.conn.execute(
        "SELECT record_id FROM group_members WHERE group_id IN (?, ?) ORDER BY record_id",
        groups[:2])]  # fmt: skip
    with store.tx() as conn:  # a bulk confirm over two confirmed groups: still consistent
        bulk = append(conn, "bulk_confirm", actor="x", pair="p", record_ids=members,
                      after={"groups": groups[:2]})  # fmt: skip
    assert verify_service.keep_watermark(store, verify_service.verify_all(store.connection()))
    wm = _wm(store)
    with store.tx() as conn:
        append(conn, "undo", actor="x", before={"action": "bulk_confirm", "seq": bulk})
    scope = integrity.touched_scope(store.conn, wm["state_seq"], wm["decision_seq"])
    assert scope is not None and set(groups[:2]) <= scope.touched
    assert groups[2] not in scope.touched
    # The undo says both are suggested again; the tables still say confirmed.
    problems = _same_findings(store)
    assert all(any(f"group {g} is confirmed" in p for p in problems) for g in groups[:2])


def test_a_reopened_group_whose_reopen_was_never_logged_is_found_after_the_watermark(
    marked: tuple[Store, int],
) -> None:
    """A keyed ``reopen`` after the watermark brings its group into the scope, and a group
    reopened in the tables alone (the state log told too, with the app's key, so only the
    decisions can object) is worded as the full walk words it."""
    from recon_tui.store import integrity
    from recon_tui.store.audit import append

    store, _sid = marked
    gid = _confirmed(store, 1)[0]
    wm = _wm(store)
    with store.tx() as conn:  # the app's own writes: the trigger logs the state change
        conn.execute("UPDATE match_groups SET state = 'reopened' WHERE id = ?", (gid,))
    scope = integrity.touched_scope(store.conn, wm["state_seq"], wm["decision_seq"])
    assert scope is not None and gid in scope.touched
    problems = _same_findings(store)
    assert any(f"group {gid}: the table says reopened" in p for p in problems), problems
    with store.tx() as conn:
        append(conn, "reopen", actor="x", group_id=gid, after={"state": "reopened"})
    report = _cheap(store)
    assert report.ok, report.lines()
