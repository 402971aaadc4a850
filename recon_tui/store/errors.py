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
