"""A keyed, complete audit: tampering an attacker with SQL access can do, each caught by
``verify`` with the place named, and ``export`` refusing a store that disagrees with its
log. The attacker opens the store with its key in a plain SQLCipher connection (which lacks
the app's keyed functions), drops whatever trigger is in the way, and edits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlcipher3

from recon_tui.cli import main
from recon_tui.services import sessions
from recon_tui.services.decisions import Decisions
from recon_tui.store import Store, keys, schema
from recon_tui.store.audit import GENESIS, entry_hash, verify
from recon_tui.store.db import PAGE_SIZE
from tests.sessionkit import OPERATOR, PAIR, closed_session


@pytest.fixture
def tampered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A resolved, closed session, reopened; verify clean before any tampering."""
    store, _world, s, _done = closed_session(tmp_path, monkeypatch)
    sessions.reopen_session(store, s.id, "late bank correction", actor=OPERATOR)
    assert sessions.verify_all(store.conn).ok
    yield store
    store.close()


def attacker(store: Store) -> sqlcipher3.Connection:
    """A plain SQLCipher connection opened with the store's key (what someone who has the
    key but not the app does), with the guard triggers dropped."""
    conn = sqlcipher3.connect(str(store.path), isolation_level=None)
    conn.execute(f"PRAGMA key = {keys.key_pragma_value(store._key)}")
    conn.execute(f"PRAGMA cipher_page_size = {PAGE_SIZE}")
    conn.execute("PRAGMA busy_timeout = 5000")
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND (name LIKE 'state_log_%' "
        "OR name IN ('decisions_no_update', 'decisions_no_delete', 'decisions_track_head'))"
    ).fetchall():
        conn.execute(f'DROP TRIGGER "{name}"')
    return conn


def _problems(store: Store) -> list[str]:
    report = sessions.verify_all(store.connection())
    assert not report.ok
    return report.lines()


def _confirmed_group(store: Store, kind: str = "match") -> tuple[int, list[tuple[int, str]]]:
    gid = store.conn.execute(
        "SELECT g.id FROM match_groups g WHERE g.state = 'confirmed' AND g.kind = ? AND "
        "(SELECT count(*) FROM group_members WHERE group_id = g.id) = 2 ORDER BY g.id LIMIT 1",
        (kind,),
    ).fetchone()[0]
    members = store.conn.execute(
        "SELECT record_id, side FROM group_members WHERE group_id = ? ORDER BY side", (gid,)
    ).fetchall()
    return gid, members


def _free_record(store: Store, gid: int) -> int:
    """A record outside group ``gid`` (an open one where there is one)."""
    return store.conn.execute(
        "SELECT id FROM records WHERE id NOT IN (SELECT record_id FROM group_members WHERE "
        "group_id = ?) ORDER BY id LIMIT 1", (gid,),
    ).fetchone()[0]  # fmt: skip


