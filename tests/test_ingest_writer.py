"""The record writer's short cuts store exactly what the plain statements store.

``write_batch`` writes the columns that are ``None`` in every row of a batch as ``NULL``
in its INSERT (``PreparedBatch.nulls``), skips looking ids up when none of the batch can
be stored yet (``_may_exist``: below the source's lowest or above its highest stored id),
and admits a batch of one source and account with one zipped ``executemany`` per pair side
(``admission._admit_uniform``). Each is checked against the way without it: the same
records, pair states and totals, the same changes found on a re-import."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recon_tui.model import Record, Side, SourcePair
from recon_tui.store import Store, admission
from recon_tui.store import records as records_mod
from recon_tui.store.admission import admit_range
from recon_tui.store.records import apply_batch, null_columns, prepare_batch, write_batch
from recon_tui.store.sources import add_pair, add_source

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _rec(source: str, ext: str, i: int, *, account: str | None = None, asset: str = "EUR",
         memo: str | None = None, fee: str | None = None) -> Record:  # fmt: skip
    return Record(source=source, external_id=ext, kind="payment",
                  ts=T0 + timedelta(hours=i), asset=asset,
                  amount=Decimal(("12.50", "-0.000000001000000001", "100", "-7.25")[i % 4]),
                  account=account, memo=memo, fee=Decimal(fee) if fee else None,
                  fee_asset=asset if fee else None,
                  booking_date=date(2026, 3, 1) + timedelta(days=i % 3) if i % 2 else None,
                  attrs={"n": i} if i % 5 == 0 else {})  # fmt: skip


def _store(path: Path) -> Store:
    store = Store.init(path, passphrase="x")
    for s in ("ledger", "bank"):
        add_source(store, s, "csv")
    add_pair(store, SourcePair("all", Side("ledger"), Side("bank")))
    add_pair(store, SourcePair("a1", Side("ledger", "a1"), Side("bank", "a1")))
    add_pair(store, SourcePair("b-side", Side("bank"), Side("ledger", "a2")))
    return store


def _dump(store: Store) -> dict[str, list[tuple[object, ...]]]:
    c = store.conn
    cols = [r[1] for r in c.execute("PRAGMA table_info(records)")
            if r[1] not in ("first_seen_us", "changed_us")]  # fmt: skip
    return {
        "records": c.execute(f"SELECT {', '.join(cols)} FROM records ORDER BY id").fetchall(),
        "pair_states": c.execute("SELECT * FROM pair_states ORDER BY pair, record_id").fetchall(),
        "pair_totals": c.execute(
            "SELECT * FROM pair_totals ORDER BY pair, side, state, asset").fetchall(),
        "source_totals": c.execute("SELECT * FROM source_totals ORDER BY source").fetchall(),
        "versions": c.execute("SELECT record_id, version, snapshot FROM record_versions "
                              "ORDER BY 1, 2").fetchall(),
    }  # fmt: skip


def _batches() -> list[tuple[str, list[Record]]]:
    """Batches of one account (the uniform admission), of mixed accounts and assets (the
    general loop), with columns None throughout, None in some rows only, and ids that
    grow, fall back below earlier ones, and interleave."""
    out: list[tuple[str, list[Record]]] = []
    out.append(("bank", [_rec("bank", f"B{i:04d}", i) for i in range(40)]))
    out.append(("bank", [_rec("bank", f"B{i:04d}", i, account="a1", memo=f"m{i}")
                         for i in range(40, 80)]))  # fmt: skip
    out.append(("bank", [_rec("bank", f"A{i:04d}", i, account="a1",
                              asset=("EUR", "USD")[i % 2], fee="0.35" if i % 3 else None)
                         for i in range(30)]))  # fmt: skip
    out.append(("ledger", [_rec("ledger", f"L{i:04d}", i, account=(None, "a1", "a2")[i % 3],
                                asset=("EUR", "BTC")[i % 2]) for i in range(60)]))  # fmt: skip
    out.append(("ledger", [_rec("ledger", f"L{i:04d}x", i, account="a2") for i in range(20)]))
    return out


def _load(store: Store) -> None:
    for source, recs in _batches():
        apply_batch(store, source, recs)


def test_null_columns_finds_exactly_the_columns_none_throughout() -> None:
    rows = [(1, None, None, "a"), (2, None, 0, None), (3, None, None, "")]
    assert null_columns(rows) == (1,)
    assert null_columns([]) == ()
    assert null_columns([(None, None)]) == (0, 1)


def test_short_cuts_store_what_the_plain_writer_stores(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _store(tmp_path / "fast.db")
    _load(fast)
    got = _dump(fast)
    fast.close()
    # The plain writer: every value bound, every id looked up, the general admission loop
    # (admit_range: the set-based SQL it is tested against).
    monkeypatch.setattr(records_mod, "null_columns", lambda rows: ())
    monkeypatch.setattr(records_mod, "_may_exist", lambda conn, source, ids: True)
    monkeypatch.setattr(records_mod, "admit_rows", lambda conn, first, rows, parts=None:
                        admit_range(conn, first, first + len(rows) - 1))  # fmt: skip
    ref = _store(tmp_path / "ref.db")
    _load(ref)
    want = _dump(ref)
    ref.close()
    assert len(want["records"]) == 190 and len(want["pair_states"]) > 190
    assert any(row[10] is None for row in want["records"])  # fee NULL on some rows
    assert got == want


def test_batches_of_one_account_take_the_uniform_admission(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above covers both admissions: every batch but the ledger's mixed one
    goes through ``_admit_uniform``, that one through the general loop."""
    calls: list[int] = []
    real = admission._admit_uniform

    def counted(conn: object, first: int, rows: list[tuple[object, ...]], *rest: object) -> None:
        calls.append(len(rows))
        real(conn, first, rows, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(admission, "_admit_uniform", counted)
    store = _store(tmp_path / "s.db")
    _load(store)
    assert calls == [40, 40, 30, 20]
    store.close()


def test_reimport_and_changes_inside_and_outside_the_stored_range(tmp_path: Path) -> None:
    store = _store(tmp_path / "s.db")
    _load(store)
    before = _dump(store)
    for source, recs in _batches():
        r = apply_batch(store, source, recs)
        assert (r.added, r.changed, r.unchanged) == (0, 0, len(recs))
    assert _dump(store) == before
    # A changed record among new ones below and above the stored ids is found and versioned.
    old = _batches()[0][1][5]
    changed = Record(**{**{f: getattr(old, f) for f in old.__dataclass_fields__},
                        "memo": "edited"})  # fmt: skip
    batch = [_rec("bank", "0000", 1), changed, _rec("bank", "ZZZZ", 2)]
    r = write_batch(store, prepare_batch("bank", batch))
    assert (r.added, r.changed, r.unchanged) == (2, 1, 0)
    assert store.count("SELECT count(*) FROM record_versions") == 1
    # Ids all below, then all above, the stored range: added, nothing looked up wrongly.
    r = apply_batch(store, "bank", [_rec("bank", "00", 3), _rec("bank", "01", 4)])
    assert (r.added, r.changed) == (2, 0)
    r = apply_batch(store, "bank", [_rec("bank", "ZZZZZ", 3), _rec("bank", "ZZZZZZ", 4)])
    assert (r.added, r.changed) == (2, 0)
    r = apply_batch(store, "bank", [_rec("bank", "00", 3), _rec("bank", "ZZZZZZ", 4)])
    assert (r.added, r.changed, r.unchanged) == (0, 0, 2)
    store.close()


@settings(max_examples=400, deadline=None)
@given(attrs=st.dictionaries(st.text(max_size=8), st.text(max_size=12) | st.integers()
                             | st.none() | st.decimals(allow_nan=False, allow_infinity=False),
                             max_size=2))  # fmt: skip
def test_attrs_json_short_cut_writes_what_the_encoder_writes(attrs: dict[str, object]) -> None:
    assert records_mod._encode_attrs(attrs) == records_mod._ENCODE(attrs)
    assert records_mod._encode_attrs(attrs) == records_mod.dumps(attrs)
