"""The engine: keeps open items indexed, runs the rule pipeline, ranks candidates.

Pipeline. Rules run in order (strictest first). Each rule proposes scored groups among
the records still open; then

* auto: a group is auto-confirmed only if its rule allows it, its score reaches the
  threshold, it is the best candidate of every record in it, no other candidate of
  those records scores within ``ambiguity_margin`` of it, and no other record has one
  of them as its own auto-worthy best candidate ("the best candidate of two");
* suggest: among the rest, greedily by score, a group whose records are still free
  becomes a suggestion; competing groups (sharing a record, above ``min_score``) are
  attached to it as ``alternatives``.

Sole candidates (rules with ``sole_auto``, off by default): a late or below-threshold
candidate of an auto rule that is the only candidate of each of its records and whose
evidence identifies it (``sole_reason``: an amount that is not round, equal or apart by
the payer's own learned fee; a whole reference family summing exactly) is auto too, in
incremental runs as in full ones.

Records proposed by a rule (auto or suggested) are not offered to later rules, except
by a strong-key pair beyond tolerance (``explain.beyond``: a typed suggestion that never
consumes its records nor rivals an in-tolerance candidate for auto).

Vetoes (``veto_reason``): an auto-worthy 1:1 pair is only suggested when evidence
contradicts it (txid / end-to-end id / reference / address present on both sides and
different) or when its round amount has a twin of the same counterparty near either
record. A 1:n / n:1 group is vetoed when a member's reference or txid contradicts the
single's, or when round amounts only balance with no shared reference family or txid.
A candidate its own records contradict (``contradiction_test``) is never a rival that
makes another ambiguous, and ranks after the rest in ``candidates``. A below-threshold
group suggestion never consumes its records (``weak_group``). Incremental runs hold a
round-amount pair without a shared strong key until its twin window is covered by both
sides (``hold_test``): what an import confirms as it arrives is then what a full run
of the whole book confirms, whatever the order of the files.
A full run then repeats the pipeline without its autos until none is new
(``_fixpoint``), so one run ends where confirm-and-run-again ends; those passes reuse
the first pass's 1:1 candidates (``_PairCache``) and probe only the pairs it lacks, and
each single's group blocks (static) with the counters they bumped.

Columnar path (``columnar``, full runs): exact-key candidates come from one relational
join per key (``matchers.columnar``: numpy, or the same SQL in an in-memory DuckDB,
``key_join``), tolerance / similarity candidates block-wise from numpy
(``matchers.vector``), each block scored at once with the per-pair path's float
operations; ``columnar = False`` is the per-record reference path, the oracle the
property tests (``tests/test_columnar.py``) hold it to.

Incremental. Every decision above depends mostly on the candidate graph around a
record, and that graph is symmetric (a pair is a candidate whichever side probes;
oversized blocks fall back to keys that are equivalence classes). ``run(new_ids)``
closes the new ids over candidate links of *bounded radius*: the new records and their
auto-worthy counterparts (``CLOSURE_HOPS`` = 1 hop, through links of an auto rule
scoring at least its threshold; group links of auto group rules are the members of
balancing subsets) are *interior* — all their candidates are generated — and every
other record linked to an interior one (above ``min_score``) joins the scope as a
*boundary* record, whose own candidates are not generated. The pipeline then runs on
that scope and only proposals involving a new record are returned. Cost is
proportional to the new records, their auto-worthy partners and those records' direct
neighbours, never to a chained component (dense books chain weak links across most of
the open items). Measured (bench/match.py): 1,000 new records vs 100k open: 0.12 s,
1,332 records in scope; vs 1M open: 0.19 s, 3,238 in scope.

Guarantees (tested in ``tests/test_matchers.py``):

* safety: a group is auto-confirmed incrementally only if every record in it is
  interior (so its own candidate lists are complete; an incomplete list of a boundary
  competitor can only make the "best candidate of two" check stricter). An
  incremental auto is an auto of the full run whenever the earlier rules consume the
  same records in both; in the property test every incremental auto is a full-run auto.
* exactness: when the bounded closure is complete (every link of a boundary record
  leads to an interior one) the proposals involving the new records
  equal those of a full run (``Engine.check_closure = True`` counts the truncation in
  ``stats["closure_truncated"]``). When it is truncated, a proposal involving a new record
  may differ from the full run's (a suggestion partner, an alternative, or a
  conservative suggest where the full run would auto); a later full run resolves it.
  Measured on 300 dense synthetic books (``days=20``, 2-60 % new): 132 truncated
  closures, no incremental auto missing from the full run or absent from it, and 1 of
  8,425 full-run proposals involving new records differed in group or decision (the
  rest differed at most in alternatives).
  A group search cut by its node budget, or a reverse family block skipped as
  oversized, can also break exactness — both are counted in stats.

Old open records next to a new one keep their earlier (stored) proposals unless a
returned proposal involves them.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from operator import attrgetter
from typing import Any

from rapidfuzz import fuzz

from recon_tui.model import Price, Record, canonical_amount

from . import (
    assign,
    columnar,
    contra,
    crossasset,
    crowds,
    exact,
    groups,
    netting,
    tolerance,
    vector,
)
from .blocking import SideIndex
from .context import Ctx
from .crossasset import cross_pair
from .explain import Scored, beyond, cp_similarity, lag, pair, signs_for
from .fees import FeeSchedule
from .items import LEFT, RIGHT, Item, prepare
from .normalize import norm_address
from .prices import PriceTable
from .results import Candidate, MatchResult, Proposal
from .rules import Rule, RuleSet, load_rules

CLOSURE_FRACTION = 0.2
"""An incremental closure above this share of the open items falls back to a full run."""
FIXPOINT_PASSES = 3
"""Extra pipeline passes of a full run without its autos (see ``Engine._fixpoint``)."""
CLOSURE_HOPS = 1
"""Radius of the incremental closure: records this many links from a new one are
interior (candidates generated); the next ring is boundary (endpoints only)."""

OUT_OF_SCOPE = "auto-worthy, but an incremental boundary record: a full run decides"
SPLIT = "another open record shares its txid or reference: possibly one part of a split"
Rejected = Collection[frozenset[int]] | Collection[tuple[int, ...]]
_GEN: dict[str, Callable[..., tuple[list[Scored], list[int]]]] = {
    "exact": exact.generate,
    "tolerance": tolerance.generate,
    "similarity": tolerance.generate,
    "crossasset": crossasset.generate,
    "contra": contra.generate,
}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: the engine builds hundreds of thousands of acyclic objects
    (index entries, candidates, proposals), and each generation-2 pass would rescan all
    live objects of the process (measured: ~15 % of a 100k full run, and most of the
    first incremental run after a full one). Reference counting still frees them."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # Everything allocated meanwhile sits in the youngest generation: the first
        # collection after re-enabling would traverse all of it (3.7 s after loading
        # 1M x 1M), and then again from the middle one. The engine's objects are long-
        # lived and acyclic: move them straight to the oldest generation (freeze +
        # unfreeze splices the lists, O(1)), where only a rare full collection looks.
        gc.freeze()
        gc.unfreeze()
        if was:
            gc.enable()


def _norm_rejected(rejected: Rejected | None) -> frozenset[frozenset[int]]:
    return frozenset(frozenset(r) for r in rejected or ())


class _PairCache:
    """A full run's 1:1 candidates per rule, kept for its fixpoint passes.

    Each entry: the candidate list a pass generated for the rule, and which records it
    saw open then — pass 1 as a position in the log of records the pipeline consumed
    (``consumed``: the open set was the run's scope less that prefix of the log; a copy
    of 400k ids per rule would cost more than the probe it saves), a later pass as the
    set itself (small). Lists are filtered to the open records when reused."""

    __slots__ = ("_at", "consumed", "entries", "passes")

    def __init__(self) -> None:
        self.passes = 0
        """Pipeline passes done: only the first logs ``consumed``."""
        self.consumed: list[int] = []
        self.entries: dict[int, tuple[int | set[int], list[Scored]]] = {}
        self._at: dict[int, int] | None = None

    def store(self, ris: list[int], out: dict[int, Any], seen: set[int] | None) -> None:
        cover: int | set[int] = len(self.consumed) if seen is None else seen
        for i in ris:
            self.entries[i] = (cover, out[i])

    def reuse(
        self, ris: list[int], open_ids: set[int]
    ) -> tuple[list[list[Scored]], set[int]] | None:
        """(the cached candidates of each rule among ``open_ids``, the open ids that
        pass did not see open), or None when the rules have no common entry."""
        got = [self.entries.get(i) for i in ris]
        first = got[0]
        if first is None or any(g is None or g[0] is not first[0] for g in got):
            return None
        cover = first[0]
        if isinstance(cover, int):
            if self._at is None:
                self._at = {}
                for pos, i in enumerate(self.consumed):
                    self._at.setdefault(i, pos)
            at = self._at
            new = {i for i in open_ids if at.get(i, cover) < cover}
        else:
            new = open_ids - cover
        kept = [[s for s in g[1] if s.left[0] in open_ids and s.right[0] in open_ids]
                for g in got if g is not None]
        return kept, new


class Engine:
    """Match open items of one source pair (left vs right) under a rule set."""

    def __init__(self, rules: RuleSet | str = "default", prices: Iterable[Price] = ()) -> None:
        self.rules = load_rules(rules) if isinstance(rules, str) else rules
        self.prices = PriceTable(prices)
        self.stats: Counter[str] = Counter()
        self.check_closure = False
        self.columnar = True
        """Full runs generate 1:1 candidates column-wise: the exact-key rules by one
        relational join per key (``matchers.columnar``, in-memory DuckDB), the
        tolerance / similarity rules block-wise in numpy (``matchers.vector``); False
        probes record by record (the reference path, the oracle the property tests
        compare it with)."""
        self.key_join = "numpy"
        """How the columnar path joins exact keys: ``"numpy"`` (a sort-merge join) or
        ``"duckdb"`` (``columnar.KEY_JOIN_SQL`` in an in-memory DuckDB, the statement a
        cluster engine could run). Same pairs (property-tested); numpy is the default
        because moving the rows in and out costs what the join saves, and DuckDB adds
        50-110 MB resident (measured at 60k / 240k, bench/match.py --key-join)."""
        self._incremental = False
        self.reuse_pairs = True
        """A full run's fixpoint passes reuse the 1:1 candidates of its first pass and
        probe only the pairs it lacks (``_PairCache``); False probes every pass anew
        (the reference the tests compare it with)."""
        self.fee_schedule: FeeSchedule | None = None
        """Fees learned from confirmed groups (``matchers.fees``): a gap it explains is
        a typed, auto-worthy fee. An input: the engine itself learns nothing."""
        """Count boundary records linking outside an incremental closure (costly)."""
        self._lazy_seconds = 0.0
        self._blocks: dict[str, dict[int, tuple[list[list[int]] | None, tuple[Any, ...]]]] | None
        self._blocks = None
        """A full run's group blocks per rule and single (None: fewer than two members
        in every block), with the counters building them bumped; kept for its fixpoint
        passes (``_group_cands``)."""
        self._searches: dict[Any, Any] | None = None
        """A full run's ``Ctx.keep`` (searches shared by its fixpoint passes)."""
        self._no_group: dict[tuple[Any, ...], tuple[None, tuple[Any, ...]]] = {}
        self._duck: Any = None
        """The full run's in-memory DuckDB connection (``matchers.columnar``)."""
        self._new_sides()

    def _new_sides(self) -> None:
        rs = self.rules
        self.sides = (
            SideIndex(rs.day_bucket, rs.max_block, self.stats),
            SideIndex(rs.day_bucket, rs.max_block, self.stats),
        )

    # --- open items --------------------------------------------------------------------

    def load(self, left: Iterable[Record], right: Iterable[Record]) -> None:
        """Replace the open items (records need ids) and build the blocking indexes."""
        with _gc_paused():
            self._load(left, right)

    def _load(self, left: Iterable[Record], right: Iterable[Record]) -> None:
        self._new_sides()
        self.sides[LEFT].bulk_add(prepare(r, LEFT) for r in left)
        self.sides[RIGHT].bulk_add(prepare(r, RIGHT) for r in right)
        both = self.sides[LEFT].items.keys() & self.sides[RIGHT].items.keys()
        if both:
            raise ValueError(f"ids on both sides: {sorted(both)[:5]}")

    def add(self, left: Iterable[Record] = (), right: Iterable[Record] = ()) -> list[int]:
        """Add (or replace, by id) records that arrived or changed; returns their ids."""
        ids: list[int] = []
        for side, recs in ((LEFT, left), (RIGHT, right)):
            for r in recs:
                it = prepare(r, side)
                self.sides[1 - side].remove(it.id)
                self.sides[side].add(it)
                ids.append(it.id)
        return ids

    def remove(self, ids: Iterable[int]) -> None:
        """Drop records that got matched (or deleted) from the open items."""
        for i in ids:
            if self.sides[LEFT].remove(i) is None:
                self.sides[RIGHT].remove(i)

    def __len__(self) -> int:
        return len(self.sides[LEFT].items) + len(self.sides[RIGHT].items)

    def item(self, item_id: int) -> Item | None:
        it = self.sides[LEFT].items.get(item_id)
        return it if it is not None else self.sides[RIGHT].items.get(item_id)

    # --- matching ----------------------------------------------------------------------

    def run(
        self,
        new_ids: Iterable[int] | None = None,
        *,
        rejected: Rejected | None = None,
        matched: Collection[int] = (),
    ) -> MatchResult:
        """Propose matches; ``new_ids=None`` is a full run, else only what those ids affect.

        ``rejected``: groups the operator rejected, each a frozenset (or tuple) of all its
        record ids — a pair is ``frozenset({left_id, right_id})``; never proposed again.
        ``matched``: ids already in confirmed groups; treated as absent (never touched).
        """
        with _gc_paused():
            return self._run(new_ids, rejected, matched)

    def _run(
        self,
        new_ids: Iterable[int] | None,
        rejected: Rejected | None,
        matched: Collection[int],
    ) -> MatchResult:
        t0 = time.perf_counter()
        self._incremental = new_ids is not None  # ``hold_test`` applies to these runs
        self.stats.clear()
        self._lazy_seconds = 0.0
        rej = _norm_rejected(rejected)
        matched_set = set(matched)
        sides = self.sides

        def engine_open(i: int) -> bool:
            return (i in sides[LEFT].items or i in sides[RIGHT].items) and i not in matched_set

        ctx = Ctx(sides, self.prices, self.stats, engine_open, fees=self.fee_schedule)
        # rule index -> {(left, right): Scored}, or a list of Scored (full run, one driver)
        pair_cands: dict[int, Any] = {
            ri: {} for ri in range(len(self.rules.rules))
        }
        interior: set[int] | None = None
        seeds: set[int] | None = None
        lazy = new_ids is None
        if lazy:
            scope = {i for s in sides for i in s.items if i not in matched_set}
            pair_cands = {}  # collected rule by rule as the pipeline reaches each
        else:
            seeds = {i for i in set(new_ids or ()) if engine_open(i)}
            limit = max(CLOSURE_FRACTION * len(self), 1000)
            closed = self._closure(ctx, sorted(seeds), pair_cands, limit)
            if closed is None:
                # The closure swallowed a large part of the book: a full run is cheaper
                # and, by construction, gives the same proposals for the new ids.
                self.stats["incremental_fallback_full"] = 1
                pair_cands = {}
                lazy = True
                scope = {i for s in sides for i in s.items if i not in matched_set}
            else:
                scope, interior = closed
        t1 = time.perf_counter()
        self.stats["scope"] = len(scope)
        self.stats["candidates"] = sum(len(v) for v in pair_cands.values())
        cache = _PairCache() if lazy and self.reuse_pairs else None
        self._blocks = {} if cache is not None else None
        self._searches = {} if lazy else None
        try:
            proposals = self._pipeline(ctx, scope, pair_cands, rej, interior, lazy, cache)
            del pair_cands  # the candidates are done with: free them before returning
            if lazy:
                proposals = self._fixpoint(ctx, proposals, matched_set, rej, cache)
        finally:
            self._blocks = None
            self._searches = None
            self._no_group.clear()
            if self._duck is not None:
                self._duck.close()
                self._duck = None
        if lazy:
            for side in sides:
                # The full run's sorted blocks and block lookups: a warm engine between
                # runs holds only its indexes (the next full run rebuilds them).
                side.derived.clear()
        del cache
        if seeds is not None:
            proposals = [p for p in proposals if not seeds.isdisjoint(p.ids)]
        self.stats["proposals"] = len(proposals)
        self.stats["auto"] = sum(1 for p in proposals if p.decision == "auto")
        stats: dict[str, Any] = dict(self.stats)
        t2 = time.perf_counter()
        # Candidate generation (closure, or the lazy per-rule probes of a full run)
        # and the decisions around it.
        collect = t1 - t0 + self._lazy_seconds
        stats["collect_seconds"] = round(collect, 4)
        stats["pipeline_seconds"] = round(t2 - t0 - collect, 4)
        stats["seconds"] = round(t2 - t0, 4)
        return MatchResult(proposals, stats)

    def _fixpoint(
        self,
        ctx: Ctx,
        proposals: list[Proposal],
        matched_set: set[int],
        rej: frozenset[frozenset[int]],
        cache: _PairCache | None = None,
    ) -> list[Proposal]:
        """Full runs repeat the pipeline without the records just auto-confirmed until
        no new auto appears (at most ``FIXPOINT_PASSES``): an auto can make a neighbour
        unambiguous, and a service confirming the autos and matching again would find
        it, so one full run must end where repeated runs end (the same confirmed groups
        whether the operator matched once or imported first and matched again).
        ``matched_set`` is the run's own set of closed ids (``ctx.is_open`` reads it)."""
        autos = [p for p in proposals if p.decision == "auto"]
        rest = proposals
        for _ in range(FIXPOINT_PASSES):
            if not autos:
                break
            for p in autos:
                # ``left_ids``/``right_ids``, not ``p.ids`` (two frozensets a proposal).
                matched_set.update(p.left_ids)
                matched_set.update(p.right_ids)
            # Only records that had a candidate can get an auto: those of the run's
            # suggestions and their alternatives (a candidate's counterpart has that
            # candidate too, so it is among them). The lazy pipeline probes its scope
            # only, so a pass costs what is left undecided, not the book.
            scope = {i for p in rest if p.decision != "auto"
                     for q in (p, *p.alternatives) for i in q.left_ids + q.right_ids
                     if i not in matched_set}
            if not scope:
                break
            if self._blocks:
                # Only singles still in play search again: drop the others' blocks.
                self._blocks = {name: {i: v for i, v in per.items() if i in scope}
                                for name, per in self._blocks.items()}
            again = self._pipeline(ctx, scope, {}, rej, None, True, cache)
            self.stats["fixpoint_passes"] += 1
            autos = [p for p in again if p.decision == "auto"]
            done = [p for p in rest if p.decision == "auto"]
            rest = done + again
        return rest

    def _drivers(self, rule: Rule) -> tuple[int, ...]:
        if rule.matcher == "group":
            return (groups.one_side(rule),)
        if rule.matcher in ("crossasset", "contra"):
            # crossasset: canonical scoring, but each side probes its own window;
            # contra: each side's reversals are found on that side.
            return (LEFT, RIGHT)
        return (LEFT,)  # the pair relation is symmetric: probing from one side finds all

    def _keep(self, rule: Rule, s: Scored) -> bool:
        return s.score >= rule.min_score

    def _collect_full(
        self, ctx: Ctx, out: dict[int, Any], ri: int, cache: _PairCache | None = None,
        open_ids: set[int] | None = None,
    ) -> None:
        """Candidates of rule ``ri`` (and of the rules probed with it) among the records
        ``ctx`` sees open, into ``out``.

        Full runs call this lazily, when the pipeline reaches the rule: the records
        that stricter rules consumed are no longer probed (the pipeline would drop
        their candidates anyway), which in a typical book skips two thirds of the
        similarity and tolerance probing.

        ``cache`` (a full run's fixpoint passes): the pairs an earlier pass generated
        for this rule among the records it saw open (``_PairCache``). A pair's candidate
        depends only on its two records and the static indexes, so a later pass keeps
        the cached pairs among today's open records and probes only the pairs with a
        record the earlier pass did not see open (``N``): ``N`` x open and
        (open - ``N``) x ``N``, disjoint, so no pair appears twice."""
        rules = self.rules.rules
        rule = rules[ri]
        vec = rule.matcher in ("tolerance", "similarity") and self.columnar
        if vec:
            # Tolerance / similarity rules of one sign are probed together, block-wise
            # in numpy (``matchers.vector``): the same candidates as the per-record
            # probe. Rules already decided are not probed again.
            ris = [i for i, r in enumerate(rules) if r.matcher in ("tolerance", "similarity")
                   and r.sign == rule.sign and i >= ri and i not in out]
        else:
            ris = [ri]
        cacheable = (cache is not None and open_ids is not None
                     and (vec or (rule.matcher == "exact" and self._drivers(rule) == (LEFT,))))
        if cacheable and cache is not None and open_ids is not None:
            got = cache.reuse(ris, open_ids)
            if got is not None:
                kept, new = got
                left = self.sides[LEFT].items
                old_open = [left[i] for i in open_ids if i in left and i not in new]
                new_left = [left[i] for i in new if i in left]
                a = self._pairs(ctx, ris, new_left, ctx.is_open)
                b = self._pairs(ctx, ris, old_open, new.__contains__, new)
                for i, k, x, y in zip(ris, kept, a, b, strict=True):
                    out[i] = k + x + y
                cache.store(ris, out, set(open_ids))
                return
        if vec or (rule.matcher == "exact" and self._drivers(rule) == (LEFT,)):
            probers = [it for it in self.sides[LEFT].items.values() if ctx.is_open(it.id)]
            for i, lst in zip(ris, self._pairs(ctx, ris, probers, ctx.is_open), strict=True):
                out[i] = lst
            if cacheable and cache is not None:
                cache.store(ris, out, None)
            return
        if rule.matcher == "contra":
            scope = getattr(ctx.is_open, "__self__", None)  # the pipeline's open set
            out[ri] = contra.collect(ctx, rule, self.sides,
                                     scope if isinstance(scope, set) else None)
            return
        gen = _GEN[rule.matcher]
        drivers = self._drivers(rule)
        if len(drivers) == 1:
            # One probing side finds each pair once (generators never repeat an id
            # for one prober): a plain list, no per-pair key tuple (a full run of
            # 1M x 1M keeps ~4M candidates).
            keep = rule.min_score
            out[ri] = [
                s
                for it in self.sides[drivers[0]].items.values() if ctx.is_open(it.id)
                for s in gen(ctx, rule, it)[0] if s.score >= keep
            ]
            return
        bucket: dict[Any, Scored] = {}
        for side in drivers:
            for it in self.sides[side].items.values():
                if not ctx.is_open(it.id):
                    continue
                cands, _ = gen(ctx, rule, it)
                for s in cands:
                    if self._keep(rule, s):
                        bucket[(s.left, s.right)] = s
        out[ri] = bucket

    def _pairs(
        self, ctx: Ctx, ris: list[int], probers: list[Item],
        target_open: Callable[[int], bool], targets: set[int] | None = None,
    ) -> list[list[Scored]]:
        """The 1:1 candidates of rules ``ris`` (exact: one rule; tolerance / similarity:
        one sign group) of the open left records ``probers`` against the right records
        ``target_open`` admits, each list kept above its rule's ``min_score``.
        ``targets``: those records, when few (a fixpoint pass): a prober is then
        probed for payer sub-block pairs only if one of them shares its round
        |amount| and payer (``tolerance.payer_pairs`` finds nothing else)."""
        rules = self.rules.rules
        # A context of its own: its memo (the pairs' text similarities, shared by the
        # rules of the group) is freed when the probe returns.
        tctx = Ctx(ctx.sides, ctx.prices, ctx.stats, target_open, fees=ctx.fees)
        if not probers:
            return [[] for _ in ris]
        rule = rules[ris[0]]
        if rule.matcher == "exact":
            keep = rule.min_score
            ks = rule.keys
            if self.columnar:
                # One relational join per key field (``matchers.columnar``): the same
                # pairs and scores as the per-record probe below.
                if self._duck is None and self.key_join == "duckdb":
                    self._duck = columnar.connect()  # one per full run (~35 ms to open)
                joined = columnar.exact_pairs(tctx, rule, probers, self.sides[RIGHT],
                                              target_open, self._duck)
                return [[s for s in joined if s.score >= keep]]
            # Only records carrying one of the keys can have an exact candidate.
            return [[s for it in probers if any(it.key_value(k) for k in ks)
                     for s in exact.generate(tctx, rule, it)[0] if s.score >= keep]]
        group = [rules[i] for i in ris]
        mine = {it.id for it in probers}
        found = vector.collect(group, self.sides[LEFT], self.sides[RIGHT], mine.__contains__,
                               self.stats, target_open=target_open)
        learned = bool(self.fee_schedule)
        payer_keys: set[tuple[str, Decimal, str]] | None = None
        if targets is not None:
            right = self.sides[RIGHT].items
            payer_keys = {(o.asset, abs(o.amount), o.payer) for o in
                          (right[i] for i in targets if i in right) if o.payer}
        out = [[s for s in lst if s.score >= r.min_score]
               for r, lst in zip(group, found, strict=True)]
        # Sub-blocks of oversized amount cells (round amounts of one payer on other
        # days), and gaps the learned schedule explains: what the cell probe cannot
        # see, the same as the per-record path adds. One walk of a prober's payer
        # block serves every rule of the group (``tolerance.payer_pairs_multi``).
        own = self.sides[LEFT]
        for it in probers:
            if it.round and (payer_keys is None
                             or (it.asset, abs(it.amount), it.payer) in payer_keys):
                for r, res, got in zip(group, out,
                                       tolerance.payer_pairs_multi(tctx, group, it),
                                       strict=True):
                    keep = r.min_score
                    res.extend(s for s in got if s.score >= keep)
            if learned:
                for r, res in zip(group, out, strict=True):
                    keep = r.min_score
                    res.extend(s for s in tolerance.learned_pairs(tctx, r, it)
                               if s.score >= keep)
            if it.round and it.payer and own.oversized(it):
                # ``fee_pairs(scan_only=True)`` finds nothing for any other prober:
                # tested once here, not once per rule inside it.
                for r, res in zip(group, out, strict=True):
                    keep = r.min_score
                    res.extend(s for s in crowds.fee_pairs(tctx, r, it, scan_only=True)
                               if s.score >= keep)
        for res, late in zip(out, tolerance.late_multi(tctx, group, probers, self.sides[RIGHT],
                                                       targets), strict=True):
            res.extend(late)  # late value dates: suggestions (``tolerance.late_pairs``)
        crowded = crowds.crowded_rounds(tctx, self.sides[RIGHT], mine)
        for r, res in zip(group, out, strict=True):
            # Fee gaps in crowds of round amounts (``matchers.crowds``): the crowded
            # right-side records' scans, restricted to these probers.
            keep = r.min_score
            res.extend(s for s in crowds.reverse_scan(tctx, r, self.sides[RIGHT], mine,
                                                      crowded)
                       if s.score >= keep)
        return out

    def _closure(
        self, ctx: Ctx, seeds: list[int], out: dict[int, dict[Any, Scored]], limit: float
    ) -> tuple[set[int], set[int]] | None:
        """(scope, interior), or None once more than ``limit`` ids are reached.

        Interior: ``seeds`` plus what ``CLOSURE_HOPS`` auto-worthy links reach; all
        their candidates go to ``out``. Scope: interior plus every open id one candidate
        link (above ``min_score``) from it — the boundary."""
        seen = set(seeds)
        interior: set[int] = set()
        frontier = list(seeds)
        rules = self.rules.rules
        boundary: list[int] = []
        queued = set(seeds)
        for hop in range(CLOSURE_HOPS + 1):
            nxt: list[int] = []
            last = hop == CLOSURE_HOPS
            for x in frontier:
                interior.add(x)
                it = self.item(x)
                assert it is not None
                for ri, rule in enumerate(rules):
                    auto_rule = rule.outcome == "auto"
                    if rule.matcher == "group":
                        # Groups are re-searched in the pipeline on the open subset;
                        # here only the (static) block links matter.
                        links = groups.links(ctx, rule, it)
                        strong = links if auto_rule else []
                    else:
                        cands, links = _GEN[rule.matcher](ctx, rule, it)
                        kept = [s for s in cands if self._keep(rule, s)]
                        links = [i for s in kept for i in s.ids if i != x]
                        strong = [
                            i for s in kept if auto_rule and s.score >= rule.auto_threshold
                            for i in s.ids if i != x
                        ] if not last else []
                        for s in kept:
                            out[ri][(s.left, s.right)] = s
                    if not last:
                        # Only auto-worthy links lead to interior records: a group can
                        # be auto only with all members interior, and weak links would
                        # pull in every same-amount neighbour of a dense book.
                        for y in strong:
                            if y not in queued and ctx.is_open(y):
                                seen.add(y)
                                queued.add(y)
                                nxt.append(y)
                    for y in links:
                        if y not in seen and ctx.is_open(y):
                            seen.add(y)
                            boundary.append(y)
                if len(seen) > limit:
                    return None
            frontier = nxt
        frontier = [b for b in boundary if b not in interior]
        self.stats["closure_interior"] = len(interior)
        self.stats["closure_boundary"] = len(frontier)
        if self.check_closure:
            # Does the boundary link further (is the closure truncated)? Costs a third
            # ring of candidate generation: tests and diagnostics only.
            self.stats["closure_truncated"] = sum(
                1 for x in frontier if self._links_out(ctx, self.item(x), interior)  # type: ignore[arg-type,misc]
            )
        return seen, interior

    def _links_out(self, ctx: Ctx, it: Item, interior: set[int]) -> bool:
        """Whether boundary ``it`` links to an open id that is not interior (so some of
        its candidates may be missing from the incremental run)."""
        for rule in self.rules.rules:
            if rule.matcher == "group":
                links = groups.links(ctx, rule, it)
            else:
                cands, _ = _GEN[rule.matcher](ctx, rule, it)
                links = [i for s in cands if self._keep(rule, s) for i in s.ids]
            if any(y != it.id and y not in interior and ctx.is_open(y) for y in links):
                return True
        return False

    def _pipeline(
        self,
        ctx: Ctx,
        scope: set[int],
        pair_cands: dict[int, Any],
        rej: frozenset[frozenset[int]],
        interior: set[int] | None = None,
        lazy: bool = False,
        cache: _PairCache | None = None,
    ) -> list[Proposal]:
        open_ids = scope  # consumed: the caller does not use the scope afterwards
        # Pass 1 of a full run logs what it consumes, in order (``_PairCache``).
        log = cache.consumed if cache is not None and not cache.passes else None
        autoed: set[int] = set()  # this pass's autos (pruned from the cache)
        margin = self.rules.ambiguity_margin
        kept: list[Proposal] = []  # autos and ambiguous suggestions: they consume records
        weak: list[Proposal] = []  # below-threshold suggestions: later rules may do better
        pipe_ctx = Ctx(ctx.sides, ctx.prices, ctx.stats, open_ids.__contains__,
                       fees=self.fee_schedule, keep=self._searches)
        for ri, rule in enumerate(self.rules.rules):
            if rule.matcher == "group":
                cands = self._group_cands(pipe_ctx, rule, open_ids)
            else:
                if lazy and ri not in pair_cands:
                    tl = time.perf_counter()
                    self._collect_full(pipe_ctx, pair_cands, ri, cache, open_ids)
                    self._lazy_seconds += time.perf_counter() - tl
                    self.stats["candidates"] += sum(
                        len(pair_cands[i]) for i in pair_cands if i >= ri)
                # Popped: each rule's candidates are freed once filtered (a full run
                # of 1M x 1M holds millions of them).
                pc = pair_cands.pop(ri)
                if rule.matcher == "contra":  # one-sided: both ids on one side
                    cands = [s for s in pc.values() if open_ids.issuperset(s.ids)]
                else:
                    cands = [
                        s for s in (pc.values() if isinstance(pc, dict) else pc)
                        if s.left[0] in open_ids and s.right[0] in open_ids
                    ]
                del pc
            if rej:
                cands = [s for s in cands if frozenset(s.ids) not in rej]
            if not cands:
                continue
            for scored, decision, alts, reason in decide(
                    rule, cands, margin, interior, contradicted=contradiction_test(ctx, rule),
                    hold=hold_test(ctx, rule) if self._incremental else None,
                    sole=sole_test(ctx, rule)):
                if (decision == "auto" and len(scored.left) + len(scored.right) == 2
                        and _split_sibling(ctx, scored)):
                    decision, reason = "suggest", SPLIT
                if decision == "auto":
                    veto = veto_reason(ctx, rule, scored)
                    if veto is not None:
                        self.stats["auto_vetoed"] += 1
                        decision, reason = "suggest", veto
                p = self._proposal(rule, scored, decision, reason)
                if alts:  # else the shared empty default (``Proposal``)
                    p.alternatives = [self._proposal(rule, a, "suggest") for a in alts]
                if decision == "auto" or (not scored.beyond and (
                        reason in ("ambiguous", OUT_OF_SCOPE, SPLIT)
                        or (alts and not weak_group(rule, scored))
                        or reason.startswith(VETO))):
                    # A beyond-tolerance pair never consumes its records: a group rule
                    # may still explain the gap (a batched send citing one txid).
                    kept.append(p)
                    open_ids.difference_update(scored.ids)
                    if log is not None:
                        log.extend(scored.ids)
                    if decision == "auto" and cache is not None:
                        autoed.update(scored.ids)
                else:
                    weak.append(p)
            if cache is not None and ri in cache.entries:
                # Confirmed records never come back in a later pass: drop their pairs
                # from the cache now (most of a rule's candidates), not at the end.
                cover, lst = cache.entries[ri]
                cache.entries[ri] = (cover, [s for s in lst if s.left[0] not in autoed
                                             and s.right[0] not in autoed])
        # Weak suggestions fill in, strictest rule first, where nothing stronger exists;
        # a later overlapping one becomes an alternative of the earlier one.
        # Only ids of weak suggestions are ever looked up: a map of every kept id would
        # hold ~1.4M entries in a full run of 1M x 1M.
        wanted = {i for p in weak for i in p.left_ids + p.right_ids}
        owner: dict[int, Proposal] = {
            i: p for p in kept for i in p.left_ids + p.right_ids if i in wanted
        }
        if cache is not None:
            cache.passes += 1
        for p in weak:
            clash = [owner[i] for i in p.ids if i in owner]
            if not clash:
                kept.append(p)
                for i in p.ids:
                    owner[i] = p
            elif clash[0].decision == "suggest" and len(clash[0].alternatives) < 4:
                clash[0].alternatives = [*clash[0].alternatives, p]  # may be the shared ()
        return kept

    def _group_cands(self, ctx: Ctx, rule: Rule, open_ids: set[int]) -> list[Scored]:
        side = self.sides[groups.one_side(rule)]
        out: list[Scored] = []
        items = side.items
        # The one side's open ids, iterating the smaller of the side and the scope (a
        # full run's scope holds both sides; an incremental one a few thousand ids).
        # A set intersection in C (``dict_keys & set`` walks the smaller).
        ones = sorted(items.keys() & open_ids)
        memo = self._blocks if rule.type != "n:m" else None
        if memo is None:
            for oid in ones:
                cands, _ = groups.for_one(ctx, rule, items[oid])
                out.extend(s for s in cands if self._keep(rule, s))
        else:
            # A full run: each single's blocks (static, ``groups.blocks``) are built
            # once and reused by the fixpoint passes, with the counters they bumped
            # replayed, so the stats read as if rebuilt.
            # Most singles' blocks hold fewer than two members (no group whatever is
            # open): they keep one shared entry per distinct set of counters bumped.
            stats = ctx.stats
            keep = rule.min_score
            mine = memo.setdefault(rule.name, {})
            shared = self._no_group
            for oid in ones:
                one = items[oid]
                hit = mine.get(oid)
                if hit is None:
                    sub: Counter[str] = _Bumps()  # type: ignore[assignment]
                    bctx = Ctx(ctx.sides, ctx.prices, sub, ctx.is_open, ctx.memo, ctx.fees)
                    parts = groups.blocks(bctx, rule, one)
                    bumped = tuple(sub.items())
                    if all(len(p) < 2 for p in parts):
                        hit = shared.get(bumped)
                        if hit is None:
                            hit = shared[bumped] = (None, bumped)
                    else:
                        hit = (parts, bumped)
                    mine[oid] = hit
                got, bumped = hit
                for k, v in bumped:
                    stats[k] += v
                if got is not None:
                    cands, _ = groups.for_one(ctx, rule, one, got)
                    out.extend(s for s in cands if s.score >= keep)
        if rule.type == "n:m":
            # Every member of a netting group finds it: keep one copy of each.
            seen: dict[tuple[tuple[int, ...], tuple[int, ...]], Scored] = {}
            for s in out:
                seen.setdefault((s.left, s.right), s)
            out = list(seen.values())
        return out

    # --- explanations ------------------------------------------------------------------

    def _verbose(self, rule: Rule, s: Scored, items: dict[int, Item] | None = None) -> Scored:
        get = self.item if items is None else items.get
        if rule.matcher == "group" and rule.type == "n:m":
            lefts = tuple(get(i) for i in s.left)
            rights = tuple(get(i) for i in s.right)
            assert all(m is not None for m in (*lefts, *rights))
            v = netting.score(rule, lefts, rights, verbose=True)  # type: ignore[arg-type]
        elif rule.matcher == "group":
            one_id = s.left[0] if groups.one_side(rule) == LEFT else s.right[0]
            members = s.right if groups.one_side(rule) == LEFT else s.left
            one = get(one_id)
            ms = tuple(get(i) for i in members)
            assert one is not None and all(m is not None for m in ms)
            v = groups.group_score(rule, one, ms, verbose=True)  # type: ignore[arg-type]
        elif rule.matcher == "contra":
            a, b = (get(i) for i in s.ids)
            assert a is not None and b is not None
            v = contra.score(rule, a, b, verbose=True)
        else:
            a, b = get(s.left[0]), get(s.right[0])
            assert a is not None and b is not None
            if rule.matcher == "crossasset":
                v = cross_pair(rule, self.prices, a, b, verbose=True)
            elif rule.matcher == "exact":
                fctx = Ctx(self.sides, self.prices, Counter(), bool, fees=self.fee_schedule)
                v = pair(rule, a, b, s.key, verbose=True, learned=exact.learned_fee(fctx, a, b))
                if v is None:
                    v = beyond(rule, a, b, s.key or rule.keys[0], verbose=True,
                               late_ok=not s.beyond)
            else:
                v = pair(rule, a, b, s.key, verbose=True)
                if v is None and self.fee_schedule:
                    fctx = Ctx(self.sides, self.prices, Counter(), bool, fees=self.fee_schedule)
                    v = pair(rule, a, b, s.key, verbose=True,
                             learned=exact.learned_fee(fctx, a, b))
                if v is None and s.beyond:  # a late pair (``tolerance.late_pairs``)
                    fctx = Ctx(self.sides, self.prices, Counter(), bool, fees=self.fee_schedule)
                    v = tolerance.late_pair(fctx, rule, a, b, verbose=True)
        assert v is not None
        return v

    def _proposal(
        self, rule: Rule, s: Scored, decision: str, reason: str | None = None
    ) -> Proposal:
        # The explanation is built on access from the records captured here (they stay
        # valid after the engine drops them), not held by every proposal of a run.
        return Proposal(s.left, s.right, s.score, rule.name, decision,
                        explain=_Explain(self, rule, s, decision, reason))

    # --- operator candidates -----------------------------------------------------------

    def candidates(
        self,
        record_id: int,
        k: int = 5,
        *,
        rejected: Rejected | None = None,
        matched: Collection[int] = (),
    ) -> list[Candidate]:
        """The top-``k`` counterparts (single records and groups) for one open record,
        best first, each explained. Uses the blocking indexes only (no scan).

        Ranking (``candidate_rank`` tiers, then a rank score): a 1:1 candidate ranks
        by its score less what taking it costs the others, up to ``REGRET_CAP``
        (``_regrets``: the best one-to-one pairing of the neighbouring open records
        loses that much when this record takes the counterpart, ``matchers.assign``:
        the bank line another invoice of its own day fits exactly is that invoice's);
        a counterpart interchangeable with one ranked above (observationally
        identical at the same score: one choice, not two, ``_demotions``) ranks as if
        it scored ``DEMOTE_PENALTY`` less. So the next distinct counterpart, and the
        one no other record needs, come first; each says why on its explanation
        (``ranking``). Scores are unchanged: ranking only."""
        it = self.item(record_id)
        if it is None:
            return []
        matched_set = set(matched)
        sides = self.sides

        def is_open(i: int) -> bool:
            return (i in sides[LEFT].items or i in sides[RIGHT].items) and i not in matched_set

        ctx = Ctx(self.sides, self.prices, Counter(), is_open, fees=self.fee_schedule)
        rej = _norm_rejected(rejected)
        # Candidates whose own references contradict them rank after the rest.
        ranked = sorted(self._scored(ctx, it, rej),
                        key=lambda sr: (candidate_rank(ctx, sr[1], sr[0]), sr[0].sort_key()))
        why = self._demotions(ctx, it, ranked[:DEMOTE_SCAN])
        cost = {k: DEMOTE_PENALTY for k in why}
        for key, (regret, detail) in self._regrets(ctx, it, rej, ranked[:DEMOTE_SCAN]).items():
            if key not in why:
                cost[key] = min(regret, REGRET_CAP)
                if detail:
                    why[key] = detail
        if cost:
            tier = {id(s): candidate_rank(ctx, rule, s) for s, rule in ranked[:DEMOTE_SCAN]}
            head = sorted(ranked[:DEMOTE_SCAN], key=lambda sr: (
                tier[id(sr[0])], cost.get(id(sr[0]), 0.0) - sr[0].score,
                sr[0].left, sr[0].right))
            ranked = head + ranked[DEMOTE_SCAN:]
        out = []
        for s, rule in ranked[:k]:
            v = self._verbose(rule, s)
            expl = v.explanation
            if (id(s) not in why and candidate_rank(ctx, rule, s) == 1
                    and payers_differ(ctx, s)):
                why[id(s)] = ("names another payer than the record's: ranked after "
                              "candidates of its own payer, whatever the score")
            if id(s) in why:
                expl = {**expl, "ranking": {"agree": False, "detail": why[id(s)]}}
            out.append(
                Candidate(record_id, s.left, s.right, s.score, rule.name, expl,
                          v.adjustments)
            )
        return out

    def _scored(self, ctx: Ctx, it: Item, rej: frozenset[frozenset[int]]
                ) -> list[tuple[Scored, Rule]]:
        """Every rule's candidates of ``it`` (not rejected), the best score per group."""
        best: dict[tuple[tuple[int, ...], tuple[int, ...]], tuple[Scored, Rule]] = {}
        for rule in self.rules.rules:
            if rule.matcher == "group":
                cands, _ = groups.generate(ctx, rule, it)
            else:
                cands, _ = _GEN[rule.matcher](ctx, rule, it)
            for s in cands:
                key = (s.left, s.right)
                if frozenset(s.ids) in rej:
                    continue
                if key not in best or s.score > best[key][0].score:
                    best[key] = (s, rule)
        return list(best.values())

    def _pairs_of(self, ctx: Ctx, it: Item, rej: frozenset[frozenset[int]],
                  memo: dict[int, dict[int, float]]) -> dict[int, float]:
        """{counterpart id: score} of ``it``'s best ``REGRET_FANOUT`` 1:1 candidates of the
        pair rules that its records do not contradict, within tolerance (memoised)."""
        got = memo.get(it.id)
        if got is not None:
            return got
        best: dict[int, float] = {}
        for rule in self.rules.rules:
            if rule.matcher in ("group", "contra"):
                continue
            cands, _ = _GEN[rule.matcher](ctx, rule, it)
            for s in cands:
                if len(s.left) != 1 or len(s.right) != 1 or s.beyond:
                    continue
                if frozenset(s.ids) in rej or candidate_rank(ctx, rule, s) > 0:
                    continue
                oid = s.right[0] if it.side == LEFT else s.left[0]
                if s.score > best.get(oid, 0.0):
                    best[oid] = s.score
        top = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:REGRET_FANOUT]
        memo[it.id] = got = dict(top)
        return got

    def _regrets(self, ctx: Ctx, it: Item, rej: frozenset[frozenset[int]],
                 ranked: list[tuple[Scored, Rule]]) -> dict[int, tuple[float, str]]:
        """{id(candidate): (regret, why)} for ``it``'s 1:1 candidates among ``ranked``:
        how much the best one-to-one pairing of the neighbourhood (the counterparts,
        the other open records of our side they are candidates of, and those records'
        own counterparts) loses when ``it`` takes this counterpart (``assign``)."""
        memo: dict[int, dict[int, float]] = {}
        mine = self._pairs_of(ctx, it, rej, memo)
        # Late counterparts among ours (``beyond``: no rival anywhere else) are priced
        # the same way: a line another record pairs inside its window is needed there,
        # late or not. Unpriced, the lines of a busy payer's other days outranked the
        # in-window counterpart that another record also wants (empty30 skewed cell).
        late = {(s.right[0] if it.side == LEFT else s.left[0]): s.score for s, _ in ranked
                if s.beyond and len(s.left) == 1 and len(s.right) == 1}
        if late:
            mine = {**late, **mine}
        if len(mine) < 2:
            return {}
        weights: dict[tuple[Any, Any], float] = {}
        for oid, sc in mine.items():
            weights[(it.id, oid)] = sc - assign.FLOOR
            o = ctx.item(oid)
            if o is None:
                continue
            for rid, rs in self._pairs_of(ctx, o, rej, memo).items():
                weights[(rid, oid)] = rs - assign.FLOOR
                r = ctx.item(rid)
                if r is None or rid == it.id:
                    continue
                for cid, cs in self._pairs_of(ctx, r, rej, memo).items():
                    weights[(rid, cid)] = cs - assign.FLOOR
        if len(weights) > REGRET_MAX_PAIRS:
            return {}
        reg = assign.regrets(weights, it.id, list(mine))
        top = max(mine.values())
        out: dict[int, tuple[float, str]] = {}
        for s, _rule in ranked:
            if len(s.left) != 1 or len(s.right) != 1:
                continue
            oid = s.right[0] if it.side == LEFT else s.left[0]
            if oid not in reg or reg[oid] <= 0:
                continue
            # The part of the regret the other records bear (the rest is this record's
            # own score gap to its best counterpart): said only when it is theirs.
            others = reg[oid] - (top - mine[oid])
            out[id(s)] = (reg[oid], "" if others <= REGRET_SHOWN else (
                f"#{oid} is needed elsewhere: taking it here costs the best pairing of the "
                f"neighbouring open records {others:.3f} (another record fits it as well "
                f"or better)"))
        return out

    def _demotions(self, ctx: Ctx, it: Item, ranked: list[tuple[Scored, Rule]]
                   ) -> dict[int, str]:
        """{id(candidate): why it ranks lower} for the 1:1 candidates among ``ranked``
        whose counterpart is *interchangeable* with one ranked above: observationally
        identical (amount, date, counterparty, reference, memo, ids, fee, address,
        kind) at the same score. Picking either is the same choice, so the operator's
        short list shows the next distinct counterpart before the copies (three
        identical 250.00 bank lines of one payer on one day, then the 235.00 line the
        payer's learned fee explains)."""
        out: dict[int, str] = {}
        shown: dict[tuple[Any, ...], int] = {}
        for s, _rule in ranked:
            if len(s.left) != 1 or len(s.right) != 1:
                continue
            oid = s.right[0] if it.side == LEFT else s.left[0]
            o = ctx.item(oid)
            if o is None:
                continue
            look = (s.score, s.beyond, o.side, o.asset, o.amount, o.day, o.cp, o.ref, o.memo,
                    o.txid, o.e2e, o.fee, o.fee_asset, o.record.address, o.record.kind)
            first = shown.setdefault(look, oid)
            if first != oid:
                out[id(s)] = (f"interchangeable with #{first} ranked above (same amount, "
                              f"date, counterparty and texts)")
        return out


