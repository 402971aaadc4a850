"""Operator notes on records, groups and sessions (the one owner of the ``notes`` table)."""

from __future__ import annotations

from typing import Any

from recon_tui.store.db import Connection, now_us


def add_note(conn: Connection, text: str, *, actor: str, record_id: int | None = None,
             group_id: int | None = None, session_id: int | None = None) -> int:  # fmt: skip
    cur = conn.execute(
        "INSERT INTO notes (record_id, group_id, session_id, at_us, actor, text) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (record_id, group_id, session_id, now_us(), actor, text),
    )
    return int(cur.lastrowid or 0)


def notes_of_record(conn: Connection, record_id: int) -> list[dict[str, Any]]:
    return [
        {"at_us": at, "actor": actor, "text": text}
        for at, actor, text in conn.execute(
            "SELECT at_us, actor, text FROM notes WHERE record_id = ? ORDER BY id", (record_id,)
        )
    ]
