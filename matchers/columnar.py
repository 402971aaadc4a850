"""Columnar candidate generation of the exact-key rules for full runs: one relational join.

A full run used to probe every open left record with ``exact.generate``: per record and
key, a dict lookup, an oversize check, and a Python loop over the block. Here each key
field (txid, normalised reference, end-to-end id) is a column of interned integer codes
per side, and the candidate pairs of every prober come from one SQL join per rule in an
embedded, in-memory DuckDB (``KEY_JOIN_SQL``): same asset, the rule's sign relation,
the block size of the key on the target side (``SideIndex.by_key``'s oversize cap), and
a date pre-filter wide enough for ``explain.beyond``. Python keeps what SQL cannot say
the same way: each pair is scored by ``explain.pair`` / ``explain.beyond`` (rapidfuzz
scores, Decimal amounts), so scores are those of the per-record path by construction.

Exactly the pairs of ``exact.generate`` over the probers: same blocks, same oversize
rule (a key shared by more than ``max_block`` target records pairs nothing and counts
``oversized_key_blocks`` once per prober and key, as ``by_key`` does), the same "best
score per counterpart, first key on ties" across a rule's keys.

No plaintext on disk: the database is in memory, spilling is off (``temp_directory``
empty, ``max_temp_directory_size`` 0), external access (files, extensions) is disabled
and the configuration locked; a join that outgrows ``MEMORY_LIMIT`` fails instead of
writing a spill file (``tests/test_columnar_canary.py`` proves no file appears).

The SQL is plain ANSI joins and aggregates (no DuckDB-only syntax, constants inlined as
integers), so the same statement runs on a cluster engine (Spark SQL) when a book
outgrows one machine.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np
from rapidfuzz import fuzz

from .blocking import SideIndex
from .context import Ctx
from .exact import learned_fee, only_pair
from .explain import (
    BEYOND_DATE_FACTOR,
    NEUTRAL,
    NO_ADJ,
    QUIET,
    Scored,
    amount_fit,
    beyond,
    cp_similarity,
    pair,
)
from .items import Item
from .rules import Rule

if TYPE_CHECKING:
    from decimal import Decimal

    import duckdb

MEMORY_LIMIT = "1GB"
"""DuckDB's memory cap: above it a query fails (spilling is disabled), never spills."""

KEY_JOIN_SQL = """
WITH target_blocks AS (
    SELECT code, COUNT(*) AS n
    FROM target
    GROUP BY code
)
SELECT p.pos AS ppos, t.pos AS tpos
FROM probe AS p
JOIN target_blocks AS b ON b.code = p.code
JOIN target AS t ON t.code = p.code
WHERE b.n <= {cap}
  AND t.asset = p.asset
  {sign}
  AND ABS(t.lagday - p.lagday) <= {window}
"""
"""Candidate pairs of one key field: ``probe`` and ``target`` are (pos, code, asset,
sign, lagday) rows; ``lagday`` is the business-day or calendar ordinal the rule's lag
uses. ``{sign}`` is the rule's sign relation, ``{window}`` the widest lag a candidate
(in tolerance or ``beyond``) may have."""

OVERSIZED_SQL = """
SELECT COUNT(*) AS n
FROM probe AS p
JOIN (SELECT code, COUNT(*) AS n FROM target GROUP BY code) AS b ON b.code = p.code
WHERE b.n > {cap}
"""
"""Probes whose key block on the target side is oversized (``oversized_key_blocks``)."""

_SIGN_SQL = {
    "same": "AND t.sign = p.sign",
    "opposite": "AND t.sign = -p.sign",
}


