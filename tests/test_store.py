"""The encrypted store: keys, migrations, idempotent upserts, rekey and no plaintext on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recon_tui.model import make_price, make_record
from recon_tui.store import Store, StoreExists, StoreKeyError, StoreNotFound, keys
from recon_tui.store.audit import append, verify
from recon_tui.store.records import apply_batch, get_record
from recon_tui.store.sources import add_source, get_secrets, set_secret

CANARIES = ["CANARY-MEMO-7f3a9", "Canary Counterparty Zyx", "CANARY-NOTE-51bd", "CANARYSETTING"]


def recs(n: int, source: str = "bank", memo: str = "m", amount: str = "10.00", start: int = 0):
    return [
        make_record(source=source, external_id=f"e{i}", kind="payment",
                    ts=f"2026-01-{1 + i % 28:02d}T00:00:00Z", asset="EUR", amount=amount, memo=memo)
        for i in range(start, start + n)
    ]  # fmt: skip


def test_upsert_is_idempotent_and_records_changes(store: Store) -> None:
    add_source(store, "bank", "csv")
    first = apply_batch(store, "bank", recs(50))
    assert (first.added, first.changed) == (50, 0)
    again = apply_batch(store, "bank", recs(50))
    assert (again.added, again.changed, again.unchanged) == (0, 0, 50)
    assert store.count("SELECT count(*) FROM records") == 50
    changed = recs(50)
    changed[3].amount = changed[3].amount + 1
    changed[3].status = "reversed"
    third = apply_batch(store, "bank", changed, removed=["e7"])
    assert (third.added, third.changed, third.removed) == (0, 1, 1)
    r = store.conn.execute(
        "SELECT version, amount, status FROM records WHERE external_id = 'e3'"
    ).fetchone()
    assert r == (2, "11", "reversed")
    old = store.conn.execute("SELECT snapshot FROM record_versions").fetchone()[0]
    assert '"amount":"10"' in old
    assert (
        store.conn.execute("SELECT removed FROM records WHERE external_id='e7'").fetchone()[0] == 1
    )
    assert set(third.changed_ids) == {
        store.conn.execute("SELECT id FROM records WHERE external_id = ?", (e,)).fetchone()[0]
        for e in ("e3", "e7")
    }


def test_batch_is_all_or_nothing(store: Store) -> None:
    add_source(store, "bank", "csv")
    apply_batch(store, "bank", recs(5))
    bad = recs(5, start=5) + recs(1, start=5)  # duplicate id inside one batch
    with pytest.raises(ValueError, match="appears twice"):
        apply_batch(store, "bank", bad)
    assert store.count("SELECT count(*) FROM records") == 5
    with pytest.raises(RuntimeError):
        with store.tx() as conn:
            conn.execute("DELETE FROM records")
            raise RuntimeError("crash mid-transaction")
    assert store.count("SELECT count(*) FROM records") == 5


def test_cursor_advances_with_its_batch(store: Store) -> None:
    add_source(store, "bank", "csv")
    apply_batch(store, "bank", recs(3), cursor={"page": 2}, set_cursor=True)
    assert store.conn.execute("SELECT cursor FROM sources").fetchone()[0] == '{"page":2}'


def test_decimal_amounts_survive_exactly(store: Store) -> None:
    add_source(store, "chain", "esplora")
    r = make_record(
        source="chain",
        external_id="t",
        kind="deposit",
        ts="2026-01-01T00:00:00Z",
        asset="ETH",
        amount="123456789.123456789012345678",
        fee="0.000000000000000001",
    )
    apply_batch(store, "chain", [r])
    back = get_record(store.conn, "chain", "t")
    assert back is not None and back.amount == r.amount and back.fee == r.fee


def test_prices_upsert(store: Store) -> None:
    p = make_price(
        base="BTC",
        quote="EUR",
        ts="2026-01-01T00:00:00Z",
        interval="1d",
        close="61234.12",
        source="kraken",
    )
    add_source(store, "kraken", "ccxt")
    apply_batch(store, "kraken", [], prices=[p, p])
    assert store.conn.execute("SELECT close FROM prices").fetchall() == [("61234.12",)]


def test_wrong_passphrase_is_one_clear_error_and_never_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    s = Store.init(path, passphrase="right")
    s.close()
    size = path.stat().st_size
    with pytest.raises(StoreKeyError, match="does not open"):
        Store.open(path, passphrase="wrong")
    assert path.stat().st_size == size
    with pytest.raises(StoreExists):
        Store.init(path, passphrase="other")
    with pytest.raises(StoreNotFound):
        Store.open(tmp_path / "missing.db", passphrase="x")
    assert not (tmp_path / "missing.db").exists()


def test_keyring_method(tmp_path: Path, memory_keyring) -> None:
    s = Store.init(tmp_path / "k.db")
    assert s.info.method == "keyring"
    [(service, user)] = list(memory_keyring.items)
    assert service == "recon-tui" and user.startswith("store:")
    s.close()
    Store.open(tmp_path / "k.db").close()
    memory_keyring.items[(service, user)] = "00" * 32
    with pytest.raises(StoreKeyError):
        Store.open(tmp_path / "k.db")


def test_rekey_with_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    s = Store.init(path, passphrase="one")
    add_source(s, "bank", "csv")
    apply_batch(s, "bank", recs(20))
    s.rekey(new_passphrase="two")
    s.close()
    with pytest.raises(StoreKeyError):
        Store.open(path, passphrase="one")
    s = Store.open(path, passphrase="two")
    assert s.count("SELECT count(*) FROM records") == 20
    s.close()


def test_rekey_in_keyring(tmp_path: Path, memory_keyring) -> None:
    path = tmp_path / "rk.db"
    s = Store.init(path)
    user = keys.keyring_username(s.info.store_id)
    old = memory_keyring.items[("recon-tui", user)]
    s.rekey()
    s.close()
    new = memory_keyring.items[("recon-tui", user)]
    assert new != old and len(memory_keyring.items) == 1
    Store.open(path).close()


def test_migrations_are_versioned_and_atomic(store: Store) -> None:
    from recon_tui.store import schema

    assert store.version == schema.latest_version()
    steps = [*schema.MIGRATIONS, ["ALTER TABLE records ADD COLUMN extra TEXT"]]
    assert store.migrate(steps) == 1
    assert store.version == len(steps)
    assert "extra" in store.db["records"].columns_dict
    broken = [*steps, ["CREATE TABLE t2 (a)", "THIS IS NOT SQL"]]
    with pytest.raises(Exception, match="syntax error"):
        store.migrate(broken)
    assert store.version == len(steps)
    assert "t2" not in store.db.table_names()
    assert store.migrate(steps) == 0


def test_check_constraints_become_comparisons_on_an_older_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last migration rewrites the hot tables' IN-list CHECKs as comparisons (an IN
    list's lookup table is rebuilt per executed row); a store made before it keeps its
    rows, and the rewritten constraints still refuse what the old ones refused."""
    import sqlcipher3

    from recon_tui.model import Side, SourcePair
    from recon_tui.store import schema
    from recon_tui.store.sources import add_pair

    last = schema.MIGRATIONS[-1]
    assert last is schema._checks_as_comparisons
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:-1])
    s = Store.init(tmp_path / "old.db", passphrase="p")
    assert s.version == schema.latest_version()
    add_source(s, "ledger", "csv")
    add_source(s, "bank", "csv")
    add_pair(s, SourcePair("lb", Side("ledger"), Side("bank")))
    apply_batch(s, "bank", recs(5))

    def table_sql() -> dict[str, str]:
        return dict(s.conn.execute(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name IN "
            "('pair_states', 'group_members', 'session_records')"))  # fmt: skip

    assert all(" IN (" in sql for sql in table_sql().values())
    before = s.conn.execute("SELECT * FROM pair_states ORDER BY record_id").fetchall()
    monkeypatch.undo()
    assert s.migrate() == 1 and s.version == schema.latest_version()
    after = table_sql()
    assert not any(" IN (" in sql for sql in after.values()), after
    assert "CHECK (state = 'open' OR state = 'suggested' OR state = 'matched')" in after[
        "pair_states"]
    assert s.conn.execute("SELECT * FROM pair_states ORDER BY record_id").fetchall() == before
    assert len(before) == 5
    assert s.conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    for sql in ("UPDATE pair_states SET state = 'closed' WHERE record_id = 1",
                "UPDATE pair_states SET side = 'X' WHERE record_id = 1",
                "INSERT INTO session_records VALUES (1, 'later', 'lb', 1, 'L', 'h')",
                "INSERT INTO group_members (group_id, record_id, side) VALUES (1, 1, 'M')"):
        with pytest.raises(sqlcipher3.IntegrityError, match="CHECK constraint failed"):
            with s.tx() as conn:
                conn.execute(sql)
    s.close()
    reopened = Store.open(tmp_path / "old.db", passphrase="p")
    assert reopened.conn.execute("SELECT count(*) FROM pair_states").fetchone() == (5,)
    reopened.close()