class _Bumps(dict):  # type: ignore[type-arg]
    """A counter of the stats one single's blocks bump (``_group_cands``): ``Counter``'s
    missing-is-zero without its Python-level constructor (one per single and rule)."""

    __slots__ = ()

    def __missing__(self, key: str) -> int:
        return 0


class _Explain:
    """A proposal's deferred explanation: the verbose re-score over the records captured
    at proposal time, plus the engine's ``decision`` entry. A slotted object rather than
    a closure with a dict of records and an ``extra`` dict: a full run of 1M x 1M holds
    ~700k proposals."""

    __slots__ = ("agree", "beyond", "engine", "items", "key", "left", "reason", "right",
                 "rule")

    def __init__(
        self, engine: Engine, rule: Rule, s: Scored, decision: str, reason: str | None
    ) -> None:
        self.engine = engine
        self.rule = rule
        # What the verbose re-score reads of ``s``, not ``s`` itself: the candidate
        # (~120 bytes with its score) is otherwise kept by every proposal of a run.
        self.left, self.right, self.key, self.beyond = s.left, s.right, s.key, s.beyond
        # ``engine.item`` inlined: a full run captures ~1M records this way.
        lget, rget = engine.sides[LEFT].items.get, engine.sides[RIGHT].items.get
        self.items = tuple([lget(i) or rget(i) for i in s.ids])
        self.agree = decision == "auto"
        self.reason = reason

    def __call__(self) -> tuple[dict[str, Any], list[Any]]:
        items = {it.id: it for it in self.items if it is not None}
        s = Scored(self.left, self.right, 0.0, self.rule.name, {}, [], self.key, self.beyond)
        v = self.engine._verbose(self.rule, s, items)
        expl = v.explanation
        if self.reason is not None:
            expl["decision"] = {"agree": self.agree, "detail": self.reason}
        return expl, v.adjustments


