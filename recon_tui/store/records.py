"""Records in the store: conversion to and from rows, and the idempotent batch upsert.

``apply_batch`` is the only write path for source data: records are upserted by
(source, external id) — new ones inserted, changed ones updated (version bumped, the old
content kept in ``record_versions`` by a trigger), identical ones left alone — removals
flagged, prices upserted and the source's cursor advanced, all in one transaction. Each
write stamps ``rev`` (the store's revision counter) so the matcher can find exactly what
changed since it last ran.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import repeat
from operator import itemgetter
from typing import Any

from recon_tui.model import Price, Record, Side, _json_default, canonical_amount, dumps
from recon_tui.store.admission import admit_rows, amount_parts
from recon_tui.store.db import Connection, Store, now_us

_E8 = Decimal(100_000_000)
_I64 = 2**63 - 1

RECORD_COLUMNS = (
    "source", "external_id", "kind", "ts_us", "booking_date", "value_date", "asset", "amount",
    "amount_e8", "fee", "fee_asset", "counterparty", "reference", "memo", "txid", "address",
    "account", "status", "attrs", "raw", "content_hash",
)  # fmt: skip
_CONTENT = slice(2, 19)  # kind .. attrs: what a "change" means (raw payload excluded)

_SELECT = (
    "id, source, external_id, kind, ts_us, booking_date, value_date, asset, amount, fee, "
    "fee_asset, counterparty, reference, memo, txid, address, account, status, attrs, raw"
)


def ts_to_us(ts: datetime) -> int:
    """Aware datetime -> integer microseconds since the epoch (exact, no float)."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def us_to_ts(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def amount_key(amount: Decimal) -> int:
    """Integer sort/blocking key of an amount (floor of x 1e8, clamped to int64)."""
    # scaleb is the exact x 1e8 (same digits as multiplying) and math.floor goes straight
    # to int: half the cost of the multiply + to_integral_value it replaced.
    v = math.floor(amount.scaleb(8))
    return -_I64 if v < -_I64 else _I64 if v > _I64 else v


# The same JSON as ``model.dumps`` (compact, Decimals as text, non-ASCII kept), with one
# encoder for every record: json.dumps with options builds a new encoder per call.
_JSON_ENCODE = json.JSONEncoder(default=_json_default, separators=(",", ":"),
                                ensure_ascii=False).encode  # fmt: skip


def _c_encode() -> Callable[[Any], str]:
    """``_JSON_ENCODE`` without its per-call set-up: ``JSONEncoder.encode`` builds a new C
    encoder (``json.encoder.c_make_encoder``) for every value; this one is built once (half
    the cost of a record's raw payload: 8.4 -> 4.6 us on a nested dict, same text). No
    circular-reference bookkeeping: payloads are parsed JSON and typed fields, never cyclic
    (a cycle would end in RecursionError instead of ValueError)."""
    from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]

    if c_make_encoder is None:  # pragma: no cover - a Python built without _json
        return _JSON_ENCODE
    encoder = c_make_encoder(None, _json_default, encode_basestring, None, ":", ",",
                             False, False, True)  # fmt: skip
    join = "".join

    def encode(value: Any) -> str:
        return join(encoder(value, 0))

    return encode


_ENCODE = _c_encode()


def _encode_attrs(attrs: dict[str, Any]) -> str:
    """``_ENCODE(attrs)``, with a short cut for the one text item most lines carry (a
    statement's ``{"bank_id": ...}``): the encoder writes a text key and value as
    ``encode_basestring`` does, so the same JSON comes out without setting the C encoder
    up for a dict (~0.8 -> ~0.3 us; ``tests/test_ingest_writer.py`` checks the text)."""
    if len(attrs) == 1:
        ((key, value),) = attrs.items()
        if type(key) is str and type(value) is str:
            return f"{{{_STR(key)}:{_STR(value)}}}"
    return _ENCODE(attrs)
_blake2b = hashlib.blake2b
_STR: Callable[[str], str] = json.encoder.encode_basestring
"""What the C encoder writes for a text (``ensure_ascii=False``): quoted, escaped."""