def test_a_member_swapped_into_a_confirmed_group_is_named(
    tampered: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tampered
    gid, members = _confirmed_group(store)
    right = next(r for r, s in members if s == "R")
    other = store.conn.execute(  # a record no confirmed group of the pair holds
        "SELECT id FROM records WHERE id != ? AND id NOT IN (SELECT record_id FROM "
        "group_members WHERE confirmed = 1 AND pair = ?) LIMIT 1", (right, PAIR),
    ).fetchone()[0]  # fmt: skip
    conn = attacker(store)
    conn.execute("UPDATE group_members SET record_id = ? WHERE group_id = ? AND record_id = ?",
                 (other, gid, right))  # fmt: skip
    conn.close()
    lines = _problems(store)
    joined = "\n".join(lines)
    assert f"group {gid} (confirmed): the state log says members" in joined
    assert f"member R{other} added; member R{right} removed" in joined
    assert f"record {other} added; record {right} missing" in joined  # its decision disagrees
    with pytest.raises(SystemExit) as info:
        main(["--store", str(store.path), "verify"])
    assert info.value.code == 1
    out, err = capsys.readouterr()
    assert f"group {gid}" in out and err.count("\n") == 1


def test_a_member_added_through_the_apps_own_connection_is_named(tampered: Store) -> None:
    """Even with the triggers in place (the change logged and sealed), the group's members
    are not those its confirming decision names."""
    store = tampered
    gid, _members = _confirmed_group(store)
    extra = _free_record(store, gid)
    with store.tx() as conn:
        conn.execute("INSERT INTO group_members (group_id, record_id, side) VALUES (?, ?, 'R')",
                     (gid, extra))  # fmt: skip
    lines = _problems(store)
    assert any(f"group {gid} (confirmed): its decision says records" in ln
               and f"record {extra} added" in ln for ln in lines), lines  # fmt: skip


def test_the_last_decision_deleted_with_the_audit_head_is_named(tampered: Store) -> None:
    store = tampered
    sid = sessions.list_sessions(store.conn)[0].id
    free = store.conn.execute("SELECT record_id, side, pair FROM pair_states WHERE "
                              "state = 'open' AND live = 1 LIMIT 1").fetchone()  # fmt: skip
    assert sid and free is not None
    pair = free[2]
    gid = Decisions(store, actor=OPERATOR).explain(pair, [free[0]], "write-off", "tiny",
                                                   side=free[1])  # fmt: skip
    assert sessions.verify_all(store.conn).ok
    last = store.conn.execute("SELECT max(seq) FROM decisions").fetchone()[0]
    prev = store.conn.execute("SELECT seq, hash FROM decisions WHERE seq = ?", (last - 1,)).fetchone()
    conn = attacker(store)
    # Delete the decision, its group and members, put the record back, rewind the head.
    conn.execute("DELETE FROM decisions WHERE seq = ?", (last,))
    conn.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (f"{prev[0]}:{prev[1]}",))
    conn.execute("DELETE FROM group_members WHERE group_id = ?", (gid,))
    conn.execute("DELETE FROM match_groups WHERE id = ?", (gid,))
    conn.execute("UPDATE pair_states SET state = 'open', group_id = NULL WHERE pair = ? AND "
                 "record_id = ?", (pair, free[0]))  # fmt: skip
    conn.close()
    assert verify(store.conn).ok  # the chain alone looks whole...
    lines = _problems(store)
    # ...but the state log remembers the group the deleted decision made.
    assert any(f"group {gid}: the state log says confirmed, the table says no such row" in ln
               for ln in lines), lines  # fmt: skip


def test_a_deleted_reopen_decision_is_named(tampered: Store) -> None:
    """Confirmed -> reopened passes the group-state check; without its reopen decision it
    must not."""
    store = tampered
    gid, _members = _confirmed_group(store)
    with store.tx() as conn:  # what the engine does when a source changes a member...
        conn.execute("UPDATE match_groups SET state = 'reopened' WHERE id = ?", (gid,))
    lines = _problems(store)  # ...without the reopen decision that must go with it
    assert any(f"group {gid}: the table says reopened, but its last decision is" in ln
               for ln in lines), lines  # fmt: skip


def test_a_decision_rewritten_with_the_chain_recomputed_is_named(
    tampered: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tampered
    seq = store.conn.execute("SELECT min(seq) FROM decisions WHERE action = 'manual_match' "
                             "OR action = 'confirm'").fetchone()[0]  # fmt: skip
    conn = attacker(store)
    conn.execute("UPDATE decisions SET note = 'approved by the CFO' WHERE seq = ?", (seq,))
    # Recompute every hash from there on, exactly as the public algorithm says.
    rows = conn.execute(
        "SELECT seq, at_us, actor, actor_kind, action, pair, group_id, record_ids, session_id, "
        "before, after, reason, note FROM decisions WHERE seq >= ? ORDER BY seq", (seq,)
    ).fetchall()
    prev = conn.execute("SELECT hash FROM decisions WHERE seq = ?", (seq - 1,)).fetchone()
    prev_hash = prev[0] if prev else GENESIS
    for row in rows:
        h = entry_hash(prev_hash, tuple(row))
        conn.execute("UPDATE decisions SET prev_hash = ?, hash = ? WHERE seq = ?",
                     (prev_hash, h, row[0]))  # fmt: skip
        prev_hash = h
    conn.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (f"{rows[-1][0]}:{prev_hash}",))
    conn.close()
    result = verify(store.conn)
    assert not result.ok and result.broken_at == seq
    assert "rewritten without the audit key" in (result.problem or "")
    with pytest.raises(SystemExit):
        main(["--store", str(store.path), "verify"])
    err = capsys.readouterr().err
    assert f"BROKEN at decision {seq}" in err and "rewritten without the audit key" in err


