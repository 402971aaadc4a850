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


V_WRITEOFF = [
    # Per-pair write-off limits (issue 16.6), JSON read by recon_tui.services.writeoff;
    # NULL keeps the defaults. ADD COLUMN leaves every existing pair as it was.
    "ALTER TABLE source_pairs ADD COLUMN writeoff TEXT",
]

MIGRATIONS.append(V_WRITEOFF)