def record_row(r: Record) -> tuple[Any, ...]:
    """A record as the tuple of ``RECORD_COLUMNS`` (hash included).

    The ingest hot path (measured in ``bench/ingest.py``): one tuple built in one go, no
    intermediate lists; the content hash is blake2b of the repr of the content columns
    (kind .. attrs), unchanged so stored hashes stay comparable."""
    amount = r.amount
    fee = r.fee
    booking = r.booking_date
    value = r.value_date
    attrs = r.attrs
    raw = r.raw
    content = (
        r.kind,
        ts_to_us(r.ts),
        booking.isoformat() if booking else None,
        value.isoformat() if value else None,
        r.asset,
        canonical_amount(amount),
        amount_key(amount),
        canonical_amount(fee) if fee is not None else None,
        r.fee_asset,
        r.counterparty,
        r.reference,
        r.memo,
        r.txid,
        r.address,
        r.account,
        r.status,
        _encode_attrs(attrs) if attrs else None,
    )
    digest = _blake2b(repr(content).encode(), digest_size=16).hexdigest()
    return (r.source, r.external_id, *content, _ENCODE(raw) if raw is not None else None,
            digest)  # fmt: skip


def row_to_record(row: Sequence[Any]) -> Record:
    """A row selected with ``_SELECT`` back into a :class:`Record`."""
    (rid, source, external_id, kind, ts_us, booking, value, asset, amount, fee, fee_asset,
     counterparty, reference, memo, txid, address, account, status, attrs, raw) = row  # fmt: skip
    return Record(
        source=source,
        external_id=external_id,
        kind=kind,
        ts=us_to_ts(ts_us),
        asset=asset,
        amount=Decimal(amount),
        status=status,
        account=account,
        fee=Decimal(fee) if fee is not None else None,
        fee_asset=fee_asset,
        counterparty=counterparty,
        reference=reference,
        memo=memo,
        txid=txid,
        address=address,
        booking_date=date.fromisoformat(booking) if booking else None,
        value_date=date.fromisoformat(value) if value else None,
        attrs=json.loads(attrs) if attrs else {},
        raw=json.loads(raw) if raw else None,
        id=rid,
    )


@dataclass(slots=True)
class BatchResult:
    """What one applied batch did; ``changed_ids`` feeds the incremental matcher."""

    rev: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    prices: int = 0
    changed_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class PreparedBatch:
    """A batch converted to rows outside the write lock (so a producer thread can prepare
    the next batch while the store writes this one)."""

    source: str
    rows: list[tuple[Any, ...]]
    removed: list[str]
    prices: list[tuple[Any, ...]]
    cursor: dict[str, Any] | None = None
    set_cursor: bool = False
    parts: list[tuple[int, int, int]] | None = None
    """Each row's amount split as admission stores it (``admission.amount_parts``),
    worked out here with the rest of the conversion, so the writer does not."""
    nulls: tuple[int, ...] | None = None
    """Positions (in ``RECORD_COLUMNS``) that are ``None`` in every row: read off the
    columns by :func:`prepare_columns`; ``None`` (not worked out) and the writer finds
    them in the rows it inserts (:func:`null_columns`). The writer puts ``NULL`` into its
    INSERT for those columns instead of binding a ``None`` per row."""


def prepare_batch(
    source: str,
    records: Iterable[Record],
    *,
    removed: Iterable[str] = (),
    prices: Iterable[Price] = (),
    cursor: dict[str, Any] | None = None,
    set_cursor: bool = False,
) -> PreparedBatch:
    """Convert and check a batch; raises ``ValueError`` for a foreign or duplicate id."""
    rows = [record_row(r) for r in records]
    _check_rows(source, rows)
    price_rows = [
        (p.base, p.quote, p.interval, ts_to_us(p.ts), canonical_amount(p.close), p.source)
        for p in prices
    ]
    # No null_columns here: the writer works them out only for rows it inserts (a re-sync
    # of unchanged records would pay ~0.3 us a record for nothing).
    return PreparedBatch(source, rows, list(removed), price_rows, cursor, set_cursor,
                         row_parts(rows))


def null_columns(rows: Sequence[Sequence[Any]]) -> tuple[int, ...]:
    """The positions that are ``None`` in every row (only the first row's ``None``
    positions can be: each is then counted down its column, in C)."""
    if not rows:
        return ()
    n = len(rows)
    return tuple(i for i, v in enumerate(rows[0])
                 if v is None and list(map(itemgetter(i), rows)).count(None) == n)  # fmt: skip


