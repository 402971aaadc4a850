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

from recon_tui.store.errors import StoreError

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


# --- per-pair record state, one live confirmed group per record and pair, totals ---------
# (issues 11.2, 12.1, 12.3, 13.2). A record can sit on a side of several pairs; its
# open/suggested/matched state is per pair (``pair_states``), kept beside a copy of what the
# panes sort and the totals sum by (ts, amount key, asset, and the amount split into exact
# integer parts: units, nano = the first 9 decimals, atto = the next 9, each signed), so a
# pane pages one index and a dashboard reads ``pair_totals`` without touching records.


def amount_parts_sql(col: str) -> tuple[str, str, str]:
    """SQL expressions (units, nano, atto) splitting a canonical decimal TEXT column
    (plain notation, at most 18 places) into exact signed integers."""
    sgn = f"(CASE WHEN substr({col}, 1, 1) = '-' THEN -1 ELSE 1 END)"
    t = f"ltrim({col}, '-')"
    dot = f"instr({t}, '.')"
    units = f"({sgn} * CAST(CASE WHEN {dot} > 0 THEN substr({t}, 1, {dot} - 1) ELSE {t} END AS INTEGER))"
    frac = f"(CASE WHEN {dot} > 0 THEN substr({t}, {dot} + 1) ELSE '' END)"
    nano = f"({sgn} * CAST(substr({frac} || '000000000', 1, 9) AS INTEGER))"
    atto = f"({sgn} * CAST(substr(substr({frac}, 10) || '000000000', 1, 9) AS INTEGER))"
    return units, nano, atto


def admit_sql(rec: str, pair_filter: str = "1") -> str:
    """INSERT of ``pair_states`` rows for a record alias ``rec`` (a table alias or ``new``)
    into every pair whose left or right side admits it (left first on a tie)."""
    u, n, a = amount_parts_sql(f"{rec}.amount")
    rows = []
    for code, s in (("L", "left"), ("R", "right")):
        rows.append(
            f"SELECT p.name, {rec}.id, '{code}', CASE WHEN {rec}.removed = 0 THEN 1 ELSE 0 END, "
            f"{rec}.ts_us, {rec}.amount_e8, {rec}.asset, {u}, {n}, {a} FROM source_pairs p "
            f"WHERE p.{s}_source = {rec}.source AND (p.{s}_account IS NULL "
            f"OR p.{s}_account = {rec}.account) AND {pair_filter}"
        )
    return (
        "INSERT OR IGNORE INTO pair_states (pair, record_id, side, live, ts_us, amount_e8, "
        "asset, units, nano, atto) " + " UNION ALL ".join(rows)
    )


def _totals_sql(row: str, sign: str) -> str:
    return (
        "INSERT INTO pair_totals (pair, side, state, asset, n, units, nano, atto) "
        f"SELECT {row}.pair, {row}.side, {row}.state, {row}.asset, {sign}1, {sign}{row}.units, "
        f"{sign}{row}.nano, {sign}{row}.atto WHERE {row}.live = 1 "
        "ON CONFLICT (pair, side, state, asset) DO UPDATE SET n = n + excluded.n, "
        "units = units + excluded.units, nano = nano + excluded.nano, atto = atto + excluded.atto"
    )


TOTALS_OF_NEW_SQL = (
    "INSERT INTO pair_totals (pair, side, state, asset, n, units, nano, atto) "
    "SELECT pair, side, state, asset, count(*), sum(units), sum(nano), sum(atto) "
    "FROM pair_states WHERE live = 1 AND {where} GROUP BY pair, side, state, asset "
    "ON CONFLICT (pair, side, state, asset) DO UPDATE SET n = n + excluded.n, "
    "units = units + excluded.units, nano = nano + excluded.nano, atto = atto + excluded.atto"
)
"""Add newly inserted ``pair_states`` rows (``where`` picks them) to ``pair_totals``."""