_LEFT, _RIGHT, _SCORE = attrgetter("left"), attrgetter("right"), attrgetter("score")
DEMOTE_PENALTY = 0.1
"""How far an interchangeable candidate falls in ``Engine.candidates``: behind the
distinct counterparts within 0.1 of its score (an exact amount up to the window's
edge, a fee-explained gap), ahead of weaker evidence (late pairs, one-sided nettings).
Measured (bench/quality.py --world skewed, 6000): demoting it last instead put the
truth behind reversal nettings of 0.8 (hard top-3 0.89)."""
REGRET_FANOUT = 8
"""How many counterparts of each record the neighbourhood of ``Engine._regrets`` takes
(measured, bench/quality.py --world skewed --size 6000 hard: 6 -> top-3 0.964, 8 ->
0.972)."""
REGRET_MAX_PAIRS = 400
"""A neighbourhood with more candidate pairs than this is not solved (bounded work per
operator request): the candidates keep their score order."""
REGRET_CAP = DEMOTE_PENALTY
"""The most a regret lowers a candidate's rank score: the same reach as an
interchangeable copy's (measured on the hard cell at 6000: 0.05 and 0.1 alike, 0.2
lets a large regret sink a true counterpart, top-3 0.957)."""
REGRET_SHOWN = 0.005
"""A regret the other records bear above this is said on the candidate's explanation
(``ranking``)."""
DEMOTE_SCAN = 8
"""How many of a record's best candidates ``Engine.candidates`` re-ranks: copies of a
counterpart beyond the eighth change nothing in a short list."""


