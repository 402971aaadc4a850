"""The owner of match groups and per-pair record state (``store/groups.py``): its
invariants, the migration of a store made by the release before it, the two pairs over
one ledger that no longer disturb each other, and the maintained totals."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from recon_tui.errors import DecisionError, GroupConflict
from recon_tui.model import Side, SourcePair, make_record
from recon_tui.services.dashboard import pair_counts
from recon_tui.services.decisions import Decisions
from recon_tui.services.matching import MatchService
from recon_tui.services.verify import verify_all
from recon_tui.store import Store, groups
from recon_tui.store.audit import append_many
from recon_tui.store.db import IntegrityError
from recon_tui.store.errors import StoreError
from recon_tui.store.keys import keyinfo_path
from recon_tui.store.pairs import add_pair
from recon_tui.store.records import apply_batch
from recon_tui.store.sources import add_source
from recon_tui.store.summary import pair_totals

FIXTURES = Path(__file__).parent / "data" / "stores"
P1 = SourcePair("ledger-bank", Side("ledger", "bank-eur"), Side("bank"))
P2 = SourcePair("ledger-bank2", Side("ledger", "bank-eur"), Side("bank2"))


def rec(source: str, ext: str, amount: str, ref: str, day: int = 2, **kw):  # type: ignore[no-untyped-def]
    return make_record(source=source, external_id=ext, kind="payment",
                       ts=f"2026-03-{day:02d}T10:00:00Z", asset="EUR", amount=amount,
                       account="bank-eur" if source == "ledger" else None, reference=ref,
                       counterparty="ACME", **kw)  # fmt: skip


@pytest.fixture
def two_pairs(store: Store) -> Store:
    for name, kind in (("ledger", "ledger"), ("bank", "csv"), ("bank2", "csv")):
        add_source(store, name, kind)
    add_pair(store, P1)
    apply_batch(store, "ledger", [rec("ledger", f"L{i}", f"-{100 + i}.25", f"INV-{i}", i + 1)
                                  for i in range(6)])  # fmt: skip
    apply_batch(store, "bank", [rec("bank", f"B{i}", f"-{100 + i}.25", f"INV-{i}", i + 2)
                                for i in range(4)])  # fmt: skip
    add_pair(store, P2)  # a second pair over the same ledger lines, added later
    apply_batch(store, "bank2", [rec("bank2", f"C{i}", f"-{100 + i}.25", f"INV-{i}", i + 3)
                                 for i in range(2, 6)])  # fmt: skip
    return store


def ids(store: Store) -> dict[str, int]:
    return {e: i for i, e in store.conn.execute("SELECT id, external_id FROM records")}


def pair_view(store: Store, pair: str) -> dict[str, tuple[str, int | None]]:
    """external id -> (state, group) of every record on a side of the pair."""
    return {e: (s, g) for e, s, g in store.conn.execute(
        "SELECT r.external_id, s.state, s.group_id FROM pair_states s JOIN records r "
        "ON r.id = s.record_id WHERE s.pair = ? ORDER BY 1", (pair,))}  # fmt: skip


def live_groups(store: Store, pair: str) -> set[tuple[str, tuple[int, ...]]]:
    rows = store.conn.execute(
        "SELECT g.state, group_concat(m.record_id) FROM match_groups g JOIN group_members m "
        "ON m.group_id = g.id WHERE g.pair = ? AND g.state IN ('suggested', 'confirmed') "
        "GROUP BY g.id", (pair,)).fetchall()  # fmt: skip
    return {(s, tuple(sorted(int(x) for x in members.split(",")))) for s, members in rows}


# --- per-pair state ----------------------------------------------------------------------


def test_two_pairs_over_one_ledger_leave_each_other_alone(two_pairs: Store) -> None:
    store = two_pairs
    MatchService(store).run_all(pairs=[P1.name])
    first = (pair_view(store, P1.name), live_groups(store, P1.name))
    assert any(s == "matched" for s, _ in first[0].values())
    assert all(s == "open" for s, _ in pair_view(store, P2.name).values())
    # The second pair's runs (full and incremental) change nothing of the first's.
    MatchService(store).run_all(pairs=[P2.name])
    MatchService(store).run_all(pairs=[P2.name], full=True)
    assert (pair_view(store, P1.name), live_groups(store, P1.name)) == first
    second = (pair_view(store, P2.name), live_groups(store, P2.name))
    # L2 and L3 are matched in both pairs at once, each to its own bank line.
    i = ids(store)
    for ext in ("L2", "L3"):
        assert first[0][ext][0] == "matched" and second[0][ext][0] == "matched"
        assert first[0][ext][1] != second[0][ext][1]
    # L0 has a bank line in the first pair only: matched there, open in the second.
    assert first[0]["L0"][0] == "matched" and second[0]["L0"][0] == "open"
    # And back: the first pair's runs leave the second's alone; verify holds throughout.
    MatchService(store).run_all(pairs=[P1.name], full=True)
    assert (pair_view(store, P2.name), live_groups(store, P2.name)) == second
    assert verify_all(store.conn).ok
    assert i["L2"] in {r for _, m in live_groups(store, P2.name) for r in m}


def test_a_record_is_in_one_live_confirmed_group_per_pair(two_pairs: Store) -> None:
    store = two_pairs
    i = ids(store)
    with store.tx() as conn:
        groups.create_group(conn, P1.name, [i["L1"]], [i["B1"]], state="confirmed",
                            origin="manual")  # fmt: skip
    # The in-transaction re-check refuses a second confirmed group over L1 in this pair…
    with pytest.raises(GroupConflict, match="already matched"), store.tx() as conn:
        groups.create_group(conn, P1.name, [i["L1"]], [i["B2"]], state="confirmed",
                            origin="manual")  # fmt: skip
    # …and the schema makes it impossible even for a writer that skips the check.
    with pytest.raises(IntegrityError), store.tx() as conn:
        groups.create_group(conn, P1.name, [i["L1"]], [i["B2"]], state="confirmed",
                            origin="engine", check=False)  # fmt: skip
    # A suggestion over it cannot be confirmed either; in the other pair L1 is free.
    with store.tx() as conn:
        sugg = groups.create_group(conn, P1.name, [i["L1"]], [i["B3"]], state="suggested",
                                   origin="engine")  # fmt: skip
    with pytest.raises(GroupConflict):
        Decisions(store).confirm(sugg)
    with store.tx() as conn:
        groups.create_group(conn, P2.name, [i["L1"]], [i["C2"]], state="confirmed",
                            origin="manual")  # fmt: skip
    assert groups.state_of(store.conn, P1.name, i["L1"]) == "matched"
    assert groups.state_of(store.conn, P2.name, i["L1"]) == "matched"
    assert groups.state_of(store.conn, P1.name, i["B3"]) == "suggested"


def test_records_off_a_pair_cannot_be_grouped_in_it(two_pairs: Store) -> None:
    i = ids(two_pairs)
    with pytest.raises(DecisionError, match="not on a side"):
        Decisions(two_pairs).manual_match(P1.name, [i["L1"]], [i["C2"]], reason="fee",
                                          note="x")  # fmt: skip


def test_totals_follow_every_change_in_the_same_transaction(two_pairs: Store) -> None:
    store = two_pairs

    def exact() -> dict[tuple[str, str, str, str], tuple[int, Decimal]]:
        """The totals computed the slow way, from the records."""
        out: dict[tuple[str, str, str, str], tuple[int, Decimal]] = {}
        for pair, side, state, asset, amount in store.conn.execute(
            "SELECT s.pair, s.side, s.state, r.asset, r.amount FROM pair_states s JOIN records r "
            "ON r.id = s.record_id WHERE s.live = 1"
        ):
            n, v = out.get((pair, side, state, asset), (0, Decimal(0)))
            out[(pair, side, state, asset)] = (n + 1, v + Decimal(amount))
        return out

    def kept() -> dict[tuple[str, str, str, str], tuple[int, Decimal]]:
        return {(t.pair, t.side, t.state, t.asset): (t.count, t.amount)
                for t in pair_totals(store.conn)}  # fmt: skip

    assert kept() == exact()
    MatchService(store).run_all()
    assert kept() == exact()
    # A source edit (amount with 18 places), a removal and a decision: still exact.
    apply_batch(store, "ledger", [rec("ledger", "L4", "-104.250000000000000001", "INV-4", 5)],
                removed=["L5"])  # fmt: skip
    assert kept() == exact()
    apply_batch(store, "bank2", [rec("bank2", "C9", "-9.99", "NOPE-9", 9)])
    assert kept() == exact()
    Decisions(store).explain(P2.name, [ids(store)["C9"]], "timing", "next month", side="R")
    assert kept() == exact()
    counts = {p.pair.name: p for p in pair_counts(store, 0)}
    assert counts[P1.name].left.counts == {
        s: sum(n for (p, side, st, _a), (n, _v) in exact().items()
               if p == P1.name and side == "L" and st == s)
        for s in ("open", "suggested", "matched")
    }


def test_chunked_in_lists_have_no_variable_limit(store: Store) -> None:
    add_source(store, "ledger", "ledger")
    add_source(store, "bank", "csv")
    add_pair(store, P1)
    n = 40_000  # above SQLite's 32,766 host parameters in one statement
    apply_batch(store, "bank", [rec("bank", f"B{i}", "-1", f"R{i}") for i in range(n)])
    all_ids = [r for (r,) in store.conn.execute("SELECT id FROM records")]
    assert len(groups.states(store.conn, P1.name, all_ids)) == n
    with store.tx() as conn:
        groups.refresh(conn, all_ids, P1.name)
    assert groups.groups_touching(store.conn, P1.name, all_ids, ("confirmed",)) == []


# --- the migration from the release before per-pair state --------------------------------


def test_a_store_made_by_the_previous_release_opens_and_keeps_its_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``release-419601b.db`` was made by ``make_release_fixture.py`` with the code at
    commit 419601b (schema v2: one global ``records.state``): a demo store, a match run,
    a confirm, a reject, an explained break and an open session."""
    for name in ("release-419601b.db", "release-419601b.db.keyinfo.json"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    path = tmp_path / "release-419601b.db"
    probe = Store.open(path, passphrase="old-release", migrate=False)
    assert probe.version == 2
    old_state = dict(probe.conn.execute("SELECT id, state FROM records"))
    old_groups = dict(probe.conn.execute("SELECT id, state FROM match_groups"))
    old_pairs = {p: (ls, la, rs, ra) for p, ls, la, rs, ra in probe.conn.execute(
        "SELECT name, left_source, left_account, right_source, right_account FROM source_pairs")}  # fmt: skip
    probe.close()

    store = Store.open(path, passphrase="old-release")
    conn = store.conn
    assert store.version > 2
    assert dict(conn.execute("SELECT id, state FROM match_groups")) == old_groups
    # Each record's old (global) state is now its state in the pair(s) it is on.
    per_pair = conn.execute("SELECT pair, record_id, state FROM pair_states").fetchall()
    assert per_pair
    for pair, rid, state in per_pair:
        assert pair in old_pairs
        assert state == old_state[rid], (pair, rid)
    # Nothing of the global state is left to be read by mistake.
    cols = {c[1] for c in conn.execute("PRAGMA table_info(records)")}
    assert "state" not in cols and "group_id" not in cols
    report = verify_all(conn)
    assert report.ok, report.lines()
    # It works as a store of this release: totals agree, a match run and undo behave.
    totals: dict[tuple[str, str], int] = {}
    for t in pair_totals(conn):
        if t.side == "L":
            totals[(t.pair, t.state)] = totals.get((t.pair, t.state), 0) + t.count
    for (pair, state), n in totals.items():
        assert n == sum(1 for p, _r, s in per_pair if p == pair and s == state
                        and _side(conn, p, _r) == "L")  # fmt: skip
    MatchService(store).run_all()
    Decisions(store, actor="fixture").undo()  # the explained break of the old release
    assert verify_all(conn).ok
    store.close()


def _side(conn, pair: str, rid: int) -> str:  # type: ignore[no-untyped-def]
    return conn.execute("SELECT side FROM pair_states WHERE pair = ? AND record_id = ?",
                        (pair, rid)).fetchone()[0]  # fmt: skip


def test_a_doubled_match_of_an_old_store_is_reopened_on_record(tmp_path: Path) -> None:
    """Two match runs at once could leave a record in two confirmed groups of one pair
    (issue 12.1) in a store of the old release: after the migration the older group keeps
    the record, and the next match run reopens the newer one with a decision."""
    for name in ("release-419601b.db", "release-419601b.db.keyinfo.json"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    path = tmp_path / "release-419601b.db"
    old = Store.open(path, passphrase="old-release", migrate=False)
    with old.tx() as conn:  # what a second, concurrent run wrote
        gid, pair = conn.execute("SELECT id, pair FROM match_groups WHERE state = 'confirmed' "
                                 "AND origin = 'engine' ORDER BY id LIMIT 1").fetchone()  # fmt: skip
        cur = conn.execute("INSERT INTO match_groups (pair, kind, state, origin, created_us) "
                           "VALUES (?, 'match', 'confirmed', 'engine', 1)", (pair,))  # fmt: skip
        conn.execute("INSERT INTO group_members (group_id, record_id, side) SELECT ?, record_id, "
                     "side FROM group_members WHERE group_id = ?", (cur.lastrowid, gid))  # fmt: skip
    twin = cur.lastrowid
    old.close()
    store = Store.open(path, passphrase="old-release")
    conn = store.conn
    assert groups.doubled_groups(conn) == [twin]
    members = [m.record_id for m in groups.members(conn, twin)]
    assert all(groups.record_pairs(conn, r)[pair][2] == gid for r in members)
    MatchService(store).run_all()
    assert groups.get_group(conn, twin).state == "reopened"
    assert groups.doubled_groups(conn) == []
    assert conn.execute("SELECT reason FROM decisions WHERE action = 'reopen' AND group_id = ?",
                        (twin,)).fetchone()[0].startswith("a member was already")  # fmt: skip
    store.close()


def test_group_counts_are_kept_with_every_group_change(two_pairs: Store) -> None:
    store = two_pairs

    def slow() -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for pair, key, n in store.conn.execute(
            "SELECT pair, state || ':' || origin, count(*) FROM match_groups GROUP BY 1, 2"
        ):
            out.setdefault(pair, {})[key] = n
        return out

    MatchService(store).run_all()
    apply_batch(store, "bank2", [rec("bank2", "C9", "-9.99", "NOPE-9", 9)])
    d = Decisions(store)
    d.explain(P2.name, [ids(store)["C9"]], "other", "x", side="R")
    d.undo()
    assert {p: groups.group_counts(store.conn, p) for p in (P1.name, P2.name)} == {
        p: slow().get(p, {}) for p in (P1.name, P2.name)}  # fmt: skip


def _group_state(store: Store) -> tuple[object, ...]:
    """Everything a group write leaves behind, but the write's own clock."""
    c = store.conn
    return (
        c.execute("SELECT id, pair, kind, state, origin, rule, score, explanation, adjustments, "
                  "decided_by, decided_us IS NOT NULL FROM match_groups ORDER BY id").fetchall(),
        c.execute("SELECT * FROM group_members ORDER BY group_id, record_id").fetchall(),
        sorted(c.execute("SELECT kind, ref, field, value FROM state_log").fetchall()),
        c.execute("SELECT * FROM group_totals ORDER BY 1, 2, 3").fetchall(),
    )


def _auto(gid: int, g: groups.NewGroup) -> dict[str, object]:
    return {"action": "auto_confirm", "pair": P1.name, "group_id": gid,
            "record_ids": sorted([*g.left_ids, *g.right_ids]), "after": {"state": "confirmed"}}


def test_bulk_group_writes_leave_what_one_by_one_writes_leave(tmp_path: Path) -> None:
    """``create_groups`` (a run's results at once) against ``create_group`` per group on
    two copies of one store: the same ids, rows, members, state-log events and totals, a
    clean verify; and a record already in a confirmed group refuses the whole batch."""
    stores = []
    for name in ("one", "bulk"):
        s = Store.init(tmp_path / f"{name}.db", passphrase="pw", use_keyring=False)
        for src, kind in (("ledger", "ledger"), ("bank", "csv")):
            add_source(s, src, kind)
        add_pair(s, P1)
        apply_batch(s, "ledger", [rec("ledger", f"L{i}", f"-{100 + i}.25", f"INV-{i}", i + 1)
                                  for i in range(6)])  # fmt: skip
        apply_batch(s, "bank", [rec("bank", f"B{i}", f"-{100 + i}.25", f"INV-{i}", i + 2)
                                for i in range(6)])  # fmt: skip
        stores.append(s)
    one, bulk = stores
    r = ids(one)
    assert r == ids(bulk)
    expl = {"amount": Decimal("-100.25"), "parts": {"reference": 1.0}, "note": "é"}
    new = [
        groups.NewGroup([r["L0"]], [r["B0"]], "confirmed", "exact-ref", 1.0, expl,
                        [{"kind": "fee", "amount": Decimal("0.50")}], "engine"),
        groups.NewGroup([r["L1"], r["L2"]], [r["B1"]], "suggested", "n-to-1", 0.875, expl),
        groups.NewGroup([r["L3"]], [r["B3"]], "suggested", None, None),
    ]
    with one.tx() as conn:
        made = [groups.create_group(conn, P1.name, g.left_ids, g.right_ids, state=g.state,
                                    origin="engine", rule=g.rule, score=g.score,
                                    explanation=g.explanation, adjustments=g.adjustments,
                                    decided_by=g.decided_by, update_states=False, check=False)
                for g in new]  # fmt: skip
        append_many(conn, [_auto(made[0], new[0])])
    with bulk.tx() as conn:
        assert groups.create_groups(conn, P1.name, new, origin="engine") == made
        append_many(conn, [_auto(made[0], new[0])])
    assert _group_state(one) == _group_state(bulk)
    for s in stores:
        report = verify_all(s.conn)
        assert (report.ok, report.state_problems) == (True, [])
    with pytest.raises(IntegrityError), bulk.tx() as conn:
        groups.create_groups(conn, P1.name, [
            groups.NewGroup([r["L4"]], [r["B4"]], "confirmed", "x", 1.0),
            groups.NewGroup([r["L0"]], [r["B5"]], "confirmed", "x", 1.0),  # L0 is taken
        ], origin="engine")  # fmt: skip
    assert _group_state(one) == _group_state(bulk)  # the refused batch left nothing
    with pytest.raises(ValueError), bulk.tx() as conn:
        groups.create_groups(conn, P1.name, [groups.NewGroup([r["L4"]], [], "bogus")],
                             origin="engine")  # fmt: skip
    with pytest.raises(StoreError, match="1 group members name no record"), bulk.tx() as conn:
        groups.create_groups(conn, P1.name, [
            groups.NewGroup([r["L4"]], [r["B4"]], "confirmed", "x", 1.0),
            groups.NewGroup([r["L5"]], [999_999], "suggested", "x", 0.9),  # no such record
        ], origin="engine")  # fmt: skip
    assert _group_state(one) == _group_state(bulk)
    for s in stores:
        s.close()


def _triggers(store: Store) -> list[tuple[str, str]]:
    return store.conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name").fetchall()  # fmt: skip


@contextmanager
def _with_triggers(conn: object, *names: str) -> Iterator[set[str]]:
    """``groups._bulk`` as it was before it: every trigger fires, the writer adds nothing."""
    yield set()


def _states(new: list[groups.NewGroup], gids: list[int]) -> list[tuple[str, int | None, int]]:
    """Each member's record state after a run wrote ``new`` as ``gids`` (the engine's rule:
    matched in a confirmed group, suggested with no group in a suggestion)."""
    return [("matched", gid, i) if g.state == "confirmed" else ("suggested", None, i)
            for gid, g in zip(gids, new, strict=True) for i in (*g.left_ids, *g.right_ids)]  # fmt: skip


def test_bulk_writes_without_row_triggers_leave_what_the_triggers_leave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The engine's bulk writers do the per-row triggers' work themselves (the state log's
    rows with their chained MACs, the pair's totals): against the same writes with the
    triggers firing, on two copies of one store, the same state log row for row (MACs and
    order included), totals and states; the triggers are back, defined as before, after a
    write and after a refused one, and a refused one leaves nothing."""
    s = Store.init(tmp_path / "triggers.db", passphrase="pw", use_keyring=False)
    for src, kind in (("ledger", "ledger"), ("bank", "csv")):
        add_source(s, src, kind)
    add_pair(s, P1)
    apply_batch(s, "ledger", [rec("ledger", f"L{i}", f"-{100 + i}.25", f"INV-{i}", i % 9 + 1)
                              for i in range(40)])  # fmt: skip
    apply_batch(s, "bank", [rec("bank", f"B{i}", f"-{100 + i}.25", f"INV-{i}", i % 9 + 2)
                            for i in range(40)])  # fmt: skip
    s.close()
    # One store copied, so that both have the same audit key and MACs compare.
    shutil.copy(tmp_path / "triggers.db", tmp_path / "bulk.db")
    shutil.copy(keyinfo_path(tmp_path / "triggers.db"), keyinfo_path(tmp_path / "bulk.db"))
    stores = [Store.open(tmp_path / f"{n}.db", passphrase="pw") for n in ("triggers", "bulk")]
    old, bulk = stores
    r = ids(old)
    new = [groups.NewGroup([r[f"L{i}"]], [r[f"B{i}"]], "confirmed", "exact-ref", 1.0,
                           {"n": i}, None, "engine") for i in range(0, 30, 2)]  # fmt: skip
    new += [groups.NewGroup([r[f"L{i}"], r[f"L{i + 1}"]], [r[f"B{i}"]], "suggested", "n-to-1",
                            0.9, {"n": i}) for i in range(31, 39, 3)]  # fmt: skip
    before = _triggers(bulk)
    assert {"state_log_group_new", "state_log_member_add", "pair_states_upd"} <= {
        n for n, _ in before}
    monkeypatch.setattr(groups, "RECOUNT_SHARE", 1)  # this small batch recounts (bulk store)
    with bulk.tx() as conn:
        gids = groups.create_groups(conn, P1.name, new, origin="engine")
        groups.set_states(conn, P1.name, _states(new, gids))
        append_many(conn, [_auto(gid, g) for gid, g in zip(gids, new, strict=True) if g.state == "confirmed"])
    monkeypatch.setattr(groups, "_bulk", _with_triggers)
    monkeypatch.setattr(groups, "RECOUNT_SHARE", 10**9)  # never recounts: the trigger counts
    with old.tx() as conn:
        assert groups.create_groups(conn, P1.name, new, origin="engine") == gids
        groups.set_states(conn, P1.name, _states(new, gids))
        append_many(conn, [_auto(gid, g) for gid, g in zip(gids, new, strict=True) if g.state == "confirmed"])
    monkeypatch.undo()

    def left(s: Store) -> tuple[object, ...]:
        c = s.conn
        return (c.execute("SELECT kind, ref, field, value, mac FROM state_log ORDER BY seq").fetchall(),
                c.execute("SELECT * FROM pair_totals ORDER BY 1, 2, 3, 4").fetchall(),
                c.execute("SELECT * FROM pair_states ORDER BY 1, 2").fetchall(),
                _group_state(s))  # fmt: skip

    assert len(left(bulk)[0]) > len(new)
    assert left(bulk) == left(old)
    assert _triggers(bulk) == before
    for s in stores:
        report = verify_all(s.conn)
        assert (report.ok, report.state_problems) == (True, [])
    # A refused bulk write (a record already confirmed) leaves nothing, triggers included.
    snapshot = left(bulk)
    with pytest.raises(IntegrityError), bulk.tx() as conn:
        groups.create_groups(conn, P1.name, [
            groups.NewGroup([r["L1"]], [r["B1"]], "confirmed", "x", 1.0),
            groups.NewGroup([r["L0"]], [r["B3"]], "confirmed", "x", 1.0),  # L0 is taken
        ], origin="engine")  # fmt: skip
    assert left(bulk) == snapshot
    assert _triggers(bulk) == before
    # The triggers work again after a bulk write: a single group is logged by them.
    with bulk.tx() as conn:
        groups.create_group(conn, P1.name, [r["L1"]], [r["B1"]], state="suggested",
                            origin="engine")  # fmt: skip
    assert len(left(bulk)[0]) == len(snapshot[0]) + 3
    assert verify_all(bulk.conn).ok
    for s in stores:
        s.close()
