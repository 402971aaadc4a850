"""Sources (with settings, cursors and health), source pairs, and source secrets.

Secrets go to the OS keyring under ``recon-tui`` / ``secret:<store id>:<source>:<name>``;
where no keyring exists they are kept in the ``secrets`` table of the encrypted store
itself. They are never written anywhere else and never returned by listing functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from adapters.redact import register as register_secrets
from recon_tui.model import dumps
from recon_tui.store import keys
from recon_tui.store.db import Store, now_us
from recon_tui.store.pairs import add_pair, get_pair, list_pairs  # noqa: F401  (older callers)


@dataclass(slots=True)
class SourceInfo:
    """A configured source and its health, as listed by ``status`` and the dashboard."""

    name: str
    kind: str
    label: str | None
    settings: dict[str, Any]
    cursor: dict[str, Any] | None
    interval_s: int | None
    enabled: bool
    last_sync_us: int | None
    last_success_us: int | None
    last_error: str | None
    last_error_us: int | None
    records_added: int
    records_changed: int
    records_removed: int
    last_run_count: int

    @property
    def health(self) -> str:
        """``never synced``, ``failing`` (the newest run failed) or ``ok``."""
        if self.last_success_us is None and self.last_error_us is None:
            return "never synced"
        if self.last_error_us is not None and (
            self.last_success_us is None or self.last_error_us > self.last_success_us
        ):
            return "failing"
        return "ok"


_COLS = (
    "name, kind, label, settings, cursor, interval_s, enabled, last_sync_us, last_success_us, "
    "last_error, last_error_us, records_added, records_changed, records_removed, last_run_count"
)


def _info(row: tuple[Any, ...]) -> SourceInfo:
    return SourceInfo(
        name=row[0], kind=row[1], label=row[2], settings=json.loads(row[3] or "{}"),
        cursor=json.loads(row[4]) if row[4] else None, interval_s=row[5], enabled=bool(row[6]),
        last_sync_us=row[7], last_success_us=row[8], last_error=row[9], last_error_us=row[10],
        records_added=row[11], records_changed=row[12], records_removed=row[13],
        last_run_count=row[14],
    )  # fmt: skip


def add_source(
    store: Store,
    name: str,
    kind: str,
    settings: dict[str, Any] | None = None,
    *,
    label: str | None = None,
    interval_s: int | None = None,
    replace: bool = False,
) -> None:
    """Add (or with ``replace``, update the settings of) a source; the cursor is kept."""
    with store.tx() as conn:
        if replace:
            conn.execute(
                "INSERT INTO sources (name, kind, label, settings, interval_s, created_us) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, "
                "label = excluded.label, settings = excluded.settings, "
                "interval_s = excluded.interval_s",
                (name, kind, label, dumps(settings or {}), interval_s, now_us()),
            )
        else:
            if conn.execute("SELECT 1 FROM sources WHERE name = ?", (name,)).fetchone():
                raise ValueError(f"source '{name}' already exists")
            conn.execute(
                "INSERT INTO sources (name, kind, label, settings, interval_s, created_us) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, kind, label, dumps(settings or {}), interval_s, now_us()),
            )


def remove_source(store: Store, name: str) -> None:
    with store.tx() as conn:
        conn.execute("DELETE FROM sources WHERE name = ?", (name,))


def get_source(store: Store, name: str) -> SourceInfo | None:
    row = (
        store.connection()
        .execute(f"SELECT {_COLS} FROM sources WHERE name = ?", (name,))
        .fetchone()
    )
    return _info(row) if row else None


def list_sources(store: Store) -> list[SourceInfo]:
    return [
        _info(r) for r in store.connection().execute(f"SELECT {_COLS} FROM sources ORDER BY name")
    ]


def record_success(store: Store, name: str, added: int, changed: int, removed: int) -> None:
    with store.tx() as conn:
        now = now_us()
        conn.execute(
            "UPDATE sources SET last_sync_us = ?, last_success_us = ?, last_error = NULL, "
            "records_added = records_added + ?, records_changed = records_changed + ?, "
            "records_removed = records_removed + ?, last_run_count = ? WHERE name = ?",
            (now, now, added, changed, removed, added + changed + removed, name),
        )


def record_failure(store: Store, name: str, message: str) -> None:
    with store.tx() as conn:
        now = now_us()
        conn.execute(
            "UPDATE sources SET last_sync_us = ?, last_error = ?, last_error_us = ? WHERE name = ?",
            (now, message[:2000], now, name),
        )


# --- secrets ---------------------------------------------------------------------------


def _secret_user(store: Store, source: str, name: str) -> str:
    return f"secret:{store.info.store_id}:{source}:{name}"


def set_secret(store: Store, source: str, name: str, value: str) -> str:
    """Keep a source secret; returns where it went ("keyring" or "store")."""
    if keys.keyring_available():
        keys.keyring_set(_secret_user(store, source, name), value)
        return "keyring"
    with store.tx() as conn:
        conn.execute(
            "INSERT INTO secrets (source, name, value) VALUES (?, ?, ?) "
            "ON CONFLICT (source, name) DO UPDATE SET value = excluded.value",
            (source, name, value),
        )
    return "store"


def get_secrets(store: Store, source: str, names: list[str]) -> dict[str, str]:
    """The named secrets of a source (missing ones are absent from the result)."""
    out: dict[str, str] = {}
    use_keyring = keys.keyring_available()
    for name in names:
        value = keys.keyring_get(_secret_user(store, source, name)) if use_keyring else None
        if value is None:
            row = (
                store.connection()
                .execute("SELECT value FROM secrets WHERE source = ? AND name = ?", (source, name))
                .fetchone()
            )
            value = row[0] if row else None
        if value is not None:
            out[name] = value
    register_secrets(out.values())  # handed out: mask them (and their encodings) everywhere
    return out
