"""A full run keeps its pure group searches across fixpoint passes (``Ctx.keep``): the
same proposals, explanations and counters as when every pass searches again, and no
search asked twice with the same single and open members; the meet-in-the-middle search
in numpy gives the Python one's answer."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matchers.engine as engine_mod
from bench.skewed_world import CELLS
from bench.skewed_world import generate as skewed
from matchers import Engine, groups, load_rules
from matchers.context import Ctx
from matchers.items import RIGHT, prepare
from recon_tui.model import Record
from tests.test_columnar import _fingerprint


def _run(world: Any) -> tuple[list[Any], dict[str, Any]]:
    e = Engine("default")
    e.load(world.left, world.right)
    res = e.run()
    return sorted(_fingerprint(p) for p in res.proposals), dict(res.stats)


@pytest.mark.parametrize(("cell", "seed"), [("hard", 1), ("batches", 5)])
def test_kept_searches_change_nothing(cell: str, seed: int,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    world = skewed(3000, CELLS[cell], seed=seed)
    calls: Counter[tuple[Any, ...]] = Counter()
    real = groups.search

    def counted(rule: Any, one: Any, members: Any) -> Any:
        calls[(rule.name, one.id, tuple(m.id for m in members))] += 1
        return real(rule, one, members)

    monkeypatch.setattr(groups, "search", counted)
    kept, kept_stats = _run(world)
    assert calls, "the world has no group search: the test proves nothing"
    assert max(calls.values()) == 1  # no search repeated across the passes
    assert kept_stats["fixpoint_passes"] >= 1

    calls.clear()
    # Every pass searching again: the pipeline's context without the run's cache.
    monkeypatch.setattr(engine_mod, "Ctx",
                        lambda *a, **k: Ctx(*a, **{**k, "keep": None}))  # fmt: skip
    again, again_stats = _run(world)
    assert max(calls.values()) > 1  # the passes did repeat searches
    timings = {k for k in kept_stats if "seconds" in k}
    assert again == kept
    assert {k: v for k, v in again_stats.items() if k not in timings} == {
        k: v for k, v in kept_stats.items() if k not in timings}


def _block(cents: list[int], pick: list[int], max_group: int, round_share: bool
           ) -> tuple[list[Any], Decimal, Any]:
    """A block of bank lines of these cents (rounded to 100.00s: many equal sums), a
    target that some of them sum to exactly, and a batch rule of that group size."""
    if round_share:
        cents = [c - c % 10_000 or 10_000 for c in cents]
    members = [prepare(Record(source="bank", external_id=f"b{i}", kind="payment",
                              ts=datetime(2026, 3, 2, tzinfo=UTC), asset="EUR",
                              amount=Decimal(c) / 100, id=i + 1), RIGHT)
               for i, c in enumerate(cents)]
    target = sum((abs(members[i % len(members)].amount) for i in set(pick)), Decimal(0))
    return members, target, replace(load_rules("default").rules[5], max_group=max_group)


def _ids(found: list[tuple[Any, ...]]) -> list[list[int]]:
    return [[m.id for m in s] for s in found]


@settings(max_examples=60, deadline=None)
@given(cents=st.lists(st.integers(1, 500_000), min_size=2, max_size=24),
       pick=st.lists(st.integers(0, 23), min_size=1, max_size=6),
       gap=st.sampled_from(["0", "0.01", "2.50"]), max_group=st.integers(2, 12),
       round_share=st.booleans())
def test_meet_in_the_middle_in_numpy_equals_the_python_search(
        cents: list[int], pick: list[int], gap: str, max_group: int, round_share: bool
) -> None:
    """The numpy halves (``groups._halves_arrays``) give the Python search's solutions in
    its order, completeness flag included, on crowded, round and exact-sum blocks."""
    members, target, rule = _block(cents, pick, max_group, round_share)
    got = groups._search_mitm(rule, target, Decimal(gap), members)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(groups, "_INT64_SAFE", 0)  # every sum through the Python path
        want = groups._search_mitm(rule, target, Decimal(gap), members)
    assert _ids(got[0]) == _ids(want[0])
    assert got[1] == want[1]


def _plain_dfs(max_group: int, target: Decimal, gap: Decimal, members: list[Any]
               ) -> tuple[list[tuple[Any, ...]], bool]:
    """The depth-first search as it read before it was tuned: Decimal sums, every
    index tested in turn (the oracle of ``groups._search_dfs``)."""
    hi, lo = target + gap, target - gap
    ms = sorted(members, key=lambda m: (-abs(m.amount), m.id))
    mags = [abs(m.amount) for m in ms]
    suffix = [Decimal(0)] * (len(ms) + 1)
    for i in range(len(ms) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + mags[i]
    if suffix[0] < lo:
        return [], True
    out: list[tuple[Any, ...]] = []
    budget = [groups.NODE_BUDGET]
    chosen: list[int] = []

    def dfs(start: int, total: Decimal) -> None:
        if budget[0] <= 0 or len(out) >= groups.MAX_SOLUTIONS:
            return
        budget[0] -= 1
        if len(chosen) >= 2 and lo <= total <= hi:
            out.append(tuple(ms[i] for i in chosen))
        if len(chosen) >= max_group:
            return
        for i in range(start, len(ms)):
            if total + suffix[i] < lo:
                return
            t = total + mags[i]
            if t > hi:
                continue
            chosen.append(i)
            dfs(i + 1, t)
            chosen.pop()

    dfs(0, Decimal(0))
    return out, budget[0] > 0 and len(out) < groups.MAX_SOLUTIONS


@settings(max_examples=80, deadline=None)
@given(cents=st.lists(st.integers(1, 500_000), min_size=1, max_size=30),
       pick=st.lists(st.integers(0, 29), min_size=1, max_size=6),
       gap=st.sampled_from(["0", "0.01", "2.50", "40"]), max_group=st.integers(2, 12),
       round_share=st.booleans())
def test_tuned_depth_first_search_equals_the_plain_one(
        cents: list[int], pick: list[int], gap: str, max_group: int, round_share: bool
) -> None:
    """Scaled integers and bisected child ranges: the same solutions, in the same
    order, and the same budget verdict as the plain Decimal search."""
    members, target, rule = _block(cents, pick, max_group, round_share)
    got = groups._search_dfs(rule, target, Decimal(gap), members)
    want = _plain_dfs(max_group, target, Decimal(gap), members)
    assert _ids(got[0]) == _ids(want[0])
    assert got[1] == want[1]