def test_a_forged_state_log_row_is_named(tampered: Store) -> None:
    store = tampered
    gid, _ = _confirmed_group(store)
    conn = attacker(store)
    conn.execute("UPDATE match_groups SET state = 'rejected' WHERE id = ?", (gid,))
    conn.execute("INSERT INTO state_log (at_us, kind, ref, field, value, mac) VALUES "
                 "(1, 'group', ?, 'state', 'rejected', ?)", (gid, "0" * 64))  # fmt: skip
    conn.close()
    lines = _problems(store)
    assert any("was altered or forged: its keyed MAC does not match" in ln
               and f"group {gid} state rejected" in ln for ln in lines), lines  # fmt: skip


def test_a_record_edited_behind_the_log_is_named(tampered: Store) -> None:
    store = tampered
    rid = store.conn.execute("SELECT id FROM records WHERE source = 'bank' LIMIT 1").fetchone()[0]
    conn = attacker(store)
    conn.execute("UPDATE records SET amount = '999999', content_hash = 'forged', "
                 "version = version + 1, rev = rev + 1000000 WHERE id = ?", (rid,))  # fmt: skip
    conn.close()
    lines = _problems(store)
    assert any(f"record {rid}: the table says version 2:forged, but the state log has no "
               "change of it" in ln for ln in lines), lines  # fmt: skip


def test_a_session_closed_behind_the_log_is_named(tampered: Store) -> None:
    store = tampered
    sid = sessions.list_sessions(store.conn)[0].id
    conn = attacker(store)
    conn.execute("UPDATE sessions SET state = 'closed' WHERE id = ?", (sid,))
    conn.close()
    lines = _problems(store)
    assert any(f"session {sid}: the state log says open, the table says closed" in ln
               for ln in lines), lines  # fmt: skip


def test_export_refuses_a_store_that_disagrees_with_its_log(
    tampered: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tampered
    sid = sessions.list_sessions(store.conn)[0].id
    gid, _members = _confirmed_group(store)
    extra = _free_record(store, gid)
    with store.tx() as conn:
        conn.execute("INSERT INTO group_members (group_id, record_id, side) VALUES (?, ?, 'R')",
                     (gid, extra))  # fmt: skip
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["--store", str(store.path), "export", str(sid), "--force", "--out", str(out)])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "export refused" in err and f"group {gid}" in err
    assert not out.exists()


