"""The append-only, keyed, hash-chained decisions log (the audit trail), and the keyed
state log that SQL triggers keep of every group, membership, record-version and session
change.

Every decision — the engine's auto-confirms and every operator action — is one row whose
``hash`` is SHA-256 over the previous row's hash and this row's content (public: an
auditor re-hashes an export with it). Since the store has an *audit key* (every store made
or opened by this version), each entry from the keyed-from point on also carries ``mac``,
HMAC-SHA256 of its seq and hash under the audit key; older entries (``seq < from``, the
legacy chain) have none and are checked by their hashes alone. Editing or deleting any row
(even with the append-only triggers dropped) breaks the chain at that row, and rewriting a
row with the chain recomputed is caught by its MAC, which cannot be made without the key.

The audit key is derived once from the store's data key with HKDF-SHA256 and kept in
``meta.audit_key`` wrapped (AES-GCM) under a second HKDF derivation of the current data
key, the keyed-from point bound in as associated data: a rekey re-wraps it
(``audit_key_next`` first, switched after), so the chain stays verifiable across key
rotations while nobody without the data key can read or forge it.

The state log (``state_log``, schema migration ``V_AUDIT``) is written by triggers: each
row's ``mac`` is the HMAC of its content chained to the previous row, computed by the
``recon_state_mac`` SQL function that only this process's store connections know. A change
made behind the app's back (triggers dropped, or a SQLite shell that lacks the function)
either leaves no log row or a forged one; ``verify`` replays the log and names the first
place where the tables disagree with it (:mod:`recon_tui.store.integrity`).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from recon_tui.model import dumps
from recon_tui.store.bulk import without_triggers
from recon_tui.store.db import Connection, now_us
from recon_tui.store.errors import StoreError

GENESIS = "0" * 64
AUDIT_KEY_META = "audit_key"
AUDIT_KEY_NEXT_META = "audit_key_next"

TxFactory = Callable[[], AbstractContextManager[Connection]]


@dataclass(frozen=True, slots=True)
class AuditKey:
    """The HMAC key of the chain and the first decision it covers."""

    key: bytes
    from_seq: int


def _hkdf(secret: bytes, store_id: str, info: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=store_id.encode("utf-8"), info=info
    ).derive(secret)


def derive_audit_key(data_key: bytes, store_id: str) -> bytes:
    """The chain's HMAC key: HKDF-SHA256 of the store's data key (done once per store)."""
    return _hkdf(data_key, store_id, b"recon-tui audit chain v1")


def _wrap(ak: AuditKey, data_key: bytes, store_id: str) -> str:
    nonce = secrets.token_bytes(12)
    aad = f"{store_id}|{ak.from_seq}".encode()
    box = AESGCM(_hkdf(data_key, store_id, b"recon-tui audit key wrap v1"))
    wrapped = box.encrypt(nonce, ak.key, aad)
    return json.dumps({"v": 1, "from": ak.from_seq, "nonce": base64.b64encode(nonce).decode(),
                       "key": base64.b64encode(wrapped).decode()})  # fmt: skip


def _unwrap(text: str | None, data_key: bytes, store_id: str) -> AuditKey | None:
    if not text:
        return None
    try:
        d = json.loads(text)
        from_seq = int(d["from"])
        aad = f"{store_id}|{from_seq}".encode()
        box = AESGCM(_hkdf(data_key, store_id, b"recon-tui audit key wrap v1"))
        key = box.decrypt(base64.b64decode(d["nonce"]), base64.b64decode(d["key"]), aad)
    except (ValueError, KeyError, TypeError, InvalidTag):
        return None
    return AuditKey(key, from_seq)


def _meta(conn: Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else None


def peek_key(conn: Connection, data_key: bytes, store_id: str) -> AuditKey | None:
    """The audit key if the store already has one (before migrating: a later migration's
    decisions and state changes must be sealed too); never creates or repairs."""
    try:
        current = _meta(conn, AUDIT_KEY_META)
    except Exception:  # no meta table yet (a store being made)
        return None
    return _unwrap(current, data_key, store_id)


def load_key(conn: Connection, data_key: bytes, store_id: str, tx: TxFactory) -> AuditKey:
    """The store's audit key; created (keyed from the next decision on) when it has none,
    recovered from ``audit_key_next`` after a rekey interrupted before its last step."""
    current = _meta(conn, AUDIT_KEY_META)
    ak = _unwrap(current, data_key, store_id)
    if ak is not None:
        return ak
    pending = _unwrap(_meta(conn, AUDIT_KEY_NEXT_META), data_key, store_id)
    if pending is not None:
        finish_rekey(conn, tx)
        return pending
    if current is not None:
        raise StoreError(
            "the store's audit key record is damaged (meta.audit_key): the audit trail "
            "cannot be checked or extended; run 'recon-tui verify'"
        )
    with tx() as wconn:
        made = key_in_tx(wconn, data_key, store_id, create=True)
        if made is not None:
            return made
    return load_key(conn, data_key, store_id, tx)  # another process made it first


def key_in_tx(conn: Connection, data_key: bytes, store_id: str, *, create: bool) -> AuditKey | None:
    """The audit key as the caller's write transaction sees it (under SQLite's write lock,
    so what another process committed meanwhile is seen), created there when ``create``
    and the store has none yet: the migration that adds the state log makes the key in
    its own transaction, so no audited row is ever written without one. ``None`` when
    there is none to read (no ``meta`` yet, or a damaged record: :func:`load_key` names it).

    Never makes a key for a store whose log is already keyed (its record was deleted):
    a fresh key would start a new keyed-from point and wave the older entries through as
    legacy ones; that is refused in one line instead.
    """
    try:
        current = _meta(conn, AUDIT_KEY_META)
    except Exception:  # no meta table yet (a store being made, before its first migration)
        return None
    ak = _unwrap(current, data_key, store_id)
    if ak is not None:
        return ak
    pending = _unwrap(_meta(conn, AUDIT_KEY_NEXT_META), data_key, store_id)
    if pending is not None or current is not None or not create:
        return pending
    if _keyed_history(conn):
        raise StoreError(
            "the store's audit key record is missing (meta.audit_key) although its log is "
            "keyed: the audit trail cannot be checked or extended; run 'recon-tui verify'"
        )
    ak = AuditKey(derive_audit_key(data_key, store_id), head(conn)[0] + 1)
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)",
                 (AUDIT_KEY_META, _wrap(ak, data_key, store_id)))  # fmt: skip
    return ak


def has_state_log(conn: Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'state_log'").fetchone() is not None


def _keyed_history(conn: Connection) -> bool:
    """Whether entries sealed with an audit key exist (keyed decisions or state-log rows)."""
    try:
        if conn.execute("SELECT 1 FROM decisions WHERE mac IS NOT NULL LIMIT 1").fetchone():
            return True
    except Exception:  # a legacy store without the mac column yet
        return False
    return has_state_log(conn) and conn.execute("SELECT 1 FROM state_log LIMIT 1").fetchone() is not None


def prepare_rekey(conn: Connection, ak: object, new_key: bytes, store_id: str,
                  tx: TxFactory) -> None:  # fmt: skip
    """Before ``PRAGMA rekey``: the audit key wrapped for the new data key, beside the old."""
    if not isinstance(ak, AuditKey):
        return
    with tx() as wconn:
        wconn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (AUDIT_KEY_NEXT_META, _wrap(ak, new_key, store_id)),
        )


def finish_rekey(conn: Connection, tx: TxFactory) -> None:
    """After the switch: the new wrapping becomes the audit key record."""
    with tx() as wconn:
        nxt = _meta(wconn, AUDIT_KEY_NEXT_META)
        if nxt is None:
            return
        wconn.execute("UPDATE meta SET value = ? WHERE key = ?", (nxt, AUDIT_KEY_META))
        wconn.execute("DELETE FROM meta WHERE key = ?", (AUDIT_KEY_NEXT_META,))


def key_of(conn: Connection) -> AuditKey | None:
    """The audit key bound to one of the store's connections (``None`` elsewhere)."""
    box = getattr(conn, "audit_box", None)
    value = getattr(box, "value", None)
    return value if isinstance(value, AuditKey) else None


