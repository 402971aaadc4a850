"""Break aging per asset from the maintained totals and short index ranges
(``summary.side_aging``) equals grouping every unmatched row (``reports.side_aging``), on
several assets, states, ages on both sides of every bucket edge, future dates and
removed (not live) records; and the overview built on it says the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from recon_tui.model import Record, Side, SourcePair
from recon_tui.store import Store, reports, summary
from recon_tui.store.records import apply_batch, ts_to_us
from recon_tui.store.sources import add_pair, add_source

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def _records(source: str) -> list[Record]:
    """Ages on each side of every bucket edge (1, 7, 30 days), a few far older, one in the
    future; three assets, one of which has only young breaks."""
    ages = [timedelta(0), DAY, 2 * DAY - timedelta(seconds=1), 2 * DAY, 2 * DAY + timedelta(1),
            7 * DAY, 8 * DAY, 8 * DAY + timedelta(hours=1), 30 * DAY, 31 * DAY, 31 * DAY +
            timedelta(seconds=1), 90 * DAY, 400 * DAY, -DAY]  # fmt: skip
    out = []
    for i in range(120):
        asset = ("EUR", "BTC", "USDT")[i % 3]
        age = ages[i % len(ages)] if asset != "USDT" else ages[i % 4]
        out.append(Record(source=source, external_id=f"{source}-{i}", kind="payment",
                          ts=NOW - age - timedelta(minutes=i), asset=asset,
                          amount=Decimal(i + 1).scaleb(-2), account="a", reference=f"R{i}"))  # fmt: skip
    return out


def test_side_aging_equals_a_full_grouping(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "s.db", passphrase="x")
    for s in ("ledger", "bank"):
        add_source(store, s, "csv")
    add_pair(store, SourcePair("p", Side("ledger", "a"), Side("bank", "a")))
    apply_batch(store, "ledger", _records("ledger"))
    apply_batch(store, "bank", _records("bank"))
    apply_batch(store, "bank", [], removed=["bank-3", "bank-13", "bank-40"])  # live = 0
    with store.tx() as conn:  # the oldest rows of one state leave it: the walk must go on
        conn.execute("UPDATE pair_states SET state = 'suggested' WHERE record_id % 7 = 0")
        conn.execute("UPDATE pair_states SET state = 'matched' WHERE record_id % 5 = 0")
    now = ts_to_us(NOW)
    checked = 0
    for side in ("L", "R"):
        want = reports.side_aging(store.conn, "p", side, now)
        got = summary.side_aging(store.conn, "p", side, now)
        assert got.aging == want.aging
        assert got.oldest_us == want.oldest_us
        assert {sum(v) for v in want.aging.values()} != {0}
        assert all(len({b for b in v if b}) > 1 for a, v in want.aging.items() if a != "USDT")
        checked += 1
    assert checked == 2
    store.close()