def decide(
    rule: Rule, cands: list[Scored], margin: float, interior: set[int] | None = None,
    contradicted: Callable[[Scored], str | None] | None = None,
    hold: Callable[[Scored], str | None] | None = None,
    sole: Callable[[Scored], str | None] | None = None,
) -> list[tuple[Scored, str, list[Scored], str]]:
    """Auto / suggest decisions for one rule's candidates (see the module docstring).

    ``interior`` (incremental runs): only groups of interior records may be auto.
    ``contradicted`` (``contradiction_test``): candidates whose own evidence
    contradicts them (references present on both records and different): never auto
    (``veto_reason`` would veto them) and so never a rival that makes another
    candidate ambiguous — the same as a beyond-tolerance candidate.
    ``hold`` (``hold_test``, incremental runs): candidates not decided yet because a
    later import could still bring a twin: suggested now, decided by a later run.
    ``sole`` (``sole_test``): a late or below-threshold candidate that is the only
    candidate of every record in it, on evidence that identifies it (``sole_reason``),
    is auto too, after the in-threshold autos and only where they left its records.
    Returns (group, decision, alternatives, reason) in score order.
    """
    # Scored.sort_key order (-score, left, right) by three stable passes on existing
    # attributes: no key tuple per candidate (millions in a full run of 1M x 1M).
    cands = sorted(cands, key=_RIGHT)
    cands.sort(key=_LEFT)
    cands.sort(key=_SCORE, reverse=True)
    by_rec: dict[int, list[Scored]] = {}
    get = by_rec.get
    for s in cands:
        # ``s.ids`` (left + right) walked in place: no tuple and no spare list per
        # candidate (millions in a full run); each list stays sorted as cands are.
        for i in s.left:
            lst = get(i)
            if lst is None:
                by_rec[i] = [s]
            else:
                lst.append(s)
        for i in s.right:
            lst = get(i)
            if lst is None:
                by_rec[i] = [s]
            else:
                lst.append(s)
    thr = rule.auto_threshold
    reasons: dict[str, str] = {}
    out: list[tuple[Scored, str, list[Scored], str]] = []
    taken: set[int] = set()
    if rule.outcome == "auto":
        for s in cands:
            if s.score < thr:
                break
            if s.beyond:
                continue  # beyond tolerance: a suggestion whatever its score
            if interior is not None and not interior.issuperset(s.ids):
                continue  # boundary: its candidate lists are incomplete
            if contradicted is not None and contradicted(s):
                continue  # vetoed whatever its rivals: a suggestion
            if hold is not None and hold(s):
                continue  # its twin window is still open: a later run decides
            if _clear(s, by_rec, margin, thr, contradicted):
                # One string per distinct text, not per proposal (~700k in a full run).
                reason = f"score {s.score:.3f} >= {thr}, unambiguous"
                reason = reasons.setdefault(reason, reason)
                out.append((s, "auto", [], reason))
                taken.update(s.ids)
    if sole is not None and rule.outcome == "auto":
        mixed = _mixed_test(sole) if rule.matcher == "group" else None
        for s in cands:
            if s.score >= thr and not s.beyond:
                continue  # decided above, on its score
            if mixed is None and (len(by_rec[s.left[0]]) > SOLE_SCAN
                                  or len(by_rec[s.right[0]]) > SOLE_SCAN):
                continue  # a crowd of rivals: not worth testing each for contradiction
            if not _alone(s, by_rec, contradicted, mixed):
                continue  # (cheapest first: most records have several candidates)
            if taken and not taken.isdisjoint(s.ids):
                continue
            if interior is not None and not interior.issuperset(s.ids):
                continue
            if contradicted is not None and contradicted(s):
                continue
            why = sole(s)
            if why is not None:
                why = reasons.setdefault(why, why)
                out.append((s, "auto", [], why))
                taken.update(s.ids)
    owner: dict[int, list[Scored]] = {}
    oget = owner.get
    below: dict[float, str] = {}  # score -> its "below auto threshold" reason
    for s in cands:
        left, right = s.left, s.right
        if len(left) == 1 and len(right) == 1:
            # A 1:1 candidate (most of a full run's): its two ids tested in place, no
            # ``ids`` tuple nor clash list; the first owned id, left first, as below.
            lid, rid = left[0], right[0]
            if taken and (lid in taken or rid in taken):
                continue
            held = oget(lid)
            if held is None:
                held = oget(rid)
            if held is not None:
                if len(held) < 4:
                    held.append(s)
                continue
            if not s.beyond and s.score < thr:
                why = below.get(s.score)
                if why is None:
                    why = f"score {s.score:.3f} below auto threshold {thr}"
                    why = below[s.score] = reasons.setdefault(why, why)
                alts: list[Scored] = []
                out.append((s, "suggest", alts, why))
                owner[lid] = alts
                owner[rid] = alts
                continue
        elif taken and not (taken.isdisjoint(left) and taken.isdisjoint(right)):
            continue
        clash = [i for i in s.ids if i in owner]
        if not clash:
            alts = []
            reason = (
                BEYOND if s.beyond
                else f"score {s.score:.3f} below auto threshold {thr}" if s.score < thr
                else "suggest-only rule" if rule.outcome != "auto"
                else OUT_OF_SCOPE
                if interior is not None and not interior.issuperset(s.ids)
                else (contradicted(s) if contradicted is not None else None)
                or (hold(s) if hold is not None and s.score >= thr else None) or "ambiguous"
            )
            reason = reasons.setdefault(reason, reason)
            out.append((s, "suggest", alts, reason))
            for i in s.ids:
                owner[i] = alts
        else:
            alts = owner[clash[0]]
            if len(alts) < 4:
                alts.append(s)
    return out


