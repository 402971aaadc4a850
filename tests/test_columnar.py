"""The columnar candidate path (``Engine.columnar``: exact keys by one in-memory DuckDB
join per key, or the same join in numpy (``Engine.key_join``), tolerance / similarity
block-wise in numpy) gives the reference path's
proposals: same groups, scores, rules, decisions and reasons, same alternatives, same
explanations, same oversize counters — on random synthetic books, on skewed ones (few
counterparties, round amounts, fees, repeats) and on books with crowded keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.skewed_world import CELLS, SkewParams
from bench.skewed_world import generate as skewed
from matchers import Engine, Proposal, tolerance
from matchers.fees import learn_fee_schedule
from matchers.synth import generate as synth
from recon_tui.model import Record

COUNTERS = ("oversized_key_blocks", "oversized_fallbacks", "strict_blocks_dropped",
            "auto", "auto_vetoed", "fixpoint_passes")


def _fingerprint(p: Proposal) -> tuple[Any, ...]:
    expl, adjs = p.explanation, p.adjustments
    return (p.left_ids, p.right_ids, p.rule, p.decision, p.score,
            repr(sorted(expl.items())), repr(adjs),
            sorted((a.left_ids, a.right_ids, a.rule, a.score) for a in p.alternatives))


def _both(left: list[Record], right: list[Record], schedule: Any = None,
          rules: str = "default") -> list[tuple[list[tuple[Any, ...]], dict[str, Any]]]:
    out = []
    for columnar, join in ((True, "duckdb"), (True, "numpy"), (False, "duckdb")):
        e = Engine(rules)
        e.columnar = columnar
        e.key_join = join
        e.fee_schedule = schedule
        e.load(left, right)
        res = e.run()
        out.append((sorted(_fingerprint(p) for p in res.proposals),
                    {k: res.stats.get(k, 0) for k in COUNTERS}))
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), size=st.integers(20, 500))
def test_columnar_equals_reference_on_random_books(seed: int, size: int) -> None:
    (a, sa), (c, sc), (b, sb) = _both(*_sides(synth(size, seed=seed)))
    assert a == b == c
    assert sa == sb == sc


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), size=st.integers(50, 700),
       counterparties=st.integers(2, 30), round_share=st.floats(0.0, 0.9),
       repeat_share=st.floats(0.0, 0.9), empty_share=st.floats(0.0, 0.5),
       learned=st.booleans())
def test_columnar_equals_reference_on_skewed_books(
    seed: int, size: int, counterparties: int, round_share: float, repeat_share: float,
    empty_share: float, learned: bool,
) -> None:
    """Few counterparties and round amounts (crowded blocks, twins), with and without
    a learned fee schedule (the exact rules' learned-fee gaps)."""
    params = SkewParams(counterparties=counterparties, round_share=round_share,
                        repeat_share=repeat_share, empty_share=empty_share)
    w = skewed(size, params, seed=seed)
    schedule = None
    if learned:
        hist = [([r], [b]) for r, b in zip(w.left[:60], w.right[:60], strict=False)]
        schedule = learn_fee_schedule(hist, min_seen=1)
    (a, sa), (c, sc), (b, sb) = _both(w.left, w.right, schedule)
    assert a == b == c
    assert sa == sb == sc


def test_columnar_equals_reference_on_every_skewed_cell() -> None:
    for name in sorted(CELLS):
        w = skewed(1500, CELLS[name], seed=11)
        (a, sa), (c, sc), (b, sb) = _both(w.left, w.right)
        assert a == b == c, name
        assert sa == sb == sc, name


@pytest.mark.parametrize("scan", [0, 10**9])
def test_late_pairs_from_payer_lines_equal_the_bucket_walk(
    scan: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The full run reads late counterparts from the payer's lines over all days
    (``tolerance.payer_lines``), falling back to the date-bucket walk for a long
    range (``LINES_SCAN``): with every range taking either branch, the proposals are
    the reference path's, and late pairs are among them (the test can fail)."""
    monkeypatch.setattr(tolerance, "LINES_SCAN", scan)
    w = skewed(1500, CELLS["lag10"], seed=5)
    (a, sa), (c, sc), (b, sb) = _both(w.left, w.right)
    assert a == b == c
    assert sa == sb == sc
    assert any("late value date" in repr(f[5]) for f in a)


T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _rec(rid: int, source: str, amount: str, days: int, **kw: Any) -> Record:
    return Record(source=source, external_id=f"{source}-{rid}", kind="payment",
                  ts=T0 + timedelta(days=days), asset=kw.pop("asset", "EUR"),
                  amount=Decimal(amount), id=rid, **kw)


def test_crowded_and_beyond_tolerance_keys_agree() -> None:
    """A reference reused by more records than ``max_block`` (oversized: pairs nothing,
    counted per prober), a txid shared by two records, equal references beyond the
    amount and the date tolerance (``beyond`` suggestions), another asset and the
    wrong sign: the columnar join and the per-record probe agree on all of it."""
    left, right = [], []
    rid = 1
    for i in range(80):  # "SALARY" on 80 bank lines: oversized on the right
        right.append(_rec(rid, "bank", "-1000.00", i % 5, reference="SALARY"))
        rid += 1
    for i in range(3):
        left.append(_rec(rid, "ledger", "-1000.00", i, reference="SALARY"))
        rid += 1
    cases = [("100.00", "100.00", 0, "INV1"), ("100.00", "85.00", 1, "INV2"),
             ("100.00", "100.00", 9, "INV3"), ("100.00", "100.00", 30, "INV4"),
             ("250.00", "235.00", 2, "INV5"), ("40.00", "-40.00", 0, "INV6")]
    for la, ra, lag, ref in cases:
        left.append(_rec(rid, "ledger", la, 0, reference=ref, counterparty="Acme Ltd"))
        right.append(_rec(rid + 1, "bank", ra, lag, reference=ref, counterparty="ACME"))
        rid += 2
    left.append(_rec(rid, "ledger", "1.5", 0, asset="BTC", txid="ab12", reference="X9"))
    right.append(_rec(rid + 1, "bank", "1.5", 0, asset="BTC", txid="AB12"))
    right.append(_rec(rid + 2, "bank", "1.49", 1, asset="BTC", txid="ab12"))
    right.append(_rec(rid + 3, "bank", "1.5", 0, asset="ETH", reference="X9"))
    (a, sa), (c, sc), (b, sb) = _both(left, right)
    assert a == b == c
    assert sa == sb == sc
    assert sa["oversized_key_blocks"] >= 3
    assert any(f[3] == "suggest" and "beyond" in f[5] for f in a)  # a beyond suggestion


def _sides(w: Any) -> tuple[list[Record], list[Record]]:
    return w.left, w.right
