"""Integrity of match state under concurrency and source edits, as a user met it (issue 12):
two match processes at once never double a match, a plain ``match`` after an import never
undoes an operator, a source edit inside a closed session is kept for the next session,
and pairs are validated, edited and removed through their service."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recon_tui.errors import PairError
from recon_tui.model import Side, SourcePair, make_record
from recon_tui.services import sessions
from recon_tui.services.decisions import Decisions
from recon_tui.services.matching import MatchService
from recon_tui.services.pairs import PairService
from recon_tui.services.verify import verify_all
from recon_tui.store import Store, groups
from recon_tui.store.pairs import add_pair
from recon_tui.store.records import apply_batch
from recon_tui.store.sources import add_source

PAIR = SourcePair("lb", Side("ledger"), Side("bank"))


def rec(source: str, ext: str, day: int, amount: str, ref: str, **kw: object):  # type: ignore[no-untyped-def]
    return make_record(source=source, external_id=ext, kind="payment",
                       ts=f"2026-03-{day:02d}T10:00:00Z", asset="EUR", amount=amount,
                       reference=ref, counterparty="ACME", **kw)  # fmt: skip


def book(store: Store, n: int) -> None:
    add_source(store, "ledger", "ledger")
    add_source(store, "bank", "csv")
    add_pair(store, PAIR)
    apply_batch(store, "ledger", [rec("ledger", f"L{i}", 1 + i % 27, f"-{100 + i}.{i % 100:02d}",
                                      f"INV-{i:05d}") for i in range(n)])  # fmt: skip
    apply_batch(store, "bank", [rec("bank", f"B{i}", 1 + i % 27, f"-{100 + i}.{i % 100:02d}",
                                    f"INV-{i:05d}") for i in range(n)])  # fmt: skip


def doubled(store: Store) -> int:
    """Records in more than one live confirmed group of one pair."""
    return int(store.conn.execute(
        "SELECT count(*) FROM (SELECT m.pair, m.record_id FROM group_members m JOIN match_groups g "
        "ON g.id = m.group_id WHERE g.state = 'confirmed' GROUP BY 1, 2 HAVING count(*) > 1)"
    ).fetchone()[0])  # fmt: skip


def test_two_match_processes_at_once_never_double_a_match(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store.init(path, passphrase="pw")
    book(store, 1500)
    store.close()
    # Both processes load their engines before either writes (a barrier file), then race.
    script = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from recon_tui.services import matching
        from recon_tui.store import Store
        store = Store.open(Path({str(path)!r}), passphrase="pw")
        svc = matching.MatchService(store)
        write = svc._write
        def gated(*a, **kw):
            Path(sys.argv[1]).touch()
            other = Path(sys.argv[2])
            for _ in range(600):
                if other.exists():
                    break
                time.sleep(0.05)
            return write(*a, **kw)
        svc._write = gated
        print(sum(r.auto for r in svc.run_all(full=True).runs))
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    a, b = tmp_path / "a", tmp_path / "b"
    procs = [subprocess.Popen([sys.executable, "-c", script, str(x), str(y)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for x, y in ((a, b), (b, a))]  # fmt: skip
    outs = [p.communicate(timeout=280) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    autos = [int(o[0].strip().splitlines()[-1]) for o in outs]
    store = Store.open(path, passphrase="pw")
    confirmed = store.count("SELECT count(*) FROM match_groups WHERE state = 'confirmed'")
    assert doubled(store) == 0
    assert confirmed == sum(autos) <= 1500  # the slower run found its records taken
    assert max(autos) > 0
    assert verify_all(store.conn).ok
    store.close()


def test_plain_match_after_an_import_keeps_the_operators_groups(store: Store) -> None:
    book(store, 40)
    MatchService(store).run_all()
    ids = {e: i for i, e in store.conn.execute("SELECT id, external_id FROM records")}
    dec = Decisions(store, "olga")
    # The operator undoes nothing of the engine but matches two leftovers by hand.
    apply_batch(store, "ledger", [rec("ledger", "LX", 5, "-77.70", "ODD-1")])
    apply_batch(store, "bank", [rec("bank", "BX", 6, "-77.70", "NOTE 17")])
    ids = {e: i for i, e in store.conn.execute("SELECT id, external_id FROM records")}
    gid = dec.manual_match(PAIR.name, [ids["LX"]], [ids["BX"]])
    before = dict(store.conn.execute("SELECT id, state FROM match_groups"))
    # An import with its automatic match (the revision advances), re-sending the same rows
    # and one new line; then a plain match: nothing is reopened.
    res = apply_batch(store, "bank", [rec("bank", "BX", 6, "-77.70", "NOTE 17"),
                                      rec("bank", "BNEW", 7, "-5.00", "NEW")])  # fmt: skip
    MatchService(store).run_all(changed_ids=res.changed_ids)
    run = MatchService(store).run_all()
    assert run.runs[0].reopened == 0
    after = dict(store.conn.execute("SELECT id, state FROM match_groups"))
    assert {g: s for g, s in after.items() if g in before} == before
    assert after[gid] == "confirmed"
    # A real change of a member's content does reopen its group, with the reason.
    apply_batch(store, "bank", [rec("bank", "BX", 6, "-77.75", "NOTE 17")])
    assert MatchService(store).run_all().runs[0].reopened == 2
    assert groups.get_group(store.conn, gid).state == "reopened"
    assert verify_all(store.conn).ok


def test_a_source_edit_inside_a_closed_session_is_kept_for_the_next(store: Store) -> None:
    book(store, 6)
    MatchService(store).run_all()
    s = sessions.open_session(store, [PAIR.name], "2026-03-01", "2026-04-01", actor="pat")
    dec = Decisions(store, "pat")
    for r in sessions.unresolved(store.conn, s):
        dec.explain(PAIR.name, [r.id], "other", "fixture", side=r.side)
    closed = sessions.close_session(store, s.id, actor="pat")
    states = dict(store.conn.execute("SELECT id, state FROM match_groups"))
    balances = closed.summary["close"]["balances"]
    # The bank changes the amount of a matched line of the closed period.
    apply_batch(store, "bank", [rec("bank", "B2", 3, "-999.99", "INV-00002")])
    MatchService(store).run_all()
    assert dict(store.conn.execute("SELECT id, state FROM match_groups")) == states
    again = sessions.get_session(store.conn, s.id)
    assert again.state == "closed" and again.summary["close"]["balances"] == balances
    b2 = store.conn.execute("SELECT id FROM records WHERE external_id = 'B2'").fetchone()[0]
    # The next session of the pair inherits the difference.
    nxt = sessions.open_session(store, [PAIR.name], "2026-04-01", "2026-05-01", actor="pat")
    (change,) = nxt.summary["open"]["post_close_changes"]
    assert change["session_id"] == s.id and change["record_id"] == b2
    assert change["old_hash"] != change["new_hash"]
    assert verify_all(store.conn).ok


# --- pairs as first-class objects ------------------------------------------------------


def test_pairs_are_validated_edited_and_removed(store: Store) -> None:
    book(store, 4)
    svc = PairService(store)
    with pytest.raises(PairError, match="does not exist"):
        svc.add(SourcePair("p2", Side("ledger"), Side("bank2")))
    with pytest.raises(PairError, match="same records"):
        svc.add(SourcePair("p3", Side("ledger"), Side("ledger")))
    with pytest.raises(PairError, match="rules"):
        svc.add(SourcePair("p4", Side("ledger"), Side("bank"), rules="nope"))
    with pytest.raises(PairError, match="already exists"):
        svc.add(PAIR)
    add_source(store, "bank2", "csv")
    svc.add(SourcePair("p2", Side("ledger"), Side("bank2")))
    assert [p.name for p in svc.list()] == ["lb", "p2"]
    # Sides change while nothing is confirmed; not once a group depends on them.
    svc.edit("p2", right=Side("bank2", "acct-9"))
    assert svc.get("p2") == SourcePair("p2", Side("ledger"), Side("bank2", "acct-9"))
    MatchService(store).run_all(pairs=["lb"])
    with pytest.raises(PairError, match="confirmed group"):
        svc.edit("lb", right=Side("bank2"))
    svc.edit("lb", rules="default")
    # Removal is refused while a closed session depends on the pair.
    s = sessions.open_session(store, ["lb"], "2026-03-01", "2026-04-01")
    for r in sessions.unresolved(store.conn, s):
        Decisions(store).explain("lb", [r.id], "other", "x", side=r.side)
    sessions.close_session(store, s.id)
    with pytest.raises(PairError, match="closed session"):
        svc.remove("lb")
    svc.remove("p2")
    assert [p.name for p in svc.list()] == ["lb"]
    assert store.count("SELECT count(*) FROM pair_states WHERE pair = 'p2'") == 0


def test_pair_cli(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    from recon_tui.cli import main

    book(store, 2)
    store.close()
    args = ["--store", str(store.path)]
    os.environ["RECON_TUI_PASSPHRASE"] = "test-passphrase"
    try:
        with pytest.raises(SystemExit) as exit_:
            main([*args, "pair", "add", "x", "ledger", "nowhere"])
        assert exit_.value.code == 1
        assert "does not exist" in capsys.readouterr().err
        main([*args, "pair", "add", "x", "bank", "ledger", "--left-account", "a1"])
        main([*args, "pair", "edit", "x", "--right-account", "a2"])
        main([*args, "pair", "list"])
        out = capsys.readouterr().out
        assert "Pair 'x' added." in out and "ledger[a2]" in out
        main([*args, "pair", "remove", "x"])
        assert "removed" in capsys.readouterr().out
    finally:
        os.environ.pop("RECON_TUI_PASSPHRASE", None)
