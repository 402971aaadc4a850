"""The encrypted local store (SQLCipher via ``sqlcipher3``, schema via ``sqlite-utils``).

One module per table family, each the one owner of its tables' SQL and invariants:
:mod:`db` (open/init/transactions/rekey), :mod:`keys` (keyring and passphrase),
:mod:`schema` (migrations), :mod:`records` (batch upsert and record rows),
:mod:`admission` (new records into their pairs and the totals), :mod:`sources` (sources,
secrets), :mod:`pairs` (source pairs), :mod:`groups` (match groups, members, per-pair
record state, rejections), :mod:`notes`, :mod:`sessions` (sessions, scope snapshots, the
closed-session lock, post-close changes), :mod:`panes` (pane pages), :mod:`summary`
(maintained totals), :mod:`statements` (statement balances), :mod:`audit`
(hash-chained decisions).
"""

from recon_tui.store.db import Store, now_us
from recon_tui.store.errors import (
    KeyUnavailable,
    StoreError,
    StoreExists,
    StoreKeyError,
    StoreNotFound,
)

__all__ = [
    "KeyUnavailable",
    "Store",
    "StoreError",
    "StoreExists",
    "StoreKeyError",
    "StoreNotFound",
    "now_us",
]