def _pair_state_migration(conn: object) -> None:
    """Create the per-pair tables, fill them from today's groups, and drop the global
    ``records.state``/``group_id`` columns (nothing may read a global state any more)."""
    ex = conn.execute  # type: ignore[attr-defined]
    ex("""CREATE TABLE pair_states (
        pair TEXT NOT NULL,
        record_id INTEGER NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('L', 'R')),
        state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'suggested', 'matched')),
        group_id INTEGER,
        live INTEGER NOT NULL DEFAULT 1,
        ts_us INTEGER NOT NULL,
        amount_e8 INTEGER NOT NULL,
        asset TEXT NOT NULL,
        units INTEGER NOT NULL,
        nano INTEGER NOT NULL,
        atto INTEGER NOT NULL,
        PRIMARY KEY (pair, record_id)
    ) WITHOUT ROWID""")
    ex("""CREATE TABLE pair_totals (
        pair TEXT NOT NULL,
        side TEXT NOT NULL,
        state TEXT NOT NULL,
        asset TEXT NOT NULL,
        n INTEGER NOT NULL,
        units INTEGER NOT NULL,
        nano INTEGER NOT NULL,
        atto INTEGER NOT NULL,
        PRIMARY KEY (pair, side, state, asset)
    ) WITHOUT ROWID""")
    # What the engine and the panes read: a pair side's records of one state in ts or
    # amount order (keyset pages, counts and aging ranges come straight off these).
    ex("CREATE INDEX pair_states_ts ON pair_states (pair, side, state, ts_us, record_id) "
       "WHERE live = 1")
    ex("CREATE INDEX pair_states_amount ON pair_states (pair, side, state, amount_e8, record_id) "
       "WHERE live = 1")
    ex("CREATE INDEX pair_states_record ON pair_states (record_id)")
    # Group members know their pair, whether their group is the live confirmed one, and the
    # content hash the member had when grouped (a reopen needs a real change).
    ex("ALTER TABLE group_members ADD COLUMN pair TEXT")
    ex("ALTER TABLE group_members ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0")
    ex("ALTER TABLE group_members ADD COLUMN content_hash TEXT")
    ex("UPDATE group_members SET pair = (SELECT g.pair FROM match_groups g "
       "WHERE g.id = group_members.group_id), content_hash = (SELECT r.content_hash "
       "FROM records r WHERE r.id = group_members.record_id)")
    # A store made before this may hold a record in two confirmed groups of one pair (two
    # match runs at once). The oldest group keeps its records; the newer ones are listed in
    # doubled_groups, their members not flagged, and the matching service reopens them on
    # record at its next run (a migration writes no decision: the log is the services').
    ex("""CREATE TABLE doubled_groups (group_id INTEGER PRIMARY KEY)""")
    ex("""INSERT INTO doubled_groups SELECT DISTINCT m.group_id FROM group_members m
        JOIN match_groups g ON g.id = m.group_id WHERE g.state = 'confirmed' AND EXISTS (
            SELECT 1 FROM group_members o JOIN match_groups h ON h.id = o.group_id
            WHERE o.record_id = m.record_id AND o.pair = m.pair AND h.state = 'confirmed'
            AND o.group_id < m.group_id)""")
    ex("UPDATE group_members SET confirmed = 1 WHERE group_id IN "
       "(SELECT id FROM match_groups WHERE state = 'confirmed') "
       "AND group_id NOT IN (SELECT group_id FROM doubled_groups)")
    ex("CREATE UNIQUE INDEX group_members_one_confirmed ON group_members (pair, record_id) "
       "WHERE confirmed = 1")
    # Groups per pair, state and origin (status), kept by triggers like the record totals.
    ex("""CREATE TABLE group_totals (
        pair TEXT NOT NULL,
        state TEXT NOT NULL,
        origin TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (pair, state, origin)
    ) WITHOUT ROWID""")
    ex("INSERT INTO group_totals SELECT pair, state, origin, count(*) FROM match_groups "
       "GROUP BY 1, 2, 3")
    bump = ("INSERT INTO group_totals (pair, state, origin, n) VALUES ({r}.pair, {r}.state, "
            "{r}.origin, {d}) ON CONFLICT (pair, state, origin) DO UPDATE SET n = n + excluded.n")
    ex(f"CREATE TRIGGER match_groups_count_ins AFTER INSERT ON match_groups BEGIN "
       f"{bump.format(r='new', d=1)}; END")
    ex(f"CREATE TRIGGER match_groups_count_upd AFTER UPDATE OF state ON match_groups "
       f"WHEN old.state IS NOT new.state BEGIN {bump.format(r='old', d=-1)}; "
       f"{bump.format(r='new', d=1)}; END")
    ex(f"CREATE TRIGGER match_groups_count_del AFTER DELETE ON match_groups BEGIN "
       f"{bump.format(r='old', d=-1)}; END")
    ex("""CREATE TRIGGER match_groups_confirmed_flag AFTER UPDATE OF state ON match_groups
        WHEN (old.state = 'confirmed') != (new.state = 'confirmed')
        BEGIN UPDATE group_members SET confirmed = (new.state = 'confirmed')
              WHERE group_id = new.id; END""")
    # Totals follow every row change of pair_states in the same transaction.
    # (Inserts are counted set-based by their writers: see TOTALS_OF_NEW_SQL.)
    ex(f"CREATE TRIGGER pair_states_del AFTER DELETE ON pair_states BEGIN "
       f"{_totals_sql('old', '-')}; END")
    ex(f"""CREATE TRIGGER pair_states_upd AFTER UPDATE ON pair_states
        WHEN old.state IS NOT new.state OR old.live != new.live OR old.asset IS NOT new.asset
          OR old.units != new.units OR old.nano != new.nano OR old.atto != new.atto
        BEGIN {_totals_sql('old', '-')}; {_totals_sql('new', '')}; END""")
    # Live records per source, for status and the dashboard without a scan.
    ex("""CREATE TABLE source_totals (
        source TEXT PRIMARY KEY,
        live INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID""")
    ex("INSERT INTO source_totals (source, live) SELECT source, count(*) FROM records "
       "WHERE removed = 0 GROUP BY source")
    # New records are admitted to their pairs set-based by the batch that wrote them
    # (recon_tui.store.groups.admit_range): a trigger per inserted row cost ingest 60-200%.
    ex("""CREATE TRIGGER records_count_removed AFTER UPDATE OF removed ON records
        WHEN old.removed != new.removed BEGIN
        INSERT INTO source_totals (source, live) VALUES (new.source, 0)
            ON CONFLICT (source) DO NOTHING;
        UPDATE source_totals SET live = live + (CASE WHEN new.removed = 0 THEN 1 ELSE -1 END)
            WHERE source = new.source; END""")
    u, n, a = amount_parts_sql("new.amount")
    ex(f"""CREATE TRIGGER records_follow AFTER UPDATE OF ts_us, amount, amount_e8, asset, removed
        ON records BEGIN
        UPDATE pair_states SET ts_us = new.ts_us, amount_e8 = new.amount_e8, asset = new.asset,
            units = {u}, nano = {n}, atto = {a},
            live = CASE WHEN new.removed = 0 THEN 1 ELSE 0 END WHERE record_id = new.id;
        END""")
    # Fill from today's data: every record of every pair side, then its state in that pair.
    ex(admit_sql("r", "1").replace("FROM source_pairs p", "FROM records r, source_pairs p"))
    ex("""UPDATE pair_states SET
        group_id = (SELECT m.group_id FROM group_members m WHERE m.pair = pair_states.pair
                    AND m.record_id = pair_states.record_id AND m.confirmed = 1),
        state = CASE
            WHEN EXISTS (SELECT 1 FROM group_members m WHERE m.pair = pair_states.pair
                         AND m.record_id = pair_states.record_id AND m.confirmed = 1)
                THEN 'matched'
            WHEN EXISTS (SELECT 1 FROM group_members m JOIN match_groups g ON g.id = m.group_id
                         WHERE m.pair = pair_states.pair AND m.record_id = pair_states.record_id
                         AND g.state = 'suggested') THEN 'suggested'
            ELSE 'open' END""")
    ex("DELETE FROM pair_totals")  # what the state derivation's triggers moved: start over
    ex(TOTALS_OF_NEW_SQL.format(where="1"))
    ex("DROP INDEX IF EXISTS records_side")
    ex("DROP INDEX IF EXISTS records_side_amount")
    ex("DROP INDEX IF EXISTS records_group")
    ex("ALTER TABLE records DROP COLUMN state")
    ex("ALTER TABLE records DROP COLUMN group_id")
    ex("CREATE INDEX records_source_account_ts ON records (source, account, ts_us)")
    # A rejection is of a set of records in one pair (the same set may be fine elsewhere).
    ex("""CREATE TABLE rejections_by_pair (
        pair TEXT NOT NULL,
        key TEXT NOT NULL,
        decided_us INTEGER NOT NULL,
        decided_by TEXT NOT NULL,
        reason TEXT,
        PRIMARY KEY (pair, key)
    )""")
    ex("INSERT INTO rejections_by_pair SELECT pair, key, decided_us, decided_by, reason "
       "FROM rejections")
    ex("DROP TABLE rejections")
    ex("ALTER TABLE rejections_by_pair RENAME TO rejections")
    # Sessions: a source change inside a closed period is kept for the next session.
    ex("""CREATE TABLE post_close_changes (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL,
        pair TEXT NOT NULL,
        record_id INTEGER NOT NULL,
        group_id INTEGER,
        old_hash TEXT,
        new_hash TEXT NOT NULL,
        detected_us INTEGER NOT NULL,
        UNIQUE (session_id, pair, record_id, new_hash)
    )""")


