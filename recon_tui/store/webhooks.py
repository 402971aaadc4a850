"""The ``webhooks`` and ``webhook_deliveries`` tables (the signing secret stays inside the
encrypted store and is never listed)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from recon_tui.store.db import Connection, Store, now_us


@dataclass(slots=True)
class Webhook:
    id: int
    url: str
    events: list[str] = field(default_factory=list)
    aging_days: int | None = None
    aging_threshold: int | None = None
    enabled: bool = True
    secret: str = field(default="", repr=False)


def add(store: Store, url: str, secret: str, events: list[str], aging_days: int | None,
        aging_threshold: int | None) -> int:  # fmt: skip
    with store.tx() as conn:
        cur = conn.execute(
            "INSERT INTO webhooks (url, secret, events, aging_days, aging_threshold, created_us) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (url, secret, json.dumps(sorted(events)), aging_days, aging_threshold, now_us()),
        )
        return int(cur.lastrowid or 0)


def remove(store: Store, hook_id: int) -> bool:
    with store.tx() as conn:
        return conn.execute("DELETE FROM webhooks WHERE id = ?", (hook_id,)).rowcount > 0


def list_hooks(conn: Connection, *, with_secrets: bool = False) -> list[Webhook]:
    out = []
    for hid, url, secret, events, days, threshold, enabled in conn.execute(
        "SELECT id, url, secret, events, aging_days, aging_threshold, enabled FROM webhooks "
        "ORDER BY id"
    ):
        out.append(Webhook(hid, url, json.loads(events), days, threshold, bool(enabled),
                           secret if with_secrets else ""))  # fmt: skip
    return out


def record_delivery(store: Store, hook_id: int, event: str, event_id: str, attempts: int,
                    status: int | None, outcome: str, error: str | None) -> None:  # fmt: skip
    with store.tx() as conn:
        conn.execute(
            "INSERT INTO webhook_deliveries (webhook_id, event, event_id, at_us, attempts, "
            "status, outcome, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (hook_id, event, event_id, now_us(), attempts, status, outcome,
             error[:500] if error else None),
        )  # fmt: skip


def deliveries(conn: Connection, hook_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    where, params = ("WHERE webhook_id = ?", [hook_id]) if hook_id is not None else ("", [])
    cols = ("id", "webhook_id", "event", "event_id", "at_us", "attempts", "status", "outcome",
            "error")  # fmt: skip
    return [dict(zip(cols, r, strict=True)) for r in conn.execute(
        f"SELECT {', '.join(cols)} FROM webhook_deliveries {where} ORDER BY id DESC LIMIT ?",
        [*params, limit],
    )]  # fmt: skip
