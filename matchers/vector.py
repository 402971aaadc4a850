"""Vectorised candidate generation of the tolerance / similarity rules for full runs.

A full run probes every open left record with every tolerance and similarity rule.
Done one record at a time (``SideIndex.by_amount``) that is ~13 binary searches and a
Python loop per probe. Here, per (asset, sign) block, the whole block is probed at once
with ``numpy.searchsorted`` over the other side's items sorted by (day, |amount|), the
candidate pairs of all the block's records are expanded and filtered by every rule's
amount / date / fee windows in numpy, and only the pairs that pass are scored in Python
(text similarities once per pair, shared by the rules).

Exactly the pairs of ``tolerance.generate`` (``by_amount`` + its filter) — same cells,
same float windows, same oversize fallbacks:

* a record whose own amount cell is oversized, or a counterpart in an oversized cell,
  is paired only on the strict key (same |amount| and same day); a strict class larger
  than ``max_block`` on either side pairs nothing (``strict_blocks_dropped``);
* any other counterpart is paired when its |amount| and day are inside the rule's
  windows (a cell is inside a probe's cell range iff its items can be).

Only the ``oversized_fallbacks`` / ``strict_blocks_dropped`` counters differ from the
per-record probe: they count probes (record x rule) that fell back, not cells visited.
The incremental path and ``Engine.candidates`` keep the per-record probe.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from operator import attrgetter

import numpy as np

from .blocking import SideIndex
from .explain import (
    ADDRESS,
    NEUTRAL,
    NO_ADJ,
    QUIET,
    Scored,
    _plan,
    amount_fit,
    signs_for,
    text_scores,
)
from .items import Item
from .rules import Rule

_EPS = 1e-9
CHUNK = 4096
"""Probing records per numpy batch (bounds the expanded candidate arrays)."""


_MAG, _DAY, _ID, _BDAY = attrgetter("mag"), attrgetter("day"), attrgetter("id"), attrgetter("bday")


class _Block:
    """One (asset, sign) block of a side: items sorted by (day, |amount|)."""

    __slots__ = (
        "_strict", "bday", "day", "dmin", "feev", "ids", "items", "keys", "mag", "open",
        "over", "span", "umag",
    )

    def __init__(self, items: list[Item], over_ids: set[int]) -> None:
        n = len(items)
        # ``map(attrgetter)`` rather than generator expressions: ~2x cheaper per item,
        # and these blocks hold every record of a side.
        mag = np.fromiter(map(_MAG, items), np.float64, n)
        day = np.fromiter(map(_DAY, items), np.int64, n)
        # Every column read in the side's order and then permuted in numpy: reading the
        # items in sorted order walks memory at random (~4x slower a column).
        ids = np.fromiter(map(_ID, items), np.int64, n)
        bday = np.fromiter(map(_BDAY, items), np.int64, n)
        over = np.fromiter(map(over_ids.__contains__, ids.tolist()), np.bool_, n)
        # The declared fee as ``explain.amount_fit`` may use it (same asset, non-zero).
        feev = np.fromiter(
            (float(it.fee) if it.fee and it.fee_asset == it.asset else np.nan
             for it in items), np.float64, n,
        )
        self.umag = np.unique(mag)
        rank = np.searchsorted(self.umag, mag)
        self.dmin = int(day.min()) if n else 0
        self.span = len(self.umag) + 1
        keys = (day - self.dmin) * self.span + rank
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.mag = mag[order]
        self.day = day[order]
        self.items = list(map(items.__getitem__, order.tolist()))
        self.ids = ids[order]
        self.bday = bday[order]
        self.over = over[order]
        self.feev = feev[order]
        self.open = np.ones(n, np.bool_)
        self._strict: np.ndarray | None = None

    def strict_sizes(self) -> np.ndarray:
        """Per item, how many items of the block share its (day, |amount|) key (its
        strict class, ``SideIndex.strict_count``): run lengths of the sorted ``keys``,
        computed once per block (the keys never change)."""
        got = self._strict
        if got is None:
            n = len(self.keys)
            if n == 0:
                got = np.zeros(0, np.int64)
            else:
                starts = np.flatnonzero(np.r_[True, self.keys[1:] != self.keys[:-1]])
                cnt = np.diff(np.r_[starts, n])
                got = np.repeat(cnt, cnt)
            self._strict = got
        return got

    def ranks(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """|amount| ranks [r_lo, r_hi) of lo <= |amount| <= hi."""
        return np.searchsorted(self.umag, lo, "left"), np.searchsorted(self.umag, hi, "right")

    def range_keys(
        self, day: np.ndarray, r_lo: np.ndarray, r_hi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Index ranges [i0, i1) of items on ``day`` with |amount| rank in [r_lo, r_hi)."""
        base = (day - self.dmin) * self.span
        return (
            np.searchsorted(self.keys, base + r_lo, "left"),
            np.searchsorted(self.keys, base + r_hi, "left"),
        )