# One encoder for every MAC: json.dumps with separators builds a new encoder per call, and
# this runs once per state-log row (triggers on every group write, verify on every row).
# Same bytes as json.dumps(..., separators=(",", ":")).
_COMPACT = json.JSONEncoder(separators=(",", ":")).encode


# Each key's HMAC state after the "state|" prefix, copied per MAC: the key's two padded
# blocks are hashed once, not per row (hmac.digest redoes them: ~2.7 of ~4 us a MAC).
_STATE_BASE: dict[bytes, hmac.HMAC] = {}


def _plain(text: str) -> bool:
    """Whether the JSON encoder writes ``text`` as itself between quotes (printable ASCII
    with no quote or backslash): then the payload can be formatted directly."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def state_mac(key: bytes, kind: str, ref: int, field: str, value: Any, prev: str | None) -> str:
    """The MAC of one state-log row: HMAC-SHA256 over ``state|`` and the compact JSON of
    ``[kind, ref, field, value, prev]``."""
    prev = prev or GENESIS
    # The common rows (an int ref, a plain or NULL value, a hex prev) are formatted
    # directly: the same bytes as _COMPACT (tests/test_audit_state_mac.py), a third of
    # the cost; anything else goes through the encoder.
    if (type(ref) is int and _plain(kind) and _plain(field) and _plain(prev)
            and (value is None or (type(value) is str and _plain(value)))):  # fmt: skip
        shown = "null" if value is None else f'"{value}"'
        payload = f'["{kind}",{ref},"{field}",{shown},"{prev}"]'
    else:
        payload = _COMPACT([kind, ref, field, value, prev])
    base = _STATE_BASE.get(key)
    if base is None:
        base = _STATE_BASE[key] = hmac.new(key, b"state|", "sha256")
    h = base.copy()
    h.update(payload.encode("utf-8"))
    return h.hexdigest()


def _state_key(conn: Connection) -> AuditKey:
    """This connection's audit key, which every state-log row needs; refused without one."""
    ak = key_of(conn)
    if ak is None:
        raise AuditUnavailable(
            "this store connection has no audit key, so it may not change audited "
            "state (groups, members, record versions, sessions): nothing was written"
        )
    return ak


