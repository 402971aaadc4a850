"""The verified watermark of the audit walk: how far both logs were last checked in full,
sealed under the audit key, so the app's start and each export re-check only what came
after it (``recon-tui verify`` still walks everything, and ``--full`` forces it).

**What it holds** (``meta.audit_watermark``, one JSON object):

- ``state_seq``/``state_mac``: the last state-log row checked, and its chain MAC;
- ``decision_seq``/``decision_hash``: the last decision checked, and its chain hash;
- ``state_digest``/``decision_digest``: SHA-256 over every row up to those positions, all
  columns (each row as its SQL ``quote()``d columns, comma-joined, and a newline, in seq
  order: the lines are made by SQLite and hashed a batch at a time, a small fraction of
  the cost of recomputing the rows' HMACs and hashes);
- ``mac``: HMAC-SHA256 under the audit key of all of the above with a domain tag of its
  own (``watermark|v2|``) and the key's keyed-from point.

**The cheap walk** (:class:`LogWalk`, used by ``verify_all(full=False)``) reads every row
once: rows up to the watermark are only hashed into the prefix digest, which must equal
the sealed one, and the row at the watermark must carry the sealed MAC (hash); rows after
it are checked as the full walk checks them (HMAC and link of each state-log row chained
from the sealed MAC; hash, link and keyed MAC of each decision chained from the sealed
hash, then the remembered head). A walk that passes moves the watermark to the new heads
(compare-and-swap: only over the watermark the walk started from, so two processes never
move it backwards or over each other). The walk skips SQLCipher's whole-file page check
(``PRAGMA cipher_integrity_check``): every page the app or an export reads is HMAC-checked
by SQLCipher as it is read, and the full walk still checks the pages nobody reads.

**Threat review.** Three kinds of attacker, by what they hold:

1. *Write access to the encrypted file, without the data key.* They cannot read or write a
   row: any byte they change fails SQLCipher's page HMAC. What is left is replaying whole
   pages (or the whole file) from older copies of the same store, and deleting or
   truncating. Against the watermark:

   - *moving it forward over forged rows*: impossible, a watermark needs the audit key's
     MAC; an old sealed watermark replayed from a copy only ever points *lower* (or at the
     same place), so more is checked, never less;
   - *rolling it back*: harmless by construction: a lower watermark means more rows are
     walked in full; a missing one, or one of another layout version, means a full walk
     (and a new watermark after it);
   - *replacing verified rows below it* (an older version of a log page, a page from a
     copy): every row up to the watermark is in the sealed prefix digest, so any change,
     deletion or insertion below it fails the digest; the row at the watermark must carry
     the sealed chain MAC, and the rows after it must chain from that MAC, so the log
     cannot be cut and re-joined there either;
   - *a watermark copied from another store*: every store has its own audit key (HKDF of
     its own random data key, salted by its id), so the MAC fails; one copied from a
     *copy of this store* matches only if the rows below it are byte for byte the rows
     that copy verified, that is the same history;
   - *rolling the whole file back to an older copy*: not detectable from inside the file,
     by the watermark or by any log (this was so before the watermark too): the exports'
     manifests and ``session_export`` decisions with their chain heads are the outside
     record to compare with.

2. *The data key, without the audit key* (a SQLite shell with the passphrase, triggers
   dropped or not): they can write rows but cannot make a state-log or decision MAC, nor
   a watermark's. A forged or edited row after the watermark fails its MAC in the cheap
   walk; one below it fails the prefix digest (the rows' content, MAC and order are all
   in it), and the watermark itself cannot be re-sealed over the edited prefix. Tables
   changed behind the logs' back are found by the replay, which the cheap walk keeps in
   full (the tables are compared with the whole state log every time, not only what
   changed). What the cheap walk narrows is the comparison of match groups with their
   *decisions*: only the groups that a log row after the watermark names (and the legacy
   groups) are judged again (:func:`recon_tui.store.integrity.touched_scope`). Every other
   group agreed with its decisions when the watermark was earned; the full replay shows its
   table row equal to the state log now, the log names it in no row after the watermark,
   so its state and members are those that agreed, and no new decision names it. A problem
   found this way is reported as the whole comparison words it.

3. *The data key and this program's source*: the audit key is an HKDF of the data key, so
   such an attacker can re-seal anything: the logs, their MACs and the watermark alike.
   Nothing in the store defends against that, with or without the watermark; the
   watermark adds no new way in, since its seal is made the same way as the logs' own.

What the watermark does *not* weaken: the full walk (``recon-tui verify``, the audit
screen's check) ignores it and checks every row's MAC and hash and every page, and
replaces the watermark only after passing.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from typing import Any

from recon_tui.store.audit import GENESIS, AuditKey, entry_hash, entry_mac, state_mac
from recon_tui.store.db import Connection

META_KEY = "audit_watermark"
VERSION = 2
"""Of the record's layout and digest (1: rows' Python ``repr``); another version is treated
as no watermark: a full walk, then a new one (it can only ever make a check walk more)."""
_BATCH = 20_000
"""Rows per batch of the digest and of the walk after the watermark (a few MB of text)."""

STATE_COLUMNS = "seq, at_us, kind, ref, field, value, mac"
DECISION_COLUMNS = (
    "seq, at_us, actor, actor_kind, action, pair, group_id, record_ids, session_id, "
    "before, after, reason, note, prev_hash, hash, mac"
)


@dataclass(frozen=True, slots=True)
class Watermark:
    """Both logs checked in full up to these positions (see the module's docstring)."""

    state_seq: int = 0
    state_mac: str | None = None
    state_digest: str = hashlib.sha256().hexdigest()
    decision_seq: int = 0
    decision_hash: str = GENESIS
    decision_digest: str = hashlib.sha256().hexdigest()


def _payload(ak: AuditKey, wm: Watermark) -> bytes:
    fields = [ak.from_seq, wm.state_seq, wm.state_mac, wm.state_digest, wm.decision_seq,
              wm.decision_hash, wm.decision_digest]  # fmt: skip
    return (f"watermark|v{VERSION}|".encode() + json.dumps(fields, separators=(",", ":"))
            .encode("utf-8"))  # fmt: skip


def seal(ak: AuditKey, wm: Watermark) -> str:
    """The watermark as its meta record: its fields and their MAC under the audit key."""
    mac = hmac.digest(ak.key, _payload(ak, wm), "sha256").hex()
    return json.dumps({"v": VERSION, **asdict(wm), "mac": mac}, separators=(",", ":"))


def read_text(conn: Connection) -> str | None:
    """The watermark's meta record as stored (``None`` when there is none)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def other_version(text: str) -> bool:
    """Whether a meta record is a well-formed watermark of another version than ours."""
    try:
        d = json.loads(text)
    except ValueError:
        return False
    return isinstance(d, dict) and isinstance(d.get("v"), int) and d["v"] != VERSION


def unseal(ak: AuditKey, text: str) -> Watermark | None:
    """The watermark of a meta record, or ``None`` when it is malformed or its MAC fails."""
    try:
        d = json.loads(text)
        if not isinstance(d, dict) or d.get("v") != VERSION:
            return None
        wm = Watermark(int(d["state_seq"]), d["state_mac"], str(d["state_digest"]),
                       int(d["decision_seq"]), str(d["decision_hash"]),
                       str(d["decision_digest"]))  # fmt: skip
        if wm.state_mac is not None and not isinstance(wm.state_mac, str):
            return None
        mac = str(d["mac"])
    except (ValueError, KeyError, TypeError):
        return None
    want = hmac.digest(ak.key, _payload(ak, wm), "sha256").hex()
    return wm if hmac.compare_digest(want, mac) else None


def _line(columns: str) -> str:
    """SQL for one row as the digest's line: every column ``quote()``d (SQL literals: text
    quoted with its quotes doubled, NULL bare, numbers exact), comma-joined, so the lines
    are self-delimiting and built in C."""
    # concat_ws builds the line in one allocation (``||`` copies it once per column); it
    # skips NULL arguments, and quote() never gives one (NULL is the text NULL).
    return "concat_ws(',', " + ", ".join(f"quote({c.strip()})" for c in columns.split(",")) + ")"


STATE_LINE = _line(STATE_COLUMNS)
DECISION_LINE = _line(DECISION_COLUMNS)
_TOP = 2**62


def _lines(h: Any, text: list[str]) -> None:
    h.update(("\n".join(text) + "\n").encode("utf-8", "surrogatepass"))


_LOW = -(2**63)


def _prefix(conn: Connection, table: str, tail: str, line: str, upto: int,
            h: Any) -> tuple[int, int, Any]:  # fmt: skip
    """Hash the rows of ``table`` with ``seq <= upto`` into ``h``; returns (how many, the
    last seq, the last row's ``tail`` column).

    SQLite joins a batch's lines itself (``group_concat`` in seq order, each line with its
    newline, as bytes: what :func:`_lines` makes of the same rows), so Python makes one
    object per batch instead of a tuple per row: every export re-hashes the whole prefix
    (a change below the watermark must be found), and the per-row tuples were a third of
    that. The batches follow the rowid from the lowest possible seq, so a row inserted at
    any seq (negative, zero) is in the digest and in the count."""
    n, last, lo = 0, 0, _LOW
    sql = (f"SELECT count(*), max(seq), CAST(group_concat({line} || char(10), '' ORDER BY seq) "
           f"AS BLOB) FROM (SELECT * FROM {table} WHERE seq >= ? AND seq <= ? ORDER BY seq "
           f"LIMIT ?)")  # fmt: skip
    while True:
        count, top, text = conn.execute(sql, (lo, upto, _BATCH)).fetchone()
        if not count:
            break
        h.update(text)
        n, last = n + count, top
        if count < _BATCH or top >= upto:
            break
        lo = top + 1
    value = None
    if n:
        row = conn.execute(f"SELECT {tail} FROM {table} WHERE seq = ?", (last,)).fetchone()
        value = row[0] if row else None
    return n, last, value


class LogWalk:
    """One pass over both logs for the cheap check: the prefix up to the watermark hashed
    (its lines made by SQL), the rest checked row by row, the new watermark worked out on
    the way. :meth:`state_log` and :meth:`decisions` check the two logs (the replay of the
    tables reads them in SQL, see :func:`recon_tui.store.integrity.replay_problems`).
    Problems are kept in :attr:`problem` (the first one; the walk stops there).
    """

    def __init__(self, conn: Connection, ak: AuditKey, wm: Watermark) -> None:
        self.conn = conn
        self.ak = ak
        self.wm = wm
        self.problem: str | None = None
        self.broken_at: int | None = None
        self.entries = 0
        self.head = GENESIS
        self._state_end: tuple[int, str | None, str] | None = None
        self._decision_end: tuple[int, str, str] | None = None

    # -- the state log
    def state_log(self) -> None:
        """Check the state log: the prefix by digest, the rest row by row by its HMAC."""
        wm, key = self.wm, self.ak.key
        h = hashlib.sha256()
        n, last, prev = _prefix(self.conn, "state_log", "mac", STATE_LINE, wm.state_seq, h)
        if n != last:
            self._fail(f"state log entries below the verified watermark ({wm.state_seq}) "
                       f"were deleted or inserted")  # fmt: skip
            return
        if last != wm.state_seq or prev != wm.state_mac:
            self._fail(f"state log entry {wm.state_seq} is not the one verified before "
                       f"(the log was cut or rewritten at the verified watermark)")  # fmt: skip
            return
        if not hmac.compare_digest(h.hexdigest(), wm.state_digest):
            self._fail(f"state log entries up to {wm.state_seq} were changed after they were "
                       f"verified (their digest does not match the sealed watermark)")  # fmt: skip
            return
        cur = self.conn.execute(f"SELECT {STATE_COLUMNS}, {STATE_LINE} FROM state_log "
                                "WHERE seq > ? ORDER BY seq", (wm.state_seq,))  # fmt: skip
        while batch := cur.fetchmany(_BATCH):
            for seq, _at, kind, ref, field, value, mac, _line_text in batch:
                if seq != last + 1:
                    self._fail(f"state log entry {last + 1} is missing (next is {seq})")
                    return
                want = state_mac(key, kind, ref, field, value, prev)
                if not hmac.compare_digest(want, str(mac)):
                    self._fail(f"state log entry {seq} ({kind} {ref} {field} {value}) was "
                               f"altered or forged: its keyed MAC does not match")  # fmt: skip
                    return
                prev, last = str(mac), seq
            _lines(h, [r[7] for r in batch])
        self._state_end = (last, prev, h.hexdigest())

    # -- the decisions log
    def decisions(self) -> None:
        """Check the decisions log: the prefix by digest, the rest link by link."""
        wm, ak = self.wm, self.ak
        h = hashlib.sha256()
        n, last, prev = _prefix(self.conn, "decisions", "hash", DECISION_LINE, wm.decision_seq,
                                h)  # fmt: skip
        prev = prev if last else GENESIS
        if n != last:
            self._fail(f"decisions below the verified watermark ({wm.decision_seq}) were "
                       f"deleted or inserted", min(n, last) + 1)  # fmt: skip
            return
        if last != wm.decision_seq or prev != wm.decision_hash:
            self._fail(f"decision {wm.decision_seq} is not the one verified before (the log "
                       f"was cut or rewritten at the verified watermark)",
                       wm.decision_seq or 1)  # fmt: skip
            return
        if not hmac.compare_digest(h.hexdigest(), wm.decision_digest):
            self._fail(f"decisions up to {wm.decision_seq} were changed after they were "
                       f"verified (their digest does not match the sealed watermark)",
                       wm.decision_seq)  # fmt: skip
            return
        cur = self.conn.execute(f"SELECT {DECISION_COLUMNS}, {DECISION_LINE} FROM decisions "
                                "WHERE seq > ? ORDER BY seq", (wm.decision_seq,))  # fmt: skip
        while batch := cur.fetchmany(_BATCH):
            for row in batch:
                seq = row[0]
                if seq != last + 1:
                    self._fail(f"entry {last + 1} is missing (next is {seq})", last + 1)
                    return
                prev_hash, hh, mac = row[13], row[14], row[15]
                if prev_hash != prev:
                    self._fail(f"entry {seq} does not link to entry {seq - 1}", seq)
                    return
                if entry_hash(prev, tuple(row[:13])) != hh:
                    self._fail(f"entry {seq} was altered (its content does not match its hash)",
                               seq)  # fmt: skip
                    return
                if seq >= ak.from_seq and not (
                    isinstance(mac, str) and hmac.compare_digest(entry_mac(ak, seq, hh), mac)
                ):
                    self._fail(f"entry {seq} was rewritten without the audit key (its keyed "
                               f"MAC does not match: the chain was recomputed)", seq)  # fmt: skip
                    return
                last, prev = seq, hh
            _lines(h, [r[16] for r in batch])
        self.entries, self.head = last, prev
        self._decision_end = (last, prev, h.hexdigest())

    def _fail(self, problem: str, at: int | None = None) -> None:
        if self.problem is None:
            self.problem, self.broken_at = problem, at

    def advanced(self) -> Watermark | None:
        """The watermark at the heads this walk checked (``None`` unless it all passed)."""
        if self.problem is not None or self._state_end is None or self._decision_end is None:
            return None
        s, d = self._state_end, self._decision_end
        return Watermark(s[0], s[1], s[2], d[0], d[1], d[2])


def full_watermark(conn: Connection) -> Watermark:
    """The watermark at the logs' heads, digests computed from every row (after a full
    walk has checked them; the caller's read transaction keeps it the same state)."""
    s_dig, d_dig = hashlib.sha256(), hashlib.sha256()
    try:
        _n, s_seq, s_mac = _prefix(conn, "state_log", "mac", STATE_LINE, _TOP, s_dig)
    except Exception:  # no state log (a legacy store): an empty one
        s_seq, s_mac = 0, None
    _n, d_seq, d_hash = _prefix(conn, "decisions", "hash", DECISION_LINE, _TOP, d_dig)
    return Watermark(s_seq, s_mac, s_dig.hexdigest(), d_seq, d_hash or GENESIS,
                     d_dig.hexdigest())  # fmt: skip


def save(store: Any, ak: AuditKey, wm: Watermark, expected: str | None) -> bool:
    """Write ``wm`` if the stored watermark is still ``expected`` (what the walk started
    from) and ``wm`` is not behind it; best effort: a busy store or a writing run keeps the
    old one (the next check moves it). Returns whether it was written."""
    from recon_tui.store import lock
    from recon_tui.store.errors import StoreError

    if lock.holder(store.path) is not None:
        return False  # an import writes in one long transaction: do not queue behind it
    with contextlib.suppress(StoreError), store.tx() as conn:
        now = read_text(conn)
        if now != expected:
            return False  # another process moved it meanwhile (or it was damaged since)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (META_KEY, seal(ak, wm)),
        )
        return True
    return False