VETO = "vetoed: "
BEYOND = "same key, beyond the rule's tolerance: suggested only"
TWIN_WINDOW_FACTOR = 2
"""Twins are looked for this many calendar windows of the rule around each record."""
REF_DISAGREE = 75
"""References both present and less similar than this (rapidfuzz ratio) disagree."""


def veto_reason(ctx: Ctx, rule: Rule, s: Scored) -> str | None:
    """Why a 1:1 pair must not be auto-confirmed despite its score, or None.

    * contradicting evidence: a strong key (reference, end-to-end id, txid, address)
      present on both records and different, where the rule did not match on it (an
      exact-reference pair with different txids is vetoed too);
    * twins: a round amount where the same counterparty has another open record of
      that amount near either record, and the pair shares no strong key.
    Judged on engine-wide openness (``ctx``), so incremental and full runs agree.

    A 1:n / n:1 group is vetoed on contradicting evidence too (``_group_veto``)."""
    if rule.matcher == "group":
        return _group_veto(ctx, rule, s)
    if len(s.left) != 1 or len(s.right) != 1 or rule.matcher == "contra":
        return None
    a, b = ctx.item(s.left[0]), ctx.item(s.right[0])
    if a is None or b is None:
        return None
    why = _contradiction(ctx, rule, s)
    if why is not None:
        return why
    strong = (a.ref and a.ref == b.ref) or (a.e2e and a.e2e == b.e2e) or (
        a.txid and a.txid == b.txid)
    if strong or (not a.round and not b.round):
        return None
    w = TWIN_WINDOW_FACTOR * rule.calendar_window
    for it in (a, b):
        if not it.round:
            continue
        # Every open twin counts, even one whose reference contradicts the partner:
        # it still says the payer pays this amount often (measured: discounting such
        # twins auto-confirmed a ledger decoy of 200.00 with the bank's 200.00 that
        # paid a 250.00 invoice less a learned 50.00 fee).
        tw = ctx.own(it).twins(it, it.day - w, it.day + w, ctx.is_open)
        if tw:
            return (f"{VETO}round amount with a twin: the same counterparty has "
                    f"{len(tw)} other open record(s) of {canonical_amount(abs(it.amount))} "
                    f"within {w} days")
    return None


