"""Match quality benchmark: auto precision / recall and candidate top-k accuracy.

Matchable and ambiguous groups (issue 17: recall "of matchable groups"). A true group
with records on both sides is *ambiguous by construction* when one of its records has
an interchangeable twin: another record of the evaluated book, on the same side and
outside the group, observationally identical to it on every field a matcher may read
(``observables``: source, kind, status, account, asset, amount, fee and its asset,
counterparty, reference, memo, txid, address, attrs; everything but the ids and the
dates), such that swapping the two yields an equally valid assignment: the twin's own
true group (or the twin alone, when it is a break) with the record swapped in, and
ours with the twin swapped in, both stay within the date window
(``SWAP_WINDOW_BDAYS`` business days, or the larger lag the true groups already
have, so a swap never makes a lag worse than the truth's). Then no data says which
of the two belongs here — three identical 2,500.00 bank lines of one payer on one
day, with no remittance, against three ledger invoices — and a perfect oracle that
sees every field but not the labels could not confirm it either. The labels are used
only to know each record's own group; the test is on the data (``twin_sets``,
``tests/test_quality_eval.py``). Every other group of two or more records (a reversal
pair on one side included) is *matchable*.

Reported over matchable groups: ``auto_recall`` (auto-confirmed exactly) and
``top3_accuracy`` (the truth among the anchor's first three candidates, for those
not auto-confirmed). Ambiguous groups separately: ``ambiguous_share`` (of all
two-sided groups), ``ambiguous_auto`` (how many were auto-confirmed exactly anyway)
and ``ambiguous_top3`` (for those not auto-confirmed: the truth *or an equivalent*,
the truth with members replaced by their interchangeable twins, among the first
three). The raw figures over every two-sided group stay: ``auto_recall_raw`` and
``top3_accuracy_raw`` (exact truth only). Precision is never relaxed: an auto that is
only equivalent to a truth counts as wrong. The targets (``TARGETS``) apply to
``auto_precision``, ``auto_recall`` (matchable), ``top3_accuracy`` (matchable rest)
and ``ambiguous_top3``.

Uses the demo world (``recon_tui.demo.generate``) when it is importable, otherwise the
matchers' own synthetic generator. Per source pair and overall, per scenario:

* auto precision / recall: auto-confirmed groups that equal a truth group exactly;
* top-1 / top-3: for matchable truth groups *not* auto-confirmed, whether the truth is
  the first / among the first three candidates of its anchor record (the single record
  of the group, or its first left record), asked without the records the run
  auto-confirmed (the service removes them from the engine, so the panes never offer
  them). A reversal pair (a posting and its reversal
  on one side) is matchable too; a lone break record is not.

    .venv/bin/python bench/quality.py --size 2000 [--seed 1] [--json]
    .venv/bin/python bench/quality.py --world skewed --size 6000 [--cells base,cp10] [--json]

``--world skewed`` evaluates ``bench/skewed_world.py``'s matrix instead (``CELLS``: a
base book shaped like a real ledger vs bank statement, one dimension pushed per cell),
each cell with its auto precision / recall, top-3 coverage of the rest, the blocking
counters, and whether it meets the targets (precision >= 0.9999, recall >= 0.95 of
matchable groups, top-3 >= 0.99 of the matchable rest, ambiguous top-3 >= 0.99). A
fee schedule learned from an earlier period's confirmed groups is
passed in, as the matching service does (``--no-learn``: without it).

With ``--json`` the last line printed is one JSON object (auto_precision, auto_recall,
top1_accuracy, top3_accuracy, per_scenario, per_pair, seconds). One-sided scenarios
(break, reversal) report ``unmatched_items`` and ``auto_swallowed``: how many of them
the engine auto-confirmed into a group anyway (a hidden break; should be 0).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matchers import Engine, load_rules
from matchers.items import business_index
from matchers.rules import with_sole_auto
from recon_tui.model import Record

SOLE_AUTO = False
"""``--sole-auto``: every auto rule opted in to sole-candidate autos (``Rule.sole_auto``)."""

Group = tuple[tuple[int, ...], tuple[int, ...]]

SWAP_WINDOW_BDAYS = 3
"""The date window of an interchangeable swap (business days): the widest window of
the default rules that match a pair without a shared reference (counterparty-amount,
amount-date). A swap may also reach the larger lag the true groups already have."""


def observables(r: Record) -> tuple[Any, ...]:
    """Every field of ``r`` a matcher may read, but the ids and the dates (which the
    swap test judges apart, by window): two records with equal observables are told
    apart by nothing but their dates."""
    return (r.source, r.kind, r.status, r.account, r.asset, r.amount, r.fee, r.fee_asset,
            r.counterparty, r.reference, r.memo, r.txid, r.address,
            tuple(sorted((k, repr(v)) for k, v in (r.attrs or {}).items())))


def _bday(r: Record) -> int:
    d = r.value_date or r.booking_date or r.ts.date()
    return business_index(d.toordinal())


def _lag(group: Group, by_id: dict[int, Record]) -> int:
    """The group's largest business-day lag between its two sides (0 if one-sided)."""
    left, right = group
    if not left or not right:
        return 0
    lb = [_bday(by_id[i]) for i in left]
    rb = [_bday(by_id[i]) for i in right]
    return max(max(lb) - min(rb), max(rb) - min(lb))


