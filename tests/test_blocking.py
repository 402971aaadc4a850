"""The blocking indexes' compact blocks: a key or family block held by one record is a
bare id, a list from its second member on, and back to a bare id when it shrinks to
one; bulk loading and one-by-one changes leave the same indexes."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from matchers.blocking import SideIndex
from matchers.items import LEFT, prepare
from recon_tui.model import Record

T0 = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)


def rec(rid: int, amount: str, ref: str | None, cp: str | None = None, days: int = 0,
        txid: str | None = None, address: str | None = None) -> Record:
    return Record(source="ledger", external_id=f"l-{rid}", kind="payment",
                  ts=T0 + timedelta(days=days), asset="EUR", amount=Decimal(amount),
                  reference=ref, counterparty=cp, txid=txid, address=address, id=rid)


def side() -> SideIndex:
    return SideIndex(day_bucket=7, max_block=50, stats=Counter())


def dump(s: SideIndex) -> tuple[object, ...]:
    """The key and family indexes as plain values (order within a block kept)."""
    keys = {f: {v: ids if isinstance(ids, int) else list(ids) for v, ids in blk.items()}
            for f, blk in s.keys.items()}
    fams = {fk: {v: ids if isinstance(ids, int) else list(ids) for v, ids in blk.items()}
            for fk, blk in s.families.items()}
    return keys, fams


def test_a_key_block_is_a_bare_id_until_its_second_member() -> None:
    s = side()
    s.bulk_add([prepare(rec(1, "10.00", "INV-1001", "Acme Ltd"), LEFT),
                prepare(rec(2, "20.00", "INV-2002", "Acme Ltd"), LEFT)])
    assert s.keys["reference"]["1001"] == 1  # one record: no list
    assert list(s.by_key("reference", "1001")) == [1]
    assert s.key_ids("reference", "nothing") == ()
    s.add(prepare(rec(3, "30.00", "INV 1001", "Acme Ltd"), LEFT))
    assert s.keys["reference"]["1001"] == [1, 3]
    assert list(s.by_key("reference", "1001")) == [1, 3]
    s.remove(1)
    assert s.keys["reference"]["1001"] == 3
    s.remove(3)
    assert "1001" not in s.keys["reference"]
    assert list(s.by_key("reference", "1001")) == []
    db = prepare(rec(2, "20.00", "INV-2002"), LEFT).day // 7
    assert list(s.family_ids("EUR", 1, "reference_family", "2002", db)) == [2]
    assert list(s.family_ids("EUR", 1, "counterparty", "acme", db)) == [2]
    s.remove(2)
    assert s.families == {}
    assert s.family_ids("EUR", 1, "date", "*", db) == ()


def test_family_probes_read_bare_and_listed_blocks_alike() -> None:
    s = side()
    s.bulk_add([prepare(rec(1, "10.00", "ORD9 part 1", "Acme", days=0), LEFT),
                prepare(rec(2, "11.00", "ORD9 part 2", "Acme", days=1), LEFT),
                prepare(rec(3, "12.00", "SOLO-77", "Other", days=1), LEFT)])
    day = prepare(rec(1, "1", None), LEFT).day
    got = s.by_family("EUR", (1,), "reference_family", "ord9", day - 3, day + 3, cap=10)
    assert got == [1, 2]
    assert s.by_family("EUR", (1,), "reference_family", "solo", day, day + 3, cap=10) == [3]
    assert s.by_family("EUR", (1,), "reference", "solo77", day, day + 3, cap=10) == [3]
    assert s.by_family("EUR", (1,), "date", "*", day, day + 3, cap=2) is None  # 3 > cap


def test_one_by_one_changes_leave_the_indexes_a_bulk_load_builds() -> None:
    rng = random.Random(7)
    recs = [rec(i, f"{rng.randint(1, 400)}.{rng.randint(0, 99):02d}",
                rng.choice([None, f"INV-{rng.randint(1, 30)}", f"PO {rng.randint(1, 9)}-{i % 3}"]),
                rng.choice([None, "Acme Ltd", "Umbrella Foods", "Initech"]),
                days=rng.randint(0, 40),
                txid=rng.choice([None, f"ab{rng.randint(1, 20)}"]),
                address=rng.choice([None, None, f"bc1q{rng.randint(1, 5)}"]))
            for i in range(1, 301)]
    keep = [r for r in recs if r.id is not None and r.id % 3]
    bulk = side()
    bulk.bulk_add(prepare(r, LEFT) for r in keep)
    # The same records added one by one, with the others added and removed between.
    inc = side()
    for r in recs:
        inc.add(prepare(r, LEFT))
    for r in recs:
        if r.id is not None and not r.id % 3:
            inc.remove(r.id)
    assert dump(inc) == dump(bulk)
    singles = [v for blk in bulk.keys.values() for v in blk.values() if isinstance(v, int)]
    assert singles  # the book has unique keys: held as bare ids
    assert all(len(v) > 1 for blk in bulk.keys.values() for v in blk.values()
               if isinstance(v, list))
