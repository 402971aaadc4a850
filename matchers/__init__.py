"""The matching engine: a pure library (no I/O, no Textual, no store)."""