def _contradiction(ctx: Ctx, rule: Rule, s: Scored) -> str | None:
    """The veto of a 1:1 pair on contradicting evidence: a strong key (reference,
    end-to-end id, txid, address) present on both records and different, where the
    rule did not match on it; or None."""
    if len(s.left) != 1 or len(s.right) != 1:
        return None
    # A left id is a left record (ids are unique across sides): ``ctx.item`` only when
    # it is not (the look-up order ``ctx.item`` would take).
    a = ctx.sides[LEFT].items.get(s.left[0]) or ctx.item(s.left[0])
    b = ctx.sides[RIGHT].items.get(s.right[0]) or ctx.item(s.right[0])
    if a is None or b is None:
        return None
    matched_on = rule.keys if rule.matcher == "exact" else ()
    for key, x, y in (("txid", a.txid, b.txid), ("end_to_end_id", a.e2e, b.e2e)):
        if x and y and x != y and key not in matched_on:
            return f"{VETO}{key} differs ({x!r} vs {y!r})"
    if a.ref and b.ref and a.ref != b.ref and "reference" not in matched_on:
        if fuzz.ratio(a.ref, b.ref) < REF_DISAGREE:
            return f"{VETO}references disagree ({a.ref!r} vs {b.ref!r})"
    aa, ba = a.record.address, b.record.address
    if aa and ba and norm_address(aa) != norm_address(ba):
        return f"{VETO}addresses differ"
    return None