def test_a_legacy_chain_is_kept_and_keyed_from_a_marked_point(tmp_path: Path) -> None:
    """A store written before the audit key (schema v2, plain SHA-256 chain): opening it
    keys the chain from the next decision on; the legacy part still verifies, and a legacy
    entry rewritten with the chain recomputed is caught by the first keyed entry's MAC."""
    path = tmp_path / "legacy.db"
    info = keys.KeyInfo(store_id=keys.new_store_id(), method="passphrase", salt=keys.new_salt())
    key = keys.derive_key("pw", info)
    info.save(keys.keyinfo_path(path))
    raw = sqlcipher3.connect(str(path), isolation_level=None)
    raw.execute(f"PRAGMA key = {keys.key_pragma_value(key)}")
    raw.execute(f"PRAGMA cipher_page_size = {PAGE_SIZE}")
    for version, step in enumerate(schema.MIGRATIONS[:2], start=1):
        for sql in step:
            raw.execute(sql)
        raw.execute(f"PRAGMA user_version = {version}")
    prev = GENESIS
    for seq in range(1, 6):
        content = (seq, seq, "bob", "operator", "note", None, None, None, None, None, None,
                   None, f"legacy {seq}")  # fmt: skip
        h = entry_hash(prev, content)
        raw.execute("INSERT INTO decisions (seq, at_us, actor, actor_kind, action, pair, group_id, "
                    "record_ids, session_id, before, after, reason, note, prev_hash, hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*content, prev, h))  # fmt: skip
        prev = h
    raw.close()
    store = Store.open(path, passphrase="pw")
    ak = json.loads(store.meta("audit_key") or "{}")
    assert ak["from"] == 6
    Decisions(store, actor="carol").add_note("keyed one")
    rows = store.conn.execute("SELECT seq, mac FROM decisions ORDER BY seq").fetchall()
    assert [m is None for _s, m in rows] == [True] * 5 + [False]
    assert sessions.verify_all(store.conn).ok
    conn = attacker(store)
    conn.execute("UPDATE decisions SET note = 'forged' WHERE seq = 2")
    p = conn.execute("SELECT hash FROM decisions WHERE seq = 1").fetchone()[0]
    for row in conn.execute("SELECT seq, at_us, actor, actor_kind, action, pair, group_id, "
                            "record_ids, session_id, before, after, reason, note FROM decisions "
                            "WHERE seq >= 2 ORDER BY seq").fetchall():  # fmt: skip
        h = entry_hash(p, tuple(row))
        conn.execute("UPDATE decisions SET prev_hash = ?, hash = ? WHERE seq = ?", (p, h, row[0]))
        p = h
    conn.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (f"6:{p}",))
    conn.close()
    result = verify(store.conn)
    assert not result.ok and result.broken_at == 6 and "without the audit key" in (result.problem or "")
    store.close()


def test_the_audit_key_survives_a_rekey_and_a_damaged_key_record_is_one_line(tmp_path: Path) -> None:
    from recon_tui.store.errors import StoreError

    path = tmp_path / "a.db"
    store = Store.init(path, passphrase="one")
    Decisions(store, actor="x").add_note("before the rekey")
    store.rekey(new_passphrase="two")
    Decisions(store, actor="x").add_note("after the rekey")
    assert sessions.verify_all(store.conn).ok
    store.close()
    store = Store.open(path, passphrase="two")
    assert sessions.verify_all(store.conn).ok
    store.set_meta("audit_key", '{"v": 1, "from": 1, "nonce": "AAAA", "key": "AAAA"}')
    store.close()
    with pytest.raises(StoreError, match="audit key record is damaged"):
        Store.open(path, passphrase="two")


def test_a_later_migration_that_rebuilds_a_table_keeps_the_state_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rebuilding a table drops its triggers; the store re-creates the state-log triggers
    after migrating, so what follows is still logged and verify stays clean."""
    from tests.integrity_kit import new_store

    path = tmp_path / "m.db"
    store = new_store(path)
    store.close()
    rebuild = ["ALTER TABLE sessions RENAME TO sessions_old",  # its triggers go with it
               "CREATE TABLE sessions (id INTEGER PRIMARY KEY, name TEXT NOT NULL, scope TEXT "
               "NOT NULL, owner TEXT NOT NULL, state TEXT NOT NULL, as_of_us INTEGER, opened_us "
               "INTEGER NOT NULL, closed_us INTEGER, summary TEXT)",
               "INSERT INTO sessions SELECT * FROM sessions_old", "DROP TABLE sessions_old"]  # fmt: skip
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, rebuild])
    store = Store.open(path, passphrase="integrity-pass")
    names = {n for (n,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"state_log_session_new", "state_log_session_state"} <= names
    s = sessions.open_session(store, ["ledger-bank"], "2026-10-01", "2026-11-01", actor="x")
    assert store.conn.execute("SELECT count(*) FROM state_log WHERE kind = 'session' AND ref = ?",
                              (s.id,)).fetchone()[0] == 1  # fmt: skip
    assert sessions.verify_all(store.conn).ok, sessions.verify_all(store.conn).lines()
    store.close()
