"""A learned fee schedule end to end: the operator confirms a recurring 15.00 wire fee
three times, and the next payment with that fee is auto-confirmed by the service
(which builds the schedule from the store's confirmed groups, matchers.fees)."""

from __future__ import annotations

from recon_tui.model import Side, SourcePair, make_record
from recon_tui.services.matching import MatchService
from recon_tui.store import Store
from recon_tui.store.records import apply_batch
from recon_tui.store.sources import add_pair, add_source

PAIR = SourcePair("ledger-bank", Side("ledger", "bank-eur"), Side("bank"))


def rec(source: str, ext: str, amount: str, ref: str, day: int):
    return make_record(source=source, external_id=ext, kind="payment",
                       ts=f"2026-02-{day:02d}T10:00:00Z", asset="EUR", amount=amount,
                       reference=ref, counterparty="Acme Ltd" if source == "ledger" else "ACME",
                       account="bank-eur" if source == "ledger" else None)  # fmt: skip


def states(store: Store) -> dict[str, str]:
    return dict(store.conn.execute(
        "SELECT r.external_id, coalesce(s.state, 'open') FROM records r LEFT JOIN pair_states s "
        "ON s.record_id = r.id AND s.pair = ?", (PAIR.name,)))  # fmt: skip


def test_confirmed_fees_teach_the_next_auto(store: Store) -> None:
    add_source(store, "ledger", "ledger")
    add_source(store, "bank", "csv")
    add_pair(store, PAIR)
    amounts = ("1000.00", "2000.00", "3000.00")
    apply_batch(store, "ledger", [rec("ledger", f"L{i}", a, f"INV-{i}", 2 + i)
                                  for i, a in enumerate(amounts)])
    apply_batch(store, "bank", [rec("bank", f"B{i}", str(float(a) - 15), f"INV-{i}", 2 + i)
                                for i, a in enumerate(amounts)])
    svc = MatchService(store)
    first = svc.run_all()
    assert sum(r.auto for r in first.runs) == 0  # 15.00 is beyond the fee cap of 5
    ids = {e: i for i, e in store.conn.execute("SELECT id, external_id FROM records")}
    for i in range(3):
        (cand, *_) = svc.candidates(PAIR.name, ids[f"L{i}"])
        assert cand.right_ids == (ids[f"B{i}"],)
        svc.accept(PAIR.name, cand, note="wire fee")
    apply_batch(store, "ledger", [rec("ledger", "L9", "4000.00", "INV-9", 12)])
    apply_batch(store, "bank", [rec("bank", "B9", "3985.00", "INV-9", 13)])
    again = MatchService(store).run_all(full=True)
    assert sum(r.auto for r in again.runs) == 1
    assert states(store)["L9"] == "matched"
