"""Source pairs: the one owner of ``source_pairs``, and of which records each pair admits.

Adding a pair admits every existing record of its sides into ``pair_states`` (new records
admit themselves through the ``records_admit`` trigger); changing a pair's sides re-admits;
removing one drops its per-pair state (its groups stay: they are history in the log, and
come back into force if a pair of that name is added again).
"""

from __future__ import annotations

from recon_tui.model import Side, SourcePair
from recon_tui.store import groups
from recon_tui.store.db import Connection, Store
from recon_tui.store.schema import TOTALS_OF_NEW_SQL, admit_sql

_COLS = "name, left_source, left_account, right_source, right_account, rules"


def _pair(row: tuple[str, str, str | None, str, str | None, str]) -> SourcePair:
    return SourcePair(name=row[0], left=Side(row[1], row[2]), right=Side(row[3], row[4]),
                      rules=row[5])  # fmt: skip


def get_pair_in(conn: Connection, name: str) -> SourcePair | None:
    row = conn.execute(f"SELECT {_COLS} FROM source_pairs WHERE name = ?", (name,)).fetchone()
    return _pair(row) if row else None


def list_pairs_in(conn: Connection) -> list[SourcePair]:
    return [_pair(r) for r in conn.execute(
        f"SELECT {_COLS} FROM source_pairs ORDER BY position, name")]  # fmt: skip


def list_pairs(store: Store) -> list[SourcePair]:
    return list_pairs_in(store.connection())


def get_pair(store: Store, name: str) -> SourcePair | None:
    return get_pair_in(store.connection(), name)


def admit(conn: Connection, name: str) -> None:
    """(Re-)admit the records of the pair's sides and derive their state in it."""
    conn.execute(
        admit_sql("r", "p.name = ?").replace("FROM source_pairs p", "FROM records r, source_pairs p"),
        (name, name),
    )
    # The pair's totals afresh from its rows (states move them by trigger from here on).
    conn.execute("DELETE FROM pair_totals WHERE pair = ?", (name,))
    conn.execute(TOTALS_OF_NEW_SQL.format(where="pair = ?"), (name,))
    grouped = [r for (r,) in conn.execute(
        "SELECT DISTINCT record_id FROM group_members WHERE pair = ?", (name,))]  # fmt: skip
    groups.refresh(conn, grouped, name)


def save_pair(conn: Connection, pair: SourcePair, position: int | None = None) -> bool:
    """Insert or update a pair inside the caller's transaction; True when its sides
    changed (or it is new), i.e. its records were (re-)admitted."""
    old = get_pair_in(conn, pair.name)
    if old is None:
        pos = position if position is not None else int(conn.execute(
            "SELECT coalesce(max(position) + 1, 0) FROM source_pairs").fetchone()[0])  # fmt: skip
        conn.execute(
            "INSERT INTO source_pairs (name, left_source, left_account, right_source, "
            "right_account, rules, position) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (pair.name, pair.left.source, pair.left.account, pair.right.source,
             pair.right.account, pair.rules, pos),
        )  # fmt: skip
        admit(conn, pair.name)
        return True
    conn.execute(
        "UPDATE source_pairs SET left_source = ?, left_account = ?, right_source = ?, "
        "right_account = ?, rules = ?, position = coalesce(?, position) WHERE name = ?",
        (pair.left.source, pair.left.account, pair.right.source, pair.right.account,
         pair.rules, position, pair.name),
    )  # fmt: skip
    if (old.left, old.right) == (pair.left, pair.right):
        return False
    # Open records that no side admits any more leave; grouped ones stay with their groups.
    conn.execute(
        "DELETE FROM pair_states WHERE pair = ? AND state = 'open' AND record_id NOT IN "
        "(SELECT r.id FROM records r WHERE (r.source = ? AND (? IS NULL OR r.account = ?)) "
        "OR (r.source = ? AND (? IS NULL OR r.account = ?)))",
        (pair.name, pair.left.source, pair.left.account, pair.left.account,
         pair.right.source, pair.right.account, pair.right.account),
    )  # fmt: skip
    admit(conn, pair.name)
    return True


def add_pair(store: Store, pair: SourcePair, position: int = 0) -> None:
    """Add or update a pair (no validation: that is :mod:`recon_tui.services.pairs`)."""
    with store.tx() as conn:
        save_pair(conn, pair, position)


def delete_pair(conn: Connection, name: str) -> None:
    """Drop a pair and its per-pair state; its live engine suggestions go stale."""
    touched = groups.stale_engine_suggestions(conn, name)
    del touched  # their states go with the pair's rows below
    conn.execute("DELETE FROM pair_states WHERE pair = ?", (name,))
    conn.execute("DELETE FROM pair_totals WHERE pair = ?", (name,))
    conn.execute("DELETE FROM source_pairs WHERE name = ?", (name,))


def advance_matched_rev(conn: Connection, pair: str, rev: int) -> None:
    """The pair has caught up to store revision ``rev`` (in the run's own transaction;
    never moves back)."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
        "value = CASE WHEN CAST(value AS INTEGER) < CAST(excluded.value AS INTEGER) "
        "THEN excluded.value ELSE value END",
        (f"matched_rev:{pair}", str(rev)),
    )


def writeoff_of(conn: Connection, pair: str) -> str | None:
    """The pair's write-off policy as stored (JSON text; ``None``: the defaults)."""
    row = conn.execute("SELECT writeoff FROM source_pairs WHERE name = ?", (pair,)).fetchone()
    return None if row is None else row[0]


def set_writeoff(conn: Connection, pair: str, policy_json: str | None) -> bool:
    """Store the pair's write-off policy; ``False`` when there is no such pair."""
    n = conn.execute("UPDATE source_pairs SET writeoff = ? WHERE name = ?",
                     (policy_json, pair)).rowcount  # fmt: skip
    return bool(n)