def connect(memory_limit: str = MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that cannot write a file: no temp directory (so no spill),
    no external access (no COPY, no file reads, no extension downloads), configuration
    locked, a memory cap that fails a query rather than spill.

    What the joins send it holds no plaintext either: interned integer codes of the
    keys, positions, asset codes, signs and day ordinals (the strings stay in Python)."""
    # Imported here: an engine joining in numpy (the default) never loads DuckDB
    # (~22 MB resident for the library, ~40 MB more once a connection has run).
    import duckdb

    con = duckdb.connect(":memory:", config={
        "temp_directory": "",
        "max_temp_directory_size": "0B",
        "preserve_insertion_order": False,
        "memory_limit": memory_limit,
        "threads": 2,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    })
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


class _Columns:
    """One side's exact-key columns: its items in a fixed order, per key field the
    (pos, code) of items carrying it, and asset code, sign, day, business day per
    item. Codes are interned in ``codes`` (shared with the probing side)."""

    __slots__ = ("asset", "assets", "bday", "codes", "day", "ids", "items", "keys", "sign")

    def __init__(self, side: SideIndex) -> None:
        items = list(side.items.values())
        n = len(items)
        self.items = items
        self.codes: dict[str, int] = {}
        self.assets: dict[str, int] = {}
        codes, assets = self.codes, self.assets
        self.asset = np.fromiter((assets.setdefault(it.asset, len(assets)) for it in items),
                                 np.int32, n)
        # ``map(attrgetter)``: ~2x cheaper per item than generator expressions.
        self.sign = np.fromiter(map(attrgetter("sign"), items), np.int8, n)
        self.day = np.fromiter(map(attrgetter("day"), items), np.int64, n)
        self.bday = np.fromiter(map(attrgetter("bday"), items), np.int64, n)
        self.ids = list(map(attrgetter("id"), items))
        self.keys: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for key in ("txid", "reference", "end_to_end_id"):
            pos: list[int] = []
            code: list[int] = []
            for i, v in enumerate(map(_KEY_ATTR[key], items)):
                if v:
                    pos.append(i)
                    code.append(codes.setdefault(v, len(codes)))
            self.keys[key] = (np.array(pos, np.int64), np.array(code, np.int64))


_KEY_ATTR = {"txid": attrgetter("txid"), "reference": attrgetter("ref"),
             "end_to_end_id": attrgetter("e2e")}
"""``Item.key_value`` of the exact key fields, as attribute getters."""


def _columns(side: SideIndex) -> _Columns:
    """The target side's columns, rebuilt only when the side changed: a full run asks
    once per exact rule and fixpoint pass."""
    return side.derive("columnar_keys", lambda: _Columns(side))  # type: ignore[no-any-return]


def exact_pairs(
    ctx: Ctx,
    rule: Rule,
    probers: list[Item],
    targets: SideIndex,
    target_open: Callable[[int], bool],
    con: duckdb.DuckDBPyConnection | None = None,
) -> list[Scored]:
    """``[s for it in probers for s in exact.generate(ctx, rule, it)[0]]`` (``probers``:
    left items, ``ctx.is_open`` == ``target_open``), by one join per key field: SQL
    on ``con`` (a ``connect()`` connection), or the same join in numpy when None."""
    if not probers or not targets.items:
        return []
    tc = _columns(targets)
    assets = tc.assets
    if rule.assets:
        probers = [it for it in probers if it.asset in rule.assets]
        if not probers:
            return []
    n = len(probers)
    p_asset = np.fromiter((assets.get(it.asset, -1) for it in probers), np.int32, n)
    p_sign = np.fromiter((it.sign for it in probers), np.int8, n)
    lag_attr = "bday" if rule.business_days else "day"
    p_lag = np.fromiter((getattr(it, lag_attr) for it in probers), np.int64, n)
    t_lag = tc.bday if rule.business_days else tc.day
    t_open = np.fromiter(map(target_open, tc.ids), np.bool_, len(tc.ids))
    window = int(BEYOND_DATE_FACTOR * max(rule.date_window_days, 1))
    cap = int(targets.max_block)
    found: dict[tuple[int, int], Scored] = {}
    codes = tc.codes
    titems = tc.items
    for key in rule.keys:
        if key not in tc.keys:
            continue
        ppos_l: list[int] = []
        pcode_l: list[int] = []
        for i, v in enumerate(map(_KEY_ATTR[key], probers)):
            if v:
                c = codes.get(v)
                if c is not None:
                    ppos_l.append(i)
                    pcode_l.append(c)
        if not ppos_l:
            continue
        ppos = np.array(ppos_l, np.int64)
        tpos_all, tcode = tc.keys[key]
        probe: dict[str, Any] = {
            "pos": ppos, "code": np.array(pcode_l, np.int64), "asset": p_asset[ppos],
            "sign": p_sign[ppos], "lagday": p_lag[ppos],
        }
        target: dict[str, Any] = {
            "pos": tpos_all, "code": tcode, "asset": tc.asset[tpos_all],
            "sign": tc.sign[tpos_all], "lagday": t_lag[tpos_all],
        }
        if con is not None:
            con.register("probe", probe)
            con.register("target", target)
            try:
                row = con.execute(OVERSIZED_SQL.format(cap=cap)).fetchone()
                over = int(row[0]) if row else 0
                got = con.execute(KEY_JOIN_SQL.format(
                    cap=cap, sign=_SIGN_SQL.get(rule.sign, ""), window=window)
                ).fetchnumpy()
            finally:
                con.unregister("probe")
                con.unregister("target")
            pp, tp = np.asarray(got["ppos"]), np.asarray(got["tpos"])
        else:
            pp, tp, over = _join_numpy(probe, target, cap, rule.sign, window)
        if over:
            ctx.stats["oversized_key_blocks"] += over
        keep = t_open[tp]
        pp, tp = pp[keep], tp[keep]
        # exact.generate's order: per prober, the block in index order (insertion
        # order of the side, which ``tc.items`` keeps); only ties across keys depend
        # on order, and keys are walked in the rule's order.
        order = np.lexsort((tp, pp))
        pp, tp = pp[order], tp[order]
        days = np.abs(t_lag[tp] - p_lag[pp])
        for s in _score(ctx, rule, key, probers, titems, pp, tp, days):
            k = (s.left[0], s.right[0])
            old = found.get(k)
            if old is None or s.score > old.score:
                found[k] = s
    return list(found.values())


def _join_numpy(
    probe: dict[str, Any], target: dict[str, Any], cap: int, sign: str, window: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """``KEY_JOIN_SQL`` (and ``OVERSIZED_SQL``'s count) as a sort-merge join in numpy:
    the same (ppos, tpos) pairs, for an engine run without DuckDB."""
    tcode = target["code"]
    order = np.argsort(tcode, kind="stable")
    sc = tcode[order]
    lo = np.searchsorted(sc, probe["code"], "left")
    hi = np.searchsorted(sc, probe["code"], "right")
    cnt = hi - lo
    big = cnt > cap
    over = int(np.count_nonzero(big))
    cnt[big] = 0
    total = int(cnt.sum())
    rows = np.repeat(np.arange(len(cnt)), cnt)
    idx = order[np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(total)]
    m = target["asset"][idx] == probe["asset"][rows]
    if sign == "same":
        m &= target["sign"][idx] == probe["sign"][rows]
    elif sign == "opposite":
        m &= target["sign"][idx] == -probe["sign"][rows]
    m &= np.abs(target["lagday"][idx] - probe["lagday"][rows]) <= window
    return probe["pos"][rows[m]], target["pos"][idx[m]], over


_TEXT = ("reference", "counterparty", "memo")


def _score(
    ctx: Ctx, rule: Rule, key: str, probers: list[Item], titems: list[Item],
    pp: np.ndarray, tp: np.ndarray, days: np.ndarray,
) -> list[Scored]:
    """``pair(rule, a, b, key, learned=...)`` or else ``beyond(rule, a, b, key)`` for
    each candidate (prober ``pp``, target ``tp``) of one key, the block at once.

    The date part and the weighted mean are numpy over the block with the float
    operations of ``explain.combine`` in its order (bit-identical); the counterparty
    similarity is computed once per distinct pair of names; only the amount fit of
    pairs whose amounts differ (Decimal, declared / learned fees) is per pair. Rules
    that weigh the address or gate on similarity go through ``explain.pair`` itself."""
    out: list[Scored] = []
    pairs = [(probers[p], titems[t]) for p, t in zip(pp.tolist(), tp.tolist(), strict=True)]
    window = rule.date_window_days
    weights = [(n, w) for n, w in rule.weights.items() if w != 0]
    if rule.min_similarity > 0 or any(n == "address" for n, _ in weights):
        for (a, b), d in zip(pairs, days.tolist(), strict=True):
            s = pair(rule, a, b, key, learned=learned_fee(ctx, a, b))
            if s is None and d <= BEYOND_DATE_FACTOR * max(window, 1):
                s = beyond(rule, a, b, key, late_ok=only_pair(ctx, key, a.key_value(key)))
            if s is not None:
                out.append(s)
        return out
    n = len(pairs)
    inside = days <= window
    amount = np.full(n, np.nan)
    for i in np.flatnonzero(inside).tolist():
        a, b = pairs[i]
        am, bm = abs(a.amount), abs(b.amount)
        if am == bm:
            amount[i] = 1.0
            continue
        fees = [f for f, fa in ((a.fee, a.fee_asset), (b.fee, b.fee_asset))
                if f and fa == a.asset]
        learned = learned_fee(ctx, a, b)
        weak: Decimal | None = None
        if learned is not None:
            if learned[2]:
                weak = learned[0]  # a weak learned fee (``explain.LARGE_FEE_SCORE``)
            else:
                fees.append(learned[0])
        fit = amount_fit(rule, am, bm, fees, a.asset, weak=weak)
        if fit is not None:
            amount[i] = fit[0]
    ok = ~np.isnan(amount)
    names = {n for n, _ in weights}
    texts: dict[str, np.ndarray] = {}
    if "reference" in names:
        texts["reference"] = np.ones(n)  # the key agrees: ``text_scores`` with key_field
    if "counterparty" in names:
        sims: dict[tuple[str, str], float] = {}
        cp = np.full(n, NEUTRAL)
        for i in np.flatnonzero(ok).tolist():
            a, b = pairs[i]
            if a.cp and b.cp:
                if a.cp == b.cp:
                    cp[i] = 1.0
                else:
                    k = (a.cp, b.cp)
                    v = sims.get(k)
                    if v is None:
                        v = sims[k] = cp_similarity(a.cp, b.cp)
                    cp[i] = v
        texts["counterparty"] = cp
    if "memo" in names:
        memo = np.full(n, NEUTRAL)
        for i in np.flatnonzero(ok).tolist():
            a, b = pairs[i]
            if a.memo and b.memo:
                memo[i] = 1.0 if a.memo == b.memo else (
                    fuzz.token_set_ratio(a.memo, b.memo) / 100.0)
        texts["memo"] = memo
    w1 = max(window, 1)
    date = 1.0 - 0.5 * np.minimum(days, w1) / w1
    total = np.zeros(n)
    wsum = 0.0
    for field, w in weights:
        if field == "amount":
            part = amount
        elif field == "date":
            part = date
        else:
            got = texts.get(field)
            part = got if got is not None else np.full(n, NEUTRAL)
        total = total + w * part
        wsum += w
    score = total / wsum if wsum else np.zeros(n)
    sc = score.tolist()
    oks = ok.tolist()
    name = rule.name
    for i, (a, b) in enumerate(pairs):
        if oks[i]:
            out.append(Scored(a.one, b.one, round(sc[i], 6), name, QUIET, NO_ADJ, key))
        else:
            s = beyond(rule, a, b, key, late_ok=only_pair(ctx, key, a.key_value(key)))
            if s is not None:
                out.append(s)
    return out
