"""The demo world generator: deterministic, valid, and its ground truth exact."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, date, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest

from recon_tui import demo
from recon_tui.demo import DemoWorld, TruthGroup, generate, summary
from recon_tui.model import Record, SourcePair, validate


@pytest.fixture(scope="module")
def world() -> DemoWorld:
    return generate(size=600, seed=11)


def _side_records(
    world: DemoWorld, pair: SourcePair
) -> tuple[dict[str, Record], dict[str, Record]]:
    left = {r.external_id: r for r in world.records[pair.left.source] if pair.left.admits(r)}
    right = {r.external_id: r for r in world.records[pair.right.source] if pair.right.admits(r)}
    return left, right


def _groups(world: DemoWorld, pair: str, scenario: str) -> list[TruthGroup]:
    return [g for g in world.truth if g.pair == pair and g.scenario == scenario]


def _amounts(ids: tuple[str, ...], recs: dict[str, Record]) -> Decimal:
    return sum((recs[i].amount for i in ids), Decimal(0))


# --- shape and determinism ---------------------------------------------------------------


def test_sources_pairs_and_counts(world: DemoWorld) -> None:
    assert [s["name"] for s in world.sources] == ["ledger", "bank", "kraken", "binance", "wallet"]
    kinds = {s["name"]: s["kind"] for s in world.sources}
    assert kinds == {"ledger": "ledger", "bank": "csv", "kraken": "ccxt", "binance": "ccxt",
                     "wallet": "esplora"}
    settings = {s["name"]: s["settings"] for s in world.sources}
    assert settings["kraken"] == {"exchange": "kraken"}
    assert settings["binance"] == {"exchange": "binance"}
    assert settings["wallet"]["address"].startswith("bc1")
    assert all(s["label"] for s in world.sources)
    assert [p.name for p in world.pairs] == [
        "ledger-bank", "ledger-kraken", "ledger-binance", "ledger-wallet"]
    assert world.pair("ledger-bank").left.account == "bank-eur"
    assert world.pair("ledger-wallet").right.source == "wallet"
    for name in ("bank", "kraken", "binance", "wallet"):
        assert 600 <= len(world.records[name]) <= 610
    accounts = Counter(r.account for r in world.records["ledger"])
    assert set(accounts) == {"bank-eur", "kraken", "binance", "wallet-btc"}
    assert all(c >= 450 for c in accounts.values())


def test_deterministic() -> None:
    a, b = generate(size=250, seed=5), generate(size=250, seed=5)
    assert a.records == b.records
    assert a.pending == b.pending
    assert a.truth == b.truth
    assert a.prices == b.prices
    assert a.sources == b.sources
    c = generate(size=250, seed=6)
    assert c.records["bank"] != a.records["bank"]


def test_start_date_bounds_the_period() -> None:
    start = date(2025, 3, 31)
    w = generate(size=120, seed=1, start=start)
    first = start - timedelta(days=w.days - 1)
    for recs in (*w.records.values(), *w.pending.values()):
        for r in recs:
            assert first <= r.ts.date() <= start, r
    assert {p.ts.date() for p in w.prices} == {first + timedelta(days=i) for i in range(w.days)}


def test_tiny_and_invalid_sizes() -> None:
    w = generate(size=3, seed=2)
    assert all(len(w.records[s]) >= 3 for s in ("bank", "kraken", "binance", "wallet"))
    with pytest.raises(ValueError):
        generate(size=0)


# --- record validity ---------------------------------------------------------------------


def test_every_record_validates_unchanged(world: DemoWorld) -> None:
    for name, recs in (*world.records.items(), *world.pending.items()):
        for r in recs:
            assert r.source == name
            before = dataclasses.replace(r, attrs=dict(r.attrs))
            assert validate(r) is r
            assert r == before  # nothing needed normalising
            assert r.ts.tzinfo is not None and r.ts.utcoffset() == timedelta(0)
            assert r.ts.tzinfo is UTC


def test_records_sorted_by_ts(world: DemoWorld) -> None:
    for recs in (*world.records.values(), *world.pending.values()):
        assert all(a.ts <= b.ts for a, b in pairwise(recs))


def test_unique_external_ids(world: DemoWorld) -> None:
    for name, recs in world.records.items():
        ids = [r.external_id for r in recs]
        assert len(ids) == len(set(ids)), name


def test_amount_precision(world: DemoWorld) -> None:
    def check(asset: str, d: Decimal) -> None:
        assert isinstance(d, Decimal)
        exp = d.as_tuple().exponent
        assert isinstance(exp, int)
        if asset == "ETH":
            assert exp in (-8, -18), d
        else:
            assert exp == -demo.PLACES[asset], (asset, d)

    for recs in (*world.records.values(), *world.pending.values()):
        for r in recs:
            check(r.asset, r.amount)
            assert r.amount != 0
            if r.fee is not None:
                assert r.fee_asset is not None
                check(r.fee_asset, r.fee)
                assert r.fee > 0
    for p in world.prices:
        assert isinstance(p.close, Decimal) and p.close > 0
        assert p.source == "demo" and p.interval == "1d"
    assert {(p.base, p.quote) for p in world.prices} == {
        ("BTC", "EUR"), ("ETH", "EUR"), ("USDT", "EUR"), ("BTC", "USDT")}


def _walk_no_float(obj: Any, where: str) -> None:
    assert not isinstance(obj, float), where
    if isinstance(obj, dict):
        for k, v in obj.items():
            _walk_no_float(k, where)
            _walk_no_float(v, f"{where}.{k}")
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _walk_no_float(v, f"{where}[{i}]")


def test_no_float_anywhere(world: DemoWorld) -> None:
    for recs in (*world.records.values(), *world.pending.values()):
        for r in recs:
            for f in dataclasses.fields(r):
                _walk_no_float(getattr(r, f.name), f"{r.source}:{r.external_id}.{f.name}")
            assert r.raw, r
    for p in world.prices:
        _walk_no_float(dataclasses.astuple(p), "price")
    _walk_no_float(world.sources, "sources")


def test_identifiers_look_real(world: DemoWorld) -> None:
    hexdigits = set("0123456789abcdef")
    for r in world.records["wallet"]:
        assert len(r.external_id) == 64 and set(r.external_id) <= hexdigits
        assert r.txid == r.external_id
    for r in world.records["bank"]:
        iban = r.raw["IBAN"] if r.raw else ""
        if iban:  # mod-97 check digits are right
            digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
            assert int(digits) % 97 == 1, iban
        assert r.booking_date is not None and r.value_date is not None
        assert r.booking_date.weekday() < 5
    for r in world.records["ledger"]:
        assert r.account in demo.LEDGER_ACCOUNTS
    kraken_trades = [r for r in world.records["kraken"] if r.kind == "trade"]
    assert kraken_trades and all(r.external_id[0] == "T" and len(r.external_id) == 19
                                 for r in kraken_trades)


# --- ground truth ------------------------------------------------------------------------


def test_truth_covers_every_record_exactly_once(world: DemoWorld) -> None:
    names = {p.name for p in world.pairs}
    assert {g.pair for g in world.truth} == names
    for pair in world.pairs:
        left, right = _side_records(world, pair)
        groups = world.truth_for(pair.name)
        seen_left = Counter(i for g in groups for i in g.left)
        seen_right = Counter(i for g in groups for i in g.right)
        assert set(seen_left) == set(left), pair.name
        assert set(seen_right) == set(right), pair.name
        assert max(seen_left.values()) == 1 and max(seen_right.values()) == 1
        for g in groups:
            assert g.scenario in demo.SCENARIOS
            assert g.left or g.right


def test_every_scenario_occurs(world: DemoWorld) -> None:
    for pair, weights in demo.MIX.items():
        found = {g.scenario for g in world.truth_for(pair)}
        assert found == set(weights), pair


def test_group_shapes_and_sums(world: DemoWorld) -> None:
    for pair in world.pairs:
        left, right = _side_records(world, pair)
        for g in world.truth_for(pair.name):
            sc = g.scenario
            if sc in ("exact", "lag", "typo", "decoy", "pending"):
                assert len(g.left) == 1 and len(g.right) == 1, g
                assert left[g.left[0]].amount == right[g.right[0]].amount, g
                assert left[g.left[0]].asset == right[g.right[0]].asset, g
            elif sc == "fee":
                assert len(g.left) == 1 and len(g.right) == 1, g
                lr, rr = left[g.left[0]], right[g.right[0]]
                assert rr.fee is not None and rr.fee > 0 and rr.fee_asset == rr.asset
                assert rr.amount == lr.amount - rr.fee, g
                assert rr.attrs.get("fee_included") is True
            elif sc == "n:1":
                assert len(g.left) >= 2 and len(g.right) == 1, g
                assert _amounts(g.left, left) == _amounts(g.right, right), g
            elif sc == "1:n":
                assert len(g.left) == 1 and len(g.right) >= 2, g
                assert _amounts(g.left, left) == _amounts(g.right, right), g
            elif sc == "reversal":
                assert bool(g.left) != bool(g.right), g
                ids, recs = (g.left, left) if g.left else (g.right, right)
                live = [recs[i] for i in ids if recs[i].status != "reversed"]
                assert sum((r.amount for r in live), Decimal(0)) == 0, g
                assert len(ids) == 2 or recs[ids[0]].status == "reversed", g
            else:
                assert sc == "break"
                assert bool(g.left) != bool(g.right) and len(g.left) + len(g.right) == 1, g


def test_exact_is_clean(world: DemoWorld) -> None:
    left, right = _side_records(world, world.pair("ledger-bank"))
    for g in _groups(world, "ledger-bank", "exact"):
        lr, br = left[g.left[0]], right[g.right[0]]
        assert lr.ts.date() == br.booking_date
        assert lr.reference == br.reference and lr.counterparty == br.counterparty


def test_typos_differ_from_the_ledger(world: DemoWorld) -> None:
    left, right = _side_records(world, world.pair("ledger-bank"))
    groups = _groups(world, "ledger-bank", "typo")
    assert groups
    for g in groups:
        lr, br = left[g.left[0]], right[g.right[0]]
        assert (lr.reference, lr.counterparty) != (br.reference, br.counterparty), g
    for pair in ("ledger-kraken", "ledger-wallet"):
        left, right = _side_records(world, world.pair(pair))
        for g in _groups(world, pair, "typo"):
            lr, rr = left[g.left[0]], right[g.right[0]]
            assert (lr.txid, lr.reference) != (rr.txid, rr.reference), g


def test_bank_lag_crosses_weekends(world: DemoWorld) -> None:
    left, right = _side_records(world, world.pair("ledger-bank"))
    groups = _groups(world, "ledger-bank", "lag")
    assert len(groups) >= 20
    crossing = 0
    for g in groups:
        d = left[g.left[0]].ts.date()
        b = right[g.right[0]].booking_date
        assert b is not None and b.weekday() < 5
        assert 1 <= (b - d).days <= 4, (d, b)
        if d.weekday() == 4:  # a Friday payment books Monday (or Tuesday)
            assert b.weekday() in (0, 1), (d, b)
        days = [d + timedelta(days=i) for i in range((b - d).days + 1)]
        crossing += any(x.weekday() >= 5 for x in days)
    assert crossing >= len(groups) // 2


def test_decoys_have_equal_amount_twins(world: DemoWorld) -> None:
    round_seen = False
    for pair in world.pairs:
        left, right = _side_records(world, pair)
        decoys = [(right[g.right[0]], left[g.left[0]]) for g in _groups(world, pair.name, "decoy")]
        assert len(decoys) >= 2, pair.name
        for rr, lr in decoys:
            twins = [o for o, _ in decoys if o is not rr and o.amount == rr.amount
                     and abs(o.ts - rr.ts) <= timedelta(days=4)]
            assert twins, (pair.name, rr)
            # the twin's own ledger line is not this one: only reference/counterparty/txid
            # tells them apart
            assert all(t.external_id != rr.external_id for t in twins)
            assert lr.amount == rr.amount
            if rr.asset == "EUR" and rr.amount % 100 == 0:
                round_seen = True
    assert round_seen


def test_pending_versions(world: DemoWorld) -> None:
    booked = {(r.source, r.external_id): r for recs in world.records.values() for r in recs}
    for name in ("bank", "kraken", "binance", "wallet"):
        assert world.pending[name], name
    assert not world.pending["ledger"]
    for recs in world.pending.values():
        ids = [r.external_id for r in recs]
        assert len(ids) == len(set(ids))
        for p in recs:
            assert p.status == "pending"
            b = booked[(p.source, p.external_id)]
            assert b.status == "booked"
            assert p.ts <= b.ts
    by_id = {(g.pair, i): g for g in world.truth for i in g.right}
    for p in world.pending["bank"]:
        assert by_id[("ledger-bank", p.external_id)].scenario == "pending"
        assert p.booking_date is None


def test_reversals_on_both_sides(world: DemoWorld) -> None:
    groups = [g for g in world.truth if g.scenario == "reversal"]
    assert any(g.left for g in groups) and any(g.right for g in groups)
    statuses = {r.status for recs in world.records.values() for r in recs}
    assert "reversed" in statuses


def test_mix_is_roughly_as_documented() -> None:
    s = summary(generate(size=4000, seed=3))
    total = s["truth_groups"]
    share = {k: v / total for k, v in s["scenarios"].items()}
    assert 0.45 < share["exact"] < 0.65
    for name in ("fee", "lag", "typo", "decoy"):
        assert 0.03 < share[name] < 0.16, (name, share[name])
    for name in ("n:1", "1:n", "pending", "reversal", "break"):
        assert 0.005 < share[name] < 0.07, (name, share[name])


def test_summary(world: DemoWorld) -> None:
    s = summary(world)
    assert s["records"] == {k: len(v) for k, v in world.records.items()}
    assert s["pending"] == {k: len(v) for k, v in world.pending.items()}
    assert s["truth_groups"] == len(world.truth)
    assert sum(s["scenarios"].values()) == len(world.truth)
    assert set(s["by_pair"]) == {p.name for p in world.pairs}
    assert sum(s["ledger_by_account"].values()) == len(world.records["ledger"])
    assert s["prices"] == len(world.prices)


# --- the package's one scenario table, and the workspace built from the world ---------------


def test_one_scenario_table_drives_every_generator() -> None:
    from recon_tui.demo import scenarios
    from recon_tui.demo.bank import _BankGen
    from recon_tui.demo.exchange import _ExchangeGen
    from recon_tui.demo.wallet import _WalletGen

    assert demo.SCENARIOS == tuple(sc.name for sc in scenarios.TABLE)
    assert list(demo.MIX) == [p.name for p in demo.PAIRS] == list(scenarios.PAIR_ORDER)
    for gen in (_BankGen, _ExchangeGen, _WalletGen):
        for sc in scenarios.TABLE:  # each generator plays every scenario of the table itself
            assert getattr(gen, sc.method) is not getattr(scenarios._PairGen, sc.method), (gen, sc)


def test_workspace_is_what_syncing_the_demo_sources_makes(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_demo writes the world once, straight in; the store equals the one the demo
    adapters' sync path makes (records and their ids, versions, groups, cursors), and a
    later sync finds nothing new."""
    import hashlib

    from recon_tui.services.matching import MatchService
    from recon_tui.services.sync import sync_all
    from recon_tui.services.workspace import build_demo
    from recon_tui.store import Store
    from recon_tui.store.pairs import add_pair
    from recon_tui.store.sources import add_source

    monkeypatch.setenv("RECON_TUI_PASSPHRASE", "demo")
    size = 120
    old = Store.init(tmp_path / "sync.db", passphrase="demo", use_keyring=False)
    world = generate(size=size, seed=7)
    for src in world.sources:
        add_source(old, src["name"], "demo", {"feed": src["name"], "size": size, "seed": 7},
                   label=src.get("label"))  # fmt: skip
    for i, pair in enumerate(world.pairs):
        add_pair(old, pair, position=i)
    sync_all(old)
    MatchService(old).run_all()
    new = build_demo(tmp_path / "direct.db", size=size, seed=7)

    def digest(store: Store) -> str:
        h = hashlib.sha256()
        for q in (
            "SELECT id, source, external_id, content_hash, removed, version FROM records "
            "ORDER BY id",
            "SELECT pair, kind, state, origin, rule, score FROM match_groups ORDER BY id",
            "SELECT group_id, record_id, side FROM group_members ORDER BY 1, 2",
            "SELECT record_id, version, snapshot FROM record_versions ORDER BY 1, 2",
            "SELECT name, cursor, records_added, records_changed FROM sources ORDER BY name",
        ):
            for row in store.conn.execute(q):
                h.update(repr(row).encode())
        return h.hexdigest()

    assert digest(new) == digest(old)
    assert all(r.added == 0 and r.changed == 0 for r in sync_all(new))
    old.close()
    new.close()
