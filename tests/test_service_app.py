"""The app and the service on one store at once: the operator confirms suggestions in the
workbench (Pilot) while the service runs a full match through the API. No "database is
locked", and both sides' writes are kept: every confirmation in the log and the match run ok.

The service matches the other pairs: what is tested is two processes' writers sharing the
store (busy timeout, short transactions), not two writers deciding the same records.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recon_tui.screens.confirm import ConfirmScreen
from recon_tui.screens.runs import RunsScreen
from recon_tui.screens.workbench import WorkbenchScreen
from recon_tui.services.tokens import create_token
from recon_tui.store import Store
from tests.service_kit import client, serve, wait_for
from tests.workbench_fixtures import app_for, demo_store, settle

PAIR = "ledger-bank"
pytestmark = pytest.mark.anyio


def _overlapping(conn, groups: list[int], rids: list[int]) -> int:  # type: ignore[no-untyped-def]
    """How many of the app's confirmations were written while a service match was running."""
    spans = conn.execute(
        f"SELECT started_us, coalesce(finished_us, 1e18) FROM runs WHERE id IN "
        f"({','.join('?' * len(rids))})", rids).fetchall()  # fmt: skip
    stamps = [t for (t,) in conn.execute(
        f"SELECT at_us FROM decisions WHERE action = 'confirm' AND group_id IN "
        f"({','.join('?' * len(groups))})", groups)]  # fmt: skip
    return sum(any(a <= t <= b for a, b in spans) for t in stamps)


async def test_app_confirms_while_the_service_matches(tmp_path: Path) -> None:
    app_store = demo_store(tmp_path, size=400)
    token = create_token(app_store, "ops", "operator").token
    service_store = Store.open(app_store.path, passphrase="demo")  # the service's own
    others = [p for p in ("ledger-kraken", "ledger-binance", "ledger-wallet")]
    confirmed: list[int] = []
    rids: list[int] = []
    try:
        with serve(service_store) as (base, _), client(base, token) as api:
            app = app_for(app_store, PAIR)
            async with app.run_test(size=(160, 48)) as pilot:
                await settle(pilot)
                others_json = {"kind": "match", "pairs": others, "full": True}
                reader = app_store.open_reader()
                during = 0
                for _ in range(40):
                    await pilot.press("s")
                    await settle(pilot, rounds=1)
                    wb = app.screen
                    assert isinstance(wb, WorkbenchScreen)
                    cands = wb.candidates.candidates
                    if not (cands and cands[0].group_id):
                        continue
                    # The service starts a full match; the operator confirms at once.
                    rids.append(api.post("/v1/runs", json=others_json).json()["run_id"])
                    await pilot.press("enter")
                    await settle(pilot, rounds=1)
                    if isinstance(app.screen, ConfirmScreen):  # it dissolves rivals: agree
                        await pilot.press("ctrl+s")
                        await settle(pilot, rounds=1)
                    confirmed.append(cands[0].group_id)
                    during = _overlapping(reader, confirmed, rids)
                    if during >= 3:
                        break
                for rid in rids:
                    wait_for(lambda rid=rid: api.get(f"/v1/runs/{rid}").json()["outcome"]
                             != "running", timeout=60)  # fmt: skip
                    assert api.get(f"/v1/runs/{rid}").json()["outcome"] == "ok"
                during = _overlapping(reader, confirmed, rids)
                reader.close()
                assert during >= 3, "confirmations must land while the service is matching"
                messages = [str(n.message) for n in app._notifications]
                assert not [m for m in messages if "locked" in m or "failed" in m], messages
                # The runs screen shows the service's run beside the app's.
                await pilot.press("f6")
                await settle(pilot)
                assert isinstance(app.screen, RunsScreen)
                assert {r["id"] for r in app.screen.rows} >= set(rids)
            audit = api.get("/v1/audit").json()
    finally:
        service_store.close()
    conn = app_store.connection()
    states = dict(conn.execute(
        f"SELECT id, state FROM match_groups WHERE id IN ({','.join('?' * len(confirmed))})",
        confirmed))  # fmt: skip
    assert confirmed and set(states.values()) == {"confirmed"}
    logged = {g for (g,) in conn.execute("SELECT group_id FROM decisions WHERE action = 'confirm'")}
    assert set(confirmed) <= logged
    for rid in rids:
        runs = conn.execute("SELECT scope, outcome FROM runs WHERE kind = 'match' "
                            "AND parent_id = ?", (rid,)).fetchall()  # fmt: skip
        assert sorted(r[0] for r in runs) == sorted(others) and {r[1] for r in runs} == {"ok"}
    assert audit["head_seq"] == conn.execute("SELECT max(seq) FROM decisions").fetchone()[0]
    app_store.close()
