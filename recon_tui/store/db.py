"""The encrypted store: a SQLCipher database opened with a raw 256-bit key.

``Store.init`` creates a store (refusing to overwrite one), ``Store.open`` opens an
existing one (refusing to create one), ``Store.tx`` is the one way to write, and
``Store.rekey`` rotates the key. WAL mode, ``synchronous=NORMAL``, temp files in memory so
no plaintext scratch data ever reaches the disk (SQLCipher encrypts the database and
the WAL; keeping temp storage in RAM covers sorts and temp indexes too).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlcipher3
import sqlite_utils

from recon_tui.store import keys, lock, schema
from recon_tui.store.errors import (
    KeyUnavailable,
    StoreBusy,
    StoreError,
    StoreExists,
    StoreKeyError,
    StoreNotFound,
    sqlite_line,
)

Connection = sqlcipher3.Connection

# sqlcipher3's parameter binding sends every None through its adapter look-up, whose miss
# raises and formats an AttributeError per value (``__adapt__``/``__conform__``): 2.4 us
# per None, and a record row has eight or so (16.6 vs 3.0 us for a row of seven Nones,
# measured). An adapter for NoneType is found at the first look-up and gives None back,
# which binds as NULL exactly as before. ``{}.get`` is a C callable: no Python frame.
sqlcipher3.register_adapter(type(None), {}.get)  # type: ignore[attr-defined]
DatabaseError = sqlcipher3.DatabaseError
IntegrityError = sqlcipher3.IntegrityError
OperationalError = sqlcipher3.OperationalError

BUSY_TIMEOUT_MS = 10_000
"""How long one statement waits for another connection's write lock (SQLite's own wait)."""
BUSY_RETRY_S = 40.0
"""``BEGIN IMMEDIATE`` is retried with backoff for this long, then one line (while a writing
run holds the run lock: as long as the run lock's own wait, see :meth:`Store._begin`)."""
BEGIN_TRY_MS = 250
"""SQLite's own wait per ``BEGIN IMMEDIATE`` try (statements inside use BUSY_TIMEOUT_MS)."""
_FUNCTION_FAILED = "user-defined function raised exception"


class AuditBox:
    """The store's audit key, shared by all its connections (see :mod:`recon_tui.store.audit`);
    ``value`` is ``None`` until the key is loaded."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: object | None = None


class StoreConnection(sqlcipher3.Connection):
    """A SQLCipher connection that knows its store's audit key (``audit_box``)."""

    audit_box: AuditBox | None = None


def now_us() -> int:
    """Current UTC time in integer microseconds since the epoch."""
    return time.time_ns() // 1000


PAGE_SIZE = 16384


def _connect(path: Path, key: bytes, box: AuditBox | None = None) -> Connection:
    try:
        conn = sqlcipher3.connect(
            str(path), isolation_level=None, check_same_thread=False, factory=StoreConnection
        )
    except OperationalError as exc:
        raise (sqlite_line(exc, str(path)) or StoreError(f"cannot open {path}")) from None
    conn.audit_box = box
    # SQLCipher logs decryption failures to stderr by default; we report them ourselves.
    with contextlib.suppress(DatabaseError):
        conn.execute("PRAGMA cipher_log_level = NONE")
    conn.execute(f"PRAGMA key = {keys.key_pragma_value(key)}")
    # 16 KiB pages: fewer per-page HMACs and IVs; measured ~8% faster bulk ingest than 4 KiB.
    # Not stored in the (encrypted) header, so every connection must set the same value.
    conn.execute(f"PRAGMA cipher_page_size = {PAGE_SIZE}")
    # Before the first read: a store busy under a rekey must wait, not look like a bad key.
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except OperationalError as exc:
        conn.close()
        busy = sqlite_line(exc, str(path))
        if busy is not None:
            raise busy from None
        raise StoreKeyError(
            f"the key or passphrase does not open {path} (wrong key, or not a recon-tui store)"
        ) from None
    except DatabaseError:
        conn.close()
        raise StoreKeyError(
            f"the key or passphrase does not open {path} (wrong key, or not a recon-tui store)"
        ) from None
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA cache_size = -65536")  # 64 MiB page cache
    limit = os.environ.get("RECON_TUI_TEST_MAX_PAGES", "")
    if limit.isdigit():  # tests: a store that "fills the disk" at this many pages
        conn.execute(f"PRAGMA max_page_count = {int(limit)}")
    if box is not None:
        from recon_tui.store import audit

        audit.register_functions(conn)
    return conn


def _private(paths: list[Path]) -> None:
    """Owner-only permissions (0600) on the store's files; best effort on odd filesystems."""
    for p in paths:
        with contextlib.suppress(OSError):
            if p.exists() and p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)