MIGRATIONS.append(_pair_state_migration)

# Statement balances (issue 14): what each statement file says about itself (opening,
# closing, interim, available). Queried only through recon_tui/store/statements.py.
V_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS statement_balances (
        source TEXT NOT NULL,
        account TEXT NOT NULL,
        asset TEXT NOT NULL,
        statement TEXT NOT NULL,
        kind TEXT NOT NULL,
        as_of TEXT NOT NULL,
        amount TEXT NOT NULL,
        file TEXT NOT NULL,
        imported_us INTEGER NOT NULL,
        PRIMARY KEY (source, account, asset, statement, kind, as_of)
    )""",
    "CREATE INDEX IF NOT EXISTS statement_balances_asof "
    "ON statement_balances (account, asset, as_of)",
]

MIGRATIONS.append(V_STATEMENTS)



SERVICE_STATEMENTS = [
    # The headless service (issue 15). Run history: every sync, match, export and verify,
    # whoever started it (cli, app, service, an API token); counts and errors as JSON/text.
    """CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        scope TEXT,
        origin TEXT NOT NULL,
        started_by TEXT NOT NULL,
        parent_id INTEGER,
        started_us INTEGER NOT NULL,
        finished_us INTEGER,
        outcome TEXT NOT NULL DEFAULT 'running',
        counts TEXT NOT NULL DEFAULT '{}',
        error TEXT,
        pid INTEGER
    )""",
    "CREATE INDEX IF NOT EXISTS runs_kind_scope ON runs (kind, scope, id)",
    "CREATE INDEX IF NOT EXISTS runs_outcome ON runs (outcome, id)",
    # API bearer tokens: only a SHA-256 of the (high-entropy, random) token is kept.
    """CREATE TABLE IF NOT EXISTS api_tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('read', 'operator')),
        token_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        revoked_us INTEGER,
        last_used_us INTEGER
    )""",
    # The schedule as data: one row per job ('sync:<source>', 'match:<pair>'), overriding
    # the defaults (a source's own interval; a nightly full match per pair).
    """CREATE TABLE IF NOT EXISTS schedule (
        job TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('sync', 'match')),
        target TEXT NOT NULL,
        interval_s INTEGER,
        cron TEXT,
        full INTEGER NOT NULL DEFAULT 0,
        enabled INTEGER NOT NULL DEFAULT 1,
        updated_us INTEGER NOT NULL
    )""",
    # Webhooks (the signing secret lives here, inside the encrypted store) and deliveries.
    """CREATE TABLE IF NOT EXISTS webhooks (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        events TEXT NOT NULL,
        aging_days INTEGER,
        aging_threshold INTEGER,
        enabled INTEGER NOT NULL DEFAULT 1,
        created_us INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS webhook_deliveries (
        id INTEGER PRIMARY KEY,
        webhook_id INTEGER NOT NULL,
        event TEXT NOT NULL,
        event_id TEXT NOT NULL,
        at_us INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        status INTEGER,
        outcome TEXT NOT NULL,
        error TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_hook ON webhook_deliveries (webhook_id, id)",
]

MIGRATIONS.append(SERVICE_STATEMENTS)


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
    "CREATE TRIGGER state_log_member_change AFTER UPDATE OF group_id, record_id, side "
    "ON group_members WHEN old.group_id IS NOT new.group_id OR old.record_id IS NOT "
    "new.record_id OR old.side IS NOT new.side BEGIN "
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


V_WRITEOFF = [
    # Per-pair write-off limits (issue 16.6), JSON read by recon_tui.services.writeoff;
    # NULL keeps the defaults. ADD COLUMN leaves every existing pair as it was.
    "ALTER TABLE source_pairs ADD COLUMN writeoff TEXT",
]

MIGRATIONS.append(V_WRITEOFF)


# --- CHECK constraints as comparisons (ingest and match-write speed) ---------------------
# SQLite builds the lookup table of an ``x IN (list)`` once per execution of a statement,
# and ``executemany`` executes its statement once per row: each CHECK written as an IN
# list cost ~0.8 us a row on every insert and on every update of its column (measured on
# this build, 3.53: a ``pair_states`` insert 5.1 -> 3.4 us, a state update 8.2 -> 6.2 us,
# ~40 % of admitting a record to its pair). The same constraints as OR-chains of
# comparisons mean the same and cost nothing measurable.
CHECKS_AS_COMPARISONS: tuple[tuple[str, str, str], ...] = (
    ("pair_states", "CHECK (side IN ('L', 'R'))", "CHECK (side = 'L' OR side = 'R')"),
    ("pair_states", "CHECK (state IN ('open', 'suggested', 'matched'))",
     "CHECK (state = 'open' OR state = 'suggested' OR state = 'matched')"),
    ("group_members", "CHECK (side IN ('L', 'R'))", "CHECK (side = 'L' OR side = 'R')"),
    ("session_records", "CHECK (side IN ('L', 'R'))", "CHECK (side = 'L' OR side = 'R')"),
    ("session_records", "CHECK (phase IN ('open', 'close'))",
     "CHECK (phase = 'open' OR phase = 'close')"),
)


def _checks_as_comparisons(conn: object) -> None:
    """Rewrite :data:`CHECKS_AS_COMPARISONS` in the tables' stored definitions.

    SQLite's documented procedure for a constraint change that leaves the file format
    alone (https://www.sqlite.org/lang_altertable.html, "otheralter"): edit the table's
    SQL in ``sqlite_schema`` under ``writable_schema`` and bump ``schema_version``, in the
    migration's transaction; no row is rewritten, so it is instant at any size, and every
    existing row satisfies the new text because it means the same. Each old text must be
    found exactly once, or the migration refuses (and the transaction leaves the store as
    it was) rather than guess at a schema it does not know."""
    ex = conn.execute  # type: ignore[attr-defined]
    wanted: dict[str, str] = {}
    for table, old, new in CHECKS_AS_COMPARISONS:
        if table not in wanted:
            row = ex("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?",
                     (table,)).fetchone()  # fmt: skip
            if row is None:
                raise StoreError(f"schema migration: the store has no table {table}")
            wanted[table] = row[0]
        if wanted[table].count(old) != 1:
            raise StoreError(f"schema migration: table {table} does not have exactly one {old}")
        wanted[table] = wanted[table].replace(old, new)
    (version,) = ex("PRAGMA schema_version").fetchone()
    ex("PRAGMA writable_schema = ON")
    try:
        for table, sql in wanted.items():
            ex("UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = ?", (sql, table))
        ex(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        ex("PRAGMA writable_schema = OFF")
    for table in wanted:  # the new definitions parse (a failure rolls the step back)
        ex(f"SELECT * FROM {table} LIMIT 0").fetchall()


MIGRATIONS.append(_checks_as_comparisons)
