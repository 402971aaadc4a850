"""The ``schedule`` table: the service's jobs as data (``sync:<source>``, ``match:<pair>``).

A row overrides the default of its job (a source's own interval, a nightly full match per
pair); ``enabled = 0`` turns a job off. Exactly one of ``interval_s`` and ``cron`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recon_tui.store.db import Connection, Store, now_us

_COLS = "job, kind, target, interval_s, cron, full, enabled, updated_us"


@dataclass(slots=True)
class ScheduleRow:
    job: str
    kind: str
    target: str
    interval_s: int | None
    cron: str | None
    full: bool
    enabled: bool
    updated_us: int


def _row(r: tuple[Any, ...]) -> ScheduleRow:
    return ScheduleRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), bool(r[6]), r[7])


def list_rows(conn: Connection) -> list[ScheduleRow]:
    return [_row(r) for r in conn.execute(f"SELECT {_COLS} FROM schedule ORDER BY job")]


def upsert(conn: Connection, row: ScheduleRow) -> None:
    conn.execute(
        f"INSERT INTO schedule ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job) DO "
        "UPDATE SET interval_s = excluded.interval_s, cron = excluded.cron, "
        "full = excluded.full, enabled = excluded.enabled, updated_us = excluded.updated_us",
        (row.job, row.kind, row.target, row.interval_s, row.cron, int(row.full),
         int(row.enabled), row.updated_us or now_us()),
    )  # fmt: skip


def delete(store: Store, job: str) -> bool:
    with store.tx() as conn:
        return conn.execute("DELETE FROM schedule WHERE job = ?", (job,)).rowcount > 0


def version(conn: Connection) -> tuple[int, int]:
    """(rows, newest update): changes whenever the schedule is edited."""
    n, t = conn.execute("SELECT count(*), coalesce(max(updated_us), 0) FROM schedule").fetchone()
    return int(n), int(t)
