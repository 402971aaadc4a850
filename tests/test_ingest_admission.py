"""The record writer's admission from the rows in hand (``admission.admit_rows``) leaves
exactly the per-pair state and totals that the set-based SQL (``admit_range``) leaves,
on awkward amounts, accounts, several pairs per source and both sides of one source;
and a re-import of the same records changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from recon_tui.model import Record, Side, SourcePair
from recon_tui.store import Store
from recon_tui.store import records as records_mod
from recon_tui.store.admission import admit_range, amount_parts
from recon_tui.store.records import apply_batch
from recon_tui.store.schema import amount_parts_sql
from recon_tui.store.sources import add_pair, add_source

AMOUNTS = [
    "0", "1", "-1", "0.01", "-0.01", "123.45", "-99999.999999999", "0.000000000000000001",
    "-0.000000001000000001", "1.1234567890123456789012", "-7.5", "100", "1000000.00",
    "0.1", "-0.100000000900000001", "922337203685477.5807",
]  # fmt: skip
# Beyond int64 units are clamped alike by both (a sum of two would overflow either way).
HUGE = ["9223372036854775807.5", "99999999999999999999999.5", "-99999999999999999999999.5"]


def _records(source: str, n: int, offset: int = 0) -> list[Record]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        out.append(Record(
            source=source, external_id=f"{source}-{i + offset}", kind="payment",
            ts=t0 + timedelta(minutes=7 * i), asset=("EUR", "BTC", "USDT")[i % 3],
            amount=Decimal(AMOUNTS[i % len(AMOUNTS)]),
            account=(None, "a1", "a2")[i % 3], reference=f"R{i}",
        ))  # fmt: skip
    return out


def _store(path: Path) -> Store:
    store = Store.init(path, passphrase="x")
    for s in ("ledger", "bank", "self"):
        add_source(store, s, "csv")
    add_pair(store, SourcePair("all", Side("ledger"), Side("bank")))
    add_pair(store, SourcePair("a1", Side("ledger", "a1"), Side("bank", "a1")))
    add_pair(store, SourcePair("cross", Side("bank", "a2"), Side("ledger")))
    add_pair(store, SourcePair("same", Side("self"), Side("self")))  # a tie: left wins
    return store


def _state(store: Store) -> dict[str, list[tuple[object, ...]]]:
    c = store.conn
    return {
        "pair_states": c.execute("SELECT * FROM pair_states ORDER BY pair, record_id").fetchall(),
        "pair_totals": c.execute(
            "SELECT * FROM pair_totals ORDER BY pair, side, state, asset").fetchall(),
        "source_totals": c.execute("SELECT * FROM source_totals ORDER BY source").fetchall(),
    }  # fmt: skip


def _load(store: Store) -> None:
    for source in ("ledger", "bank", "self"):
        recs = _records(source, 160)
        for i in range(0, len(recs), 50):
            apply_batch(store, source, recs[i : i + 50])


def test_rows_admission_equals_set_based(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _store(tmp_path / "fast.db")
    _load(fast)
    ref = _store(tmp_path / "ref.db")
    # The reference: the same writer, admitting with the set-based SQL over the new ids.
    monkeypatch.setattr(records_mod, "admit_rows", lambda conn, first, rows, parts=None:
                        admit_range(conn, first, first + len(rows) - 1))  # fmt: skip
    _load(ref)
    got, want = _state(fast), _state(ref)
    assert len(want["pair_states"]) > 400 and want["pair_totals"]
    assert got == want
    # "same" takes each of its records once, on the left.
    sides = fast.conn.execute("SELECT DISTINCT side FROM pair_states WHERE pair = 'same'")
    assert [s for (s,) in sides] == ["L"]
    fast.close()
    ref.close()


def test_reimport_adds_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path / "s.db")
    _load(store)
    before = _state(store)
    for source in ("ledger", "bank", "self"):
        result = apply_batch(store, source, _records(source, 160))
        assert (result.added, result.changed, result.unchanged) == (0, 0, 160)
    assert _state(store) == before
    # New ids after existing ones still join their pairs.
    apply_batch(store, "bank", _records("bank", 3, offset=1000))
    assert store.count("SELECT count(*) FROM pair_states WHERE record_id > "
                       "(SELECT max(record_id) FROM pair_states) - 3") >= 3  # fmt: skip
    store.close()


@pytest.mark.parametrize("text", AMOUNTS + HUGE)
def test_amount_parts_match_sql(tmp_path: Path, text: str) -> None:
    store = Store.init(tmp_path / "p.db", passphrase="x")
    u, n, a = amount_parts_sql("?1")
    assert amount_parts(text) == tuple(store.conn.execute(f"SELECT {u}, {n}, {a}", (text,))
                                       .fetchone())  # fmt: skip
    store.close()


def test_aging_counts_equal_a_full_count(tmp_path: Path) -> None:
    """The oldest aging bucket taken from the maintained totals equals counting it."""
    from recon_tui.store.summary import aging_counts

    store = _store(tmp_path / "a.db")
    _load(store)
    apply_batch(store, "bank", [], removed=["bank-3", "bank-4", "bank-40"])  # live = 0
    with store.tx() as conn:
        conn.execute("UPDATE pair_states SET state = 'suggested' WHERE record_id % 7 = 0")
        conn.execute("UPDATE pair_states SET state = 'matched' WHERE record_id % 5 = 0")
    t0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
    day = 86_400_000_000
    bounds = [t0 + 10 * day, t0 + 5 * day, t0 + 2 * day]
    edges = [None, *bounds, None]
    for pair, side in store.conn.execute("SELECT DISTINCT pair, side FROM pair_states"):
        for states in (("open",), ("open", "suggested"), ("matched",)):
            want = []
            for hi, lo in pairwise(edges):
                sql = (f"SELECT count(*) FROM pair_states WHERE pair = ? AND side = ? AND live = 1 "
                       f"AND state IN ({', '.join('?' * len(states))})")  # fmt: skip
                params: list[object] = [pair, side, *states]
                if hi is not None:
                    sql += " AND ts_us <= ?"
                    params.append(hi)
                if lo is not None:
                    sql += " AND ts_us > ?"
                    params.append(lo)
                want.append(store.conn.execute(sql, params).fetchone()[0])
            assert aging_counts(store.conn, pair, side, states, bounds) == want
            assert sum(want) > 0 or states == ("matched",)
    store.close()