def append_state_log(conn: Connection, rows: list[tuple[str, int, str, str | None]]) -> None:
    """Append ``(kind, ref, field, value)`` rows to the state log as its triggers would:
    in order, each MAC chained to the previous row's, under this connection's audit key
    (for a bulk writer that dropped those triggers for its write: ``groups._bulk``)."""
    if not rows:
        return
    ak = _state_key(conn)
    last = conn.execute("SELECT mac FROM state_log ORDER BY seq DESC LIMIT 1").fetchone()
    prev: str | None = last[0] if last else None
    at = now_us()
    out = []
    for kind, ref, field, value in rows:
        prev = state_mac(ak.key, kind, ref, field, value, prev)
        out.append((at, kind, ref, field, value, prev))
    conn.executemany(
        "INSERT INTO state_log (at_us, kind, ref, field, value, mac) VALUES (?, ?, ?, ?, ?, ?)",
        out,
    )


class AuditUnavailable(StoreError):
    """An audited change was refused because this connection has no audit key."""


_FAULT = threading.local()


def take_fault() -> BaseException | None:
    """What our SQL function raised in this thread, if anything (SQLite reports only "user-
    defined function raised exception"; :meth:`Store.tx` turns it back into that: Ctrl+C
    stays KeyboardInterrupt, anything else becomes one :class:`StoreError` line). ``None``
    when the function never got to its first line: an asynchronous exception (a signal's
    KeyboardInterrupt) raised on entry, before any ``try`` could see it."""
    exc = getattr(_FAULT, "exc", None)
    _FAULT.exc = None
    return exc


def clear_fault() -> None:
    _FAULT.exc = None


def register_functions(conn: Connection) -> None:
    """Give a store connection ``recon_state_mac``, which the state-log triggers call."""

    def mac(kind: str, ref: int, field: str, value: Any, prev: str | None) -> str:
        try:
            return state_mac(_state_key(conn).key, kind, ref, field, value, prev)
        except BaseException as exc:  # KeyboardInterrupt too: SQLite swallows it
            _FAULT.exc = exc
            raise

    conn.create_function("recon_state_mac", 5, mac, deterministic=True)


