"""The workbench's read service: keyset paging, filters, counts, formatting, dashboard."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from recon_tui.model import Record, Side
from recon_tui.services.workbench import (
    PaneFilter,
    SortSpec,
    WorkbenchService,
    dr_cr,
    fmt_money,
)
from recon_tui.store import Store
from recon_tui.store.records import apply_batch
from recon_tui.store.sources import add_source


def _records(source: str, n: int, account: str | None = None) -> list[Record]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Record(source=source, external_id=f"{source}-{i}", kind="payment",
               ts=t0 + timedelta(hours=i // 3), asset="EUR" if i % 5 else "BTC",
               amount=Decimal(i * 7 % 1000 - 400).scaleb(-2), account=account,
               counterparty=f"Party {i % 11}", reference=f"REF{i:05d}")
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture
def svc(store: Store) -> WorkbenchService:
    add_source(store, "bank", "csv")
    apply_batch(store, "bank", _records("bank", 250, "A")[:120])
    apply_batch(store, "bank", [r.replace(account="B") for r in _records("bank", 250)[120:]])
    s = WorkbenchService(store)
    yield s
    s.close()


def test_fmt_money_precision_and_sign() -> None:
    assert fmt_money(Decimal("-1234.5"), "EUR") == "−1,234.50"
    assert fmt_money(Decimal("0.1"), "BTC") == "0.10000000"
    assert fmt_money(Decimal("1.5"), "USDT") == "1.500000"
    assert fmt_money(Decimal("0.123456789012345678"), "ETH") == "0.123456789012345678"
    assert fmt_money(Decimal("2"), "ETH") == "2.000000"
    assert dr_cr(Decimal("-1")) == "DR" and dr_cr(Decimal("1")) == "CR"


def _walk(pager, page: int) -> list[int]:  # type: ignore[no-untyped-def]
    rows = pager.first(page)
    out = [r.id for r in rows]
    while rows:
        rows = pager.after(rows[-1].sort_key, page)
        out += [r.id for r in rows]
    return out


@pytest.mark.parametrize("sort", [SortSpec("ts"), SortSpec("ts", True), SortSpec("amount"),
                                  SortSpec("amount", True)])  # fmt: skip
def test_keyset_pages_cover_every_row_in_order(svc: WorkbenchService, sort: SortSpec) -> None:
    pager = svc.pager(Side("bank"), PaneFilter(), sort)  # no account: spans accounts A and B
    ids = _walk(pager, 17)
    assert len(ids) == len(set(ids)) == pager.count() == 250
    rows = svc.rows(ids)
    key = (lambda r: (r.ts_us, r.id)) if sort.key == "ts" else (lambda r: (r.amount, r.id))
    assert [r.id for r in rows] == [r.id for r in sorted(rows, key=key, reverse=sort.desc)]
    # Backwards from the end gives the same order; offsets agree with keyset pages.
    last = pager.last(10)
    assert [r.id for r in last] == ids[-10:]
    assert [r.id for r in pager.before(last[0].sort_key, 5)] == ids[-15:-10]
    assert [r.id for r in pager.at(100, 7)] == ids[100:107]
    assert pager.position(pager.at(42, 1)[0].sort_key) == 42


def test_filters_narrow_and_count(svc: WorkbenchService) -> None:
    side = Side("bank")
    assert svc.pager(side, PaneFilter(asset="BTC")).count() == 50
    text = svc.pager(side, PaneFilter(text="Party 3"))
    assert 0 < text.count() < 250
    assert all(r.counterparty == "Party 3" for r in text.first(100))
    amt = svc.pager(side, PaneFilter(amount_min=Decimal("3"), amount_max=Decimal("4")))
    assert all(Decimal(3) <= abs(r.amount) <= Decimal(4) for r in amt.first(300))
    day = svc.pager(side, PaneFilter(date_from=date(2026, 1, 2), date_to=date(2026, 1, 2)))
    assert day.count() == 72  # 24 hours x 3 records an hour
    assert svc.pager(side, PaneFilter(status="matched")).count() == 0
    assert svc.pager(Side("bank", "A")).count() == 120


def test_filter_parse_names_the_bad_field() -> None:
    f = PaneFilter.parse(text=" acme ", amount_min="10", amount_max="1,000", asset="eur")
    assert f.text == "acme" and f.amount_max == Decimal(1000) and f.asset == "EUR"
    with pytest.raises(ValueError, match="min amount"):
        PaneFilter.parse(amount_min="ten")
    with pytest.raises(ValueError, match="from date"):
        PaneFilter.parse(date_from="2026-13-01")


def test_demo_dashboard_and_candidates(tmp_path: Path) -> None:
    from tests.workbench_fixtures import NOW, demo_store

    store = demo_store(tmp_path)
    svc = WorkbenchService(store)
    dash = svc.dashboard(int(NOW.timestamp()) * 1_000_000)
    assert {s.info.name for s in dash.sources} >= {"ledger", "bank"}
    p = dash.pairs[0]
    assert sum(p.aging) == sum(p.left.counts[s] + p.right.counts[s] for s in ("open", "suggested"))
    assert p.difference  # some break is left in the demo
    pair = svc.pairs()[0]
    row = svc.pager(pair.left, PaneFilter(status="suggested")).first(1)[0]
    cands = svc.stored_candidates(pair.name, row.id)
    assert cands and cands[0].group_id is not None and row.id in cands[0].left_ids
    detail = svc.record_detail(row.id)
    assert detail is not None and detail["record"].id == row.id
    svc.close()
    store.close()
