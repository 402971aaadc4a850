"""Errors the store raises; each message is one line a user can act on."""

from __future__ import annotations


class StoreError(Exception):
    """Base class: a store operation failed. ``str(exc)`` is the user-facing line."""


class StoreNotFound(StoreError):
    """No store at the path; ``recon-tui init`` creates one."""


class StoreExists(StoreError):
    """``init`` refuses to overwrite an existing store."""


class StoreKeyError(StoreError):
    """The key or passphrase does not open the store (or the file is not a store)."""


class KeyUnavailable(StoreError):
    """The key lives in an OS keyring that this machine cannot reach, or no passphrase given."""


class StoreBusy(StoreError):
    """Another run holds the store (its run lock, or SQLite's write lock past the wait)."""


class StoreFull(StoreError):
    """The disk (or the store's size limit) is full; the transaction was rolled back."""


def sqlite_line(exc: BaseException, where: str | None = None) -> StoreError | None:
    """A user-facing :class:`StoreError` for an SQLite condition a user can cause (a busy
    store, a full disk, a read-only or vanished file), else ``None`` (a real bug)."""
    text = str(exc).lower()
    place = f" ({where})" if where else ""
    if "database is locked" in text or "database is busy" in text or "database table is locked" in text:
        return StoreBusy(
            f"the store{place} is busy: another process kept its write lock too long; "
            "try again in a moment"
        )
    if "disk is full" in text or "database or disk is full" in text:
        return StoreFull(
            f"the disk holding the store{place} is full: nothing was written; "
            "free some space and try again"
        )
    if "readonly database" in text or "read-only" in text:
        return StoreError(f"the store{place} is read-only here: check its file permissions")
    if "unable to open database" in text:
        return StoreError(f"the store{place} cannot be opened: check that its folder exists")
    if "malformed" in text or "file is not a database" in text or "corrupt" in text:
        return StoreError(
            f"the store{place} is damaged (a page fails its check): restore it from a backup"
        )
    if "disk i/o error" in text:
        return StoreError(f"the disk failed while writing the store{place}: nothing was written")
    return None
