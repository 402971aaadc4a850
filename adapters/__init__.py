"""Sources: each module turns one kind of source (exchange, bank API, statement file,
chain, internal ledger) into canonical :class:`recon_tui.model.Record` batches.

Adapters import ``recon_tui.model`` and nothing else of ``recon_tui``; they never import
Textual and never touch the store. See :mod:`adapters.base` for the contract and
:mod:`adapters.registry` for how a source kind is found by name.
"""
