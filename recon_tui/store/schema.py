"""Versioned schema migrations of the store (``PRAGMA user_version`` is the version).

Each migration is a list of SQL statements applied in one transaction; SQLite DDL is
transactional, so a failed migration leaves the store at its previous version.
Never edit a released migration: append a new one.

Conventions: timestamps are integer microseconds since the epoch, UTC (``*_us``);
amounts are exact decimal TEXT, with ``amount_e8`` (floor of amount x 1e8, an integer) only
as a sort/range/blocking key; JSON columns hold Decimals as strings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Migration = Sequence[str] | Callable[..., None]

V1 = [
    """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE sources (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        label TEXT,
        settings TEXT NOT NULL DEFAULT '{}',
        cursor TEXT,
        interval_s INTEGER,
        enabled INTEGER NOT NULL DEFAULT 1,
        created_us INTEGER NOT NULL,
        last_sync_us INTEGER,
        last_success_us INTEGER,
        last_error TEXT,
        last_error_us INTEGER,
        records_added INTEGER NOT NULL DEFAULT 0,
        records_changed INTEGER NOT NULL DEFAULT 0,
        records_removed INTEGER NOT NULL DEFAULT 0,
        last_run_count INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE source_pairs (
        name TEXT PRIMARY KEY,
        left_source TEXT NOT NULL,
        left_account TEXT,
        right_source TEXT NOT NULL,
        right_account TEXT,
        rules TEXT NOT NULL DEFAULT 'default',
        position INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE records (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        external_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        ts_us INTEGER NOT NULL,
        booking_date TEXT,
        value_date TEXT,
        asset TEXT NOT NULL,
        amount TEXT NOT NULL,
        amount_e8 INTEGER NOT NULL,
        fee TEXT,
        fee_asset TEXT,
        counterparty TEXT,
        reference TEXT,
        memo TEXT,
        txid TEXT,
        address TEXT,
        account TEXT,
        status TEXT NOT NULL,
        attrs TEXT,
        raw TEXT,
        content_hash TEXT NOT NULL,
        first_seen_us INTEGER NOT NULL,
        changed_us INTEGER NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        rev INTEGER NOT NULL,
        removed INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'open',
        group_id INTEGER,
        UNIQUE (source, external_id)
    )""",
    # Panes page a side's open items by time; matchers and candidates look up by key.
    "CREATE INDEX records_side ON records (source, account, state, ts_us)",
    "CREATE INDEX records_side_amount ON records (source, account, state, amount_e8)",
    # No index on rev/txid/reference: the matcher keeps its own in-memory blocking indexes,
    # and each extra index costs ~10% of ingest speed (measured: bench/ingest.py).
    "CREATE INDEX records_group ON records (group_id) WHERE group_id IS NOT NULL",
    """CREATE TABLE record_versions (
        record_id INTEGER NOT NULL,
        version INTEGER NOT NULL,
        changed_us INTEGER NOT NULL,
        snapshot TEXT NOT NULL,
        PRIMARY KEY (record_id, version)
    )""",
    # When a source changes a record, keep what it was (the audit of source-side edits).
    """CREATE TRIGGER records_keep_version AFTER UPDATE OF content_hash ON records
        WHEN old.content_hash != new.content_hash
        BEGIN
            INSERT OR REPLACE INTO record_versions (record_id, version, changed_us, snapshot)
            VALUES (old.id, old.version, new.changed_us, json_object(
                'kind', old.kind, 'ts_us', old.ts_us, 'booking_date', old.booking_date,
                'value_date', old.value_date, 'asset', old.asset, 'amount', old.amount,
                'fee', old.fee, 'fee_asset', old.fee_asset, 'counterparty', old.counterparty,
                'reference', old.reference, 'memo', old.memo, 'txid', old.txid,
                'address', old.address, 'account', old.account, 'status', old.status,
                'attrs', old.attrs, 'removed', old.removed));
        END""",
    """CREATE TABLE prices (
        base TEXT NOT NULL,
        quote TEXT NOT NULL,
        interval TEXT NOT NULL,
        ts_us INTEGER NOT NULL,
        close TEXT NOT NULL,
        source TEXT NOT NULL,
        PRIMARY KEY (base, quote, interval, ts_us, source)
    )""",
    """CREATE TABLE match_groups (
        id INTEGER PRIMARY KEY,
        pair TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'match',
        state TEXT NOT NULL,
        origin TEXT NOT NULL,
        rule TEXT,
        score REAL,
        explanation TEXT,
        adjustments TEXT,
        created_us INTEGER NOT NULL,
        decided_us INTEGER,
        decided_by TEXT,
        reason TEXT,
        note TEXT,
        session_id INTEGER
    )""",
    "CREATE INDEX match_groups_pair_state ON match_groups (pair, state, score)",
    """CREATE TABLE group_members (
        group_id INTEGER NOT NULL REFERENCES match_groups (id),
        record_id INTEGER NOT NULL REFERENCES records (id),
        side TEXT NOT NULL CHECK (side IN ('L', 'R')),
        PRIMARY KEY (group_id, record_id)
    )""",
    "CREATE INDEX group_members_record ON group_members (record_id)",
    """CREATE TABLE rejections (
        key TEXT PRIMARY KEY,
        pair TEXT NOT NULL,
        decided_us INTEGER NOT NULL,
        decided_by TEXT NOT NULL,
        reason TEXT
    )""",
    """CREATE TABLE notes (
        id INTEGER PRIMARY KEY,
        record_id INTEGER,
        group_id INTEGER,
        session_id INTEGER,
        at_us INTEGER NOT NULL,
        actor TEXT NOT NULL,
        text TEXT NOT NULL
    )""",
    "CREATE INDEX notes_record ON notes (record_id)",
    """CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        scope TEXT NOT NULL,
        owner TEXT NOT NULL,
        state TEXT NOT NULL,
        as_of_us INTEGER,
        opened_us INTEGER NOT NULL,
        closed_us INTEGER,
        summary TEXT
    )""",
    """CREATE TABLE decisions (
        seq INTEGER PRIMARY KEY,
        at_us INTEGER NOT NULL,
        actor TEXT NOT NULL,
        actor_kind TEXT NOT NULL,
        action TEXT NOT NULL,
        pair TEXT,
        group_id INTEGER,
        record_ids TEXT,
        session_id INTEGER,
        before TEXT,
        after TEXT,
        reason TEXT,
        note TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX decisions_group ON decisions (group_id)",
    "CREATE INDEX decisions_session ON decisions (session_id)",
    # Append-only by construction; ``recon-tui verify`` catches edits made around this.
    """CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
        BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END""",
    """CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
        BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END""",
    """CREATE TABLE secrets (
        source TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (source, name)
    )""",
    "INSERT INTO meta (key, value) VALUES ('rev', '0')",
    "INSERT INTO meta (key, value) VALUES ('matched_rev', '0')",
]

MIGRATIONS: list[Migration] = [V1]
"""Index i holds the migration from version i to i + 1."""


def latest_version() -> int:
    return len(MIGRATIONS)


V2 = [
    # Reconciliation sessions (issue 6): what was in scope when a session opened and when it
    # closed — record ids with their content hashes, so a later source edit is visible.
    """CREATE TABLE session_records (
        session_id INTEGER NOT NULL,
        phase TEXT NOT NULL CHECK (phase IN ('open', 'close')),
        pair TEXT NOT NULL,
        record_id INTEGER NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('L', 'R')),
        content_hash TEXT NOT NULL,
        PRIMARY KEY (session_id, phase, pair, record_id)
    )""",
    "CREATE INDEX session_records_record ON session_records (record_id)",
    "CREATE INDEX sessions_state ON sessions (state)",
    # The chain head kept beside the chain: deleting the newest decisions (triggers dropped)
    # leaves a valid but shorter chain, which only a remembered head reveals.
    """INSERT INTO meta (key, value) SELECT 'audit_head', coalesce(
        (SELECT seq || ':' || hash FROM decisions ORDER BY seq DESC LIMIT 1),
        '0:' || '0000000000000000000000000000000000000000000000000000000000000000')""",
    """CREATE TRIGGER decisions_track_head AFTER INSERT ON decisions
        BEGIN UPDATE meta SET value = new.seq || ':' || new.hash WHERE key = 'audit_head'; END""",
]

MIGRATIONS.append(V2)


def _state_log_insert(kind: str, ref: str, field: str, value: str) -> str:
    """One trigger statement appending a keyed, chained row to ``state_log``."""
    return (
        "INSERT INTO state_log (at_us, kind, ref, field, value, mac) VALUES ("
        "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER), "
        f"'{kind}', {ref}, '{field}', {value}, "
        f"recon_state_mac('{kind}', {ref}, '{field}', {value}, "
        "(SELECT mac FROM state_log ORDER BY seq DESC LIMIT 1)));"
    )


V_AUDIT = [
    # The keyed seal of each decision (HMAC of its seq and hash under the audit key); NULL
    # on the legacy entries written before the store had an audit key.
    "ALTER TABLE decisions ADD COLUMN mac TEXT",
    # The keyed state log (issue 12): every change of a group's state or members, of a
    # record's version or content hash, and of a session's state, appended by triggers with
    # an HMAC chained to the previous row (``recon_state_mac`` exists only on the app's own
    # connections). ``verify`` replays it against the tables.
    """CREATE TABLE IF NOT EXISTS state_log (
        seq INTEGER PRIMARY KEY,
        at_us INTEGER NOT NULL,
        kind TEXT NOT NULL,
        ref INTEGER NOT NULL,
        field TEXT NOT NULL,
        value TEXT,
        mac TEXT NOT NULL
    )""",
    # Where the log starts: groups, sessions and record revisions before it are legacy.
    """INSERT OR REPLACE INTO meta (key, value) SELECT 'state_log_from', json_object(
        'group', (SELECT coalesce(max(id), 0) FROM match_groups),
        'session', (SELECT coalesce(max(id), 0) FROM sessions),
        'rev', (SELECT coalesce(max(rev), 0) FROM records))""",
    """CREATE TRIGGER state_log_no_update BEFORE UPDATE ON state_log
        BEGIN SELECT RAISE(ABORT, 'the state log is append-only'); END""",
    """CREATE TRIGGER state_log_no_delete BEFORE DELETE ON state_log
        BEGIN SELECT RAISE(ABORT, 'the state log is append-only'); END""",
    "CREATE TRIGGER state_log_group_new AFTER INSERT ON match_groups BEGIN "
    + _state_log_insert("group", "new.id", "state", "new.state")
    + " END",
    "CREATE TRIGGER state_log_group_state AFTER UPDATE OF state ON match_groups "
    "WHEN old.state IS NOT new.state BEGIN "
    + _state_log_insert("group", "new.id", "state", "new.state")
    + " END",
    "CREATE TRIGGER state_log_group_gone AFTER DELETE ON match_groups BEGIN "
    + _state_log_insert("group", "old.id", "deleted", "NULL")
    + " END",
    "CREATE TRIGGER state_log_member_add AFTER INSERT ON group_members BEGIN "
    + _state_log_insert("member", "new.group_id", "add", "new.side || new.record_id")
    + " END",
    "CREATE TRIGGER state_log_member_remove AFTER DELETE ON group_members BEGIN "
    + _state_log_insert("member", "old.group_id", "remove", "old.side || old.record_id")
    + " END",
    "CREATE TRIGGER state_log_member_change AFTER UPDATE ON group_members BEGIN "
    + _state_log_insert("member", "old.group_id", "remove", "old.side || old.record_id")
    + " "
    + _state_log_insert("member", "new.group_id", "add", "new.side || new.record_id")
    + " END",
    "CREATE TRIGGER state_log_record_version AFTER UPDATE OF version, content_hash ON records "
    "WHEN old.version IS NOT new.version OR old.content_hash IS NOT new.content_hash BEGIN "
    + _state_log_insert("record", "new.id", "version", "new.version || ':' || new.content_hash")
    + " END",
    "CREATE TRIGGER state_log_session_new AFTER INSERT ON sessions BEGIN "
    + _state_log_insert("session", "new.id", "state", "new.state")
    + " END",
    "CREATE TRIGGER state_log_session_state AFTER UPDATE OF state ON sessions "
    "WHEN old.state IS NOT new.state BEGIN "
    + _state_log_insert("session", "new.id", "state", "new.state")
    + " END",
    "CREATE TRIGGER state_log_session_gone AFTER DELETE ON sessions BEGIN "
    + _state_log_insert("session", "old.id", "deleted", "NULL")
    + " END",
]

MIGRATIONS.append(V_AUDIT)


def ensure_state_log_triggers(conn: object) -> int:
    """Re-create any missing state-log trigger (a later migration that rebuilds a table drops
    its triggers); returns how many were made. Changes made while one was missing are not
    in the log, and ``verify``'s replay names them."""
    execute = conn.execute  # type: ignore[attr-defined]
    if not execute("SELECT 1 FROM sqlite_master WHERE name = 'state_log'").fetchone():
        return 0
    have = {n for (n,) in execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    made = 0
    for sql in V_AUDIT:
        if sql.startswith("CREATE TRIGGER "):
            name = sql.split()[2]
            if name not in have:
                execute(sql)
                made += 1
    return made