_TEXT_COL = {"reference": 2, "counterparty": 3, "memo": 4}
"""Column of each ``similarity_on`` text field in the ``cols`` of ``_score_block``."""


def _blocks(side: SideIndex) -> dict[tuple[str, int], _Block]:
    """The side's blocks, rebuilt only when the side changed (``SideIndex.version``): a
    full run probes several times (rule groups, fixpoint passes) over the same items."""
    return side.derive("vector_blocks", lambda: _build_blocks(side))  # type: ignore[no-any-return]


def _build_blocks(side: SideIndex) -> dict[tuple[str, int], _Block]:
    cap = side.max_block
    over: set[int] = set()
    for akey, cell in side.amounts.items():
        if len(cell) > cap:
            # Crowded items (``SideIndex.oversized``): the round ones, or all when the
            # cell is crowded by amounts that are not round.
            every = side.plain_count(akey) > cap
            over.update(iid for _, iid in cell if every or side.items[iid].round)
    groups: dict[tuple[str, int], list[Item]] = {}
    for it in side.items.values():
        groups.setdefault((it.asset, it.sign), []).append(it)
    return {k: _Block(v, over) for k, v in groups.items()}


def _windows(
    rule: Rule, asset: str, mag: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``tolerance.amount_window`` and ``tight_window`` over an array, with the same
    float operations in the same order (bit-identical bounds)."""
    rel = float(max(rule.amount_rel, rule.fee_rel_max))
    ab = float(max(rule.abs_tol(asset), rule.fee_cap(asset)))
    fa = float(rule.fee_cap(asset))
    frm = float(rule.fee_rel_max)
    tol = float(rule.abs_tol(asset))
    arel = float(rule.amount_rel)

    def gap(larger: np.ndarray) -> np.ndarray:
        fr = frm * larger
        if fa:
            fee = np.where(fr != 0, np.minimum(fa, fr), fa)
        else:
            fee = fr
        return np.maximum(np.maximum(tol, arel * larger), fee)

    lo = mag * (1 - rel) - ab
    if rel < 1:
        hi = (mag + ab) / (1 - rel)
    else:
        hi = np.full_like(mag, np.inf)
    lo = np.maximum(lo - _EPS * mag - 1e-12, 0.0)
    hi = hi + _EPS * mag + 1e-12
    tlo = mag - gap(mag)
    with np.errstate(invalid="ignore"):
        thi = np.where(np.isinf(hi), hi, mag + gap(hi))
    return lo, hi, tlo - _EPS * mag - 1e-9, thi + _EPS * thi + 1e-9


def _expand(i0: np.ndarray, i1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, index) for every index in each row's range [i0, i1)."""
    cnt = i1 - i0
    cnt[cnt < 0] = 0
    total = int(cnt.sum())
    rows = np.repeat(np.arange(len(i0)), cnt)
    starts = np.repeat(i0 - (np.cumsum(cnt) - cnt), cnt)
    return rows, starts + np.arange(total)


def collect(
    rules: list[Rule],
    probers: SideIndex,
    targets: SideIndex,
    is_open: Callable[[int], bool],
    stats: dict[str, int],
    left: bool = True,
    target_open: Callable[[int], bool] | None = None,
) -> list[list[Scored]]:
    """Candidates of each rule (all of one ``sign`` setting) for every open record of
    ``probers`` against ``targets``: ``[generate(ctx, rule, it)[0] for it]`` per rule,
    concatenated (order aside). ``target_open``: which counterparts are open, when
    not ``is_open`` (a fixpoint pass probes only the pairs its cache lacks)."""
    out: list[list[Scored]] = [[] for _ in rules]
    if not probers.items or not targets.items:
        return out
    own_blocks = _blocks(probers)
    other_blocks = _blocks(targets)
    for blocks, test in ((own_blocks, is_open), (other_blocks, target_open or is_open)):
        for blk in blocks.values():
            # ``map`` of the predicate, not a generator expression: one C-level call per
            # id (both sides, every probe of a full run).
            blk.open = np.fromiter(map(test, blk.ids.tolist()), np.bool_, len(blk.ids))
    cap = targets.max_block
    for (asset, sign), pb in own_blocks.items():
        active = [k for k, r in enumerate(rules) if not (r.assets and asset not in r.assets)]
        if not active:
            continue
        own_strict = pb.strict_sizes()
        for tsign in signs_for(rules[active[0]], sign):
            tb = other_blocks.get((asset, tsign))
            if tb is None:
                continue
            # Only open probers are probed (a fixpoint pass leaves few); the strict
            # class sizes above still count the whole side, as the per-record probe.
            live = np.flatnonzero(pb.open)
            for c0 in range(0, len(live), CHUNK):
                _probe(rules, active, asset, pb, tb, live[c0:c0 + CHUNK], own_strict,
                       cap, stats, out, left)
    return out


def _probe(
    rules: list[Rule],
    active: list[int],
    asset: str,
    pb: _Block,
    tb: _Block,
    sl: np.ndarray,
    own_strict: np.ndarray,
    cap: int,
    stats: dict[str, int],
    out: list[list[Scored]],
    left: bool,
) -> None:
    pmag, pday, pover = pb.mag[sl], pb.day[sl], pb.over[sl]
    pstrict = own_strict[sl]
    wins = [_windows(rules[k], asset, pmag) for k in active]
    cws = [rules[k].calendar_window for k in active]
    lo = np.minimum.reduce([w[0] for w in wins])
    hi = np.maximum.reduce([w[1] for w in wins])
    cw = max(cws)
    # Normal pairs: neither the prober's cell nor the counterpart's is oversized.
    rows_l, idx_l = [], []
    r_lo, r_hi = tb.ranks(lo, hi)
    for d in range(-cw, cw + 1):
        i0, i1 = tb.range_keys(pday + d, r_lo, r_hi)
        i1 = np.where(pover, i0, i1)
        r, ix = _expand(i0, i1)
        keep = ~tb.over[ix]
        rows_l.append(r[keep])
        idx_l.append(ix[keep])
    # Strict fallback: same |amount| and same day, for oversized probers or cells.
    f0, f1 = tb.range_keys(pday, *tb.ranks(pmag, pmag))
    nsame = f1 - f0
    # Every same-key counterpart sits in one cell: oversized for all of them or none.
    has = nsame > 0
    first_over = np.zeros(len(f0), np.bool_)
    first_over[has] = tb.over[f0[has]]
    fb = pover | first_over
    dropped = fb & has & ((nsame > cap) | (pstrict > cap))
    take = fb & has & ~dropped
    r, ix = _expand(f0, np.where(take, f1, f0))
    rows_l.append(r)
    idx_l.append(ix)
    # Fallback counters: per probe (record x active rule), see the module docstring.
    n_rules = len(active)
    popen = pb.open[sl]
    fbn = int(np.count_nonzero((pover | (first_over & has)) & popen))
    if fbn:
        stats["oversized_fallbacks"] += fbn * n_rules
    dn = int(np.count_nonzero(dropped & popen))
    if dn:
        stats["strict_blocks_dropped"] += dn * n_rules
    rows = np.concatenate(rows_l)
    idx = np.concatenate(idx_l)
    live = popen[rows] & tb.open[idx]
    rows, idx = rows[live], idx[live]
    if not len(rows):
        return
    tm = tb.mag[idx]
    td = tb.day[idx]
    lag = np.abs(td - pday[rows])
    blag = np.abs(tb.bday[idx] - pb.bday[sl][rows])
    # Outside a rule's tight window only a declared fee can explain the gap
    # (``explain.amount_fit``): keep such a pair only if its gap is, up to float
    # rounding, one of the two declared fees (NaN when none).
    pm = pmag[rows]
    size = np.abs(tm - pm)
    tolf = 1e-9 * np.maximum(tm, pm) + 1e-12
    okfee = (np.abs(size - pb.feev[sl][rows]) <= tolf) | (np.abs(size - tb.feev[idx]) <= tolf)
    masks = []
    for k, (wlo, whi, tlo, thi), c in zip(active, wins, cws, strict=True):
        m = (wlo[rows] <= tm) & (tm <= whi[rows]) & (lag <= c)
        m &= (tlo[rows] <= tm) & (tm <= thi[rows]) | okfee
        # ``explain.pair``'s own date check, early: fewer pairs reach Python.
        rule = rules[k]
        m &= (blag if rule.business_days else lag) <= rule.date_window_days
        masks.append(m)
    anym = np.logical_or.reduce(masks)
    sel = np.flatnonzero(anym)
    if not len(sel):
        return
    prow = sl[rows[sel]].tolist()
    tix = idx[sel].tolist()
    pitems, titems = pb.items, tb.items
    pairs = []
    for p, t in zip(prow, tix, strict=True):
        it = pitems[p]
        o = titems[t]
        pairs.append((it, o) if left else (o, it))
    _score_block(pairs, lag[sel], blag[sel], [(rules[k], m[sel], out[k])
                                              for k, m in zip(active, masks, strict=True)],
                 pm[sel] == tm[sel])


def _score_block(
    pairs: list[tuple[Item, Item]], lag: np.ndarray, blag: np.ndarray,
    work: list[tuple[Rule, np.ndarray, list[Scored]]],
    same_mag: np.ndarray | None = None,
) -> None:
    """``quick_pair(rule, a, b, text_scores(a, b))`` for every pair each rule's mask
    selects, appended to that rule's list in pair order, the block at once: text
    similarities once per pair, the amount fit in Decimal only where amounts differ,
    and the date part and weighted mean in numpy with ``quick_pair``'s float
    operations in its order (bit-identical scores). ``same_mag``: where the pairs'
    float magnitudes are equal, a pre-filter of the Decimal equality (equal amounts
    have equal correctly rounded floats; only those pairs are compared exactly)."""
    n = len(pairs)
    texts = [text_scores(a, b) for a, b in pairs]

    def col(name: str) -> np.ndarray:
        return np.fromiter((np.nan if (v := t[name]) is None else v for t in texts),
                           np.float64, n)

    cols = [None, None, col("reference"), col("counterparty"), col("memo"), col("address")]
    bests: dict[tuple[str, ...], np.ndarray] = {}

    def best_of(on: tuple[str, ...]) -> np.ndarray:
        """``_best_text`` over the rule's ``similarity_on`` fields."""
        got = bests.get(on)
        if got is None:
            got = np.zeros(n)
            for f in on:
                c = cols[_TEXT_COL[f]]
                assert c is not None
                got = np.where(c > got, c, got)  # NaN (missing) never wins
            bests[on] = got
        return got

    if same_mag is None:
        equal = np.fromiter((abs(a.amount) == abs(b.amount) for a, b in pairs), np.bool_, n)
    else:
        equal = np.zeros(n, np.bool_)
        for i in np.flatnonzero(same_mag).tolist():
            a, b = pairs[i]
            equal[i] = abs(a.amount) == abs(b.amount)
    addr_missing = np.isnan(cols[ADDRESS])  # type: ignore[arg-type]
    for rule, mask, dest in work:
        ms = rule.min_similarity
        m = mask & (best_of(rule.similarity_on) >= ms) if ms > 0 else mask.copy()
        amount = np.where(equal, 1.0, np.nan)
        for i in np.flatnonzero(m & ~equal).tolist():
            a, b = pairs[i]
            asset = a.asset
            if a.fee is None and b.fee is None:
                fees: list[Decimal] | tuple[()] = ()
            else:
                fees = [f for f, fa in ((a.fee, a.fee_asset), (b.fee, b.fee_asset))
                        if f and fa == asset]
            fit = amount_fit(rule, abs(a.amount), abs(b.amount), fees, asset)
            if fit is not None:
                amount[i] = fit[0]
        m &= ~np.isnan(amount)
        if not m.any():
            continue
        window, plan, wsum, has_address = _plan(rule)
        days = blag if rule.business_days else lag
        date = 1.0 - 0.5 * np.minimum(days, window) / window
        cols[0], cols[1] = amount, date
        total = np.zeros(n)
        for k, w in plan:
            v = cols[k] if k < len(cols) else None
            if v is None:
                total = total + w * NEUTRAL
            elif k == ADDRESS:
                # ``combine`` skips a missing address (adding 0.0 changes nothing).
                total = total + np.where(addr_missing, 0.0, w * np.nan_to_num(v))
            else:
                total = total + w * np.where(np.isnan(v), NEUTRAL, v)
        ws = np.full(n, wsum)
        if has_address:
            w2 = 0.0
            for k, w in plan:
                if k != ADDRESS:
                    w2 += w
            ws[addr_missing] = w2
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.where(ws != 0, total / ws, 0.0)
        name = rule.name
        sc = score.tolist()
        for i in np.flatnonzero(m).tolist():
            a, b = pairs[i]
            dest.append(Scored(a.one, b.one, round(sc[i], 6), name, QUIET, NO_ADJ, None))
