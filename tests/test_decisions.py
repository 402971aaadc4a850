"""Decisions service: confirm, reject, manual match with reasons, explain, undo, notes."""

from __future__ import annotations

import pytest

from recon_tui.model import Side, SourcePair, make_record
from recon_tui.services.decisions import DecisionError, Decisions, create_group, refresh_states
from recon_tui.store import Store
from recon_tui.store.audit import verify
from recon_tui.store.groups import state_of
from recon_tui.store.records import apply_batch
from recon_tui.store.sources import add_pair, add_source

PAIR = SourcePair("ledger-bank", Side("ledger", "bank-eur"), Side("bank"))


def rec(source: str, ext: str, amount: str, **kw):
    return make_record(source=source, external_id=ext, kind="payment", ts="2026-02-02T10:00:00Z",
                       asset="EUR", amount=amount, account="bank-eur" if source == "ledger" else None,
                       **kw)  # fmt: skip


@pytest.fixture
def world(store: Store) -> dict[str, int]:
    add_source(store, "ledger", "ledger")
    add_source(store, "bank", "csv")
    add_pair(store, PAIR)
    apply_batch(
        store,
        "ledger",
        [
            rec("ledger", "L1", "-100.00"),
            rec("ledger", "L2", "-40.00"),
            rec("ledger", "L3", "-60.00"),
            rec("ledger", "L4", "-7.00"),
        ],
    )
    apply_batch(store, "bank", [rec("bank", "B1", "-100.00"), rec("bank", "B2", "-99.50"),
                                rec("bank", "B3", "-100.00")])  # fmt: skip
    return {e: i for i, e in store.conn.execute("SELECT id, external_id FROM records")}


def suggest(store: Store, left: list[int], right: list[int]) -> int:
    with store.tx() as conn:
        gid = create_group(conn, PAIR.name, left, right, state="suggested", origin="engine",
                           rule="test", score=0.9)  # fmt: skip
        refresh_states(conn, [*left, *right])
    return gid


def state(store: Store, rid: int) -> str:
    return str(state_of(store.conn, PAIR.name, rid))


def test_confirm_marks_matched_and_stales_competitors(store: Store, world) -> None:
    g1 = suggest(store, [world["L1"]], [world["B1"]])
    g2 = suggest(store, [world["L1"]], [world["B3"]])
    assert state(store, world["B3"]) == "suggested"
    Decisions(store, "alice").confirm(g1)
    assert state(store, world["L1"]) == "matched" and state(store, world["B1"]) == "matched"
    assert state(store, world["B3"]) == "open"
    assert (
        store.conn.execute("SELECT state FROM match_groups WHERE id=?", (g2,)).fetchone()[0]
        == "stale"
    )
    with pytest.raises(DecisionError, match="not a suggestion"):
        Decisions(store, "alice").confirm(g2)
    assert Decisions(store, "alice").undo().startswith("undid confirm")
    assert state(store, world["L1"]) == "suggested" and state(store, world["B3"]) == "suggested"
    assert verify(store.conn).ok


def test_reject_is_remembered_and_undo_forgets(store: Store, world) -> None:
    g = suggest(store, [world["L1"]], [world["B3"]])
    d = Decisions(store, "bob")
    with pytest.raises(DecisionError, match="reason must be"):
        d.reject(g, "meh")
    d.reject(g, "wrong-counterparty", "decoy")
    assert store.conn.execute("SELECT key FROM rejections").fetchall() == [
        (f"{min(world['L1'], world['B3'])},{max(world['L1'], world['B3'])}",)
    ]
    assert state(store, world["L1"]) == "open"
    d.undo()
    assert store.conn.execute("SELECT count(*) FROM rejections").fetchone()[0] == 0


def test_manual_n_to_1_with_fee_reason_records_an_adjustment(store: Store, world) -> None:
    d = Decisions(store, "carol")
    with pytest.raises(DecisionError, match="differ by"):
        d.manual_match(PAIR.name, [world["L2"], world["L3"]], [world["B2"]])
    with pytest.raises(DecisionError, match="note"):
        d.manual_match(PAIR.name, [world["L2"], world["L3"]], [world["B2"]], reason="fee")
    gid = d.manual_match(
        PAIR.name, [world["L2"], world["L3"]], [world["B2"]], reason="fee", note="bank charged 0.50"
    )
    adj = store.conn.execute(
        "SELECT adjustments, origin FROM match_groups WHERE id=?", (gid,)
    ).fetchone()
    assert adj == ('[{"kind":"fee","asset":"EUR","amount":"-0.5"}]', "manual")
    with pytest.raises(DecisionError, match="already matched"):
        d.manual_match(PAIR.name, [world["L2"]], [world["B1"]])
    d.undo()
    assert state(store, world["L2"]) == "open"


def test_explain_break_and_notes(store: Store, world) -> None:
    d = Decisions(store, "dan")
    d.explain(PAIR.name, [world["L4"]], "timing", "settles next day")
    assert state(store, world["L4"]) == "matched"
    d.add_note("called the bank", record_id=world["B3"])
    assert store.conn.execute("SELECT text, actor FROM notes").fetchall() == [
        ("called the bank", "dan")
    ]
    actions = [a for (a,) in store.conn.execute("SELECT action FROM decisions ORDER BY seq")]
    assert actions == ["explain", "note"]


