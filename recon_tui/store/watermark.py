"""The verified watermark of the audit walk: how far both logs were last checked in full,
sealed under the audit key, so the app's start and each export re-check only what came
after it (``recon-tui verify`` still walks everything, and ``--full`` forces it).

**What it holds** (``meta.audit_watermark``, one JSON object):

- ``state_seq``/``state_mac``: the last state-log row checked, and its chain MAC;
- ``decision_seq``/``decision_hash``: the last decision checked, and its chain hash;
- ``state_digest``/``decision_digest``: SHA-256 over every row up to those positions, all
  columns (``repr`` of each row tuple and a newline, in seq order: about a tenth of the
  cost of recomputing the rows' HMACs, as it is one C-level hash over the fetched rows);
- ``mac``: HMAC-SHA256 under the audit key of all of the above with a domain tag of its
  own (``watermark|v1|``) and the key's keyed-from point.

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
     walked in full; a missing one means a full walk (and a new watermark after it);
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
   full (the tables are compared with the whole log every time, not only what changed).

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
_BATCH = 20_000

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
    return b"watermark|v1|" + json.dumps(fields, separators=(",", ":")).encode("utf-8")


def seal(ak: AuditKey, wm: Watermark) -> str:
    """The watermark as its meta record: its fields and their MAC under the audit key."""
    mac = hmac.digest(ak.key, _payload(ak, wm), "sha256").hex()
    return json.dumps({"v": 1, **asdict(wm), "mac": mac}, separators=(",", ":"))


def read_text(conn: Connection) -> str | None:
    """The watermark's meta record as stored (``None`` when there is none)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def unseal(ak: AuditKey, text: str) -> Watermark | None:
    """The watermark of a meta record, or ``None`` when it is malformed or its MAC fails."""
    try:
        d = json.loads(text)
        if not isinstance(d, dict) or d.get("v") != 1:
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


def _feed(h: Any, rows: list[Any]) -> None:
    # repr of ints, text and None is exact and unambiguous (text is quoted and escaped), and
    # map/join/encode run in C: one hash update per batch, not per row.
    h.update(("\n".join(map(repr, rows)) + "\n").encode("utf-8", "surrogatepass"))


class LogWalk:
    """One pass over both logs for the cheap check: the prefix up to the watermark hashed,
    the rest checked row by row, and the new watermark worked out on the way.

    :meth:`state_log` and :meth:`decisions` check the two logs (the replay of the tables
    reads them in SQL, see :func:`recon_tui.store.integrity.replay_problems`). Problems are
    kept in :attr:`problem` (the first one; the walk stops there).
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
        prev: str | None = None
        last = 0
        anchored = False
        cur = self.conn.execute(f"SELECT {STATE_COLUMNS} FROM state_log ORDER BY seq")
        while batch := cur.fetchmany(_BATCH):
            rest = batch
            if not anchored:
                below = batch if batch[-1][0] <= wm.state_seq else [
                    r for r in batch if r[0] <= wm.state_seq]  # fmt: skip
                if below:  # below the watermark: hashed only, a batch at a time
                    if below[-1][0] != last + len(below):
                        self._fail(f"state log entries below the verified watermark "
                                   f"({wm.state_seq}) were deleted or inserted")  # fmt: skip
                        return
                    _feed(h, below)
                    last, prev = below[-1][0], below[-1][6]
                if len(below) == len(batch):
                    continue
                anchored = True
                if not self._state_anchor(last, prev, h):
                    return
                rest = batch[len(below):]
            for row in rest:
                seq, _at, kind, ref, field, value, mac = row
                if seq != last + 1:
                    self._fail(f"state log entry {last + 1} is missing (next is {seq})")
                    return
                want = state_mac(key, kind, ref, field, value, prev)
                if not hmac.compare_digest(want, str(mac)):
                    self._fail(f"state log entry {seq} ({kind} {ref} {field} {value}) was "
                               f"altered or forged: its keyed MAC does not match")  # fmt: skip
                    return
                prev, last = str(mac), seq
            _feed(h, rest)
        if not anchored and not self._state_anchor(last, prev, h):
            return
        self._state_end = (last, prev, h.hexdigest())

    def _state_anchor(self, last: int, prev: str | None, h: Any) -> bool:
        """At the watermark: the prefix is exactly the sealed one."""
        wm = self.wm
        if last != wm.state_seq or prev != wm.state_mac:
            self._fail(f"state log entry {wm.state_seq} is not the one verified before "
                       f"(the log was cut or rewritten at the verified watermark)")  # fmt: skip
            return False
        if not hmac.compare_digest(h.hexdigest(), wm.state_digest):
            self._fail(f"state log entries up to {wm.state_seq} were changed after they were "
                       f"verified (their digest does not match the sealed watermark)")  # fmt: skip
            return False
        return True

    # -- the decisions log
    def decisions(self) -> None:
        """Check the decisions log: the prefix by digest, the rest link by link."""
        wm, ak = self.wm, self.ak
        h = hashlib.sha256()
        prev, last = GENESIS, 0
        anchored = False
        cur = self.conn.execute(f"SELECT {DECISION_COLUMNS} FROM decisions ORDER BY seq")
        while batch := cur.fetchmany(_BATCH):
            rest = batch
            if not anchored:
                below = batch if batch[-1][0] <= wm.decision_seq else [
                    r for r in batch if r[0] <= wm.decision_seq]  # fmt: skip
                if below:
                    if below[-1][0] != last + len(below):
                        self._fail(f"decisions below the verified watermark "
                                   f"({wm.decision_seq}) were deleted or inserted",
                                   last + 1)  # fmt: skip
                        return
                    _feed(h, below)
                    last, prev = below[-1][0], below[-1][14]
                if len(below) == len(batch):
                    continue
                anchored = True
                if not self._decision_anchor(last, prev, h):
                    return
                rest = batch[len(below):]
            for row in rest:
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
            _feed(h, rest)
        if not anchored and not self._decision_anchor(last, prev, h):
            return
        self.entries, self.head = last, prev
        self._decision_end = (last, prev, h.hexdigest())

    def _decision_anchor(self, last: int, prev: str, h: Any) -> bool:
        wm = self.wm
        if last != wm.decision_seq or prev != wm.decision_hash:
            self._fail(f"decision {wm.decision_seq} is not the one verified before (the log "
                       f"was cut or rewritten at the verified watermark)",
                       wm.decision_seq or 1)  # fmt: skip
            return False
        if not hmac.compare_digest(h.hexdigest(), wm.decision_digest):
            self._fail(f"decisions up to {wm.decision_seq} were changed after they were "
                       f"verified (their digest does not match the sealed watermark)",
                       wm.decision_seq)  # fmt: skip
            return False
        return True

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
    out: list[Any] = []
    for table, cols, value_at in (("state_log", STATE_COLUMNS, 6),
                                  ("decisions", DECISION_COLUMNS, 14)):  # fmt: skip
        h = hashlib.sha256()
        last, tail = 0, None
        try:
            cur = conn.execute(f"SELECT {cols} FROM {table} ORDER BY seq")
        except Exception:  # no state log (a legacy store): an empty one
            cur = None
        while cur is not None and (batch := cur.fetchmany(_BATCH)):
            _feed(h, batch)
            last, tail = batch[-1][0], batch[-1][value_at]
        out.append((last, tail, h.hexdigest()))
    (s_seq, s_mac, s_dig), (d_seq, d_hash, d_dig) = out
    return Watermark(s_seq, s_mac, s_dig, d_seq, d_hash or GENESIS, d_dig)


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
