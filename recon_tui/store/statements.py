"""Statement balances: what each imported statement says about itself.

One row per (source, account, asset, statement, kind, as-of): the opening, closing,
interim, available and ledger balances that MT940, camt, OFX and mapped CSV files state.
They are evidence (the import checks that opening + lines == closing) and the start of
balance reconciliation, so they are kept queryable here; this module owns the table's SQL (its
DDL is the ``V_STATEMENTS`` migration in :mod:`recon_tui.store.schema`).

Re-importing a file replaces its balances (same key), it never adds a second copy.
Amounts are stored as canonical decimal text, exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from recon_tui.model import canonical_amount
from recon_tui.store.db import Connection, now_us


@dataclass(frozen=True, slots=True)
class Balance:
    """A stored statement balance."""

    source: str
    account: str
    asset: str
    statement: str
    kind: str
    as_of: date
    amount: Decimal
    file: str


def save(conn: Connection, source: str, balances: Iterable[Any]) -> int:
    """Upsert balances (objects with account, asset, as_of, kind, amount, statement, file)
    inside the caller's transaction; returns how many were written."""
    rows = [
        (source, b.account or "", b.asset, b.statement, b.kind, b.as_of.isoformat(),
         canonical_amount(b.amount), b.file, now_us())
        for b in balances
    ]  # fmt: skip
    conn.executemany(
        "INSERT INTO statement_balances (source, account, asset, statement, kind, as_of, "
        "amount, file, imported_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (source, account, asset, statement, kind, as_of) DO UPDATE SET "
        "amount = excluded.amount, file = excluded.file, imported_us = excluded.imported_us",
        rows,
    )
    return len(rows)


def balances(
    conn: Connection, *, source: str | None = None, account: str | None = None,
    asset: str | None = None, kind: str | None = None,
) -> list[Balance]:  # fmt: skip
    """Stored balances, oldest first, filtered by any of source, account, asset, kind."""
    where, args = [], []
    for col, val in (("source", source), ("account", account), ("asset", asset),
                     ("kind", kind)):  # fmt: skip
        if val is not None:
            where.append(f"{col} = ?")
            args.append(val)
    sql = ("SELECT source, account, asset, statement, kind, as_of, amount, file "
           "FROM statement_balances")  # fmt: skip
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY as_of, source, account, asset, statement, kind"
    return [
        Balance(r[0], r[1], r[2], r[3], r[4], date.fromisoformat(r[5]), Decimal(r[6]), r[7])
        for r in conn.execute(sql, args).fetchall()
    ]


def latest_closing(conn: Connection, source: str, account: str, asset: str) -> Balance | None:
    """The newest closing (or interim closing) balance of one account and asset."""
    found = [b for b in balances(conn, source=source, account=account, asset=asset)
             if b.kind in ("closing", "interim_closing", "ledger")]  # fmt: skip
    return found[-1] if found else None
