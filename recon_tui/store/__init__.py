"""The encrypted local store (SQLCipher via ``sqlcipher3``, schema via ``sqlite-utils``).

Modules: :mod:`db` (open/init/transactions/rekey), :mod:`keys` (keyring and passphrase),
:mod:`schema` (migrations), :mod:`records` (batch upsert and record rows),
:mod:`sources` (sources, pairs, secrets), :mod:`audit` (hash-chained decisions).
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
