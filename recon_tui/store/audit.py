"""The append-only, hash-chained decisions log (the audit trail).

Every decision — the engine's auto-confirms and every operator action — is one row whose
``hash`` is SHA-256 over the previous row's hash and this row's canonical content. Editing
or deleting any row (even with the append-only triggers dropped) breaks the chain at that
row, which :func:`verify` reports.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from recon_tui.model import dumps
from recon_tui.store.db import Connection, now_us

GENESIS = "0" * 64

_FIELDS = (
    "seq, at_us, actor, actor_kind, action, pair, group_id, record_ids, session_id, "
    "before, after, reason, note, prev_hash, hash"
)


def current_actor() -> str:
    """Who is deciding: the OS user name."""
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def entry_hash(prev_hash: str, content: tuple[Any, ...]) -> str:
    payload = prev_hash + "|" + json.dumps(list(content), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def head(conn: Connection) -> tuple[int, str]:
    """(seq, hash) of the newest entry; (0, GENESIS) on an empty log."""
    row = conn.execute("SELECT seq, hash FROM decisions ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def append(
    conn: Connection,
    action: str,
    *,
    actor: str | None = None,
    actor_kind: str = "operator",
    pair: str | None = None,
    group_id: int | None = None,
    record_ids: list[int] | None = None,
    session_id: int | None = None,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
    note: str | None = None,
    at_us: int | None = None,
) -> int:
    """Append one decision inside the caller's transaction; returns its seq."""
    seq, prev = head(conn)
    seq += 1
    content = (
        seq, at_us or now_us(), actor or current_actor(), actor_kind, action, pair, group_id,
        dumps(record_ids) if record_ids is not None else None, session_id,
        dumps(before) if before is not None else None,
        dumps(after) if after is not None else None, reason, note,
    )  # fmt: skip
    h = entry_hash(prev, content)
    conn.execute(
        f"INSERT INTO decisions ({_FIELDS}) VALUES ({', '.join('?' * 15)})", (*content, prev, h)
    )
    return seq


def append_many(conn: Connection, entries: list[dict[str, Any]]) -> None:
    """Append many decisions at once (engine auto-confirms): same chain, one executemany."""
    seq, prev = head(conn)
    rows = []
    now = now_us()
    for e in entries:
        seq += 1
        rids = e.get("record_ids")
        content = (
            seq, e.get("at_us") or now, e.get("actor") or "engine", e.get("actor_kind", "engine"),
            e["action"], e.get("pair"), e.get("group_id"),
            dumps(rids) if rids is not None else None, e.get("session_id"),
            dumps(e["before"]) if e.get("before") is not None else None,
            dumps(e["after"]) if e.get("after") is not None else None,
            e.get("reason"), e.get("note"),
        )  # fmt: skip
        h = entry_hash(prev, content)
        rows.append((*content, prev, h))
        prev = h
    conn.executemany(f"INSERT INTO decisions ({_FIELDS}) VALUES ({', '.join('?' * 15)})", rows)


@dataclass(slots=True)
class VerifyResult:
    ok: bool
    entries: int
    head: str
    broken_at: int | None = None
    problem: str | None = None


def verify(conn: Connection) -> VerifyResult:
    """Walk the chain from the start; report the first row whose hash or link is wrong."""
    prev = GENESIS
    expected_seq = 0
    count = 0
    for row in conn.execute(f"SELECT {_FIELDS} FROM decisions ORDER BY seq"):
        expected_seq += 1
        content, prev_hash, h = tuple(row[:13]), row[13], row[14]
        if row[0] != expected_seq:
            return VerifyResult(
                False,
                count,
                prev,
                expected_seq,
                f"entry {expected_seq} is missing (next is {row[0]})",
            )
        if prev_hash != prev:
            return VerifyResult(
                False, count, prev, row[0], f"entry {row[0]} does not link to entry {row[0] - 1}"
            )
        if entry_hash(prev, content) != h:
            return VerifyResult(
                False,
                count,
                prev,
                row[0],
                f"entry {row[0]} was altered (its content does not match its hash)",
            )
        prev = h
        count += 1
    return _check_head(conn, count, prev)


def _check_head(conn: Connection, count: int, last_hash: str) -> VerifyResult:
    """Compare the walked chain's end with the head remembered in ``meta`` (schema v2+)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()
    if row is None:
        return VerifyResult(True, count, last_hash)
    seq_text, _, kept_hash = str(row[0]).partition(":")
    kept_seq = int(seq_text or 0)
    if kept_seq > count:
        first = count + 1
        gone = f"entry {first}" if first == kept_seq else f"entries {first}-{kept_seq}"
        return VerifyResult(
            False, count, last_hash, first, f"{gone} deleted from the end (the log ends at {count})"
        )
    if kept_seq < count:
        return VerifyResult(
            False,
            count,
            last_hash,
            kept_seq + 1,
            f"entries {kept_seq + 1}-{count} were added around the log's head",
        )
    if kept_hash != last_hash:
        return VerifyResult(
            False,
            count,
            last_hash,
            count,
            f"entry {count} does not match the remembered chain head",
        )
    return VerifyResult(True, count, last_hash)