def _refs_agree(one: Item, m: Item) -> bool:
    """Whether a group member's reference fits the single's: equal, one's family the
    other's reference ("BATCH INV684315" vs "INV684315-2", "ORD9" vs "ORD9 part 2"), or
    similar (``REF_DISAGREE``)."""
    return (m.ref == one.ref or m.family in (one.ref, one.family) or one.family == m.ref
            or fuzz.ratio(one.ref, m.ref) >= REF_DISAGREE)


def _group_veto(ctx: Ctx, rule: Rule, s: Scored) -> str | None:
    """Why a 1:n / n:1 group must not be auto-confirmed, or None: a member whose
    reference (or txid) is present and contradicts the single's, or round amounts
    only, sharing no reference family or txid. Such a group balances
    by coincidence of amounts of one payer — a member paying another invoice, the true
    counterpart not (yet) imported: measured on chronological slices of a hard skewed
    book, the incremental runs auto-confirmed a 4,653.22 invoice as a 4,603.22 line
    plus another invoice's 50.00 payment before the invoice's own 50.00 fee was seen."""
    if rule.type not in ("1:n", "n:1"):
        return None
    one_ids, many = (s.left, s.right) if groups.one_side(rule) == LEFT else (s.right, s.left)
    if len(one_ids) != 1:
        return None
    one = ctx.item(one_ids[0])
    if one is None:
        return None
    for i in many:
        m = ctx.item(i)
        if m is None:
            continue
        if one.txid and m.txid and m.txid != one.txid:
            return f"{VETO}a member's txid differs from the single's ({m.txid!r})"
        if one.ref and m.ref and not _refs_agree(one, m):
            return (f"{VETO}a member's reference disagrees with the single's "
                    f"({m.ref!r} vs {one.ref!r})")
    ms = [m for m in (ctx.item(i) for i in many) if m is not None]
    swapped = _family_swap(ctx, rule, ms, set(many))
    if swapped:
        return swapped
    if ms and all(m.round for m in ms):
        # Round amounts of one payer (250 + 250 = 500, or 499 = 500 less a presumed
        # fee) balance by coincidence unless the members share a reference family or
        # the single's txid.
        fams = {m.family for m in ms}
        shared = (len(fams) == 1 and "" not in fams) or (
            one.txid and all(m.txid == one.txid for m in ms))
        if not shared:
            return f"{VETO}round amounts sharing no reference: the sum may be a coincidence"
    return None


def _family_swap(ctx: Ctx, rule: Rule, ms: list[Item], many: set[int]) -> str | None:
    """The veto of a group whose members are parts of one reference family but for one
    of another reference, while a part of that family in the window is left out: the
    outsider stands in for the missing part by a coincidence of amounts
    ("INV697034-0, -1, -3" and "INV310454" for a bank line that paid -0 .. -3, the -2
    of 2,499.50 swapped for a 2,500.00 inside the fee tolerance, the -2 itself taken by
    an equal bank line of the payer). Open or not: the part may have been taken by such
    a coincidence too, and a test of openness would make the run's order matter."""
    # Parts only ("X-2" of family "X"): two payouts of one reference are no family.
    fams = Counter(m.family for m in ms if m.family and m.family != m.ref)
    if not fams:
        return None
    fam, n = fams.most_common(1)[0]
    outsiders = [m for m in ms if m.ref and m.family != fam and m.ref != fam]
    if n < 2 or not outsiders:
        return None
    first = ms[0]
    lo = min(m.day for m in ms) - rule.calendar_window
    hi = max(m.day for m in ms) + rule.calendar_window
    ids = ctx.own(first).by_family(first.asset, tuple({m.sign for m in ms}),
                                   "reference_family", fam, lo, hi,
                                   groups.FAMILY_CAP_FACTOR * rule.max_candidates)  # fmt: skip
    left_out = [i for i in ids or () if i not in many]
    if not left_out:
        return None
    return (f"{VETO}a part of {fam} is left out while a member of another reference "
            f"({outsiders[0].ref!r}) is in")


def _split_sibling(ctx: Ctx, s: Scored) -> bool:
    """Whether another open record (same side, asset and sign) shares a txid or
    reference with a member of the pair: then the pair may be one fill of a split, and
    the rest would hide inside a "fee" — never auto. Engine-wide openness, not the
    run's scope, so incremental and full runs judge alike. Only a sibling that fits in
    the pair's amount gap counts (equal amounts leave nothing for a part to hide in)."""
    if not s.left or not s.right:
        return False  # a one-sided (contra) pair
    a, b = ctx.item(s.left[0]), ctx.item(s.right[0])
    if a is None or b is None:
        return False
    gap = abs(abs(a.amount) - abs(b.amount))
    if not gap:
        return False
    for it in (a, b):
        own = ctx.own(it)
        for key, value in (("txid", it.txid), ("reference", it.ref)):
            if not value:
                continue
            ids = own.key_ids(key, value)
            if len(ids) < 2 or len(ids) > own.max_block:
                continue  # unique, or reused so widely it identifies nothing
            for j in ids:
                o = own.items[j]
                if (j != it.id and o.asset == it.asset and o.sign == it.sign
                        and abs(o.amount) <= gap and ctx.is_open(j)):
                    return True
    return False


def _clear(s: Scored, by_rec: dict[int, list[Scored]], margin: float, thr: float,
           contradicted: Callable[[Scored], str | None] | None = None) -> bool:
    """Whether ``s`` is every member's unambiguous best candidate (candidates that
    ``contradicted`` rejects are no rivals: their own references disagree)."""
    mine = set(s.ids)
    for i in s.ids:
        lst = by_rec[i]
        k = 0
        while lst[k] is not s:
            if contradicted is None or not contradicted(lst[k]):
                return False
            k += 1
        for o in lst[k + 1:]:
            if o.beyond:
                continue  # out of tolerance: weaker evidence, never a rival for auto
            if contradicted is not None and contradicted(o):
                continue  # its references disagree: vetoed, never a rival for auto
            if o.score >= s.score - margin:
                return False  # a second candidate within the margin
            for j in o.ids:
                if j not in mine and o.score >= thr and _best(by_rec[j], contradicted) is o:
                    return False  # another record's confident best is one of ours
    return True


def _alone(s: Scored, by_rec: dict[int, list[Scored]],
           contradicted: Callable[[Scored], str | None] | None,
           mixed: Callable[[Scored, Scored], bool] | None = None) -> bool:
    """Whether ``s`` is the only candidate of each of its records in this rule's list
    (late and beyond-tolerance ones count: any other reading of a record is a rival),
    but for candidates ``contradicted`` rejects (their own references disagree) and,
    for a group, those ``mixed`` says are a payer's coincidental sum."""
    for i in s.ids:
        for o in by_rec[i]:
            if o is s or (contradicted is not None and contradicted(o)):
                continue
            if mixed is not None and mixed(s, o):
                continue
            return False
    return True


def _mixed_test(sole: Callable[[Scored], str | None]) -> Callable[[Scored, Scored], bool]:
    """For group rules: whether rival ``o`` of ``s`` is no rival — ``s`` is a whole
    reference family (``sole`` says so) and ``o`` is not (lines of several families,
    or without one, or a search cut short): a sum of one busy payer's amounts that
    balances by coincidence, which every line of one family summing exactly outweighs
    whatever its date score. Without it, which coincidences exist depends on what else
    is open, so the same book confirmed its late batches or not by the order of its
    imports (``tests/test_matchers_order.py``)."""
    is_family: dict[int, bool] = {}

    def whole(s: Scored) -> bool:
        hit = is_family.get(id(s))
        if hit is None:
            hit = is_family[id(s)] = sole(s) is not None
        return hit

    def test(s: Scored, o: Scored) -> bool:
        if not whole(s):
            return False
        return o.key == "incomplete" or not whole(o)

    return test


SOLE_SCAN = 4
"""A 1:1 candidate is tested as a sole one only when each of its records has at most
this many candidates in the rule (the others must all be contradicted: a record with
more is, in practice, never alone, and testing each would cost a full run time)."""
SOLE = "the only candidate of its records"
"""The start of a ``sole_reason`` (an auto below its rule's threshold or late)."""


def sole_reason(ctx: Ctx, rule: Rule, s: Scored) -> str | None:
    """Why a late or below-threshold candidate of an auto rule, the only candidate of
    each of its records (``_alone``), is still auto-worthy, or None. Its score is low
    for its lag (a value date two weeks late, a batch four days late), not for doubt
    about what it pairs, when the evidence identifies it:

    * 1:1: neither amount round (a payer's round amounts repeat; a round pair stays
      with the twin veto and its window), the amounts equal within the rounding
      tolerance or apart by the payer's own learned fee (never a pair-wide fee, never
      an unexplained gap), and one payer on both sides (a similarity / tolerance
      rule) or a reference that these two open records alone carry;
    * 1:n / n:1: the members are every open record of one reference family
      ("INV684315-0 .. -3") in the late window, the single cites that family or
      nothing, and the sum is exact (rounding only: no presumed fee).

    Contradicted references, twins and group vetoes still apply after it
    (``veto_reason``); an incomplete group search never qualifies."""
    if s.key == "incomplete" or not s.left or not s.right:
        return None
    if rule.matcher == "group":
        return _sole_group(ctx, rule, s)
    if rule.matcher not in ("exact", "tolerance", "similarity"):
        return None
    a, b = ctx.item(s.left[0]), ctx.item(s.right[0])
    if a is None or b is None or a.round or b.round or a.asset != b.asset:
        return None
    if _contradiction(ctx, rule, s) is not None or _key_elsewhere(ctx, a, b):
        return None
    am, bm = abs(a.amount), abs(b.amount)
    equal = abs(am - bm) <= rule.abs_tol(a.asset)
    if not equal:
        learned = exact.learned_fee(ctx, a, b)
        if learned is None or learned[2]:
            return None  # unexplained, or only a pair-wide (weak) fee
    if shared_key(ctx, s):
        return f"{SOLE}: a reference only these two records carry"
    if a.payer and a.payer == b.payer and rule.matcher != "exact":
        return (f"{SOLE}: the payer's only line of this amount in the late window"
                + ("" if equal else ", less its own learned fee"))
    return None


