"""The ``api_tokens`` table: API bearer tokens, kept only as SHA-256 hashes.

A token is 32 random bytes (URL-safe text), so a plain SHA-256 is a sound hash: nothing
can be guessed from it, and a lookup by hash is one index probe per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recon_tui.store.db import Connection, Store, now_us

_COLS = "id, name, role, prefix, created_us, created_by, revoked_us, last_used_us"


@dataclass(slots=True)
class TokenRow:
    id: int
    name: str
    role: str
    prefix: str
    created_us: int
    created_by: str
    revoked_us: int | None
    last_used_us: int | None

    @property
    def active(self) -> bool:
        return self.revoked_us is None


def _row(r: tuple[Any, ...]) -> TokenRow:
    return TokenRow(*r)


def insert_token(conn: Connection, name: str, role: str, token_hash: str, prefix: str,
                 created_by: str) -> int:  # fmt: skip
    """Inside the caller's transaction (the audit decision goes with it)."""
    if conn.execute("SELECT 1 FROM api_tokens WHERE name = ?", (name,)).fetchone():
        raise ValueError(f"a token named '{name}' already exists")
    cur = conn.execute(
        "INSERT INTO api_tokens (name, role, token_hash, prefix, created_us, created_by) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (name, role, token_hash, prefix, now_us(), created_by),
    )
    return int(cur.lastrowid or 0)


def revoke_token(conn: Connection, name: str) -> bool:
    cur = conn.execute(
        "UPDATE api_tokens SET revoked_us = ? WHERE name = ? AND revoked_us IS NULL",
        (now_us(), name),
    )
    return cur.rowcount > 0


def by_hash(conn: Connection, token_hash: str) -> TokenRow | None:
    row = conn.execute(
        f"SELECT {_COLS} FROM api_tokens WHERE token_hash = ?", (token_hash,)
    ).fetchone()
    return _row(row) if row else None


def list_tokens(conn: Connection) -> list[TokenRow]:
    return [_row(r) for r in conn.execute(f"SELECT {_COLS} FROM api_tokens ORDER BY id")]


def active_count(conn: Connection) -> int:
    return int(conn.execute(
        "SELECT count(*) FROM api_tokens WHERE revoked_us IS NULL").fetchone()[0])  # fmt: skip


def touch(store: Store, token_id: int, at_us: int) -> None:
    with store.tx() as conn:
        conn.execute("UPDATE api_tokens SET last_used_us = ? WHERE id = ?", (at_us, token_id))
