"""Filters saved by name, per pair: what a pane's filter dialog holds, kept in the store's
``meta`` table as the dialog's own text fields (so a saved filter reads back through
:meth:`PaneFilter.parse`, with the same checks as typed ones)."""

from __future__ import annotations

import json

from recon_tui.services.panes import PaneFilter
from recon_tui.store import Store

_PREFIX = "saved_filter:"


def _key(pair: str, name: str) -> str:
    return f"{_PREFIX}{pair}:{name}"


def to_fields(f: PaneFilter) -> dict[str, str]:
    def s(v: object) -> str:
        return "" if v is None else str(v)

    return {"text": f.text, "amount_min": s(f.amount_min), "amount_max": s(f.amount_max),
            "date_from": s(f.date_from), "date_to": s(f.date_to), "asset": f.asset or "",
            "status": f.status}  # fmt: skip


def list_filters(store: Store, pair: str) -> dict[str, PaneFilter]:
    """Name -> filter, sorted by name."""
    prefix = _key(pair, "")
    rows = store.connection().execute(
        "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ? ORDER BY key",
        (len(prefix), prefix),
    ).fetchall()
    return {k[len(prefix):]: PaneFilter.parse(**json.loads(v)) for k, v in rows}


def save_filter(store: Store, pair: str, name: str, f: PaneFilter) -> None:
    """Save (or replace) a named filter; a name is one line of text."""
    name = " ".join(name.split())
    if not name:
        raise ValueError("name: a saved filter needs a name")
    if f.is_default():
        raise ValueError("the pane has no filter to save (set one with / first)")
    with store.tx() as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                     "DO UPDATE SET value = excluded.value",
                     (_key(pair, name), json.dumps(to_fields(f))))  # fmt: skip


def delete_filter(store: Store, pair: str, name: str) -> None:
    with store.tx() as conn:
        conn.execute("DELETE FROM meta WHERE key = ?", (_key(pair, name),))
