"""A running selection (issue 16.3): marked items' count and sum per side and the
difference L − R show live in the panes' borders; the candidates pane lists every member
of a group."""

from __future__ import annotations

from decimal import Decimal
from decimal import Decimal as D

import pytest

from recon_tui.formatting import fmt_amounts
from recon_tui.screens.workbench import WorkbenchScreen
from recon_tui.services.candidate_view import CandidateView as Candidate
from recon_tui.services.panes import Row
from recon_tui.store import Store
from recon_tui.widgets.candidates import describe
from tests.workbench_fixtures import (  # noqa: F401 (fixtures)
    app_for,
    demo_store,
    demo_store_fixture,
    settle,
)

PAIR = "ledger-bank"
pytestmark = pytest.mark.anyio


async def test_marked_sums_and_difference_in_the_borders(store: Store) -> None:
    app = app_for(store, PAIR)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        wb = app.screen
        assert isinstance(wb, WorkbenchScreen)
        l0, l1 = wb.left.row_at(0), wb.left.row_at(1)
        await pilot.press("space", "space")
        expected_left = {l0.asset: l0.amount + l1.amount}
        assert f"2 marked Σ {fmt_amounts(expected_left)}" in wb.left.border_subtitle
        assert "L − R" not in wb.left.border_subtitle  # one side only: no difference yet
        await pilot.press("tab")
        await settle(pilot)
        r0 = wb.right.current
        await pilot.press("space")
        await pilot.pause()
        assert f"1 marked Σ {fmt_amounts({r0.asset: r0.amount})}" in wb.right.border_subtitle
        diff = fmt_amounts({l0.asset: expected_left[l0.asset] - r0.amount}) if (
            r0.asset == l0.asset) else None  # fmt: skip
        if diff is not None:
            assert f"marked L − R {diff}" in wb.left.border_subtitle
            assert f"marked L − R {diff}" in wb.right.border_subtitle
        # Unmarking on the right takes the difference away, live.
        await pilot.press("k", "space")
        await pilot.pause()
        assert "marked" not in wb.right.border_subtitle
        assert "L − R" not in wb.left.border_subtitle
        await pilot.press("c")
        await pilot.pause()
        assert "marked" not in wb.left.border_subtitle


def _row(i: int, amount: str) -> Row:
    return Row(0, i, 1_767_225_600_000_000 + i, "EUR", Decimal(amount), "payment", "open",
               "final", f"cp{i}", None, None, f"EXT-{i}")  # fmt: skip


def test_candidate_lists_every_member() -> None:
    """A 7:1 group shows its eight members (no '… and 4 more') and its L − R."""
    left = [_row(i, "100.00") for i in range(1, 8)]
    right = [_row(99, "-700.00")]
    c = Candidate(None, tuple(r.id for r in left), (99,), 0.93, "batch", "suggest", {}, [],
                  difference={"EUR": D("1400.00")}, date_lag_days=1,
                  counterparts=[*left, *right])  # fmt: skip
    text = describe(c, 1, focused_id=1).plain
    for r in [*left, *right]:
        assert r.external_id in text
    assert "more" not in text
    assert "L − R 1,400.00 EUR" in text
