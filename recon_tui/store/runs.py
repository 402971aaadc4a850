"""The ``runs`` table: one row per sync, match, export or verify, whoever started it.

A row is written when the run starts (outcome ``running``) and finished once (``ok``,
``failed`` or ``interrupted``); each write is its own short transaction so a run never holds
the store's write lock while it works. Counts are a small JSON object of integers.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from recon_tui.store.db import Connection, Store, now_us

KINDS = ("sync", "match", "export", "verify")
OUTCOMES = ("running", "ok", "failed", "interrupted")

_COLS = (
    "id, kind, scope, origin, started_by, parent_id, started_us, finished_us, outcome, counts, "
    "error, pid"
)


@dataclass(slots=True)
class RunRow:
    id: int
    kind: str
    scope: str | None
    origin: str
    started_by: str
    parent_id: int | None
    started_us: int
    finished_us: int | None
    outcome: str
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    pid: int | None = None

    @property
    def seconds(self) -> float | None:
        if self.finished_us is None:
            return None
        return (self.finished_us - self.started_us) / 1_000_000


def _row(r: tuple[Any, ...]) -> RunRow:
    return RunRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                  json.loads(r[9] or "{}"), r[10], r[11])  # fmt: skip


def insert_run(
    store: Store, kind: str, scope: str | None, *, origin: str, started_by: str,
    parent_id: int | None = None,
) -> int:  # fmt: skip
    """A new run row in state ``running``; returns its id."""
    with store.tx() as conn:
        cur = conn.execute(
            "INSERT INTO runs (kind, scope, origin, started_by, parent_id, started_us, pid) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (kind, scope, origin, started_by, parent_id, now_us(), os.getpid()),
        )
        return int(cur.lastrowid or 0)


def finish_run(
    store: Store, run_id: int, outcome: str, counts: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:  # fmt: skip
    """Close a run once: a second finish of the same run changes nothing."""
    with store.tx() as conn:
        conn.execute(
            "UPDATE runs SET outcome = ?, finished_us = ?, counts = ?, error = ? "
            "WHERE id = ? AND outcome = 'running'",
            (outcome, now_us(), json.dumps(counts or {}, sort_keys=True),
             error[:2000] if error else None, run_id),
        )  # fmt: skip


def discard_run(store: Store, run_id: int) -> None:
    """Forget a run that did nothing (it was only ever ``running``)."""
    with store.tx() as conn:
        conn.execute("DELETE FROM runs WHERE id = ? AND outcome = 'running'", (run_id,))


def get_run(conn: Connection, run_id: int) -> RunRow | None:
    row = conn.execute(f"SELECT {_COLS} FROM runs WHERE id = ?", (run_id,)).fetchone()
    return _row(row) if row else None


def list_runs(
    conn: Connection, *, kind: str | None = None, scope: str | None = None,
    outcome: str | None = None, origin: str | None = None, since_us: int | None = None,
    before_id: int | None = None, limit: int = 50,
) -> list[RunRow]:  # fmt: skip
    """Newest first, keyset-paged on id (``before_id``: the last id of the previous page)."""
    where: list[str] = ["1"]
    params: list[Any] = []
    for col, value in (("kind", kind), ("scope", scope), ("outcome", outcome)):
        if value is not None:
            where.append(f"{col} = ?")
            params.append(value)
    if origin is not None:
        where.append("(origin = ? OR origin LIKE ?)")
        params += [origin, origin + ":%"]
    if since_us is not None:
        where.append("started_us >= ?")
        params.append(since_us)
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    sql = f"SELECT {_COLS} FROM runs WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"
    return [_row(r) for r in conn.execute(sql, [*params, limit])]


def last_run(conn: Connection, kind: str, scope: str | None = None,
             outcome: str | None = None) -> RunRow | None:  # fmt: skip
    rows = list_runs(conn, kind=kind, scope=scope, outcome=outcome, limit=1)
    return rows[0] if rows else None


def finished_since(conn: Connection, after_id: int, limit: int = 500) -> list[RunRow]:
    """Runs with an id above ``after_id`` that have finished, oldest first (event pump)."""
    return [_row(r) for r in conn.execute(
        f"SELECT {_COLS} FROM runs WHERE id > ? AND outcome != 'running' ORDER BY id LIMIT ?",
        (after_id, limit),
    )]  # fmt: skip


def oldest_running_id(conn: Connection) -> int | None:
    row = conn.execute("SELECT min(id) FROM runs WHERE outcome = 'running'").fetchone()
    return row[0] if row and row[0] is not None else None


def max_id(conn: Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM runs").fetchone()[0])


def mark_orphans(store: Store, alive: Any) -> int:
    """Runs left ``running`` by a process that is gone become ``interrupted``.

    ``alive(pid)`` says whether a process still exists (a run of this very process is
    never touched)."""
    conn = store.connection()
    stale = [
        rid for rid, pid in conn.execute("SELECT id, pid FROM runs WHERE outcome = 'running'")
        if pid != os.getpid() and not alive(pid)
    ]
    for rid in stale:
        finish_run(store, rid, "interrupted", error="the process running it stopped")
    return len(stale)


def outcome_counts(conn: Connection) -> list[tuple[str, str, int]]:
    """(kind, outcome, count) over the whole history (the runs metric)."""
    return [(str(k), str(o), int(n)) for k, o, n in conn.execute(
        "SELECT kind, outcome, count(*) FROM runs GROUP BY kind, outcome ORDER BY 1, 2"
    )]  # fmt: skip


def duration_histogram(
    conn: Connection, bounds: tuple[float, ...]
) -> list[tuple[str, list[int], int, float]]:
    """Per kind: cumulative counts of finished runs at or under each bound (seconds), the
    total count, and the sum of durations (seconds): a Prometheus histogram, from SQL."""
    cases = ", ".join(
        f"sum(CASE WHEN finished_us - started_us <= {int(b * 1_000_000)} THEN 1 ELSE 0 END)"
        for b in bounds
    )
    out = []
    for row in conn.execute(
        f"SELECT kind, {cases}, count(*), coalesce(sum(finished_us - started_us), 0) "
        "FROM runs WHERE finished_us IS NOT NULL GROUP BY kind ORDER BY kind"
    ):
        n = len(bounds)
        out.append((row[0], [int(x or 0) for x in row[1 : 1 + n]], int(row[1 + n]),
                    row[2 + n] / 1_000_000))  # fmt: skip
    return out