def _key_elsewhere(ctx: Ctx, a: Item, b: Item) -> bool:
    """Whether another open record, on either side, carries a txid, end-to-end id or
    reference of ``a`` or ``b``: then the pair may be one part of a split, or the key
    another record's (a third carrier of the invoice's reference)."""
    mine = (a.id, b.id)
    for it in (a, b):
        for key, value in (("txid", it.txid), ("end_to_end_id", it.e2e),
                           ("reference", it.ref)):
            if value and any(j not in mine and ctx.is_open(j)
                             for side in ctx.sides for j in side.key_ids(key, value)):
                return True
    return False


def _sole_group(ctx: Ctx, rule: Rule, s: Scored) -> str | None:
    """``sole_reason`` of a 1:n / n:1 group."""
    if rule.type not in ("1:n", "n:1"):
        return None
    one_side_ = groups.one_side(rule)
    one_ids, many = (s.left, s.right) if one_side_ == LEFT else (s.right, s.left)
    if len(one_ids) != 1:
        return None
    one = ctx.item(one_ids[0])
    ms = [ctx.item(i) for i in many]
    if one is None or any(m is None for m in ms):
        return None
    members = [m for m in ms if m is not None]
    fam = members[0].family
    if not fam or any(m.family != fam or m.ref == fam for m in members):
        return None  # not the parts of one family
    if one.ref and fam not in (one.ref, one.family):
        return None
    total = sum((abs(m.amount) for m in members), Decimal(0))
    if abs(total - abs(one.amount)) > rule.abs_tol(one.asset):
        return None
    wide = tolerance.widened(rule) if rule.late_days else rule
    lo, hi = one.day - wide.calendar_window, one.day + wide.calendar_window
    other = ctx.other(one)
    ids = other.by_family(one.asset, signs_for(rule, one.sign), "reference_family", fam,
                          lo, hi, groups.FAMILY_CAP_FACTOR * rule.max_candidates)
    if ids is None or {i for i in ids if ctx.is_open(i)} != set(many):
        return None
    return f"{SOLE}: every open line of {fam} in the window, summing exactly"


def sole_test(ctx: Ctx, rule: Rule) -> Callable[[Scored], str | None] | None:
    """The ``sole`` test of ``decide`` for an auto rule with ``sole_auto`` (None else):
    ``sole_reason`` in ``ctx``. Incremental runs apply it as full runs do, on interior
    records only (their candidate lists are complete), so a complete closure proposes
    what the full run proposes. Unlike the round-amount hold (``hold_test``) nothing
    waits for later imports: a rival of a sole candidate is one more record of the
    payer with an amount that is not round and the same one, or a third carrier of its
    reference, and the order tests measure what imports in slices confirm."""
    if not (rule.sole_auto and rule.sole_applicable):
        return None

    def test(s: Scored) -> str | None:
        return sole_reason(ctx, rule, s)

    return test


def _best(lst: list[Scored], contradicted: Callable[[Scored], str | None] | None
          ) -> Scored | None:
    """The first candidate of a record's list that ``contradicted`` does not reject."""
    for o in lst:
        if contradicted is None or not contradicted(o):
            return o
    return None


def contradiction_test(ctx: Ctx, rule: Rule) -> Callable[[Scored], str | None] | None:
    """A memoised test for ``decide``: the veto of a 1:1 candidate of ``rule`` that
    its own records contradict (``_contradiction``) or None; no test (None) for rules
    it does not apply to (group, contra, exact rules: an agreeing exact key is the
    evidence)."""
    if rule.matcher in ("group", "contra", "exact"):
        return None
    memo: dict[int, str | None] = {}

    def test(s: Scored) -> str | None:
        key = id(s)
        if key in memo:
            return memo[key]
        hit = memo[key] = _contradiction(ctx, rule, s)
        return hit

    return test


def candidate_rank(ctx: Ctx, rule: Rule, s: Scored) -> int:
    """The operator's ranking tier of a candidate, before its score: 1 when its own
    records contradict it (``_contradiction``: a pair vetoed whatever its score, two
    breaks that look alike) or name different payers (``payers_differ``), else 0, so a
    same-payer candidate without a reference outranks a same-amount one whose
    reference names another invoice or whose bank line another payer's; -1 when its
    records are exactly the carriers of one strong key (``shared_key``), whatever its
    gap or lag."""
    if shared_key(ctx, s):
        return -1
    if rule.matcher in ("group", "contra", "exact"):
        return 0
    if _contradiction(ctx, rule, s) is not None or payers_differ(ctx, s):
        return 1
    return 0


CP_DISAGREE = 0.7
"""Counterparty names of different payer keys (``Item.payer``, the first word) and less
similar than this (``explain.cp_similarity``, 0..1) name different payers. Measured on
the skewed books: a true pair's two spellings ("Sun Wayne Trading SA" / "SUN WAYNE
TRADING S.A.") share the payer key and score 0.9-1.0; two payers of one generated
vocabulary ("Virtucon Soylent Trading" / "Soylent Mifflin Holdings") share words and
score up to 0.63; an initial ("J Smith" / "John Smith") scores 0.82. The cost: a card
line's abbreviation ("AMZN MKTP" for "Amazon.com") reads as another payer, ranked
below the payer's own lines, never hidden."""


def payers_differ(ctx: Ctx, s: Scored) -> bool:
    """Whether a 1:1 candidate's two records both name a counterparty and the names
    clearly differ (``CP_DISAGREE``): an equal amount of another payer on the same day
    is weaker evidence than the invoice's own payer's line a week late (the lag10
    skewed cell: such lines of other payers took all three places)."""
    if len(s.left) != 1 or len(s.right) != 1:
        return False
    a = ctx.sides[LEFT].items.get(s.left[0]) or ctx.item(s.left[0])
    b = ctx.sides[RIGHT].items.get(s.right[0]) or ctx.item(s.right[0])
    if a is None or b is None or not a.cp or not b.cp or a.payer == b.payer:
        return False
    return cp_similarity(a.cp, b.cp) < CP_DISAGREE


def shared_key(ctx: Ctx, s: Scored) -> bool:
    """Whether a two-sided candidate's records are exactly the open records carrying
    some txid, end-to-end id or reference (a pair whose reference only these two
    carry, a split whose parts all cite the order): the key then says which
    records belong together, whatever the gap or the lag."""
    if not s.left or not s.right:
        return False
    first = ctx.item(s.left[0])
    if first is None:
        return False
    want = (set(s.left), set(s.right))
    for key, x in (("txid", first.txid), ("end_to_end_id", first.e2e),
                   ("reference", first.ref)):
        if x and all({i for i in side.key_ids(key, x) if ctx.is_open(i)} == ids
                     for side, ids in zip(ctx.sides, want, strict=True)):
            return True
    return False


HOLD_WINDOW_FACTOR = TWIN_WINDOW_FACTOR
"""An incremental run holds a round-amount pair until this many of the rule's calendar
windows after its later record are covered by both sides (``hold_test``)."""


def watermark(side: SideIndex) -> int:
    """The latest day (ordinal) among ``side``'s records, or 0 when it has none;
    cached per ``SideIndex.version`` (a look at the last date bucket only)."""
    return int(side.derive("watermark", lambda: _latest_day(side)))


def _latest_day(side: SideIndex) -> int:
    last = max((db for _, _, db in side.present), default=None)
    day = 0
    if last is not None:
        for asset, sign, db in side.present:
            if db == last:
                for i in side.family_ids(asset, sign, "date", "*", db):
                    it = side.items.get(i)
                    if it is not None and it.day > day:
                        day = it.day
    return day


def hold_test(ctx: Ctx, rule: Rule) -> Callable[[Scored], str | None] | None:
    """For incremental runs: the hold of an auto-worthy 1:1 pair of ``rule`` whose
    round amount (and no shared strong key) leaves it to the twin veto, while the
    twin window after its later record reaches past the latest record of either side
    — a later import could still bring the twin that a full run of the whole book
    would see and veto on. Held pairs are suggested; the run that sees the window
    covered (or a full run) decides them. So what an import confirms as it arrives is
    what one full run of the whole book confirms, whatever the order of the files
    (``tests/test_matchers_order.py``). None for rules it does not apply to."""
    if rule.outcome != "auto" or rule.matcher in ("group", "contra"):
        return None
    mark = min(watermark(ctx.sides[LEFT]), watermark(ctx.sides[RIGHT]))
    w = HOLD_WINDOW_FACTOR * rule.calendar_window
    reason = (f"{VETO}round amount held: the twin window ({w} days) after it is not yet "
              f"covered by both sides; a later run decides")
    late_reason = (f"{VETO}late pair held: a later import could bring another record with "
                   f"its key within {w} days; a later run decides")

    def test(s: Scored) -> str | None:
        if len(s.left) != 1 or len(s.right) != 1:
            return None
        a, b = ctx.item(s.left[0]), ctx.item(s.right[0])
        if a is None or b is None:
            return None
        if rule.matcher == "exact":
            # A late pair stands on its key being carried by these two records only:
            # a later import could bring a third.
            if not s.beyond and lag(rule, a, b) > rule.date_window_days and (
                    max(a.day, b.day) + w > mark):
                return late_reason
            return None
        if not (a.round or b.round):
            return None
        if (a.ref and a.ref == b.ref) or (a.e2e and a.e2e == b.e2e) or (
                a.txid and a.txid == b.txid):
            return None  # a shared strong key: twins do not matter
        return reason if max(a.day, b.day) + w > mark else None

    return test


def weak_group(rule: Rule, s: Scored) -> bool:
    """A group suggestion below its rule's auto threshold: it never consumes its
    records, even when contested (alternatives), so a later group rule may still
    confirm them. Otherwise a coincidental sum that only a small book lets a busy
    payer's block find (5 lines within the fee cap of a bank line, 0.855) took the
    part line of a later rule's true, auto-worthy split (0.955), and the result
    depended on how much of the book had been imported when the line arrived."""
    return rule.matcher == "group" and s.score < rule.auto_threshold