def test_the_check_rewrite_refuses_a_schema_it_does_not_know(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table whose definition is not the one the migration expects (here someone
    dropped a CHECK) is refused with one line, and the store stays at its version."""
    from recon_tui.store import schema
    from recon_tui.store.errors import StoreError

    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:-1])
    s = Store.init(tmp_path / "odd.db", passphrase="p")
    version = s.version
    with s.tx() as conn:
        (v,) = conn.execute("PRAGMA schema_version").fetchone()
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_schema SET sql = replace(sql, "
                     "'CHECK (side IN (''L'', ''R''))', '') WHERE name = 'group_members'")
        conn.execute(f"PRAGMA schema_version = {v + 1}")
        conn.execute("PRAGMA writable_schema = OFF")
    monkeypatch.undo()
    with pytest.raises(StoreError, match="group_members does not have exactly one CHECK"):
        s.migrate()
    assert s.version == version
    assert " IN (" in s.conn.execute(
        "SELECT sql FROM sqlite_schema WHERE name = 'pair_states'").fetchone()[0]
    s.close()


def test_bulk_decisions_leave_the_chain_and_its_head_as_one_by_one(tmp_path: Path) -> None:
    """``append_many`` sets the head trigger aside and writes the remembered head once:
    the same rows, the same ``meta.audit_head`` as appending one at a time, the trigger
    back afterwards (a later single append still moves the head), and a clean walk."""
    from recon_tui.store.audit import append_many, head

    entries = [{"action": "auto_confirm", "pair": "p", "group_id": i, "record_ids": [i, i + 1],
                "after": {"state": "confirmed"}, "at_us": 1_000 + i} for i in range(1, 6)]
    heads, rows = [], []
    for name in ("one", "bulk"):
        s = Store.init(tmp_path / f"{name}.db", passphrase="p", use_keyring=False)
        with s.tx() as conn:
            if name == "one":
                for e in entries:
                    append(conn, e["action"], actor="engine", actor_kind="engine",
                           pair="p", group_id=e["group_id"], record_ids=e["record_ids"],
                           after=e["after"], at_us=e["at_us"])
            else:
                append_many(conn, entries)
        seq, h = head(s.conn)
        assert s.meta("audit_head") == f"{seq}:{h}" and seq == 5
        names = {n for (n,) in s.conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert "decisions_track_head" in names
        with s.tx() as conn:
            append(conn, "note", actor="me", note="after the bulk")
        seq, h = head(s.conn)
        assert s.meta("audit_head") == f"{seq}:{h}" and seq == 6
        assert verify(s.conn).ok
        heads.append(s.meta("audit_head"))
        rows.append(s.conn.execute("SELECT seq, actor, action, pair, group_id, record_ids, after, "
                                   "prev_hash FROM decisions WHERE seq <= 5").fetchall())
        s.close()
    assert rows[0] == rows[1]


def test_secrets_fall_back_to_the_encrypted_store(store: Store, memory_keyring) -> None:
    assert set_secret(store, "kraken", "apiKey", "K-123") == "keyring"
    assert get_secrets(store, "kraken", ["apiKey", "secret"]) == {"apiKey": "K-123"}


def test_decisions_are_append_only_and_chained(store: Store) -> None:
    with store.tx() as conn:
        for i in range(5):
            append(conn, "note", record_ids=[i], note=f"n{i}")
    assert verify(store.conn).ok
    with pytest.raises(Exception, match="append-only"):
        with store.tx() as conn:
            conn.execute("UPDATE decisions SET note = 'x' WHERE seq = 2")
    with store.tx() as conn:  # an attacker drops the guard and edits a row
        conn.execute("DROP TRIGGER decisions_no_update")
        conn.execute("UPDATE decisions SET note = 'forged' WHERE seq = 3")
    result = verify(store.conn)
    assert not result.ok and result.broken_at == 3


def test_no_plaintext_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmpdir = tmp_path / "sqltmp"
    tmpdir.mkdir()
    monkeypatch.setenv("SQLITE_TMPDIR", str(tmpdir))
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    path = tmp_path / "p.db"
    s = Store.init(path, passphrase="pw")
    add_source(s, "bank", "csv", {"note": CANARIES[3]})
    many = [
        make_record(source="bank", external_id=f"x{i}", kind="payment", ts="2026-01-01T00:00:00Z",
                    asset="EUR", amount=str(i), memo=f"{CANARIES[0]} {i}", counterparty=CANARIES[1])
        for i in range(20_000)
    ]  # fmt: skip
    apply_batch(s, "bank", many)
    with s.tx() as conn:
        append(conn, "note", note=CANARIES[2])
    # Big sorts and a temp index would spill to temp files if temp_store were on disk.
    s.conn.execute("SELECT memo FROM records ORDER BY memo DESC, counterparty").fetchall()
    s.conn.execute("CREATE TEMP TABLE t AS SELECT memo FROM records").fetchall()

    def scan() -> list[str]:
        found = []
        files = [*tmp_path.rglob("*")]
        assert any(f.name.endswith("-wal") for f in files) or True
        for f in files:
            if f.is_file():
                data = f.read_bytes()
                for c in CANARIES:
                    for enc in (c.encode(), c.encode("utf-16-le")):
                        if enc in data:
                            found.append(f"{f.name}: {c}")
        return found

    assert Path(f"{path}-wal").exists()  # the WAL is checked while it holds data
    assert scan() == []
    s.close()
    assert scan() == []
    assert os.listdir(tmpdir) == []
