"""API bearer tokens: create (shown once), list, revoke, and check a presented token.

Creating and revoking a token are decisions of the audit chain (who gave which access).
Checking records *last used* at most once a minute per token, so a busy API does not turn
every request into a write transaction beside the app.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass

from recon_tui.store import Store, now_us
from recon_tui.store import tokens as tokens_store
from recon_tui.store.audit import append, current_actor
from recon_tui.store.tokens import TokenRow

ROLES = ("read", "operator")
PREFIX = "rtk_"
TOUCH_EVERY_US = 60 * 1_000_000


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class NewToken:
    name: str
    role: str
    token: str
    """The secret itself: shown once, never stored."""


def create_token(store: Store, name: str, role: str, *, actor: str | None = None) -> NewToken:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not '{role}'")
    name = name.strip()
    if not name:
        raise ValueError("a token needs a name")
    token = PREFIX + secrets.token_urlsafe(32)
    actor = actor or current_actor()
    with store.tx() as conn:
        tid = tokens_store.insert_token(conn, name, role, token_hash(token), token[:10], actor)
        append(conn, "token_create", actor=actor, actor_kind="operator",
               after={"token": name, "id": tid, "role": role})  # fmt: skip
    return NewToken(name, role, token)


def revoke_token(store: Store, name: str, *, actor: str | None = None) -> None:
    actor = actor or current_actor()
    with store.tx() as conn:
        if not tokens_store.revoke_token(conn, name):
            raise ValueError(f"no active token named '{name}'")
        append(conn, "token_revoke", actor=actor, actor_kind="operator",
               after={"token": name})  # fmt: skip


def list_tokens(store: Store) -> list[TokenRow]:
    return tokens_store.list_tokens(store.connection())


def active_count(store: Store) -> int:
    return tokens_store.active_count(store.connection())


CACHE_US = 2 * 1_000_000
"""A checked token is trusted this long without asking the store again: a revocation takes
effect within two seconds, and a busy API does not read the token table per request."""


class TokenChecker:
    """Looks presented tokens up by hash (briefly cached); throttles *last used* writes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._touched: dict[int, int] = {}
        self._cache: dict[str, tuple[TokenRow, int]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> TokenRow | None:
        """The row of a token checked less than :data:`CACHE_US` ago (no store access)."""
        hit = self._cache.get(token_hash(token)) if token.startswith(PREFIX) else None
        if hit is None or now_us() - hit[1] >= CACHE_US:
            return None
        return hit[0]

    def check(self, token: str) -> TokenRow | None:
        """The active token row for ``token``, or ``None`` (unknown or revoked)."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        h = token_hash(token)
        row = tokens_store.by_hash(self.store.connection(), h)
        if row is None or not row.active:
            self._cache.pop(h, None)
            return None
        now = now_us()
        self._cache[h] = (row, now)
        with self._lock:
            due = now - self._touched.get(row.id, 0) >= TOUCH_EVERY_US
            if due:
                self._touched[row.id] = now
        if due:
            try:
                tokens_store.touch(self.store, row.id, now)
            except Exception:  # a busy store must not turn a read into an error
                with self._lock:
                    self._touched.pop(row.id, None)
        return row


