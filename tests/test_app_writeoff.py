"""Tolerance has limits (issue 16.6): a manual match whose difference is beyond the pair's
write-off limit is refused unless a typed reason's own limit covers it; the workbench
dialog says so in one line naming the figure and the limit, and the store is unchanged."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from recon_tui.screens.manual_match import ManualMatchScreen
from recon_tui.screens.workbench import WorkbenchScreen
from recon_tui.services import writeoff
from recon_tui.services.decisions import DecisionError, Decisions
from recon_tui.store import Store
from tests.workbench_fixtures import (  # noqa: F401 (fixtures)
    app_for,
    demo_store,
    demo_store_fixture,
    settle,
)

PAIR = "ledger-bank"
pytestmark = pytest.mark.anyio
D = Decimal


def test_policy_the_issue_example_is_refused_as_a_fee() -> None:
    """28.61 against 2,101.05 is 1.36%: over the fee limit (25.00 and 1%)."""
    p = writeoff.DEFAULT
    diff, gross = {"EUR": D("-28.61")}, {"EUR": D("2101.05")}
    line = writeoff.check(p, "ledger-bank", diff, gross, "fee")
    assert line is not None
    assert "−28.61 EUR (1.36% of 2,101.05)" in line
    assert "over ledger-bank's write-off limit" in line and "over the fee limit" in line
    assert "reason fx covers it" in line
    assert writeoff.check(p, "lb", diff, gross, "fx") is None  # FX allows 2%
    assert writeoff.check(p, "lb", diff, gross, None) is not None
    # Within the pair's own limit any reason goes (0.50 on 1,000: 0.05%, under 1.00).
    assert writeoff.check(p, "lb", {"EUR": D("0.50")}, {"EUR": D(1000)}, "timing") is None
    # Rounding covers a cent on a hundred, not a euro.
    assert writeoff.check(p, "lb", {"EUR": D("1.01")}, {"EUR": D(100)}, "rounding") is not None
    assert writeoff.check(p, "lb", {"BTC": D("0.0000005")}, {"BTC": D(2)}, "rounding") is None
    # An asset without absolute limits is bounded relatively.
    assert writeoff.check(p, "lb", {"SOL": D("0.5")}, {"SOL": D(100)}, "write-off") is None
    assert writeoff.check(p, "lb", {"SOL": D("0.6")}, {"SOL": D(100)}, "write-off") is not None


def test_limits_live_on_the_pair_and_round_trip(store: Store) -> None:
    assert writeoff.policy(store, PAIR) == writeoff.DEFAULT
    mine = writeoff.Policy(writeoff.Limit({"EUR": D("2.00")}, D("0.002")),
                           {"fee": writeoff.Limit({"EUR": D("5.00")}, None)})  # fmt: skip
    writeoff.set_limits(store, PAIR, mine)
    back = writeoff.policy(store, PAIR)
    assert back.limit == mine.limit and back.reasons["fee"] == mine.reasons["fee"]
    assert back.reasons["fx"] == writeoff.DEFAULT.reasons["fx"]  # the rest stays default
    with pytest.raises(ValueError, match="no source pair"):
        writeoff.set_limits(store, "nope", mine)


def _over_fee_pair(store: Store) -> tuple[int, int, Decimal]:
    """A ledger item and a bank item that differ by more than any fee limit allows."""
    rows = store.connection().execute(
        "SELECT l.id, r.id, l.amount, r.amount FROM pair_states ls "
        "JOIN records l ON l.id = ls.record_id JOIN pair_states rs ON rs.pair = ls.pair "
        "AND rs.side = 'R' AND rs.state != 'matched' JOIN records r ON r.id = rs.record_id "
        "WHERE ls.pair = ? AND ls.side = 'L' AND ls.state != 'matched' ORDER BY l.id, r.id",
        (PAIR,)).fetchall()  # fmt: skip
    for lid, rid, la, ra in rows:
        la, ra = D(la), D(ra)
        diff, gross = abs(la - ra), max(abs(la), abs(ra))
        fee = writeoff.DEFAULT.reasons["fee"]
        if la * ra > 0 and diff < gross / 2 and not fee.covers("EUR", diff, gross):
            return lid, rid, la - ra
    raise AssertionError("no such pair in the demo store")


def test_the_service_refuses_it_too(store: Store) -> None:
    """The CLI and the API go through Decisions.manual_match: same refusal."""
    lid, rid, _ = _over_fee_pair(store)
    with pytest.raises(DecisionError, match="over the fee limit"):
        Decisions(store).manual_match(PAIR, [lid], [rid], reason="fee", note="bank fee")
    # A pair whose FX limit is wide (set in its settings) takes it as FX.
    wide = writeoff.Policy(writeoff.DEFAULT.limit, {"fx": writeoff.Limit({}, D(1))})
    writeoff.set_limits(store, PAIR, wide)
    gid = Decisions(store).manual_match(PAIR, [lid], [rid], reason="fx", note="EUR/SEK")
    assert gid > 0


async def test_write_off_beyond_the_limit_is_refused_in_the_dialog(store: Store) -> None:
    lid, rid, diff = _over_fee_pair(store)
    app = app_for(store, PAIR)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        wb = app.screen
        assert isinstance(wb, WorkbenchScreen)
        wb.show_record(lid)
        await pilot.press("space")
        wb.show_record(rid)
        await pilot.press("space", "m")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ManualMatchScreen)
        await pilot.press("enter")  # reason: fee (the first), then the note
        await pilot.press(*"bank fee", "enter")
        await pilot.pause()
        assert app.screen is dialog, "the dialog stays open"
        error = str(dialog.query_one("#dialog-error").content)
        assert "over the fee limit" in error and "write-off limit" in error
        assert f"{abs(diff):,.2f}" in error
        n = store.connection().execute(
            "SELECT count(*) FROM match_groups WHERE origin = 'manual'").fetchone()[0]  # fmt: skip
        assert n == 0
        await pilot.press("escape")


def test_pair_limits_cli_sets_a_reason_limit_that_the_policy_then_applies(tmp_path: Path) -> None:
    """`recon-tui pair limits` changes one reason's bound for one asset and keeps the rest;
    the issue's 28.61-on-2,101.05 fee is accepted once the pair allows 1.5%."""
    from tests.test_cli import run

    db = str(tmp_path / "s.db")
    assert run(["--store", db, "demo", "--size", "60", "--no-open"], env_pass="demo").returncode == 0
    r = run(["--store", db, "pair", "limits", "ledger-bank", "--reason", "fee", "--abs", "EUR=30",
             "--rel", "1.5"], env_pass="demo")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "EUR 30," in r.stdout.split("fee", 1)[1].splitlines()[0]
    store = Store.open(Path(db), passphrase="demo")
    try:
        p = writeoff.policy(store, "ledger-bank")
        assert p.reasons["fee"].relative == D("0.015") and p.reasons["fee"].absolute["EUR"] == 30
        assert p.reasons["fee"].absolute["USD"] == D("25.00")  # other assets kept
        diff, gross = {"EUR": D("-28.61")}, {"EUR": D("2101.05")}
        assert writeoff.check(p, "ledger-bank", diff, gross, "fee") is None
        assert writeoff.check(writeoff.DEFAULT, "ledger-bank", diff, gross, "fee") is not None
    finally:
        store.close()
    bad = run(["--store", db, "pair", "limits", "ledger-bank", "--abs", "EUR=x"], env_pass="demo")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "not a decimal" in bad.stderr
    gone = run(["--store", db, "pair", "limits", "nope"], env_pass="demo")
    assert gone.returncode == 1 and "no source pair 'nope'" in gone.stderr
