"""The quality benchmark's split of true groups into matchable and ambiguous ones
(``bench/quality.py``): a group is ambiguous only when one of its records has an
observationally identical twin whose swap keeps both assignments within the date
window; the rest are matchable, and an ambiguous group counts as suggested when the
truth or an equivalent (twins swapped) is among the first three candidates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from bench.quality import equivalent, evaluate_cases, twin_sets
from recon_tui.model import Record

MONDAY = date(2026, 3, 2)


def _rec(rid: int, source: str, amount: str, day: date, **kw: object) -> Record:
    return Record(source=source, external_id=f"{source}-{rid}", kind="payment",
                  ts=datetime.combine(day, datetime.min.time(), tzinfo=UTC), asset="EUR",
                  amount=Decimal(amount), booking_date=day, value_date=day, id=rid,
                  **kw)  # type: ignore[arg-type]


def ledger(rid: int, amount: str, day: date = MONDAY, **kw: object) -> Record:
    return _rec(rid, "ledger", amount, day, **kw)


def bank(rid: int, amount: str, day: date = MONDAY, **kw: object) -> Record:
    return _rec(rid, "bank", amount, day, **kw)


def _world() -> tuple[list[Record], list[Record], list[tuple[str, tuple[tuple[int, ...],
                                                                      tuple[int, ...]]]]]:
    later = MONDAY + timedelta(days=28)  # 20 business days on
    left = [
        ledger(1, "2500.00", reference="INV100001", counterparty="Acme Ltd"),
        ledger(2, "2500.00", reference="INV100002", counterparty="Acme Ltd"),
        ledger(3, "2500.00", reference="INV100003", counterparty="Acme Ltd"),
        ledger(4, "2500.00", later, reference="INV100004", counterparty="Acme Ltd"),
        ledger(5, "700.00", reference="INV100005", counterparty="Globex SA"),
        ledger(7, "812.40", reference="INV100007", counterparty="Initech Inc"),
        ledger(9, "100.10", reference="INV100009-0", counterparty="Hooli BV"),
        ledger(10, "200.20", reference="INV100009-1", counterparty="Hooli BV"),
    ]
    right = [
        # Two identical bank lines of one payer on one day, no remittance: which pays
        # INV100001 and which INV100002 is written nowhere.
        bank(11, "2500.00", counterparty="ACME LIMITED"),
        bank(12, "2500.00", counterparty="ACME LIMITED"),
        # The same amount and payer, but the bank carries the reference: told apart.
        bank(13, "2500.00", reference="INV100003", counterparty="ACME LIMITED"),
        # Identical to 11 and 12 but four weeks later: swapping it breaks the window.
        bank(14, "2500.00", later, counterparty="ACME LIMITED"),
        # A line and its identical twin a day later that pays nothing (a break).
        bank(15, "700.00", counterparty="GLOBEX"),
        bank(16, "700.00", MONDAY + timedelta(days=1), counterparty="GLOBEX"),
        # Same amount and payer as 17, another memo: the memo tells them apart.
        bank(17, "812.40", counterparty="INITECH", memo="PAYMENT INV100007"),
        bank(18, "812.40", counterparty="INITECH", memo="PAYMENT INV999999"),
        bank(19, "300.30", reference="BATCH INV100009", counterparty="HOOLI"),
    ]
    truth = [
        ("round", ((1,), (11,))), ("round", ((2,), (12,))), ("round", ((3,), (13,))),
        ("round", ((4,), (14,))), ("single", ((5,), (15,))), ("break", ((), (16,))),
        ("single", ((7,), (17,))), ("break", ((), (18,))), ("n:1", ((9, 10), (19,))),
    ]
    return left, right, truth


def test_twins_are_ambiguous_and_the_rest_matchable() -> None:
    left, right, truth = _world()
    twins = twin_sets(truth, [*left, *right])
    assert set(twins) == {((1,), (11,)), ((2,), (12,)), ((5,), (15,))}
    assert twins[((1,), (11,))] == {11: {12}}  # not 14: four weeks away
    assert twins[((2,), (12,))] == {12: {11}}
    assert twins[((5,), (15,))] == {15: {16}}  # the break's line could be the payment


def test_a_twin_outside_the_window_leaves_the_group_matchable() -> None:
    left, right, truth = _world()
    twins = twin_sets(truth, [*left, *right], window=0)
    # Same day: 11 and 12 stay interchangeable; the break a day later no longer is.
    assert set(twins) == {((1,), (11,)), ((2,), (12,))}


def test_an_equivalent_candidate_is_the_truth_with_twins_swapped() -> None:
    left, right, truth = _world()
    twins = twin_sets(truth, [*left, *right])
    g = ((1,), (11,))
    assert equivalent(((1,), (12,)), g, twins[g])
    assert equivalent(g, g, twins[g])
    assert not equivalent(((1,), (13,)), g, twins[g])
    assert not equivalent(((1,), (14,)), g, twins[g])
    assert not equivalent(((2,), (12,)), g, twins[g])  # the ledger side has no twin


def test_the_report_keeps_raw_figures_beside_the_matchable_ones() -> None:
    left, right, truth = _world()
    res = evaluate_cases([("ledger-bank", "default", left, right, truth, [])])
    assert res["ambiguous_share"] == round(3 / 7, 4)
    for key in ("auto_recall", "auto_recall_raw", "top3_accuracy", "top3_accuracy_raw",
                "ambiguous_top3", "ambiguous_auto"):
        assert key in res
    # Precision is never relaxed, and the twins are still offered to the operator.
    assert res["auto_fp"] == 0
    assert res["ambiguous_top3"] in (None, 1.0)
