"""A full run keeps its pure group searches across fixpoint passes (``Ctx.keep``): the
same proposals, explanations and counters as when every pass searches again, and no
search asked twice with the same single and open members."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import matchers.engine as engine_mod
from bench.skewed_world import CELLS
from bench.skewed_world import generate as skewed
from matchers import Engine, groups
from matchers.context import Ctx
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
