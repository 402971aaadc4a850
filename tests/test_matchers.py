"""Unit and property tests of the matching engine (matchers/)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matchers import Engine, Proposal, RuleError, RuleSet, load_rules
from matchers.items import business_index
from matchers.normalize import norm_name, norm_ref, ref_family
from matchers.synth import generate
from recon_tui.model import Price, Record

T0 = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)  # a Monday


def rec(rid: int, amount: str, *, source: str = "ledger", days: int = 0, **kw: object) -> Record:
    return Record(source=source, external_id=f"{source}-{rid}", kind="payment",
                  ts=T0 + timedelta(days=days), asset=kw.pop("asset", "EUR"),  # type: ignore[arg-type]
                  amount=Decimal(amount), id=rid, **kw)  # type: ignore[arg-type]


def run(left: list[Record], right: list[Record], **kw: object) -> list[Proposal]:
    e = Engine("default", prices=kw.pop("prices", ()))  # type: ignore[arg-type]
    e.load(left, right)
    return e.run(**kw).proposals  # type: ignore[arg-type]


def autos(ps: list[Proposal]) -> set[tuple[tuple[int, ...], tuple[int, ...]]]:
    return {(p.left_ids, p.right_ids) for p in ps if p.decision == "auto"}


# --- normalisation ---------------------------------------------------------------------


def test_normalisation() -> None:
    assert norm_name("ACME LIMITED") == norm_name("Acme Ltd.") == "acme"
    assert norm_name("Globex GmbH") == "globex"
    assert norm_ref("REF: INV-001") == norm_ref("inv 001") == norm_ref("SEPA CT INV-001")
    assert ref_family("BATCH-0042-1") == ref_family("BATCH 0042") == "0042"


def test_business_days_weekend() -> None:
    fri = datetime(2024, 3, 8).toordinal()
    assert business_index(fri + 3) - business_index(fri) == 1  # Fri -> Mon
    assert business_index(fri + 1) == business_index(fri + 3)  # Sat settles Monday


# --- exact keys ------------------------------------------------------------------------


def test_exact_txid_reference_e2e() -> None:
    left = [
        rec(1, "-0.5", asset="BTC", txid="0xABC"),
        rec(2, "-100", reference="INV-7"),
        rec(3, "250", attrs={"end_to_end_id": "E2E-9"}),
    ]
    right = [
        rec(11, "-0.5", source="wallet", asset="BTC", txid="abc", days=1),
        rec(12, "-100", source="bank", reference="REF INV 7", days=2),
        rec(13, "250", source="bank", attrs={"end_to_end_id": "e2e-9"}),
    ]
    ps = run(left, right)
    assert autos(ps) == {((1,), (11,)), ((2,), (12,)), ((3,), (13,))}
    rules = {p.rule for p in ps}
    assert rules == {"txid", "reference", "end-to-end-id"}


def test_fee_adjustment_recorded_and_decimal() -> None:
    left = [rec(1, "-100.00", reference="PAY-55", counterparty="Acme Ltd")]
    right = [rec(2, "-98.50", source="bank", reference="PAY-55", counterparty="ACME LIMITED",
                 fee=Decimal("1.50"), fee_asset="EUR")]
    [p] = run(left, right)
    assert p.decision == "auto"
    [adj] = p.adjustments
    assert adj.kind == "fee" and adj.asset == "EUR" and adj.amount == Decimal("-1.50")
    assert isinstance(adj.amount, Decimal)
    assert isinstance(p.explanation["amount"]["difference"], str)
    assert p.explanation["amount"]["difference"] == "1.5"


def test_rounding_adjustment() -> None:
    left = [rec(1, "10.005", reference="R-1")]
    right = [rec(2, "10.00", source="bank", reference="R-1")]
    [p] = run(left, right)
    assert [a.kind for a in p.adjustments] == ["rounding"]
    assert p.adjustments[0].amount == Decimal("0.005")


def test_weekend_lag_is_business_days() -> None:
    fri = rec(1, "-70.00", reference="X-1", days=4)  # Friday
    mon = rec(2, "-70.00", source="bank", reference="X-1", days=7)  # Monday
    [p] = run([fri], [mon])
    assert p.explanation["date"]["lag_days"] == 1


# --- ambiguity, decoys, rejection ----------------------------------------------------


def test_decoy_with_equal_amount_does_not_steal() -> None:
    left = [
        rec(1, "-500.00", counterparty="Globex GmbH", memo="rent march"),
        rec(2, "-500.00", counterparty="Initech Inc", memo="refund"),
    ]
    right = [rec(3, "-500.00", source="bank", counterparty="GLOBEX", memo="rent march")]
    ps = run(left, right)
    assert autos(ps) == {((1,), (3,))}


def test_reference_decides_between_equal_amounts() -> None:
    left = [rec(1, "-500.00", reference="INV-1"), rec(2, "-500.00", reference="INV-2")]
    right = [rec(3, "-500.00", source="bank", reference="INV-2")]
    assert autos(run(left, right)) == {((2,), (3,))}


def test_ambiguity_is_never_auto() -> None:
    left = [rec(1, "-500.00", counterparty="Acme"), rec(2, "-500.00", counterparty="Acme")]
    right = [rec(3, "-500.00", source="bank", counterparty="Acme")]
    ps = run(left, right)
    assert not autos(ps)
    [p] = [p for p in ps if 3 in p.ids]
    assert p.decision == "suggest" and p.alternatives
    shown = {i for a in p.alternatives for i in a.left_ids} | set(p.left_ids)
    assert shown == {1, 2}


def test_duplicate_reference_is_ambiguous() -> None:
    left = [rec(1, "-20.00", reference="DUP-1"), rec(2, "-20.00", reference="DUP-1")]
    right = [rec(3, "-20.00", source="bank", reference="DUP-1")]
    ps = run(left, right)
    assert not autos(ps) and ps[0].alternatives


def test_rejected_pair_stays_rejected() -> None:
    left = [rec(1, "-100", reference="INV-9")]
    right = [rec(2, "-100", source="bank", reference="INV-9")]
    assert autos(run(left, right)) == {((1,), (2,))}
    for rej in ({frozenset({1, 2})}, {(1, 2)}):
        ps = run(left, right, rejected=rej)
        assert all(p.ids != {1, 2} for p in ps)
        e = Engine("default")
        e.load(left, right)
        assert all(set(c.counterpart_ids) != {2} for c in e.candidates(1, rejected=rej))


def test_matched_ids_are_left_alone() -> None:
    left = [rec(1, "-100", reference="INV-9")]
    right = [rec(2, "-100", source="bank", reference="INV-9")]
    assert run(left, right, matched={2}) == []


# --- groups and cross-asset ----------------------------------------------------------


def test_many_to_one_batch() -> None:
    left = [rec(i, a, reference=f"BATCH-77-{i}", counterparty="Acme")
            for i, a in ((1, "100.10"), (2, "250.00"), (3, "49.90"))]
    left.append(rec(4, "400.00", counterparty="Other Co"))  # same total, other family
    right = [rec(9, "400.00", source="bank", reference="BATCH-77", counterparty="ACME LTD",
                 days=1)]
    ps = run(left, right)
    [p] = [p for p in ps if 9 in p.ids]
    assert p.left_ids == (1, 2, 3) and p.rule == "batch-settlement"


def test_one_to_many_split_fills_with_fee() -> None:
    left = [rec(1, "-3000.00", reference="ORD-5", counterparty="Kraken")]
    right = [rec(i, a, source="kraken", reference=f"ORD-5 part {i - 10}", counterparty="kraken")
             for i, a in ((11, "-1000.00"), (12, "-1500.00"), (13, "-499.00"))]
    [p] = [p for p in run(left, right) if 1 in p.ids]
    assert p.right_ids == (11, 12, 13)
    assert [(a.kind, a.amount) for a in p.adjustments] == [("fee", Decimal("-1.00"))]


def test_weekly_payout_of_daily_accruals_is_a_candidate() -> None:
    daily = ("0.00740308", "0.00243278", "0.00855091", "0.00726303", "0.00330109")
    left = [rec(i + 1, a, asset="ETH", days=i, reference=f"STAKING ETH 2024-03-0{4 + i}")
            for i, a in enumerate(daily)]
    left.append(rec(9, "0.00330109", asset="ETH", days=9, reference="STAKING ETH 2024-03-13"))
    right = [rec(20, "0.02895089", source="kraken", asset="ETH", days=6,
                 reference="STAKING ETH WEEK 2024-03-10")]
    e = Engine("default")
    e.load(left, right)
    [best, *_] = e.candidates(20, k=3)
    assert best.left_ids == (1, 2, 3, 4, 5) and best.rule == "periodic-sum"
    assert not autos(e.run().proposals)  # suggest-only: the operator confirms


def test_invoice_paid_in_several_transfers_is_a_candidate() -> None:
    left = [rec(1, "0.01763352", asset="BTC", reference="BTC-INV-000056",
                counterparty="Alder Software AB")]
    right = [rec(i, a, source="wallet", asset="BTC", txid=f"{i:064x}")
             for i, a in ((11, "0.00443228"), (12, "0.01282474"), (13, "0.00037650"),
                          (14, "0.00100000"))]
    e = Engine("default")
    e.load(left, right)
    assert any(c.right_ids == (11, 12, 13) and c.rule == "same-day-split"
               for c in e.candidates(1, k=3))
    assert not autos(e.run().proposals)


def test_cross_asset_fx() -> None:
    prices = [Price("BTC", "EUR", T0.replace(hour=0), "1d", Decimal("60000"), "test")]
    left = [rec(1, "-0.5", asset="BTC", counterparty="OTC desk")]
    right = [rec(2, "-30150.00", source="bank", counterparty="OTC desk")]
    ps = run(left, right, prices=prices)
    [p] = ps
    assert p.rule == "cross-asset" and p.decision == "suggest"
    [adj] = p.adjustments
    assert adj.kind == "fx" and adj.asset == "EUR" and adj.amount == Decimal("150")


# --- rules as data -------------------------------------------------------------------

GOOD = """
[ruleset]
name = "t"
[[rule]]
name = "r1"
matcher = "tolerance"
amount_abs = "0.01"
outcome = "auto"
auto_threshold = 0.9
"""


def test_rules_load_and_default() -> None:
    assert RuleSet.from_toml(GOOD).rules[0].amount_abs == Decimal("0.01")
    assert load_rules("default").rules[0].name == "txid"
    with pytest.raises(RuleError, match="no such"):
        load_rules("nope")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('amount_abs = "0.01"', "amount_abs = 0.01"), "amount_abs"),
        (('matcher = "tolerance"', 'matcher = "magic"'), "matcher"),
        (("auto_threshold = 0.9", "auto_threshold = 1.5"), "auto_threshold"),
        (('outcome = "auto"', 'outcome = "auto"\nweights = { colour = 1 }'), "weights.colour"),
        (('outcome = "auto"', 'outcome = "auto"\ntype = "1:n"'), "type"),
        (('outcome = "auto"', 'outcome = "auto"\nfee_min = "3"\nfee_max = "1"'), "fee_min"),
        (('outcome = "auto"', 'outcome = "auto"\ndate_widnow_days = 3'), "date_widnow_days"),
    ],
)
def test_invalid_rules_name_rule_and_field(change: tuple[str, str], field: str) -> None:
    with pytest.raises(RuleError) as info:
        RuleSet.from_toml(GOOD.replace(*change))
    assert "'r1'" in str(info.value) and f"'{field}'" in str(info.value)
    assert info.value.rule == "r1" and info.value.field == field


# --- candidates, synthetic quality, incremental == full -----------------------------


def test_candidates_ranked_and_explained() -> None:
    w = generate(300, seed=3)
    e = Engine("default")
    e.load(w.left, w.right)
    hits = 0
    for t in w.truth:
        if len(t.left) == 1:
            cands = e.candidates(t.left[0], k=3)
            assert all(c.explanation for c in cands)
            assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)
            hits += any(c.right_ids == t.right for c in cands)
    assert hits >= 0.97 * sum(1 for t in w.truth if len(t.left) == 1)


def test_synthetic_precision_and_no_float_amounts() -> None:
    w = generate(1500, seed=7)
    e = Engine("default")
    e.load(w.left, w.right)
    ps = e.run().proposals
    truth = {(t.left, t.right) for t in w.truth}
    auto = autos(ps)
    assert auto <= truth
    assert len(auto) >= 0.9 * len(truth)
    seen: set[int] = set()
    for p in ps:
        if p.decision == "auto":
            assert not (p.ids & seen)  # auto proposals never conflict
            seen |= p.ids
        for a in p.adjustments:
            assert isinstance(a.amount, Decimal)


def _key(p: Proposal) -> tuple[object, ...]:
    return (p.left_ids, p.right_ids, p.rule, p.decision, p.score,
            tuple(sorted((a.left_ids, a.right_ids) for a in p.alternatives)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), size=st.integers(5, 120), frac=st.floats(0.05, 0.6))
def test_incremental_equals_full(seed: int, size: int, frac: float) -> None:
    """What the bounded incremental closure guarantees (see matchers/engine.py): every
    incremental auto is a full-run auto, every proposal involves a new record, and when
    the closure is complete the proposals for the new records equal the full run's."""
    w = generate(size, seed=seed, days=20)  # dense: many shared blocks
    rng = random.Random(seed)
    records = [(0, r) for r in w.left] + [(1, r) for r in w.right]
    new = {r.id for _, r in records if rng.random() < frac}
    rejected = {frozenset(t.left + t.right) for t in w.truth[:2]}
    matched = {r.id for _, r in records[:3]}
    # Incremental: old records loaded (and matched once), then the sync adds new ones.
    inc = Engine("default")
    inc.check_closure = True
    inc.load([r for s, r in records if s == 0 and r.id not in new],
             [r for s, r in records if s == 1 and r.id not in new])
    inc.run(rejected=rejected, matched=matched)
    inc.add(left=[r for s, r in records if s == 0 and r.id in new],
            right=[r for s, r in records if s == 1 and r.id in new])
    res = inc.run(new_ids=new, rejected=rejected, matched=matched)
    got = res.proposals
    full = Engine("default")
    full.load([r for s, r in records if s == 0], [r for s, r in records if s == 1])
    want = full.run(rejected=rejected, matched=matched).proposals
    live_new = new - matched
    assert all(p.ids & live_new for p in got)
    assert autos(got) <= autos(want)
    if res.stats.get("closure_truncated", 0) == 0:
        want_here = [p for p in want if p.ids & live_new]
        assert sorted(map(_key, got)) == sorted(map(_key, want_here))


