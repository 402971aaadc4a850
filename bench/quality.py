"""Match quality benchmark: auto precision / recall and candidate top-k accuracy.

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
counters, and whether it meets the targets (precision >= 0.9999, recall >= 0.95,
top-3 >= 0.99). A fee schedule learned from an earlier period's confirmed groups is
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
from recon_tui.model import Record

Group = tuple[tuple[int, ...], tuple[int, ...]]


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


def evaluate_cases(cases: list[Any], fee_schedule: Any = None) -> dict[str, Any]:
    """Auto precision / recall and top-k over (name, rules, left, right, truth, prices)
    cases; ``fee_schedule``: a learned schedule passed to every engine (or None)."""
    sc: dict[str, Counter[str]] = defaultdict(Counter)
    per_pair: dict[str, dict[str, Any]] = {}
    tot: Counter[str] = Counter()
    match_s = 0.0
    for name, rules, left, right, truth, prices in cases:
        t1 = time.perf_counter()
        engine = Engine(load_rules(rules), prices=prices)
        if fee_schedule is not None:
            engine.fee_schedule = fee_schedule
        engine.load(left, right)
        result = engine.run()
        match_s += time.perf_counter() - t1
        truth_by_group = {g: s for s, g in truth}
        scen_of_id = {i: s for s, g in truth for i in g[0] + g[1]}
        auto = {(p.left_ids, p.right_ids) for p in result.auto}
        c: Counter[str] = Counter()
        for g in auto:
            s = truth_by_group.get(g)
            if s is not None:
                c["auto_tp"] += 1
                sc[s]["auto_tp"] += 1
            else:
                c["auto_fp"] += 1
                ids = g[0] + g[1]
                sc[next((scen_of_id[i] for i in ids if i in scen_of_id), "none")]["auto_fp"] += 1
        auto_ids = {i for g in auto for i in g[0] + g[1]}
        for s, g in truth:
            if (not g[0] or not g[1]) and len(g[0] + g[1]) < 2:
                # Breaks / one-sided reversals: nothing to match. What counts is that
                # none of their records is auto-confirmed into a group (then the break
                # would vanish from the operator's view).
                sc[s]["unmatched_items"] += 1
                if auto_ids.intersection(g[0] + g[1]):
                    sc[s]["swallowed"] += 1
                    c["swallowed"] += 1
                continue
            c["matchable"] += 1
            sc[s]["matchable"] += 1
            if g in auto:
                continue
            if not g[0] or not g[1]:
                anchor = (g[0] + g[1])[0]  # a reversal pair: both on one side
            else:
                anchor = g[0][0] if len(g[0]) == 1 or len(g[1]) != 1 else g[1][0]
            # As the operator sees it: auto-confirmed records have left the panes.
            cands = engine.candidates(anchor, k=3, matched=auto_ids)
            got = [(x.left_ids, x.right_ids) for x in cands]
            c["ranked"] += 1
            sc[s]["ranked"] += 1
            if got[:1] == [g]:
                c["top1"] += 1
                sc[s]["top1"] += 1
            if g in got:
                c["top3"] += 1
                sc[s]["top3"] += 1
        c["auto"] = len(auto)
        tot.update(c)
        per_pair[name] = _rates(c) | {"records": len(left) + len(right),
                                      "stats": {k: v for k, v in result.stats.items()
                                                if k != "seconds"}}
    out = _rates(tot)
    out["per_scenario"] = {
        s: (_rates(c) | {"matchable": c["matchable"]}
            | ({"unmatched_items": c["unmatched_items"], "auto_swallowed": c["swallowed"]}
               if c["unmatched_items"] else {}))
        if c["matchable"] else {
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


def _rates(c: Counter[str]) -> dict[str, Any]:
    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {
        "auto_precision": ratio(c["auto_tp"], c["auto_tp"] + c["auto_fp"]),
        "auto_recall": ratio(c["auto_tp"], c["matchable"]),
        "top1_accuracy": ratio(c["top1"], c["ranked"]),
        "top3_accuracy": ratio(c["top3"], c["ranked"]),
        "auto_fp": c["auto_fp"],
    }


TARGETS = {"auto_precision": 0.9999, "auto_recall": 0.95, "top3_accuracy": 0.99}


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


def evaluate_skewed(size: int, seed: int, cells: list[str], learn: bool) -> dict[str, Any]:
    """The quality matrix over ``bench.skewed_world.CELLS`` (one book per cell)."""
    from bench.skewed_world import CELLS

    out: dict[str, Any] = {"world": "skewed", "size": size, "seed": seed, "learned_fees": learn,
                           "targets": TARGETS, "cells": {}}
    t0 = time.perf_counter()
    for name in cells:
        cases, schedule = skewed_book(size, seed, CELLS[name], learn)
        res = evaluate_cases(cases, schedule)
        cell = {k: res[k] for k in ("auto_precision", "auto_recall", "top1_accuracy",
                                     "top3_accuracy", "auto_fp", "match_seconds")}
        cell["per_scenario"] = res["per_scenario"]
        st = res["per_pair"]["ledger-bank"]["stats"]
        cell["stats"] = {k: v for k, v in st.items() if "oversized" in k or "dropped" in k
                         or "cut" in k or "incomplete" in k or "skipped" in k
                         or k in ("auto", "proposals")}
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
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.world == "skewed":
        from bench.skewed_world import CELLS

        cells = [c for c in args.cells.split(",") if c] or list(CELLS)
        res = evaluate_skewed(args.size, args.seed, cells, not args.no_learn)
        if not args.json:
            for name, r in res["cells"].items():
                print(f"{name:10} {_fmt(r)} ok={r['meets_targets']} stats={r['stats']}")
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
    keys = ("auto_precision", "auto_recall", "top1_accuracy", "top3_accuracy", "auto_fp")
    return " ".join(f"{k}={r[k]}" for k in keys)


if __name__ == "__main__":
    main()