def _check_rows(source: str, rows: list[tuple[Any, ...]]) -> None:
    seen: set[str] = set()
    for row in rows:
        if row[0] != source:
            raise ValueError(f"record {row[1]!r} belongs to source {row[0]!r}, not {source!r}")
        if row[1] in seen:
            raise ValueError(
                f"source '{source}': external id {row[1]!r} appears twice in one batch"
            )
        seen.add(row[1])


AmountCache = dict[Decimal, tuple[str, int, tuple[int, int, int]]]
"""Amount -> (canonical text, amount key, admission parts): what :func:`column_rows` works
out once per distinct amount, kept across the batches of one file when the caller passes
one (``prepare_columns(cache=...)``)."""

AMOUNT_CACHE_MAX = 200_000
"""Distinct amounts a shared cache keeps before it starts over (bounded memory: a file of
a million distinct amounts would otherwise keep a million entries)."""

def column_rows(source: str, columns: Mapping[str, Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Record rows (``RECORD_COLUMNS``) from columns of record fields: the rows
    :func:`record_row` makes of the same records, without a :class:`Record` per line.

    ``columns`` maps :class:`Record` field names to one value per record
    (``external_id`` is required; a missing field is ``None`` throughout, ``status``
    ``booked``). Values repeat down a column (dates, amounts, currencies), so each
    conversion (microseconds, canonical text, the amount key, ISO dates) is made once per
    distinct value; the per-row work left is the content hash and the JSON of ``attrs``.
    ``tests/test_ingest_columnar.py`` checks the rows equal :func:`record_row`'s."""
    return _column_rows(source, columns, None)[0]


def _column_rows(source: str, columns: Mapping[str, Sequence[Any]], cache: AmountCache | None,
                 ) -> tuple[list[tuple[Any, ...]], list[tuple[int, int, int]],
                            tuple[int, ...]]:  # fmt: skip
    """:func:`column_rows`, with each row's admission parts and the positions ``None``
    in every row (:func:`null_columns`), both read off the columns."""
    ext = list(columns["external_id"])
    n = len(ext)
    none: list[Any] = [None] * n

    def col(key: str, default: list[Any] = none) -> Sequence[Any]:
        values = columns.get(key)
        if values is None:
            return default
        if len(values) != n:
            raise ValueError(f"column {key!r} has {len(values)} values for {n} records")
        return values

    ts_us_of = {t: ts_to_us(t) for t in set(col("ts"))}
    ts_us = [ts_us_of[t] for t in col("ts")]

    def iso(values: Sequence[date | None]) -> list[str | None]:
        text = {d: d.isoformat() for d in set(values) if d}
        return [text[d] if d else None for d in values]

    amounts = col("amount")
    if cache is None:
        cache = {}
    elif len(cache) > AMOUNT_CACHE_MAX:
        cache.clear()
    for a in set(amounts):
        if a not in cache:
            text = canonical_amount(a)
            cache[a] = (text, amount_key(a), amount_parts(text))
    canon = [cache[a] for a in amounts]
    fee_text = {f: canonical_amount(f) for f in set(col("fee")) if f is not None}
    encode_attrs = _encode_attrs
    attrs = [encode_attrs(a) if a else None for a in col("attrs")]
    raw = [_ENCODE(r) if r is not None else None for r in col("raw")]
    content: list[Sequence[Any]] = [
        col("kind"), ts_us, iso(col("booking_date")), iso(col("value_date")), col("asset"),
        [c[0] for c in canon], [c[1] for c in canon],
        [fee_text[f] if f is not None else None for f in col("fee")], col("fee_asset"),
        col("counterparty"), col("reference"), col("memo"), col("txid"), col("address"),
        col("account"), col("status", ["booked"] * n), attrs,
    ]  # fmt: skip
    blake = _blake2b
    hashes = [blake(repr(c).encode(), digest_size=16).hexdigest() for c in zip(*content, strict=True)]
    rows = list(zip(repeat(source, n), ext, *content, raw, hashes, strict=True))
    # The source (position 0) is a text, never NULL; the rest is read off its column.
    nulls = tuple(i for i, values in enumerate([ext, *content, raw], start=1)
                  if n and (values is none or values.count(None) == n))  # fmt: skip
    return rows, [c[2] for c in canon], nulls


def prepare_columns(
    source: str,
    columns: Mapping[str, Sequence[Any]],
    *,
    cursor: dict[str, Any] | None = None,
    set_cursor: bool = False,
    cache: AmountCache | None = None,
) -> PreparedBatch:
    """:func:`prepare_batch` of records given as columns (see :func:`column_rows`);
    ``cache`` (an :data:`AmountCache`) carries the amounts' conversions from one batch of
    a file to the next."""
    rows, parts, nulls = _column_rows(source, columns, cache)
    _check_rows(source, rows)
    return PreparedBatch(source, rows, [], [], cursor, set_cursor, parts, nulls)


def row_parts(rows: Sequence[Sequence[Any]]) -> list[tuple[int, int, int]]:
    """``admission.amount_parts`` of each row's amount (amounts repeat: computed once)."""
    seen: dict[str, tuple[int, int, int]] = {}
    out = []
    for row in rows:
        amount = row[7]
        parts = seen.get(amount)
        if parts is None:
            parts = seen[amount] = amount_parts(amount)
        out.append(parts)
    return out


def apply_batch(
    store: Store,
    source: str,
    records: Iterable[Record],
    *,
    removed: Iterable[str] = (),
    prices: Iterable[Price] = (),
    cursor: dict[str, Any] | None = None,
    set_cursor: bool = False,
) -> BatchResult:
    """Write one batch atomically: upserts, removals, prices and (optionally) the cursor."""
    return write_batch(
        store,
        prepare_batch(source, records, removed=removed, prices=prices, cursor=cursor,
                      set_cursor=set_cursor),
    )  # fmt: skip


IMPORT_CACHE_MIB = 256
"""Page cache of the writing connection during a file import (the store's default is
64 MiB). Measured with a 300k-row CSV import: 42.9 -> 38.5 us of writer CPU per
record at 512 MiB (fewer evicted index pages read back and decrypted). Only what is used
is allocated, and it is given back when the import ends. Not used by the demo load: there
its CPU gain did not show (833k records: 48.4 -> 47.3 s of writer CPU, noise at load 10)
and the writer's peak went from 154 to 368 MB, which the demo's 1.5 GB budget needs."""


@contextlib.contextmanager
def import_cache(store: Store, mib: int = IMPORT_CACHE_MIB) -> Iterator[None]:
    """A larger page cache on the store's connection for the enclosed writes."""
    conn = store.conn
    before = int(conn.execute("PRAGMA cache_size").fetchone()[0])
    conn.execute(f"PRAGMA cache_size = {-int(mib) * 1024}")
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a closed store keeps nothing to restore
            conn.execute(f"PRAGMA cache_size = {before}")


def write_batch(store: Store, batch: PreparedBatch) -> BatchResult:
    """Write a prepared batch in one transaction."""
    source, rows = batch.source, batch.rows
    result = BatchResult()
    with store.tx() as conn:
        now = now_us()
        rev = store.next_rev(conn)
        result.rev = rev
        ids = [row[1] for row in rows]
        existing = _existing(conn, source, ids) if _may_exist(conn, source, ids) else {}
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        # Each inserted row's amount parts (worked out by prepare_batch), for admission.
        parts = batch.parts
        insert_parts: list[tuple[int, int, int]] | None
        if not existing:  # all new: the batch's rows as they are
            inserts, insert_parts = rows, parts
        else:
            insert_parts = [] if parts is not None else None
        for i, row in enumerate(rows if existing else ()):
            known = existing.get(row[1])
            if known is None:
                inserts.append(row)
                if insert_parts is not None and parts is not None:
                    insert_parts.append(parts[i])
            elif known[1] != row[-1] or known[2]:
                updates.append((*row[2:], now, rev, source, row[1]))
                result.changed_ids.append(known[0])
            else:
                result.unchanged += 1
        if inserts:
            # Rowids of one executemany under our write lock are consecutive after max(id).
            before = conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0]
            # now/rev are this batch's integers, written into the statement so the rows
            # go to executemany as prepared (no second tuple per record).
            nulls = batch.nulls if batch.nulls is not None else null_columns(inserts)
            sql, keep = _insert_sql(nulls, int(now), int(rev))
            # A None bound per row and column costs ~0.14 us (sqlcipher3 adapts every None:
            # 8 of a bank line's 21 values, ~1.1 us a row, measured); the columns that are
            # NULL throughout the batch are written as NULL in the statement instead.
            conn.executemany(sql, map(keep, inserts) if keep is not None else inserts)
            after = conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0]
            if after - before != len(inserts):  # pragma: no cover - defensive
                raise RuntimeError("record ids are not contiguous")
            result.added = len(inserts)
            result.changed_ids.extend(range(before + 1, after + 1))
            # Per-pair state and the totals of the new records, in this transaction, from
            # the rows in hand (admission.admit_rows: the same as admit_range's SQL).
            admit_rows(conn, before + 1, inserts, insert_parts)
        if updates:
            conn.executemany(_UPDATE, updates)
            result.changed = len(updates)
        if batch.removed:
            stored = _existing(conn, source, batch.removed)
            gone = [(now, rev, v[0]) for v in stored.values() if not v[2]]
            conn.executemany(
                "UPDATE records SET removed = 1, changed_us = ?, rev = ?, version = version + 1, "
                "content_hash = content_hash || '-' WHERE id = ?",
                gone,
            )
            result.removed = len(gone)
            result.changed_ids.extend(g[2] for g in gone)
        if batch.prices:
            conn.executemany(
                "INSERT INTO prices (base, quote, interval, ts_us, close, source) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (base, quote, interval, ts_us, source) "
                "DO UPDATE SET close = excluded.close",
                batch.prices,
            )
            result.prices = len(batch.prices)
        if batch.set_cursor:
            conn.execute(
                "UPDATE sources SET cursor = ? WHERE name = ?",
                (dumps(batch.cursor) if batch.cursor is not None else None, source),
            )
    return result