class Store:
    """An open store. Thread-safe for use from Textual workers: writes serialise on a lock,
    and :meth:`connection` gives a worker thread its own reader connection."""

    def __init__(self, path: Path, key: bytes, info: keys.KeyInfo) -> None:
        self.path = path
        self._key = key
        self.info = info
        self._audit = AuditBox()
        self.conn = _connect(path, key, self._audit)
        self.db = sqlite_utils.Database(self.conn)
        self._lock = threading.RLock()
        self._depth = 0
        self.on_wait: Callable[[str], None] | None = None
        """Hears one line (in the waiting thread) when a write waits for another run."""
        self._local = threading.local()

    # --- lifecycle -------------------------------------------------------------------

    @classmethod
    def init(
        cls, path: Path, *, passphrase: str | None = None, use_keyring: bool | None = None
    ) -> Store:
        """Create a new store at ``path`` with a fresh random key.

        The key goes to the OS keyring when one is available (or ``use_keyring=True``);
        otherwise it is derived from ``passphrase`` with scrypt.
        """
        path = Path(path)
        info_path = keys.keyinfo_path(path)
        if path.exists() or info_path.exists():
            raise StoreExists(f"a store already exists at {path}; refusing to overwrite it")
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if use_keyring is None:
            use_keyring = passphrase is None and keys.keyring_available()
        info = keys.KeyInfo(
            store_id=keys.new_store_id(), method="keyring" if use_keyring else "passphrase"
        )
        if use_keyring:
            if not keys.keyring_available():
                raise KeyUnavailable("no OS keyring backend is available; use a passphrase")
            key = keys.new_key()
            keys.keyring_set(keys.keyring_username(info.store_id), key.hex())
        else:
            if passphrase is None:
                passphrase = keys.ask_passphrase("New store passphrase: ", confirm=True)
            info.salt = keys.new_salt()
            key = keys.derive_key(passphrase, info)
        info.save(info_path)
        try:
            # Created 0600 before SQLite touches it: the WAL and SHM inherit its mode.
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            store = cls(path, key, info)
            store.migrate()
            store._load_audit_key()
        except BaseException:
            # Leave nothing half-made behind: a later init must be able to start over.
            for p in (path, info_path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            raise
        return store

    @classmethod
    def open(cls, path: Path, *, passphrase: str | None = None, migrate: bool = True) -> Store:
        """Open an existing store; never creates one.

        An interrupted :meth:`rekey` leaves the new key info beside the old one
        (``<db>.keyinfo.next.json``): both are tried, so the old or the new passphrase
        (or keyring entry) opens the store, and the switch is finished here.
        """
        path = Path(path)
        if not path.exists():
            raise StoreNotFound(
                f"no store at {path}; create one with 'recon-tui init' "
                "(or try the demo: 'recon-tui demo --open')"
            )
        info_path, next_path = keys.keyinfo_path(path), keys.keyinfo_next_path(path)
        info = keys.KeyInfo.load(info_path)
        pending = keys.KeyInfo.load(next_path) if next_path.exists() else None
        if pending is not None and passphrase is None and info.method == pending.method == (
            "passphrase"
        ):  # one prompt, tried against both salts
            passphrase = keys.ask_passphrase("Store passphrase: ")
        try:
            key = cls._load_key(info, passphrase)
            store = cls(path, key, info)
            used_next = False
        except (StoreKeyError, KeyUnavailable):
            if pending is None:
                raise
            try:  # the new key (a passphrase asked for, or the keyring's ':next' entry)
                key = cls._load_key(pending, passphrase, next_entry=True)
                store = cls(path, key, pending)
            except StoreKeyError:
                raise StoreKeyError(
                    f"neither the old nor the new key opens {path} (an interrupted rekey "
                    "left both): give the old or the new passphrase"
                ) from None
            used_next = True
        _private([path, info_path, next_path, Path(f"{path}-wal"), Path(f"{path}-shm")])
        if pending is not None:
            store._settle_rekey(pending, used_next)
        if migrate:
            from recon_tui.store import audit

            store._audit.value = audit.peek_key(store.conn, store._key, store.info.store_id)
            store.migrate()
            store._load_audit_key()
        return store

    @classmethod
    def attach(cls, path: Path, key: bytes, info: keys.KeyInfo) -> Store:
        """Another process's handle on a store this program has open (a match worker): the
        raw key came over a pipe from :meth:`handoff`; nothing is migrated (the opener did)."""
        store = cls(Path(path), key, info)
        store._load_audit_key()
        return store

    def handoff(self) -> tuple[Path, bytes, keys.KeyInfo]:
        """What a worker process needs for :meth:`attach`. Hand it over a pipe only (a
        ``spawn`` process's arguments): the key is never written anywhere."""
        return self.path, self._key, self.info

    def _settle_rekey(self, pending: keys.KeyInfo, used_next: bool) -> None:
        """Finish (new key works) or drop (old key works) an interrupted rekey's key info.

        Only under the run lock, taken without waiting: a rekey still running in another
        process holds it, and its next key info must not be touched.
        """
        info_path, next_path = keys.keyinfo_path(self.path), keys.keyinfo_next_path(self.path)
        username = keys.keyring_username(self.info.store_id)
        try:
            with lock.run_lock(self.path, "key recovery", wait=0):
                if used_next:
                    if pending.method == "keyring":
                        keys.keyring_set(username, self._key.hex())
                    keys.replace_synced(next_path, info_path)
                    keys.keyring_delete(username + ":next")
                    keys.keyring_delete(username + ":previous")
                else:
                    with contextlib.suppress(FileNotFoundError):
                        next_path.unlink()
                    keys.keyring_delete(username + ":next")
        except StoreBusy:
            pass

    @staticmethod
    def _load_key(info: keys.KeyInfo, passphrase: str | None, *, next_entry: bool = False) -> bytes:
        if info.method == "keyring":
            if not keys.keyring_available():
                raise KeyUnavailable(
                    "this store's key is in an OS keyring, but no keyring backend is available"
                )
            username = keys.keyring_username(info.store_id)
            hexkey = keys.keyring_get(username + ":next") if next_entry else None
            hexkey = hexkey or keys.keyring_get(username)
            if not hexkey:
                raise StoreKeyError("the OS keyring has no key for this store")
            try:
                return bytes.fromhex(hexkey)
            except ValueError:
                raise StoreKeyError("the key in the OS keyring is damaged") from None
        if info.method == "passphrase":
            if passphrase is None:
                passphrase = keys.ask_passphrase("Store passphrase: ")
            return keys.derive_key(passphrase, info)
        raise StoreKeyError(f"unknown key method {info.method!r}")

    def _load_audit_key(self) -> None:
        """Load (or, on a store that never had one, create) the audit chain's key."""
        from recon_tui.store import audit

        self._audit.value = audit.load_key(self.conn, self._key, self.info.store_id, self.tx)

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(DatabaseError):
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.close()
            reader = getattr(self._local, "conn", None)
            if reader is not None:
                reader.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open_reader(self) -> Connection:
        """A new, caller-owned read connection (close it when done).

        The app's panes read on the UI thread while workers write through :meth:`tx` on
        the main connection; a reader of their own means they only ever see committed data
        (WAL snapshot per statement) and never wait on a half-written transaction.
        """
        return _connect(self.path, self._key, self._audit)

    def connection(self) -> Connection:
        """A read connection for the calling thread (the main one for the owning thread)."""
        if threading.current_thread() is threading.main_thread():
            return self.conn
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, self._key, self._audit)
            self._local.conn = conn
        return conn

    def run_lock(
        self, kind: str, *, wait: float | None = None, say: Callable[[str], None] | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """Hold the store's run lock (see :mod:`recon_tui.store.lock`) for a writing run."""
        return lock.run_lock(self.path, kind, wait=wait, say=say)

    # --- transactions ----------------------------------------------------------------

    def _begin(self, conn: Connection) -> None:
        """``BEGIN IMMEDIATE``, retried with backoff while another connection holds SQLite's
        write lock; one :class:`StoreBusy` line when the wait runs out.

        While a writing run (an import: one transaction by design, so a full disk or a
        kill leaves nothing half-written) holds the store's run lock, a short write such
        as an operator's decision waits for it as long as a run waits for a run
        (``RECON_TUI_LOCK_WAIT``, 120 s by default) instead of failing after
        :data:`BUSY_RETRY_S`, and :attr:`on_wait` hears once, within a fraction of a
        second, whom it waits for ("waiting for import (pid …) to finish writing…").
        """
        started = time.monotonic()
        pause = 0.05
        told = False
        # Short tries, our own backoff between them: we learn within 0.25 s that we wait
        # (and say so), not after SQLite's whole busy_timeout.
        conn.execute(f"PRAGMA busy_timeout = {BEGIN_TRY_MS}")
        try:
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except OperationalError as exc:
                    line = sqlite_line(exc, str(self.path))
                    if not isinstance(line, StoreBusy):
                        raise (line or exc) from None
                    run = lock.holder(self.path)
                    limit = max(BUSY_RETRY_S, lock.default_wait()) if run else BUSY_RETRY_S
                    waited = time.monotonic() - started
                    if waited >= limit:
                        if run:
                            raise StoreBusy(
                                f"the store is busy: {lock.describe(run)} kept writing to it "
                                f"for {waited:.0f}s; nothing was written; try again when it "
                                f"ends (or wait longer with {lock.LOCK_WAIT_ENV}=SECONDS)"
                            ) from None
                        raise line from None
                    if not told and self.on_wait is not None:
                        told = True
                        who = lock.describe(run) if run else "another connection"
                        with contextlib.suppress(Exception):  # a notice never breaks a write
                            self.on_wait(f"waiting for {who} to finish writing (up to "
                                         f"{limit:g}s)…")  # fmt: skip
                    time.sleep(pause)
                    pause = min(pause * 2, 0.5)
        finally:
            with contextlib.suppress(OperationalError):
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    @contextlib.contextmanager
    def tx(self) -> Iterator[Connection]:
        """One write transaction (``BEGIN IMMEDIATE``); nested calls become savepoints.

        Everything inside commits together or not at all: a crash, kill or exception
        leaves the store as it was. SQLite conditions a user can cause (a full disk, a
        store kept busy by another process) come out as one-line :class:`StoreError`\\ s,
        and so does a failure inside the state log's SQL function; Ctrl+C stays
        KeyboardInterrupt wherever it lands.
        """
        with self._write_turn():
            conn = self.conn
            if not conn.in_transaction:
                self._depth = 0  # a Ctrl+C between BEGIN's failure and our count: start over
            elif self._depth == 0:
                # A transaction left open by a Ctrl+C that landed between BEGIN and our
                # bookkeeping: nothing of it was committed, so roll it back and start clean.
                with contextlib.suppress(OperationalError):
                    conn.execute("ROLLBACK")
            if self._depth == 0:
                self._begin(conn)
                try:
                    self._begin_audit(conn)
                except BaseException:
                    with contextlib.suppress(OperationalError):
                        conn.execute("ROLLBACK")
                    raise
            else:
                conn.execute(f"SAVEPOINT sp{self._depth}")
            self._depth += 1
            try:
                yield conn
            except BaseException as exc:
                self._depth -= 1
                if self._depth == 0:
                    with contextlib.suppress(OperationalError):
                        conn.execute("ROLLBACK")
                else:
                    # A full disk may already have rolled the whole transaction back.
                    with contextlib.suppress(OperationalError):
                        conn.execute(f"ROLLBACK TO sp{self._depth}")
                        conn.execute(f"RELEASE sp{self._depth}")
                if isinstance(exc, OperationalError):
                    if _FUNCTION_FAILED in str(exc):
                        raise self._function_fault() from None
                    line = sqlite_line(exc, str(self.path))
                    if line is not None:
                        raise line from None
                raise
            else:
                self._depth -= 1
                if self._depth == 0:
                    try:
                        conn.execute("COMMIT")
                    except OperationalError as exc:
                        with contextlib.suppress(OperationalError):
                            conn.execute("ROLLBACK")
                        raise (sqlite_line(exc, str(self.path)) or exc) from None
                else:
                    conn.execute(f"RELEASE sp{self._depth}")

    @contextlib.contextmanager
    def _write_turn(self) -> Iterator[None]:
        """This store's writer lock (one connection writes, threads take turns): a thread
        that has to wait for another thread's run (the app's import in a worker) says so
        through :attr:`on_wait` like one waiting for another process."""
        if not self._lock.acquire(timeout=BEGIN_TRY_MS / 1000):
            if self.on_wait is not None:
                who = lock.describe(lock.holder(self.path)) if lock.holder(self.path) else (
                    "another writer in this process")  # fmt: skip
                with contextlib.suppress(Exception):
                    self.on_wait(f"waiting for {who} to finish writing…")
            self._lock.acquire()
        try:
            yield
        finally:
            self._lock.release()

    def _begin_audit(self, conn: Connection) -> None:
        """Under the write lock just taken: forget a stale function fault, and if this
        store has no audit key loaded yet (it was opened while another process was still
        creating the store, or without migrating), read it now, as this transaction sees
        the store. Never creates one here: only the migration that adds the state log
        does (see :meth:`migrate`)."""
        from recon_tui.store import audit

        audit.clear_fault()
        if self._audit.value is None:
            self._audit.value = audit.key_in_tx(conn, self._key, self.info.store_id,
                                                create=False)  # fmt: skip

    def _function_fault(self) -> BaseException:
        """What to raise for SQLite's "user-defined function raised exception"."""
        from recon_tui.store import audit

        fault = audit.take_fault()
        if fault is None:
            if threading.current_thread() is threading.main_thread():
                # Our function raised before its first line: only an asynchronous exception
                # does that, and on the main thread that is a signal's (Ctrl+C).
                return KeyboardInterrupt()
            return StoreError(f"an audited change to the store ({self.path}) failed inside "
                              "SQLite; nothing was written")  # fmt: skip
        if not isinstance(fault, Exception) or isinstance(fault, StoreError):
            return fault  # KeyboardInterrupt, SystemExit; or our own one-line refusal
        return StoreError(f"an audited change to the store ({self.path}) could not be sealed "
                          f"({type(fault).__name__}: {fault}); nothing was written")  # fmt: skip

    # --- schema ----------------------------------------------------------------------

    @property
    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self, migrations: list[schema.Migration] | None = None) -> int:
        """Bring the schema to the latest version; returns the number of steps applied."""
        steps = schema.MIGRATIONS if migrations is None else migrations
        current = self.version
        if current > len(steps):
            raise StoreError(
                f"store schema version {current} is newer than this recon-tui knows "
                f"({len(steps)}); upgrade recon-tui"
            )
        applied = 0
        for target in range(current + 1, len(steps) + 1):
            step = steps[target - 1]
            with self.tx() as conn:
                # Another process opening the same (new) store may have applied this step
                # while we waited for the write lock: look again under it.
                if int(conn.execute("PRAGMA user_version").fetchone()[0]) >= target:
                    continue
                if callable(step):
                    step(conn)
                else:
                    for sql in step:
                        conn.execute(sql)
                conn.execute(f"PRAGMA user_version = {target}")
                if migrations is None:
                    self._seal_key(conn)
            applied += 1
        if applied and migrations is None:
            with self.tx() as conn:
                schema.ensure_state_log_triggers(conn)
        return applied

    def _seal_key(self, conn: Connection) -> None:
        """Inside a migration's transaction: once the store has a state log (the migration
        that adds it, or any after), it has an audit key, made in that same transaction,
        so neither a later migration nor another process ever writes an audited row
        without one."""
        from recon_tui.store import audit

        if self._audit.value is None and audit.has_state_log(conn):
            self._audit.value = audit.key_in_tx(conn, self._key, self.info.store_id,
                                                create=True)  # fmt: skip

    # --- meta ------------------------------------------------------------------------

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.connection().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def next_rev(self, conn: Connection) -> int:
        """Bump the store's revision counter inside the caller's transaction."""
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'rev'")
        return int(conn.execute("SELECT value FROM meta WHERE key = 'rev'").fetchone()[0])

    # --- key rotation ----------------------------------------------------------------

    REKEY_STEPS = ("begin", "next_saved", "prepared", "rekeyed", "switched", "done")
    """The rekey's steps; ``RECON_TUI_REKEY_PAUSE=<step>`` pauses there (tests send signals)."""

    def rekey(self, *, new_passphrase: str | None = None, use_keyring: bool | None = None) -> None:
        """Re-encrypt the store under a fresh random key (SQLCipher ``PRAGMA rekey``), so
        that no interruption can lose it:

        1. the new key info is written beside the old one (``<db>.keyinfo.next.json``, and
           a keyring key under ``…:next``), fsync'd, before any page changes;
        2. the audit key is re-wrapped for the new key (``meta.audit_key_next``);
        3. ``PRAGMA rekey`` rewrites every page in one rollback-journal transaction (a kill
           mid-way rolls back to the old key on the next open);
        4. the new key info replaces the old one atomically (rename + directory fsync).

        :meth:`open` tries both key infos, so after a kill at any step the old or the new
        key opens the store with all its data. SIGINT and SIGTERM are held until the store
        is consistent and delivered afterwards.
        """
        if use_keyring is None:
            use_keyring = self.info.method == "keyring" and new_passphrase is None
        new_info = keys.KeyInfo(
            store_id=self.info.store_id, method="keyring" if use_keyring else "passphrase"
        )
        if use_keyring:
            new_key = keys.new_key()
        else:
            if new_passphrase is None:
                new_passphrase = keys.ask_passphrase(
                    "New store passphrase: ", env=keys.NEW_PASSPHRASE_ENV, confirm=True
                )
            new_info.salt = keys.new_salt()
            new_key = keys.derive_key(new_passphrase, new_info)
        username = keys.keyring_username(self.info.store_id)
        info_path, next_path = keys.keyinfo_path(self.path), keys.keyinfo_next_path(self.path)
        from recon_tui.store import audit

        with self._lock, lock.run_lock(self.path, "rekey"), _deferred_signals() as held:
            _rekey_step("begin")
            if use_keyring:
                keys.keyring_set(username + ":next", new_key.hex())
            new_info.save(next_path)
            _rekey_step("next_saved")
            audit.prepare_rekey(self.conn, self._audit.value, new_key, self.info.store_id,
                                self.tx)  # fmt: skip
            _rekey_step("prepared")
            reader = getattr(self._local, "conn", None)
            if reader is not None:
                reader.close()
                self._local.conn = None
            # rekey rewrites every page; do it out of WAL so no old-key frames linger, and
            # in one journal transaction so a kill mid-way rolls back to the old key.
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.execute("PRAGMA journal_mode = DELETE")
            self.conn.execute(f"PRAGMA rekey = {keys.key_pragma_value(new_key)}")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self._key = new_key
            _rekey_step("rekeyed")
            if use_keyring:
                keys.keyring_set(username, new_key.hex())
            keys.replace_synced(next_path, info_path)
            self.info = new_info
            _rekey_step("switched")
            audit.finish_rekey(self.conn, self.tx)
            keys.keyring_delete(username + ":next")
            keys.keyring_delete(username + ":previous")
            if not use_keyring:
                keys.keyring_delete(username)
            _rekey_step("done")
        if held:
            # Delivered now that the store is consistent (KeyboardInterrupt for SIGINT).
            signal.raise_signal(held[0])

    # --- info ------------------------------------------------------------------------

    def file_paths(self) -> list[Path]:
        """The database and its side files (for checks such as the no-plaintext test)."""
        return [
            p for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")) if p.exists()
        ]

    def count(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return int(self.connection().execute(sql, params).fetchone()[0])


def _rekey_step(step: str) -> None:
    """Test hook: pause at ``$RECON_TUI_REKEY_PAUSE`` for ``$RECON_TUI_REKEY_PAUSE_S`` s."""
    if os.environ.get("RECON_TUI_REKEY_PAUSE") == step:
        print(f"rekey-step {step}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("RECON_TUI_REKEY_PAUSE_S", "2")))


@contextlib.contextmanager
def _deferred_signals() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM for the block (main thread only); yields the signals received."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, lambda signum, _frame: held.append(signum))
    try:
        yield held
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def remove_store(path: Path) -> None:
    """Delete a store's files (used by ``demo --fresh``); the keyring entry is left alone."""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), keys.keyinfo_path(path),
              keys.keyinfo_next_path(path), lock.lock_path(path), Path(f"{path}-journal")):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)
