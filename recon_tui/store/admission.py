"""Admission: new records join the pairs whose sides take them (as ``open``) and the
maintained totals, set-based, in the transaction of the batch that wrote them.

Kept apart from :mod:`recon_tui.store.groups` so the record writer (:mod:`records`) can
call it without an import circle.
"""

from __future__ import annotations

from recon_tui.store.db import Connection
from recon_tui.store.schema import TOTALS_OF_NEW_SQL, admit_sql


def admit_range(conn: Connection, first_id: int, last_id: int) -> None:
    """Admit records ``first_id..last_id`` (just inserted, in the caller's transaction) to
    every pair whose side takes them, as ``open``, and count them in the totals: three
    set-based statements per batch (what a trigger per row cost ingest 60-200%)."""
    if last_id < first_id:
        return
    rng = "r.id BETWEEN ? AND ?"
    conn.execute(admit_sql("r", rng).replace("FROM source_pairs p", "FROM records r, source_pairs p"),
                 (first_id, last_id, first_id, last_id))  # fmt: skip
    conn.execute(TOTALS_OF_NEW_SQL.format(where="record_id BETWEEN ? AND ?"), (first_id, last_id))
    conn.execute(
        "INSERT INTO source_totals (source, live) SELECT source, count(*) FROM records "
        "WHERE id BETWEEN ? AND ? AND removed = 0 GROUP BY source "
        "ON CONFLICT (source) DO UPDATE SET live = live + excluded.live", (first_id, last_id),
    )  # fmt: skip
