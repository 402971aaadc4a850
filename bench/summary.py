"""How fast the dashboard's and ``status``'s numbers come back on a big store: N records
per side of one pair, a share of them matched 1:1 in confirmed groups, the rest open (the
maintained totals and the aging index ranges are what is read; no pass over records).

    python -m bench.summary --size 1000000 --matched 0.9 --json

Figures: ``build_s`` (making the store), ``status_s`` and ``dashboard_s`` (median of
``--repeat`` calls on an open store), ``status_cold_s`` (the first call of a new process's
first open store, which includes reading the pages from disk).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import parser, peak_rss_mb, report
from recon_tui.model import Side, SourcePair
from recon_tui.services.dashboard import DashboardService
from recon_tui.services.status import status
from recon_tui.store import Store
from recon_tui.store.admission import admit_range
from recon_tui.store.pairs import add_pair
from recon_tui.store.sources import add_source

PAIR = SourcePair("ledger-bank", Side("ledger"), Side("bank"))


def _bulk(store: Store, source: str, n: int) -> None:
    with store.tx() as conn:
        rev = store.next_rev(conn)
        before = conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0]
        conn.execute(
            """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO records (source, external_id, kind, ts_us, asset, amount, amount_e8,
                reference, status, content_hash, first_seen_us, changed_us, rev)
            SELECT ?, 'x' || i, 'payment', 1767225600000000 + i * 20000000,
                CASE WHEN i % 10 = 0 THEN 'USD' ELSE 'EUR' END,
                printf('%d.%02d', -(i % 5000) - 1, i % 100),
                (-(i % 5000) - 1) * 100000000 - (i % 100) * 1000000,
                'REF' || i, 'booked', hex(randomblob(16)), 0, 0, ? FROM n""",
            (n, source, rev),
        )
        admit_range(conn, before + 1, before + n)


def _match_share(store: Store, n: int, share: float) -> None:
    """The first ``share`` of the records matched 1:1 (left i with right i), written the
    way the engine's bulk path writes them (groups, members, then the pair states)."""
    k = int(n * share)
    with store.tx() as conn:
        conn.execute(
            """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO match_groups (id, pair, kind, state, origin, created_us)
            SELECT i, ?, 'match', 'confirmed', 'engine', 0 FROM n""", (k, PAIR.name))  # fmt: skip
        conn.execute(
            "INSERT INTO group_members (group_id, record_id, side, pair, confirmed, content_hash) "
            "SELECT CAST(substr(r.external_id, 2) AS INTEGER), r.id, "
            "CASE r.source WHEN 'ledger' THEN 'L' ELSE 'R' END, ?, 1, r.content_hash "
            "FROM records r WHERE CAST(substr(r.external_id, 2) AS INTEGER) <= ?",
            (PAIR.name, k),
        )
        conn.execute(
            "UPDATE pair_states SET state = 'matched', group_id = (SELECT m.group_id FROM "
            "group_members m WHERE m.record_id = pair_states.record_id) WHERE pair = ? AND "
            "record_id IN (SELECT record_id FROM group_members)", (PAIR.name,),
        )  # fmt: skip


def main() -> None:
    p = parser(__doc__ or "", 100_000)
    p.add_argument("--matched", type=float, default=0.9, help="share matched 1:1")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="redesign-bench-summary-"))
    try:
        started = time.perf_counter()
        store = Store.init(tmp / "s.db", passphrase="bench")
        add_source(store, "ledger", "ledger")
        add_source(store, "bank", "csv")
        add_pair(store, PAIR)
        _bulk(store, "ledger", args.size)
        _bulk(store, "bank", args.size)
        _match_share(store, args.size, args.matched)
        build_s = time.perf_counter() - started
        store.close()
        store = Store.open(tmp / "s.db", passphrase="bench")
        t = time.perf_counter()
        data = status(store)
        cold = time.perf_counter() - t
        now = time.time_ns() // 1000
        dash = DashboardService(store)
        st, ds = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            status(store)
            st.append(time.perf_counter() - t)
            t = time.perf_counter()
            dash.dashboard(now)
            ds.append(time.perf_counter() - t)
        pair = data["pairs"][0]
        report({
            "size": args.size, "matched_share": args.matched, "build_s": round(build_s, 2),
            "status_cold_s": round(cold, 4), "status_s": round(statistics.median(st), 4),
            "dashboard_s": round(statistics.median(ds), 4),
            "left_counts": pair["left_counts"], "right_counts": pair["right_counts"],
            "peak_rss_mb": peak_rss_mb(),
        }, args.json)  # fmt: skip
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