_INSERT = (
    f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}, first_seen_us, changed_us, rev) "
    "VALUES ({values}, {now}, {now}, {rev})"
)


def _insert_sql(nulls: Sequence[int], now: int, rev: int,
                ) -> tuple[str, Callable[[Sequence[Any]], tuple[Any, ...]] | None]:  # fmt: skip
    """The batch's INSERT (``now`` and ``rev`` written in, ``NULL`` for the ``nulls``
    columns) and what picks the bound values out of a row (``None``: the row as it is)."""
    null = set(nulls)
    bound = [i for i in range(len(RECORD_COLUMNS)) if i not in null]
    values = ", ".join("NULL" if i in null else "?" for i in range(len(RECORD_COLUMNS)))
    sql = _INSERT.format(values=values, now=now, rev=rev)
    if not null or len(bound) < 2:  # itemgetter of one position gives no tuple
        return _INSERT.format(values=", ".join("?" * len(RECORD_COLUMNS)), now=now,
                              rev=rev), None  # fmt: skip
    return sql, itemgetter(*bound)
_UPDATE = (
    "UPDATE records SET "
    + ", ".join(f"{c} = ?" for c in RECORD_COLUMNS[2:])
    + ", changed_us = ?, rev = ?, version = version + 1, removed = 0 "
    "WHERE source = ? AND external_id = ?"
)


