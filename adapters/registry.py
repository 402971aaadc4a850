"""Source kinds by name: built-in adapters plus any package's ``recon_tui.adapters`` entry point.

Adding a source means one new module and one line in ``_BUILTIN`` (or an entry point in
another package); nothing in the app changes.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from adapters.base import Adapter

_BUILTIN: dict[str, str] = {
    # kind -> "module:Class"; modules are imported lazily (ccxt is slow to import).
    "ccxt": "adapters.ccxt_exchange:CcxtExchangeAdapter",
    "plaid": "adapters.bank_plaid:PlaidAdapter",
    "gocardless": "adapters.bank_gocardless:GoCardlessAdapter",
    "csv": "adapters.file_csv:CsvStatementAdapter",
    "ofx": "adapters.file_ofx:OfxAdapter",
    "mt940": "adapters.file_mt940:Mt940Adapter",
    "camt": "adapters.file_camt:CamtAdapter",
    "esplora": "adapters.chain_esplora:EsploraAdapter",
    "ledger": "adapters.ledger:LedgerAdapter",
    "prices-csv": "adapters.file_prices:PriceCsvAdapter",
}

_loaded: dict[str, type[Adapter]] = {}


def register(kind: str, target: str) -> None:
    """Register ``kind`` as ``"module:Class"`` (lazy) for this process."""
    _BUILTIN[kind] = target
    _loaded.pop(kind, None)


def kinds() -> list[str]:
    """All known source kinds, built-in and from entry points."""
    names = set(_BUILTIN)
    names.update(ep.name for ep in entry_points(group="recon_tui.adapters"))
    return sorted(names)


def get(kind: str) -> type[Adapter]:
    """The adapter class for ``kind``; ``KeyError`` with the known kinds if unknown."""
    if kind in _loaded:
        return _loaded[kind]
    target = _BUILTIN.get(kind)
    if target is None:
        for ep in entry_points(group="recon_tui.adapters"):
            if ep.name == kind:
                cls = ep.load()
                _loaded[kind] = cls
                return cls
        raise KeyError(f"unknown source kind '{kind}' (known: {', '.join(kinds())})")
    module_name, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    _loaded[kind] = cls
    return cls
