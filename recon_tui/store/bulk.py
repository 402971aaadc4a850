"""Per-row triggers set aside while one bulk writer does their work itself, set-based, in
the caller's transaction (:func:`without_triggers`).

Why: a full match run writes ~100k groups, ~200k members, ~200k state changes and ~100k
decisions in one transaction, and each row's trigger program costs ~9-18 us (a chained
HMAC through a Python callback for the state log; two upserts for the totals; an update
of the remembered decision head): about a third of a pair's write. A guard in the
trigger's WHEN clause saves nothing (measured: SQLite still runs the trigger program per
row to test it); only a trigger that is not there costs nothing.

SQLite's DDL is transactional: the drop and the re-creation commit together with the
body or not at all (a kill in between rolls all three back), other connections never see
the store without them, and an error in the body re-creates them before it propagates to
the caller's rollback. Each module that owns a table names the triggers its own bulk
writers may set aside (``groups.BULK_TRIGGERS``, ``audit.append_many``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from recon_tui.store.db import Connection


@contextmanager
def without_triggers(conn: Connection, names: tuple[str, ...]) -> Iterator[set[str]]:
    """Run the body without the named triggers, which come back, as the store defined
    them, before the body's statements can commit. Yields the names the store has: a
    trigger the store lacks did nothing, and neither may the body."""
    marks = ", ".join("?" * len(names))
    saved = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})",
        names,
    ).fetchall()  # fmt: skip
    for name, _sql in saved:
        conn.execute(f'DROP TRIGGER "{name}"')
    try:
        yield {name for name, _sql in saved}
    finally:
        for _name, sql in saved:
            conn.execute(sql)