def _may_exist(conn: Connection, source: str, external_ids: list[str]) -> bool:
    """Whether any of ``external_ids`` can be stored already: two index probes (the
    source's lowest and highest stored id) instead of looking every id up. A source's
    first import has none stored; a statement whose ids grow (a bank's transaction
    numbers, most of a big load) has every batch above the ids its earlier batches
    stored. Both orders are SQLite's BINARY text order, which is Python's str order
    (UTF-8 keeps code point order)."""
    if not external_ids:
        return False
    low, high = conn.execute(
        "SELECT (SELECT min(external_id) FROM records WHERE source = ?1), "
        "(SELECT max(external_id) FROM records WHERE source = ?1)", (source,)
    ).fetchone()
    if low is None:
        return False
    return not (max(external_ids) < low or min(external_ids) > high)


def _existing(
    conn: Connection, source: str, external_ids: list[str]
) -> dict[str, tuple[int, str, int]]:
    """external_id -> (id, content_hash, removed) for the ids that are already stored."""
    found: dict[str, tuple[int, str, int]] = {}
    chunk = 10_000
    for i in range(0, len(external_ids), chunk):
        part = external_ids[i : i + chunk]
        sql = (
            "SELECT external_id, id, content_hash, removed FROM records WHERE source = ? "
            f"AND external_id IN ({', '.join('?' * len(part))})"
        )
        for ext, rid, h, rem in conn.execute(sql, (source, *part)):
            found[ext] = (rid, h, rem)
    return found


