"""Matching speed benchmark: a full run of N vs N records, then an incremental batch.

Data: the matchers' synthetic generator (ledger vs bank, all scenarios, one year), so
that a million records per side fit in memory. ``full_seconds`` covers load (indexes)
plus the full run; ``incremental_seconds`` covers adding 1,000 new records and
``run(new_ids=...)`` against the N open ones (``incremental_scope``: records the bounded
closure evaluated; ``incremental_interior``: those whose candidates were all generated).
Peak RSS includes the generated records. ``full_cpu_seconds``: the process's CPU time
over load + full run (the machine is shared: wall time moves with the neighbours' load,
CPU time much less; numpy may add a second thread's time); ``load_cpu_seconds``: the
load's share of it.

    .venv/bin/python bench/match.py --size 100000 [--json]
    .venv/bin/python bench/match.py --world skewed --size 240000 [--cell base] [--json]
    .venv/bin/python bench/match.py --world skewed --size 60000 --reference  # the oracle
    .venv/bin/python bench/match.py --world skewed --size 60000 --cell hard --fingerprint

``--fingerprint`` adds ``fingerprint_full`` / ``fingerprint_incremental``: a hash of every
proposal (ids, score, rule, decision, explanation, adjustments, alternatives) and of the
run's counters, to compare two versions of the engine on one book (timings excluded;
building every explanation adds time, so do not time such a run).

``--world skewed`` uses ``bench/skewed_world.py`` (a book shaped like a real ledger vs
bank statement: few counterparties, round amounts, fees of any size) instead.

With ``--json`` the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matchers import Engine, MatchResult
from matchers.synth import generate


def fingerprint(result: MatchResult) -> str:
    """A hash of a run's proposals in order (ids, score, rule, decision, explanation,
    adjustments, alternatives) and of its counters other than timings."""

    def canon(x: object) -> bytes:
        return json.dumps(x, sort_keys=True, default=str).encode()

    h = hashlib.sha256()
    for p in result.proposals:
        expl, adjs = p.explained()
        h.update(canon([p.left_ids, p.right_ids, repr(p.score), p.rule, p.decision]))
        h.update(canon(expl))
        h.update(canon([repr(a) for a in adjs]))
        h.update(canon([[q.left_ids, q.right_ids, repr(q.score), q.rule, q.decision]
                        for q in p.alternatives]))
    h.update(canon({k: v for k, v in result.stats.items() if "seconds" not in k}))
    return h.hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000, help="new records (0: skip)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--world", choices=("synth", "skewed"), default="synth")
    ap.add_argument("--cell", default="base", help="skewed: which cell of the matrix")
    ap.add_argument("--reference", action="store_true",
                    help="the per-record reference path (Engine.columnar = False)")
    ap.add_argument("--key-join", choices=("numpy", "duckdb"), default="numpy",
                    help="how the columnar path joins exact keys (Engine.key_join)")
    ap.add_argument("--fingerprint", action="store_true",
                    help="hash the proposals, explanations and counters of both runs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    t = time.perf_counter()
    if args.world == "skewed":
        from bench.skewed_world import CELLS, with_days
        from bench.skewed_world import generate as skewed

        params = CELLS[args.cell]
        world = skewed(args.size, params, seed=args.seed)
        # The new records: ``--batch`` in all (half per side, as for synth), booked on
        # one day like a day's sync of the same book, other ids.
        extra = skewed(max(args.batch // 2, 1), with_days(params, 1), seed=args.seed + 1,
                       start_id=10**9)
    else:
        world = generate(args.size, seed=args.seed)
        extra = generate(max(args.batch // 2, 1), seed=args.seed + 1, start_id=10**9)
    gen_s = time.perf_counter() - t
    gc.freeze()  # millions of long-lived records: keep the cyclic GC off them
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    engine = Engine("default")
    engine.columnar = not args.reference
    engine.key_join = args.key_join
    c0 = time.process_time()
    t = time.perf_counter()
    engine.load(world.left, world.right)
    load_s = time.perf_counter() - t
    load_cpu = time.process_time() - c0
    t = time.perf_counter()
    full = engine.run()
    run_s = time.perf_counter() - t
    full_cpu = time.process_time() - c0

    t = time.perf_counter()
    probe = list(engine.sides[0].items)[:1000]
    for i in probe:
        engine.candidates(i, k=5)
    cand_ms = (time.perf_counter() - t) * 1000 / max(len(probe), 1)

    new_ids: list[int] = []
    inc_s = None
    inc_cpu = None
    inc_scope = None
    inc_interior = None
    if args.batch:
        c0 = time.process_time()
        t = time.perf_counter()
        new_ids = engine.add(left=extra.left, right=extra.right)
        inc = engine.run(new_ids=set(new_ids))
        inc_s = round(time.perf_counter() - t, 3)
        inc_cpu = round(time.process_time() - c0, 3)
        inc_scope = inc.stats.get("scope")
        inc_interior = inc.stats.get("closure_interior")
    res = {
        "world": args.world,
        "path": "reference" if args.reference else f"columnar/{args.key_join}",
        "size": args.size,
        "left": len(world.left),
        "right": len(world.right),
        "generate_seconds": round(gen_s, 2),
        "load_seconds": round(load_s, 2),
        "run_seconds": round(run_s, 2),
        "full_seconds": round(load_s + run_s, 2),
        "full_cpu_seconds": round(full_cpu, 2),
        "load_cpu_seconds": round(load_cpu, 2),
        "incremental_records": len(new_ids),
        "incremental_seconds": inc_s,
        "incremental_cpu_seconds": inc_cpu,
        "incremental_scope": inc_scope,
        "incremental_interior": inc_interior,
        "candidates_ms": round(cand_ms, 3),
        "proposals": len(full.proposals),
        "auto": full.stats.get("auto"),
        "stats": {k: v for k, v in full.stats.items() if k != "seconds"},
        "data_rss_mb": round(rss_data),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if args.fingerprint:
        res["fingerprint_full"] = fingerprint(full)
        if args.batch:
            res["fingerprint_incremental"] = fingerprint(inc)
    if not args.json:
        for key, v in res.items():
            print(f"{key:22} {v}")
    print(json.dumps(res, sort_keys=True))


if __name__ == "__main__":
    main()