def test_bulk_confirm_is_undone_together(store: Store, world) -> None:
    g1 = suggest(store, [world["L1"]], [world["B1"]])
    g2 = suggest(store, [world["L2"], world["L3"]], [world["B3"]])
    assert Decisions(store, "eve").bulk_confirm([g1, g2]) == 2
    assert state(store, world["B3"]) == "matched"
    Decisions(store, "eve").undo()
    assert {state(store, world[k]) for k in ("L1", "B1", "L2", "B3")} == {"suggested"}
    with pytest.raises(DecisionError, match="nothing to undo"):
        Decisions(store, "someone-else").undo()


def test_a_posting_and_its_reversal_match_on_one_side(store: Store, world) -> None:
    apply_batch(store, "ledger", [rec("ledger", "R1", "40.00")])
    rid = store.conn.execute("SELECT id FROM records WHERE external_id = 'R1'").fetchone()[0]
    d = Decisions(store, "fay")
    with pytest.raises(DecisionError, match="net to zero"):
        d.manual_match(PAIR.name, [world["L2"], world["L1"]], [])
    gid = d.manual_match(PAIR.name, [world["L2"], rid], [])
    assert store.conn.execute("SELECT kind FROM match_groups WHERE id = ?", (gid,)).fetchone() == (
        "reversal",
    )
    assert state(store, rid) == "matched"


# --- undo is exact (issue 13.4) ----------------------------------------------------------


def full_state(store: Store) -> tuple[object, ...]:
    """Everything a decision may change: every group's state and decision fields, every
    record's state and group in every pair, the rejections, the maintained totals. (A group
    a decision created stays, ``undone``, as history after its undo.)"""
    c = store.conn
    return (
        c.execute("SELECT id, state, decided_by, reason FROM match_groups WHERE state != 'undone' "
                  "ORDER BY id").fetchall(),
        c.execute("SELECT pair, record_id, state, group_id FROM pair_states ORDER BY 1, 2").fetchall(),
        c.execute("SELECT pair, key FROM rejections ORDER BY 1, 2").fetchall(),
        c.execute("SELECT * FROM pair_totals WHERE n != 0 ORDER BY 1, 2, 3, 4").fetchall(),
    )


def test_undo_of_a_manual_match_restores_the_engines_suggestion(store: Store, world) -> None:
    """A manual match of one member of a suggested n:1 group dissolves that suggestion;
    the service says so first, and undo brings it (and its members' states) back."""
    big = suggest(store, [world["L1"], world["L2"], world["L3"]], [world["B3"]])
    other = suggest(store, [world["L4"]], [world["B2"]])
    before = full_state(store)
    d = Decisions(store, "gus")
    lost = d.dissolves(PAIR.name, [world["L1"], world["B1"]])
    assert [x.group_id for x in lost] == [big] and lost[0].members == 4
    d.manual_match(PAIR.name, [world["L1"]], [world["B1"]])
    assert state(store, world["L2"]) == "open"  # dissolved with the suggestion
    d.undo()
    assert full_state(store) == before
    assert state(store, world["L2"]) == "suggested" and other


def test_undo_of_an_explained_break_restores_the_other_members(store: Store, world) -> None:
    suggest(store, [world["L1"], world["L2"], world["L3"]], [world["B3"]])
    before = full_state(store)
    d = Decisions(store, "hal")
    d.explain(PAIR.name, [world["L2"]], "timing", "next month")
    assert {state(store, world[k]) for k in ("L1", "L3", "B3")} == {"open"}
    d.undo()
    assert full_state(store) == before


@pytest.mark.parametrize("kind", ["confirm", "reject", "bulk", "manual", "explain"])
def test_undo_of_each_decision_kind_restores_the_exact_prior_state(store: Store, world,
                                                                   kind: str) -> None:  # fmt: skip
    g1 = suggest(store, [world["L1"]], [world["B1"]])
    suggest(store, [world["L1"]], [world["B3"]])  # a competitor, staled by a confirm of g1
    g3 = suggest(store, [world["L2"], world["L3"]], [world["B2"]])
    if kind == "manual":  # L3 vs B3 differ by 40%: a fee only where the pair allows that
        from decimal import Decimal

        from recon_tui.services import writeoff

        wide = writeoff.Limit({}, Decimal(1))
        writeoff.set_limits(store, PAIR.name, writeoff.Policy(writeoff.DEFAULT.limit,
                                                              {"fee": wide}))  # fmt: skip
    before = full_state(store)
    d = Decisions(store, "ivy")
    if kind == "confirm":
        d.confirm(g1)
    elif kind == "reject":
        d.reject(g3, "wrong-amount")
    elif kind == "bulk":
        d.bulk_confirm([g1, g3])
    elif kind == "manual":
        d.manual_match(PAIR.name, [world["L3"]], [world["B3"]], reason="fee", note="x")
    else:
        d.explain(PAIR.name, [world["L1"], world["L4"]], "write-off", "small")
    assert full_state(store) != before
    d.undo()
    assert full_state(store) == before
    assert verify(store.conn).ok
    undo = store.conn.execute("SELECT after FROM decisions WHERE action = 'undo'").fetchone()[0]
    assert '"changes"' in undo  # the inverse is recorded as its own decision


def test_undo_is_refused_when_a_group_moved_since(store: Store, world) -> None:
    g1 = suggest(store, [world["L1"]], [world["B1"]])
    Decisions(store, "jo").confirm(g1)
    Decisions(store, "kim").reject(suggest(store, [world["L2"]], [world["B2"]]), "other")
    with store.tx() as conn:  # someone else undid the confirm's group by other means
        from recon_tui.store import groups

        groups.set_state(conn, g1, "reopened")
    with pytest.raises(DecisionError, match="no longer confirmed"):
        Decisions(store, "jo").undo()