def side_clause(side: Side) -> tuple[str, tuple[Any, ...]]:
    """SQL condition (and its parameters) selecting one side's live (not removed) records:
    the side's source, narrowed to its account when it names one."""
    if side.account is None:
        return "source = ? AND removed = 0", (side.source,)
    return "source = ? AND account = ? AND removed = 0", (side.source, side.account)


def get_records(conn: Connection, ids: Iterable[int]) -> list[Record]:
    """Records by id, in the order given (unknown ids are skipped)."""
    ids = list(ids)
    out: dict[int, Record] = {}
    for i in range(0, len(ids), 10_000):
        part = ids[i : i + 10_000]
        sql = f"SELECT {_SELECT} FROM records WHERE id IN ({', '.join('?' * len(part))})"
        for row in conn.execute(sql, part):
            out[row[0]] = row_to_record(row)
    return [out[i] for i in ids if i in out]


def get_record(conn: Connection, source: str, external_id: str) -> Record | None:
    row = conn.execute(
        f"SELECT {_SELECT} FROM records WHERE source = ? AND external_id = ?", (source, external_id)
    ).fetchone()
    return row_to_record(row) if row else None


def iter_records(
    conn: Connection, where: str = "1", params: Sequence[Any] = (), batch: int = 50_000
) -> Iterator[Record]:
    """Stream records matching a SQL condition (keyset-paged by id: bounded memory)."""
    last = 0
    while True:
        rows = conn.execute(
            f"SELECT {_SELECT} FROM records WHERE ({where}) AND id > ? ORDER BY id LIMIT ?",
            (*params, last, batch),
        ).fetchall()
        if not rows:
            return
        for row in rows:
            yield row_to_record(row)
        last = rows[-1][0]


def load_prices(conn: Connection) -> list[Price]:
    return [
        Price(base=b, quote=q, ts=us_to_ts(t), interval=i, close=Decimal(c), source=s)
        for b, q, i, t, c, s in conn.execute(
            "SELECT base, quote, interval, ts_us, close, source FROM prices ORDER BY ts_us"
        )
    ]


def changed_since(conn: Connection, rev: int) -> list[int]:
    """Ids of the records written (added, changed, removed) after store revision ``rev``."""
    return [i for (i,) in conn.execute("SELECT id FROM records WHERE rev > ?", (rev,))]


def adopt_legacy_ids(conn: Connection, source: str, pairs: Iterable[tuple[str, str]]) -> int:
    """Rename stored records from the external id an earlier release gave them to today's.

    ``pairs`` are ``(legacy_id, external_id)``. A record is renamed only when its source
    has the legacy id and not yet the new one, so the upsert that follows in the same
    transaction finds it under the new id (unchanged: nothing written; changed: a new
    version) instead of adding the line a second time. The row keeps its id, so match
    groups, decisions and record versions (which name rows by id) still point at it.
    Returns how many records were renamed.
    """
    todo: dict[str, str] = {}
    targets: set[str] = set()
    for legacy, new in pairs:
        if legacy and new and legacy != new and legacy not in todo and new not in targets:
            todo[legacy] = new
            targets.add(new)
    if not todo:
        return 0
    # A legacy id that is also a new id of this batch belongs to that line, not this one.
    for legacy in [k for k in todo if k in targets]:
        del todo[legacy]
    cur = conn.executemany(
        "UPDATE records SET external_id = ? WHERE source = ? AND external_id = ? "
        "AND NOT EXISTS (SELECT 1 FROM records WHERE source = ? AND external_id = ?)",
        [(new, source, legacy, source, new) for legacy, new in todo.items()],
    )
    return max(cur.rowcount, 0)
