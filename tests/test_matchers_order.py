"""Incremental equals full on the skewed world (issue 17): the same book imported in
any order — the pair added before the imports (the ledger file matched alone, then
the bank file incrementally), after them (one full match), the files the other way
round, or the book in ten chronological slices each matched as it arrives — ends,
after a closing `match`, with the same confirmed groups, and none of them wrong.

What makes it hold (``matchers.engine``): an incremental run holds a round-amount pair
until its twin window is covered by both sides (``hold_test``), a below-threshold
group suggestion never consumes its records (``weak_group``), and a group's shared-
identifier block is searched apart from its payer's block (``groups.WEAK_KEYS``)."""

from __future__ import annotations

import pytest

from bench.skewed_world import CELLS, World
from bench.skewed_world import generate as skewed
from matchers import Engine
from recon_tui.model import Record

Groups = set[tuple[tuple[int, ...], tuple[int, ...]]]


def _confirm(e: Engine, new: set[int] | None = None) -> Groups:
    """One `match` (full, or incremental over ``new``) whose autos are confirmed."""
    done: Groups = set()
    for p in e.run(new_ids=new).auto:
        done.add((p.left_ids, p.right_ids))
        e.remove(p.ids)
    return done


def _import(e: Engine, left: list[Record], right: list[Record]) -> Groups:
    """An import: the new records added and matched incrementally."""
    return _confirm(e, set(e.add(left=left, right=right)))


def _one_full_run(w: World) -> Groups:
    e = Engine("default")
    e.load(w.left, w.right)
    return _confirm(e) | _confirm(e)


def _files(w: World, ledger_first: bool) -> Groups:
    e = Engine("default")
    e.load([], [])
    if ledger_first:
        got = _import(e, w.left, []) | _import(e, [], w.right)
    else:
        got = _import(e, [], w.right) | _import(e, w.left, [])
    return got | _confirm(e)


def _slices(w: World, n: int = 10) -> Groups:
    recs = sorted([(r.ts, 0, r) for r in w.left] + [(r.ts, 1, r) for r in w.right],
                  key=lambda x: (x[0], x[1], x[2].id))
    e = Engine("default")
    e.load([], [])
    got: Groups = set()
    step = len(recs) // n + 1
    for i in range(0, len(recs), step):
        part = recs[i:i + step]
        got |= _import(e, [r for _, s, r in part if s == 0], [r for _, s, r in part if s])
    return got | _confirm(e)


@pytest.mark.parametrize(("cell", "seed"), [("hard", 5), ("cp10", 5)])
def test_any_order_of_import_ends_with_the_same_confirmed_groups(cell: str, seed: int) -> None:
    w = skewed(1500, CELLS[cell], seed=seed)
    truth = {(tuple(sorted(t.left)), tuple(sorted(t.right))) for t in w.truth}
    full = _one_full_run(w)
    assert len(full) > 800
    assert not full - truth
    for name, got in (("ledger file, then bank file", _files(w, True)),
                      ("bank file, then ledger file", _files(w, False)),
                      ("ten chronological slices", _slices(w))):
        assert not got - truth, name
        assert got == full, (name, sorted(got ^ full)[:5])