@pytest.mark.parametrize(("max_block", "days", "skip"), [(64, 20, 0), (3, 5, 7), (1, 3, 0)])
def test_vectorised_full_run_candidates_equal_per_record_probe(
    max_block: int, days: int, skip: int
) -> None:
    """matchers.vector (full runs) yields exactly the pairs and scores of the
    per-record probe (tolerance.generate), oversize fallbacks and closed ids included."""
    from collections import Counter

    from matchers import tolerance, vector
    from matchers.context import Ctx
    from matchers.items import LEFT, RIGHT

    w = generate(1500, seed=5, days=days)
    e = Engine("default")
    e.load(w.left, w.right)
    for side in e.sides:
        side.max_block = max_block  # small caps: most cells oversized, strict drops

    def is_open(i: int) -> bool:
        return not skip or i % skip != 0

    ctx = Ctx(e.sides, e.prices, Counter(), is_open)
    rules = [r for r in e.rules.rules if r.matcher in ("tolerance", "similarity")]
    want = [
        sorted((s.left, s.right, s.score) for it in e.sides[LEFT].items.values()
               if is_open(it.id) for s in tolerance.generate(ctx, r, it)[0])
        for r in rules
    ]
    got = vector.collect(rules, e.sides[LEFT], e.sides[RIGHT], is_open, Counter())
    assert [sorted((s.left, s.right, s.score) for s in g) for g in got] == want
    assert any(want)
