"""Admission: new records join the pairs whose sides take them (as ``open``) and the
maintained totals, in the transaction of the batch that wrote them.

Two forms with one meaning. :func:`admit_range` is set-based SQL over records already in
the table (any caller that inserted rows itself). :func:`admit_rows` is what the record
writer uses: it already holds the rows it just inserted, so it derives the ``pair_states``
rows, the totals and the live count in Python from those tuples and writes them with one
``executemany`` and a few upserts, instead of reading the batch back out of ``records``
three times (measured on the demo's records: admission was half the write cost, ~27 µs of
52 µs per record; see ``bench/ingest.py``). ``tests/test_ingest_admission.py`` checks the
two give identical ``pair_states``, ``pair_totals`` and ``source_totals``.

Kept apart from :mod:`recon_tui.store.groups` so the record writer (:mod:`records`) can
call it without an import circle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any

from recon_tui.store.db import Connection
from recon_tui.store.schema import TOTALS_OF_NEW_SQL, admit_sql

_I64_MAX = 2**63 - 1
_I64_MIN = -(2**63)


def admit_range(conn: Connection, first_id: int, last_id: int) -> None:
    """Admit records ``first_id..last_id`` (just inserted, in the caller's transaction) to
    every pair whose side takes them, as ``open``, and count them in the totals: three
    set-based statements per batch (what a trigger per row cost ingest 60-200%)."""
    if last_id < first_id:
        return
    rng = "r.id BETWEEN ? AND ?"
    conn.execute(admit_sql("r", rng).replace("FROM source_pairs p", "FROM records r, source_pairs p"),
                 (first_id, last_id, first_id, last_id))  # fmt: skip
    conn.execute(TOTALS_OF_NEW_SQL.format(where="record_id BETWEEN ? AND ?"), (first_id, last_id))
    conn.execute(
        "INSERT INTO source_totals (source, live) SELECT source, count(*) FROM records "
        "WHERE id BETWEEN ? AND ? AND removed = 0 GROUP BY source "
        "ON CONFLICT (source) DO UPDATE SET live = live + excluded.live", (first_id, last_id),
    )  # fmt: skip


def _sql_int(text: str) -> int:
    """SQLite's ``CAST(text AS INTEGER)`` of a run of digits: clamped to int64."""
    v = int(text) if text else 0
    return _I64_MAX if v > _I64_MAX else v


def amount_parts(amount: str) -> tuple[int, int, int]:
    """(units, nano, atto) of a canonical decimal text, exactly as
    :func:`recon_tui.store.schema.amount_parts_sql` computes them in SQL (digits past the
    18th decimal dropped, units clamped to int64, each part signed)."""
    neg = amount[:1] == "-"
    t = amount.lstrip("-")
    whole, dot, frac = t.partition(".")
    units = _sql_int(whole)
    nano = int((frac[:9] + "000000000")[:9]) if dot else 0
    atto = int((frac[9:18] + "000000000")[:9]) if dot else 0
    if neg:
        # CAST(...) * -1: a clamped maximum becomes -max, as SQLite's arithmetic gives.
        return -units, -nano, -atto
    return units, nano, atto


# Columns of a record row (``records.RECORD_COLUMNS``) that admission reads.
_SOURCE, _TS, _ASSET, _AMOUNT, _AMOUNT_E8, _ACCOUNT = 0, 3, 6, 7, 8, 16

_INSERT_STATES = (
    "INSERT OR IGNORE INTO pair_states (pair, record_id, side, live, ts_us, amount_e8, asset, "
    "units, nano, atto) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)"
)
_TOTALS = (
    "INSERT INTO pair_totals (pair, side, state, asset, n, units, nano, atto) "
    "VALUES (?, ?, 'open', ?, ?, ?, ?, ?) "
    "ON CONFLICT (pair, side, state, asset) DO UPDATE SET n = n + excluded.n, "
    "units = units + excluded.units, nano = nano + excluded.nano, atto = atto + excluded.atto"
)


def admit_rows(conn: Connection, first_id: int, rows: Sequence[Sequence[Any]],
               parts: Sequence[tuple[int, int, int]] | None = None) -> None:  # fmt: skip
    """Admit ``rows`` (record rows of one source just inserted, in order, with the
    consecutive ids ``first_id``..), to every pair whose side takes them, as ``open``, and
    count them in ``pair_totals`` and ``source_totals``: the same result as
    :func:`admit_range` over those ids, without reading them back.

    ``parts``, when given, is :func:`amount_parts` of each row's amount, worked out by
    the batch's producer (``records.prepare_batch``) so the writer need not."""
    if not rows:
        return
    sides: list[tuple[str, str, str, str | None]] = []  # (pair, side, source, account)
    for name, ls, la, rs, ra in conn.execute(
        "SELECT name, left_source, left_account, right_source, right_account FROM source_pairs"
    ):
        sides.append((name, "L", ls, la))
        sides.append((name, "R", rs, ra))
    by_source: dict[str, list[tuple[str, str, str | None]]] = {}
    for name, code, src, acct in sides:
        by_source.setdefault(src, []).append((name, code, acct))

    def takers(source: str, account: str | None) -> list[tuple[str, str]]:
        """The (pair, side) that take a record of ``source`` and ``account``: one side per
        pair, left before right (a pair with both sides on it keeps the left)."""
        out: list[tuple[str, str]] = []
        for name, code, acct in by_source.get(source, ()):
            if (acct is None or acct == account) and all(name != n for n, _ in out):
                out.append((name, code))
        return out

    live = Counter(map(itemgetter(_SOURCE), rows))
    accounts = set(map(itemgetter(_ACCOUNT), rows))
    if len(live) == 1 and len(accounts) == 1:  # one source and account: a file's batch
        (source,) = live
        _admit_uniform(conn, first_id, rows, parts, takers(source, accounts.pop()))
        _count_live(conn, live)
        return
    # Worked out once per (source, account) seen, not per row: the demo's ledger rows
    # each face four account-filtered pair sides.
    takers_of: dict[tuple[str, str | None], list[tuple[str, str]]] = {}
    states: list[tuple[Any, ...]] = []
    totals: dict[tuple[str, str, str], list[int]] = {}
    parts_of: dict[str, tuple[int, int, int]] = {}  # amounts repeat (round payouts, fees)
    first = first_id
    for offset, row in enumerate(rows):
        where = (row[_SOURCE], row[_ACCOUNT])
        sides_of = takers_of.get(where)
        if sides_of is None:
            sides_of = takers_of[where] = takers(*where)
        if not sides_of:
            continue
        if parts is None:
            amount = row[_AMOUNT]
            split = parts_of.get(amount)
            if split is None:
                split = parts_of[amount] = amount_parts(amount)
        else:
            split = parts[offset]
        units, nano, atto = split
        asset = row[_ASSET]
        ts, e8 = row[_TS], row[_AMOUNT_E8]
        for name, code in sides_of:
            states.append((name, first + offset, code, ts, e8, asset, units, nano, atto))
            key = (name, code, asset)
            t = totals.get(key)
            if t is None:
                totals[key] = [1, units, nano, atto]
            else:
                t[0] += 1
                t[1] += units
                t[2] += nano
                t[3] += atto
    if states:
        if len({n for v in takers_of.values() for n, _ in v}) > 1:
            states.sort(key=itemgetter(0))  # one pair's rows together: PK order (pair, id)
        conn.executemany(_INSERT_STATES, states)
        conn.executemany(_TOTALS, [(p, c, a, *t) for (p, c, a), t in totals.items()])
    _count_live(conn, live)


def _count_live(conn: Connection, live: Counter[str]) -> None:
    conn.executemany(
        "INSERT INTO source_totals (source, live) VALUES (?, ?) "
        "ON CONFLICT (source) DO UPDATE SET live = live + excluded.live",
        list(live.items()),
    )


def _admit_uniform(conn: Connection, first_id: int, rows: Sequence[Sequence[Any]],
                   parts: Sequence[tuple[int, int, int]] | None,
                   sides_of: list[tuple[str, str]]) -> None:  # fmt: skip
    """:func:`admit_rows` of rows that all face the same pair sides (one source and
    account): the ``pair_states`` parameters zipped from the rows' columns in C, not a
    tuple built per row and side in Python; the totals summed per asset. The same rows
    and totals as the general loop (``tests/test_ingest_admission.py``)."""
    if not sides_of:
        return
    if parts is None:
        seen: dict[str, tuple[int, int, int]] = {}
        parts = []
        for amount in map(itemgetter(_AMOUNT), rows):
            split = seen.get(amount)
            if split is None:
                split = seen[amount] = amount_parts(amount)
            parts.append(split)
    n = len(rows)
    units, nano, atto = zip(*parts, strict=True) if parts else ((), (), ())
    assets = list(map(itemgetter(_ASSET), rows))
    by_asset: dict[str, list[int]] = {}
    if assets.count(assets[0]) == n:
        by_asset[assets[0]] = [n, sum(units), sum(nano), sum(atto)]
    else:
        for asset, u, nn, a in zip(assets, units, nano, atto, strict=True):
            t = by_asset.get(asset)
            if t is None:
                by_asset[asset] = [1, u, nn, a]
            else:
                t[0] += 1
                t[1] += u
                t[2] += nn
                t[3] += a
    ts = list(map(itemgetter(_TS), rows))
    e8 = list(map(itemgetter(_AMOUNT_E8), rows))
    ids = range(first_id, first_id + n)
    # Pair by pair in name order: the general loop's (pair, id) order.
    for name, code in sorted(sides_of):
        conn.executemany(_INSERT_STATES, zip(repeat(name), ids, repeat(code), ts, e8, assets,
                                             units, nano, atto))  # fmt: skip
        conn.executemany(_TOTALS, [(name, code, a, *t) for a, t in by_asset.items()])