def _swap(group: Group, old: int, new: int) -> Group:
    return (tuple(sorted(new if i == old else i for i in group[0])),
            tuple(sorted(new if i == old else i for i in group[1])))


def twin_sets(truth: list[tuple[str, Group]], records: list[Record],
              window: int = SWAP_WINDOW_BDAYS) -> dict[Group, dict[int, set[int]]]:
    """{two-sided true group: {member id: ids of its interchangeable twins}} for the
    groups with at least one (see the module docstring). ``records``: the evaluated
    book (the twin must be open there). A twin in a one-sided group of several records
    (a reversal pair) is not considered: the swap would have to keep that group valid
    too, which the date window does not say."""
    by_id = {r.id: r for r in records if r.id is not None}
    group_of: dict[int, Group] = {}
    for _, g in truth:
        for i in g[0] + g[1]:
            group_of[i] = g
    classes: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for r in records:
        if r.id is not None:
            classes[observables(r)].append(r.id)
    out: dict[Group, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for ids in classes.values():
        if len(ids) < 2:
            continue
        for x in ids:
            g = group_of.get(x)
            if g is None or not g[0] or not g[1]:
                continue  # a break or a one-sided group has no counterpart to swap
            for y in ids:
                if y == x:
                    continue
                h = group_of.get(y)
                if h == g:
                    continue  # two identical members of one group: nothing to swap
                if h is not None and (not h[0] or not h[1]) and len(h[0] + h[1]) > 1:
                    continue
                two_sided = h is not None and bool(h[0]) and bool(h[1])
                limit = max(window, _lag(g, by_id), _lag(h, by_id) if two_sided else 0)
                if _lag(_swap(g, x, y), by_id) > limit:
                    continue
                if two_sided and h is not None and _lag(_swap(h, y, x), by_id) > limit:
                    continue
                out[g][x].add(y)
    return {g: dict(m) for g, m in out.items()}


def equivalent(cand: Group, truth: Group, twins: dict[int, set[int]]) -> bool:
    """Whether ``cand`` is ``truth`` with some members replaced by interchangeable
    twins (``twin_sets``), each twin standing for one member."""
    if cand == truth:
        return True
    return all(len(got) == len(want) and _stands_for(got, want, twins)
               for got, want in zip(cand, truth, strict=True))


def _stands_for(got: tuple[int, ...], want: tuple[int, ...],
                twins: dict[int, set[int]]) -> bool:
    """A perfect bipartite matching of ``got`` onto ``want``, each id onto itself or a
    member it is a twin of (augmenting paths; groups are a handful of records)."""
    match: dict[int, int] = {}

    def place(c: int, seen: set[int]) -> bool:
        for m in want:
            if m in seen or (c != m and c not in twins.get(m, ())):
                continue
            seen.add(m)
            if m not in match or place(match[m], seen):
                match[m] = c
                return True
        return False

    return all(place(c, set()) for c in got)


def demo_cases(size: int, seed: int) -> list[tuple[str, str, list[Record], list[Record],
                                                   list[tuple[str, Group]], list[Any]]]:
    """(pair name, rules, left, right, truth [(scenario, group)], prices) per pair."""
    try:
        from recon_tui.demo import generate
    except ImportError:
        return synth_cases(size, seed)
    w = generate(size, seed)
    next_id = 1
    ids: dict[tuple[str, str], int] = {}
    for source in sorted(w.records):
        for r in w.records[source]:
            r.id = next_id
            ids[(source, r.external_id)] = next_id
            next_id += 1
    cases = []
    for p in w.pairs:
        left = [r for r in w.records.get(p.left.source, []) if p.left.admits(r)]
        right = [r for r in w.records.get(p.right.source, []) if p.right.admits(r)]
        truth = []
        for t in w.truth:
            if t.pair != p.name:
                continue
            lg = tuple(sorted(ids[(p.left.source, e)] for e in t.left))
            rg = tuple(sorted(ids[(p.right.source, e)] for e in t.right))
            truth.append((t.scenario, (lg, rg)))
        cases.append((p.name, p.rules, left, right, truth, w.prices))
    return cases


def synth_cases(size: int, seed: int) -> list[Any]:
    from matchers.synth import generate

    w = generate(size, seed)
    truth = [(t.scenario, (t.left, t.right)) for t in w.truth]
    return [("synthetic", "default", w.left, w.right, truth, [])]


def evaluate(size: int, seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    cases = demo_cases(size, seed)
    gen_s = time.perf_counter() - t0
    out = evaluate_cases(cases)
    out["generate_seconds"] = round(gen_s, 3)
    return out


def evaluate_cases(cases: list[Any], fee_schedule: Any = None,
                   misses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Auto precision / recall and top-k over (name, rules, left, right, truth, prices)
    cases; ``fee_schedule``: a learned schedule passed to every engine (or None).
    ``misses``: when a list, each miss is appended to it (``_miss``: a wrong auto, a
    matchable group neither auto-confirmed nor in its anchor's top 3, an ambiguous
    group with no equivalent in its top 3), with the records and what outranked them."""
    sc: dict[str, Counter[str]] = defaultdict(Counter)
    per_pair: dict[str, dict[str, Any]] = {}
    tot: Counter[str] = Counter()
    match_s = 0.0
    for name, rules, left, right, truth, prices in cases:
        t1 = time.perf_counter()
        rule_set = load_rules(rules)
        engine = Engine(with_sole_auto(rule_set) if SOLE_AUTO else rule_set, prices=prices)
        if fee_schedule is not None:
            engine.fee_schedule = fee_schedule
        engine.load(left, right)
        result = engine.run()
        match_s += time.perf_counter() - t1
        truth_by_group = {g: s for s, g in truth}
        scen_of_id = {i: s for s, g in truth for i in g[0] + g[1]}
        auto = {(p.left_ids, p.right_ids) for p in result.auto}
        by_rec = {r.id: r for r in (*left, *right)}
        prop_of = {i: p for p in result.proposals for i in (*p.left_ids, *p.right_ids)}
        c: Counter[str] = Counter()

        def bump(scen: str, key: str, c: Counter[str] = c) -> None:
            """Count ``key`` for this pair (``c``) and for scenario ``scen``."""
            c[key] += 1
            sc[scen][key] += 1

        for g in auto:
            s = truth_by_group.get(g)
            if s is not None:
                bump(s, "auto_tp")  # precision; recall counts below, per group
            else:
                c["auto_fp"] += 1
                ids = g[0] + g[1]
                if misses is not None:
                    misses.append(_miss("wrong_auto", name, "?", g, by_rec, prop_of, []))
                sc[next((scen_of_id[i] for i in ids if i in scen_of_id), "none")]["auto_fp"] += 1
        auto_ids = {i for g in auto for i in g[0] + g[1]}
        twins = twin_sets(truth, [*left, *right])
        for s, g in truth:
            if (not g[0] or not g[1]) and len(g[0] + g[1]) < 2:
                # Breaks / one-sided reversals: nothing to match. What counts is that
                # none of their records is auto-confirmed into a group (then the break
                # would vanish from the operator's view).
                sc[s]["unmatched_items"] += 1
                if auto_ids.intersection(g[0] + g[1]):
                    bump(s, "swallowed")
                continue
            ambiguous = g in twins
            bump(s, "groups")
            if ambiguous:
                bump(s, "ambiguous")
            else:
                bump(s, "matchable")
            if g in auto:
                bump(s, "auto_tp_raw")
                if ambiguous:
                    bump(s, "ambiguous_auto")
                continue
            if not g[0] or not g[1]:
                anchor = (g[0] + g[1])[0]  # a reversal pair: both on one side
            else:
                anchor = g[0][0] if len(g[0]) == 1 or len(g[1]) != 1 else g[1][0]
            # As the operator sees it: auto-confirmed records have left the panes.
            cands = engine.candidates(anchor, k=3, matched=auto_ids)
            got = [(x.left_ids, x.right_ids) for x in cands]
            bump(s, "ranked_raw")
            if g in got:
                bump(s, "top3_raw")
            if ambiguous:
                bump(s, "ambiguous_ranked")
                if any(equivalent(x, g, twins[g]) for x in got):
                    bump(s, "ambiguous_top3")
                elif misses is not None:
                    misses.append(_miss("ambiguous_top3", name, s, g, by_rec, prop_of, cands))
                continue
            bump(s, "ranked")
            if misses is not None and g in got:
                misses.append(_miss("not_auto", name, s, g, by_rec, prop_of, cands[:0]))
            if got[:1] == [g]:
                bump(s, "top1")
            if g in got:
                bump(s, "top3")
            elif misses is not None:
                misses.append(_miss("top3", name, s, g, by_rec, prop_of, cands))
        c["auto"] = len(auto)
        tot.update(c)
        per_pair[name] = _rates(c) | {"records": len(left) + len(right),
                                      "stats": {k: v for k, v in result.stats.items()
                                                if k != "seconds"}}
    out = _rates(tot)
    out["per_scenario"] = {
        s: (_rates(c) | {"matchable": c["matchable"], "ambiguous": c["ambiguous"]}
            | ({"unmatched_items": c["unmatched_items"], "auto_swallowed": c["swallowed"]}
               if c["unmatched_items"] else {}))
        if c["groups"] else {
            # One-sided truths (break, reversal): how many exist, and how many the
            # engine wrongly auto-confirmed into some group (should be 0).
            "unmatched_items": c["unmatched_items"],
            "auto_swallowed": c["swallowed"],
            "auto_fp": c["auto_fp"],
        }
        for s, c in sorted(sc.items())
    }
    out["breaks_auto_swallowed"] = tot["swallowed"]
    out["per_pair"] = per_pair
    out["match_seconds"] = round(match_s, 3)
    return out


def _brief(r: Record) -> str:
    d = r.value_date or r.booking_date or r.ts.date()
    return (f"#{r.id} {r.source} {d} {r.amount} cp={r.counterparty!r} ref={r.reference!r}"
            + (f" memo={r.memo!r}" if r.memo else ""))


def _miss(kind: str, pair: str, scenario: str, g: Group, by_rec: dict[Any, Record],
          prop_of: dict[int, Any], cands: list[Any]) -> dict[str, Any]:
    """One miss for ``--misses``: the true (or wrongly auto-confirmed) group's records,
    the run's proposal of each of them, and the anchor's top candidates."""
    props = []
    for i in g[0] + g[1]:
        p = prop_of.get(i)
        if p is not None and all(q is not p for q, _ in props):
            props.append((p, i))
    return {
        "kind": kind, "pair": pair, "scenario": scenario, "group": [list(g[0]), list(g[1])],
        "records": [_brief(by_rec[i]) for i in g[0] + g[1]],
        "proposals": [
            {"ids": [list(p.left_ids), list(p.right_ids)], "rule": p.rule,
             "decision": p.decision, "score": p.score,
             "reason": (p.explanation.get("decision") or {}).get("detail")}
            for p, _ in props],
        "top3": [
            {"ids": [list(x.left_ids), list(x.right_ids)], "rule": x.rule, "score": x.score,
             "records": [_brief(by_rec[i]) for i in x.left_ids + x.right_ids
                         if i not in g[0] + g[1]],
             "amount": (x.explanation.get("amount") or {}).get("detail"),
             "adjustments": [f"{a.kind} {a.amount} {a.note}" for a in x.adjustments]}
            for x in cands],
    }


def _rates(c: Counter[str]) -> dict[str, Any]:
    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {
        "auto_precision": ratio(c["auto_tp"], c["auto_tp"] + c["auto_fp"]),
        "auto_recall": ratio(c["auto_tp_raw"] - c["ambiguous_auto"], c["matchable"]),
        "auto_recall_raw": ratio(c["auto_tp_raw"], c["groups"]),
        "top1_accuracy": ratio(c["top1"], c["ranked"]),
        "top3_accuracy": ratio(c["top3"], c["ranked"]),
        "top3_accuracy_raw": ratio(c["top3_raw"], c["ranked_raw"]),
        "ambiguous_share": ratio(c["ambiguous"], c["groups"]),
        "ambiguous_auto": c["ambiguous_auto"],
        "ambiguous_top3": ratio(c["ambiguous_top3"], c["ambiguous_ranked"]),
        "auto_fp": c["auto_fp"],
    }


TARGETS = {"auto_precision": 0.9999, "auto_recall": 0.95, "top3_accuracy": 0.99,
           "ambiguous_top3": 0.99}


def skewed_book(size: int, seed: int, params: Any, learn: bool) -> tuple[list[Any], Any]:
    """(cases, fee schedule) of one cell. With ``learn``, the book is drawn half as long
    again and the groups of its first third (by generation order) are the confirmed
    history: the schedule is learned from them (``matchers.fees``) and they are left
    out of the evaluated book, as a service would have matched them earlier."""
    from bench.skewed_world import generate
    from matchers.fees import learn_fee_schedule

    hist_n = size // 2 if learn else 0
    w = generate(size + hist_n, params, seed)
    cut = w.left[hist_n - 1].id if hist_n else 0
    hist = [t for t in w.truth if t.left and t.right and max((*t.left, *t.right)) <= cut]
    hist_ids = {i for t in hist for i in (*t.left, *t.right)}
    by_id = {r.id: r for r in (*w.left, *w.right)}
    schedule = learn_fee_schedule(
        [([by_id[i] for i in t.left], [by_id[i] for i in t.right]) for t in hist]
    ) if learn else None
    truth = [(t.scenario, (t.left, t.right)) for t in w.truth
             if hist_ids.isdisjoint((*t.left, *t.right))]
    left = [r for r in w.left if r.id not in hist_ids]
    right = [r for r in w.right if r.id not in hist_ids]
    return [("ledger-bank", "default", left, right, truth, [])], schedule


def evaluate_skewed(size: int, seed: int, cells: list[str], learn: bool,
                    misses: int = 0) -> dict[str, Any]:
    """The quality matrix over ``bench.skewed_world.CELLS`` (one book per cell);
    ``misses``: how many misses of each cell to list (``evaluate_cases``)."""
    from bench.skewed_world import CELLS

    out: dict[str, Any] = {"world": "skewed", "size": size, "seed": seed, "learned_fees": learn,
                           "targets": TARGETS, "cells": {}}
    t0 = time.perf_counter()
    for name in cells:
        cases, schedule = skewed_book(size, seed, CELLS[name], learn)
        got: list[dict[str, Any]] | None = [] if misses else None
        res = evaluate_cases(cases, schedule, got)
        cell = {k: res[k] for k in ("auto_precision", "auto_recall", "auto_recall_raw",
                                     "top1_accuracy", "top3_accuracy", "top3_accuracy_raw",
                                     "ambiguous_share", "ambiguous_auto", "ambiguous_top3",
                                     "auto_fp", "match_seconds")}
        cell["per_scenario"] = res["per_scenario"]
        st = res["per_pair"]["ledger-bank"]["stats"]
        cell["stats"] = {k: v for k, v in st.items() if "oversized" in k or "dropped" in k
                         or "cut" in k or "incomplete" in k or "skipped" in k
                         or k in ("auto", "proposals")}
        if got:
            cell["misses"] = got[:misses]
            cell["miss_kinds"] = dict(Counter(m["kind"] for m in got))
        cell["meets_targets"] = all(
            (cell[k] if cell[k] is not None else 1.0) >= v for k, v in TARGETS.items())
        out["cells"][name] = cell
    out["all_cells_meet_targets"] = all(c["meets_targets"] for c in out["cells"].values())
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--world", choices=("demo", "skewed"), default="demo")
    ap.add_argument("--cells", default="", help="skewed: comma-separated cells (default all)")
    ap.add_argument("--no-learn", action="store_true",
                    help="skewed: no fee schedule learned from an earlier period")
    ap.add_argument("--misses", type=int, default=0,
                    help="skewed: list up to N misses per cell (records, proposals, top 3)")
    ap.add_argument("--sole-auto", action="store_true",
                    help="opt every auto rule in to sole-candidate autos (Rule.sole_auto)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    global SOLE_AUTO
    SOLE_AUTO = args.sole_auto
    if args.world == "skewed":
        from bench.skewed_world import CELLS

        cells = [c for c in args.cells.split(",") if c] or list(CELLS)
        res = evaluate_skewed(args.size, args.seed, cells, not args.no_learn, args.misses)
        if not args.json:
            for name, r in res["cells"].items():
                print(f"{name:10} {_fmt(r)} ok={r['meets_targets']} stats={r['stats']}")
                for m in r.get("misses", ()):
                    print(f"  miss {m['kind']} {m['scenario']}: " + " | ".join(m["records"]))
                    for p in m["proposals"]:
                        print(f"    proposed {p['ids']} {p['rule']} {p['decision']} "
                              f"{p['score']} {p['reason']}")
                    for x in m["top3"]:
                        print(f"    cand {x['ids']} {x['rule']} {x['score']} {x['amount']} "
                              f"{x['adjustments']} " + " | ".join(x["records"]))
        print(json.dumps(res, sort_keys=True))
        return
    res = evaluate(args.size, args.seed)
    if not args.json:
        print(f"overall: {_fmt(res)}")
        for name, r in res["per_pair"].items():
            print(f"  {name:16} {_fmt(r)}  stats={r['stats']}")
        for s, r in res["per_scenario"].items():
            if "matchable" in r:
                print(f"  {s:10} n={r['matchable']:6} {_fmt(r)}")
            else:
                print(f"  {s:10} n={r['unmatched_items']:6} one-sided: "
                      f"auto_swallowed={r['auto_swallowed']}")
    print(json.dumps(res, sort_keys=True))


def _fmt(r: dict[str, Any]) -> str:
    keys = ("auto_precision", "auto_recall", "auto_recall_raw", "top3_accuracy",
            "top3_accuracy_raw", "ambiguous_share", "ambiguous_top3", "auto_fp")
    return " ".join(f"{k}={r[k]}" for k in keys)


if __name__ == "__main__":
    main()
