"""The matching service over a real store: runs, incremental updates, reopen, rejections."""

from __future__ import annotations

import pytest

from recon_tui.model import Side, SourcePair, make_record
from recon_tui.services.decisions import Decisions
from recon_tui.services.matching import MatchService
from recon_tui.store import Store
from recon_tui.store.audit import verify
from recon_tui.store.records import apply_batch
from recon_tui.store.sources import add_pair, add_source

PAIR = SourcePair("ledger-bank", Side("ledger", "bank-eur"), Side("bank"))


def rec(source: str, ext: str, amount: str, ref: str, day: int = 2, cp: str = "ACME LTD"):
    return make_record(source=source, external_id=ext, kind="payment",
                       ts=f"2026-02-{day:02d}T10:00:00Z", asset="EUR", amount=amount,
                       reference=ref, counterparty=cp,
                       account="bank-eur" if source == "ledger" else None)  # fmt: skip


@pytest.fixture
def svc(store: Store) -> MatchService:
    add_source(store, "ledger", "ledger")
    add_source(store, "bank", "csv")
    add_pair(store, PAIR)
    apply_batch(
        store,
        "ledger",
        [
            rec("ledger", "L1", "-250.00", "INV-1001"),
            rec("ledger", "L2", "-310.40", "INV-1002", cp="Globex GmbH"),
            rec("ledger", "L3", "-75.00", "INV-1003", cp="Initech"),
        ],
    )
    apply_batch(
        store,
        "bank",
        [
            rec("bank", "B1", "-250.00", "INV-1001", day=3),
            rec("bank", "B2", "-310.40", "INV-1002", day=4, cp="GLOBEX"),
        ],
    )
    return MatchService(store)


def ids(store: Store) -> dict[str, int]:
    return {e: i for i, e in store.conn.execute("SELECT id, external_id FROM records")}


def states(store: Store) -> dict[str, str]:
    return dict(store.conn.execute(
        "SELECT r.external_id, coalesce(s.state, 'open') FROM records r LEFT JOIN pair_states s "
        "ON s.record_id = r.id AND s.pair = ?", (PAIR.name,)))  # fmt: skip


def test_full_run_auto_confirms_clear_pairs_with_decisions(store: Store, svc: MatchService) -> None:
    result = svc.run_all()
    assert sum(r.auto for r in result.runs) == 2
    assert states(store) == {"L1": "matched", "L2": "matched", "L3": "open",
                             "B1": "matched", "B2": "matched"}  # fmt: skip
    rows = store.conn.execute(
        "SELECT action, actor_kind, reason FROM decisions ORDER BY seq"
    ).fetchall()
    assert [r[0] for r in rows] == ["auto_confirm", "auto_confirm"]
    assert all(r[1] == "engine" and r[2].startswith("rule ") for r in rows)
    assert verify(store.conn).ok


def test_a_one_shot_run_writes_the_same_and_lets_its_engines_go(store: Store,
                                                                svc: MatchService) -> None:
    """``warm=False`` (the CLI's and the demo's runs): the same groups and states as a warm
    run, and no engine left alive once the run has returned (a warm service keeps one)."""
    import gc

    from matchers.engine import Engine

    def engines() -> int:
        gc.collect()
        return sum(isinstance(o, Engine) for o in gc.get_objects())

    before = engines()
    result = MatchService(store, warm=False).run_all()
    assert sum(r.auto for r in result.runs) == 2
    assert all(not r.proposals for r in result.runs)
    assert engines() == before
    assert states(store) == {"L1": "matched", "L2": "matched", "L3": "open",
                             "B1": "matched", "B2": "matched"}  # fmt: skip
    assert verify(store.conn).ok
    svc.run_all(full=True)  # the warm service: nothing left to confirm; it keeps its engine
    assert engines() == before + 1


def test_dry_run_writes_nothing(store: Store, svc: MatchService) -> None:
    result = svc.run_all(dry_run=True)
    assert sum(r.auto for r in result.runs) == 2
    assert set(states(store).values()) == {"open"}
    assert store.count("SELECT count(*) FROM match_groups") == 0


def test_incremental_sync_brings_new_matches(store: Store, svc: MatchService) -> None:
    svc.run_all()
    res = apply_batch(store, "bank", [rec("bank", "B3", "-75.00", "INV-1003", day=5, cp="INITECH")])
    svc.run_all(changed_ids=res.changed_ids)
    assert states(store)["L3"] == "matched" and states(store)["B3"] == "matched"


def test_source_change_reopens_a_confirmed_group(store: Store, svc: MatchService) -> None:
    svc.run_all()
    res = apply_batch(store, "bank", [rec("bank", "B1", "-205.00", "INV-1001", day=3)])
    svc.run_all(changed_ids=res.changed_ids)
    assert states(store)["L1"] != "matched"
    actions = [a for (a,) in store.conn.execute("SELECT action FROM decisions ORDER BY seq")]
    assert "reopen" in actions
    assert (
        store.conn.execute("SELECT count(*) FROM match_groups WHERE state = 'reopened'").fetchone()[
            0
        ]
        == 1
    )


def test_rejected_pair_is_never_suggested_again(store: Store, svc: MatchService) -> None:
    i = ids(store)
    cands = svc.candidates(PAIR.name, i["L3"])
    assert cands == [] or all(i["L3"] in c.left_ids for c in cands)
    apply_batch(store, "bank", [rec("bank", "B9", "-75.00", "OTHER-9", cp="Initech")])
    i = ids(store)
    svc2 = MatchService(store)
    cands = svc2.candidates(PAIR.name, i["L3"])
    assert any(c.right_ids == (i["B9"],) for c in cands)
    target = next(c for c in cands if c.right_ids == (i["B9"],))
    svc2.reject(PAIR.name, target, "wrong-counterparty")
    svc2.run_all(full=True)
    assert all(c.right_ids != (i["B9"],) for c in svc2.candidates(PAIR.name, i["L3"]))
    assert all(
        c.right_ids != (i["B9"],) for c in MatchService(store).candidates(PAIR.name, i["L3"])
    )


def test_accepting_a_candidate_confirms_it(store: Store, svc: MatchService) -> None:
    i = ids(store)
    cands = svc.candidates(PAIR.name, i["L1"])
    assert cands and cands[0].right_ids == (i["B1"],)
    svc.accept(PAIR.name, cands[0])
    assert states(store)["L1"] == "matched"
    Decisions(store).undo()
    assert states(store)["L1"] != "matched"


def test_the_engine_keeps_records_without_their_raw_payload(store: Store, svc: MatchService) -> None:
    def odd(ext: str) -> object:  # matches nothing: it stays open in the engine
        return make_record(source="bank", external_id=ext, kind="payment",
                           ts="2026-02-05T10:00:00Z", asset="EUR", amount="-999.00",
                           reference=f"OTHER-{ext}", counterparty="Nobody",
                           raw={"id": ext, "info": {"note": "x" * 200}})  # fmt: skip

    apply_batch(store, "bank", [odd("B7")])
    svc.run_all()  # full: the engine loads every open record
    res = apply_batch(store, "bank", [odd("B8")])
    svc.run_all(changed_ids=res.changed_ids)  # incremental: B8 is added
    i = ids(store)
    eng = svc.engine(PAIR.name)
    for ext in ("B7", "B8"):
        it = eng.item(i[ext])
        assert it is not None and it.record.raw is None
    from recon_tui.store.records import get_records

    stored = get_records(store.conn, [i["B7"], i["B8"]])
    assert [r.raw for r in stored] == [{"id": e, "info": {"note": "x" * 200}} for e in ("B7", "B8")]