def _refuse_unkeyed(conn: Connection) -> None:
    """An entry without a MAC is written only before the store had a state log (a legacy
    store's early migrations); on a keyed store a connection without the key refuses."""
    if has_state_log(conn):
        raise AuditUnavailable(
            "this store connection has no audit key, so it may not append to the audit "
            "trail: nothing was written"
        )


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
    """The public link of one entry: SHA-256 over the previous hash and this content (an
    auditor re-hashes an export's decisions with it, no key needed)."""
    payload = prev_hash + "|" + json.dumps(list(content), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def entry_mac(key: AuditKey, seq: int, entry_hash_hex: str) -> str:
    """The keyed seal of one entry: HMAC-SHA256 under the audit key of its seq and hash
    (the hash already covers the content and the previous entry)."""
    return hmac.digest(key.key, f"decision|{seq}|{entry_hash_hex}".encode(), "sha256").hex()


def _mac_for(key: AuditKey | None, seq: int, h: str) -> str | None:
    return entry_mac(key, seq, h) if key is not None and seq >= key.from_seq else None


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
    key = key_of(conn)
    if key is None:  # no audit key (yet): a legacy entry, as before the keyed chain
        _refuse_unkeyed(conn)
        conn.execute(f"INSERT INTO decisions ({_FIELDS}) VALUES ({', '.join('?' * 15)})",
                     (*content, prev, h))  # fmt: skip
    else:
        conn.execute(f"INSERT INTO decisions ({_FIELDS}, mac) VALUES ({', '.join('?' * 16)})",
                     (*content, prev, h, _mac_for(key, seq, h)))  # fmt: skip
    return seq


def append_many(conn: Connection, entries: list[dict[str, Any]]) -> None:
    """Append many decisions at once (engine auto-confirms): same chain, one executemany."""
    seq, prev = head(conn)
    rows = []
    now = now_us()
    key = key_of(conn)
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
        rows.append((*content, prev, h) if key is None else (*content, prev, h, _mac_for(key, seq, h)))
        prev = h
    if key is None:  # no audit key (yet, e.g. inside a migration): legacy entries
        _refuse_unkeyed(conn)
        conn.executemany(f"INSERT INTO decisions ({_FIELDS}) VALUES ({', '.join('?' * 15)})", rows)
    elif rows:
        # The head trigger's per-row update of meta cost 9 us a decision (1.05 -> 0.34 s
        # for a full run's 80k auto-confirms): set aside, its last write made once.
        with without_triggers(conn, ("decisions_track_head",)) as dropped:
            conn.executemany(
                f"INSERT INTO decisions ({_FIELDS}, mac) VALUES ({', '.join('?' * 16)})", rows
            )
            if dropped:
                conn.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'",
                             (f"{seq}:{prev}",))  # fmt: skip


@dataclass(slots=True)
class VerifyResult:
    ok: bool
    entries: int
    head: str
    broken_at: int | None = None
    problem: str | None = None


def verify(conn: Connection) -> VerifyResult:
    """Walk the chain from the start; report the first row whose hash or link is wrong.

    Entries from the audit key's keyed-from point on must carry a valid HMAC: one that
    only verifies as plain SHA-256 was rewritten by someone without the key.
    """
    key = key_of(conn)
    if key is None and _meta(conn, AUDIT_KEY_META) is not None:
        return VerifyResult(False, 0, GENESIS, None,
                            "the audit key could not be loaded: keyed entries cannot be checked")
    if key is None and _keyed_history(conn):
        return VerifyResult(False, 0, GENESIS, None,
                            "the audit key record is missing (meta.audit_key) but the log is "
                            "keyed: keyed entries cannot be checked")
    prev = GENESIS
    expected_seq = 0
    count = 0
    for row in conn.execute(f"SELECT {_FIELDS}, mac FROM decisions ORDER BY seq"):
        expected_seq += 1
        content, prev_hash, h, mac = tuple(row[:13]), row[13], row[14], row[15]
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
        want = _mac_for(key, row[0], h)
        if want is not None and not (isinstance(mac, str) and hmac.compare_digest(want, mac)):
            return VerifyResult(
                False, count, prev, row[0],
                f"entry {row[0]} was rewritten without the audit key (its keyed MAC does "
                f"not match: the chain was recomputed)",
            )  # fmt: skip
        prev = h
        count += 1
    return check_head(conn, count, prev)


def check_head(conn: Connection, count: int, last_hash: str) -> VerifyResult:
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
