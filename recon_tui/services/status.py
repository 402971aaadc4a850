"""Status of a store: sources with their health, record and match counts per pair."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from recon_tui.model import canonical_amount
from recon_tui.services.dashboard import AGING_BUCKETS, pair_counts, source_health
from recon_tui.store import Store
from recon_tui.store.audit import head
from recon_tui.store.groups import group_counts


def _iso(us: int | None) -> str | None:
    if us is None:
        return None
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(store: Store, now_us: int | None = None) -> dict[str, Any]:
    """Everything ``recon-tui status`` prints, as plain JSON-able data: the same counts as
    the dashboard (:func:`~recon_tui.services.dashboard.pair_counts`), from the maintained
    summaries."""
    conn = store.connection()
    now = now_us if now_us is not None else time.time_ns() // 1000
    sources = []
    health = source_health(store)
    for sh in health:
        s = sh.info
        sources.append({
            "name": s.name, "kind": s.kind, "label": s.label, "records": sh.records,
            "last_sync": _iso(s.last_sync_us), "last_success": _iso(s.last_success_us),
            "last_error": s.last_error, "health": s.health,
            "interval_s": s.interval_s,
        })  # fmt: skip
    pairs = []
    for ps in pair_counts(store, now):
        p = ps.pair
        row: dict[str, Any] = {
            "name": p.name,
            "left": p.left.label(),
            "right": p.right.label(),
            "rules": p.rules,
        }
        for side_name, side in (("left", ps.left), ("right", ps.right)):
            row[side_name + "_counts"] = {
                k: side.counts.get(k, 0) for k in ("open", "suggested", "matched")
            }
        row["aging"] = dict(zip(AGING_BUCKETS, ps.aging, strict=True))
        row["difference"] = {a: canonical_amount(v) for a, v in ps.difference.items() if v != 0}
        row["groups"] = group_counts(conn, p.name)
        pairs.append(row)
    seq, h = head(conn)
    return {
        "store": str(store.path),
        "schema_version": store.version,
        "key_method": store.info.method,
        "records": sum(sh.records for sh in health),
        "sources": sources,
        "pairs": pairs,
        "decisions": seq,
        "audit_head": h,
    }


def status_text(data: dict[str, Any]) -> str:
    """Human-readable status."""
    lines = [
        f"Store   {data['store']} (schema v{data['schema_version']}, key in {data['key_method']})",
        f"Records {data['records']:,}   decisions {data['decisions']:,}   "
        f"audit head {data['audit_head'][:12]}",
        "",
        "Sources",
    ]
    if not data["sources"]:
        lines.append("  (none: add one with 'recon-tui source add')")
    for s in data["sources"]:
        last = s["last_success"] or "never"
        lines.append(
            f"  {s['name']:<12} {s['kind']:<10} {s['records']:>10,} records  {s['health']:<12} "
            f"last ok {last}"
        )
        if s["last_error"] and s["health"] == "failing":
            lines.append(f"  {'':<12} error: {s['last_error']}")
    lines.append("")
    lines.append("Pairs")
    if not data["pairs"]:
        lines.append("  (none)")
    for p in data["pairs"]:
        lc, rc = p["left_counts"], p["right_counts"]
        lines.append(f"  {p['name']:<16} {p['left']} vs {p['right']}  rules={p['rules']}")
        lines.append(
            f"  {'':<16} left  open {lc['open']:,} suggested {lc['suggested']:,} matched {lc['matched']:,}"
        )
        lines.append(
            f"  {'':<16} right open {rc['open']:,} suggested {rc['suggested']:,} matched {rc['matched']:,}"
        )
        if p["groups"]:
            g = ", ".join(f"{k} {v:,}" for k, v in sorted(p["groups"].items()))
            lines.append(f"  {'':<16} groups: {g}")
    return "\n".join(lines)
