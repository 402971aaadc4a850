"""The store's run lock: one writing *run* (match, import, sync, session change, rekey) at a
time, across processes and threads.

An OS file lock (``flock``) on ``<store>.lock`` is held for the whole run; the kernel drops
it when its process dies, so a killed run (SIGKILL included) never leaves a stale lock.
The holder writes its pid, kind and start into the file, so whoever waits is told who
holds the store. Waiting is bounded (``RECON_TUI_LOCK_WAIT`` seconds, default 120; ``0``
refuses at once) and ends in one line (:class:`~recon_tui.store.errors.StoreBusy`).

The lock is re-entrant in the thread that holds it (``import`` holds it and then runs the
automatic match, which asks again); another thread of the same process waits like another
process would. Operator decisions do not take it: they are short transactions that
interleave with a run's own. A run that writes in one long transaction (an import, so
that a full disk or a kill leaves nothing half-written) keeps SQLite's write lock for its
whole length; a decision then waits for it as long as a run waits for a run, saying whom
it waits for (:meth:`recon_tui.store.db.Store._begin`), and ends in one line past that.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from recon_tui.store.errors import StoreBusy

LOCK_WAIT_ENV = "RECON_TUI_LOCK_WAIT"
DEFAULT_WAIT_S = 120.0


def lock_path(db_path: Path) -> Path:
    return Path(db_path).with_name(Path(db_path).name + ".lock")


def default_wait() -> float:
    """Seconds to wait for the run lock: ``$RECON_TUI_LOCK_WAIT`` or 120."""
    raw = os.environ.get(LOCK_WAIT_ENV, "").strip()
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_WAIT_S
    except ValueError:
        return DEFAULT_WAIT_S


class _PathLock:
    """This process's view of one store's lock."""

    def __init__(self) -> None:
        self.threads = threading.RLock()
        self.fd: int | None = None
        self.depth = 0
        self.kind = ""
        self.started_us = 0


_LOCKS: dict[str, _PathLock] = {}
_GUARD = threading.Lock()


def _path_lock(db_path: Path) -> _PathLock:
    key = str(Path(db_path).resolve())
    with _GUARD:
        return _LOCKS.setdefault(key, _PathLock())


def describe(info: dict[str, object] | None) -> str:
    """'match (pid 1234, started 10:41:02 UTC)' from a holder record."""
    if not info:
        return "another recon-tui run"
    when = ""
    started = info.get("started_us")
    if isinstance(started, int):
        when = ", started " + datetime.fromtimestamp(started / 1e6, UTC).strftime(
            "%Y-%m-%d %H:%M:%S UTC"
        )
    return f"{info.get('kind') or 'a run'} (pid {info.get('pid', '?')}{when})"


def _read_holder(fd: int) -> dict[str, object] | None:
    try:
        data = os.pread(fd, 4096, 0)
        value = json.loads(data.decode("utf-8")) if data.strip() else None
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def holder(db_path: Path) -> dict[str, object] | None:
    """Who holds the store's run lock now (``None`` when free or unknown)."""
    path = lock_path(db_path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextlib.contextmanager
def run_lock(
    db_path: Path,
    kind: str,
    *,
    wait: float | None = None,
    say: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the store's run lock for the block; wait at most ``wait`` seconds for it.

    ``say`` receives one line when the lock is taken by someone else and we start waiting.
    Raises :class:`StoreBusy` (one line naming the holder) when the wait runs out.
    """
    wait = default_wait() if wait is None else max(0.0, wait)
    deadline = time.monotonic() + wait
    pl = _path_lock(db_path)
    if not pl.threads.acquire(blocking=False):
        who = describe({"kind": pl.kind, "pid": os.getpid(), "started_us": pl.started_us})
        if say:
            say(f"waiting for {who} to finish (up to {wait:g}s)…")
        got = pl.threads.acquire(timeout=wait) if wait > 0 else False
        if not got:
            raise StoreBusy(_busy_line(who, wait))
    try:
        if pl.depth == 0:
            pl.fd = _acquire_file(db_path, kind, deadline, wait, say)
            pl.kind = kind
            pl.started_us = time.time_ns() // 1000
        pl.depth += 1
        try:
            yield
        finally:
            pl.depth -= 1
            if pl.depth == 0 and pl.fd is not None:
                fd, pl.fd = pl.fd, None
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)  # clear the holder record before letting go
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
    finally:
        pl.threads.release()


def _busy_line(who: str, wait: float) -> str:
    waited = f"after {wait:g}s" if wait > 0 else "now"
    return (
        f"the store is busy: {who} is writing to it {waited}; try again when it ends "
        f"(or wait longer with {LOCK_WAIT_ENV}=SECONDS)"
    )


def _acquire_file(
    db_path: Path, kind: str, deadline: float, wait: float, say: Callable[[str], None] | None
) -> int:
    path = lock_path(db_path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        told = False
        pause = 0.05
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                who = describe(_read_holder(fd))
                if time.monotonic() >= deadline:
                    raise StoreBusy(_busy_line(who, wait)) from None
                if say and not told:
                    say(f"waiting for {who} to finish (up to {wait:g}s)…")
                    told = True
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                pause = min(pause * 2, 0.5)
        record = {"pid": os.getpid(), "kind": kind, "started_us": time.time_ns() // 1000}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
        return fd
    except BaseException:
        os.close(fd)
        raise
