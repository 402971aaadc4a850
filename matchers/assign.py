"""Best assignment of a small bipartite neighbourhood: how much a choice costs the others.

An operator choosing a counterpart among near-equal ones (a payer's 250.00 bank lines
on neighbouring days, no remittance) looks at who else could take each of them: the
line another open invoice of the same day fits exactly is that invoice's, and the
235.00 line the payer's learned fee explains is left for this one. ``regrets`` puts a
number on it: the best total score of a one-to-one pairing of the neighbourhood with
the choice forced, against the best without constraint (the Hungarian method on a
matrix of a few dozen rows, numpy per step). Scores only rank here: nothing decides
money from them.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np

FLOOR = 0.5
"""A pair's weight is its score above this floor: every candidate pair is worth making
(scores of candidates start at ``min_score`` >= 0.5), a better one more."""
_BIG = 1e3
"""The cost of a pair that is no candidate (never chosen: a row may stay unpaired)."""


def best_total(weights: Mapping[tuple[Hashable, Hashable], float],
               skip_row: Hashable | None = None, skip_col: Hashable | None = None) -> float:
    """The largest total weight of a one-to-one pairing over ``weights`` ({(row, col):
    weight > 0}), rows and columns free to stay unpaired; ``skip_row`` / ``skip_col``
    are left out."""
    pairs = {k: w for k, w in weights.items() if k[0] != skip_row and k[1] != skip_col}
    if not pairs:
        return 0.0
    rows = sorted({r for r, _ in pairs}, key=repr)
    cols = sorted({c for _, c in pairs}, key=repr)
    ri = {r: i for i, r in enumerate(rows)}
    ci = {c: j for j, c in enumerate(cols)}
    n, m = len(rows), len(cols)
    # Costs: -weight for a candidate pair, 0 for one "unpaired" column per row.
    cost = np.full((n, m + n), _BIG)
    cost[:, m:] = 0.0
    for (r, c), w in pairs.items():
        cost[ri[r], ci[c]] = -w
    return -_min_cost(cost)


def _min_cost(cost: np.ndarray) -> float:
    """The least total cost of assigning every row of ``cost`` (n <= m) to a distinct
    column (the Hungarian method with potentials, one row at a time)."""
    n, m = cost.shape
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    p = np.zeros(m + 1, dtype=np.int64)  # p[j]: the row (1-based) holding column j
    way = np.zeros(m + 1, dtype=np.int64)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            cur = cost[i0 - 1] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            cand = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(cand)) + 1
            delta = cand[j1 - 1]
            np.add.at(u, p[used], delta)
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    return float(-v[0])


def regrets(weights: Mapping[tuple[Hashable, Hashable], float], row: Hashable,
            cols: list[Hashable]) -> dict[Hashable, float]:
    """{col: how much less the best pairing of ``weights`` totals when ``row`` takes
    ``col``} (0 for the choices of a best pairing) for each of ``row``'s ``cols``."""
    best = best_total(weights)
    return {c: max(0.0, best - (weights[(row, c)] + best_total(weights, row, c)))
            for c in cols if (row, c) in weights}
