"""Shared helpers of the session, audit and export tests: the demo world as a store, and an
"operator" who resolves one pair the way the ground truth says."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from recon_tui import demo
from recon_tui.services import sessions
from recon_tui.services.decisions import DecisionError, Decisions
from recon_tui.store import Store

PAIR = "ledger-bank"
SIZE = 60
SEED = 7
OPERATOR = "alice"


@dataclass
class Resolved:
    """What the operator did: truth groups confirmed by hand (as external-id sets)."""

    matched: list[tuple[frozenset[str], frozenset[str]]] = field(default_factory=list)
    explained: list[frozenset[str]] = field(default_factory=list)


def demo_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, demo.DemoWorld]:
    """The demo workspace (sources synced, matching run) and its world."""
    from recon_tui.services.workspace import build_demo

    monkeypatch.setenv("RECON_TUI_PASSPHRASE", "demo")
    store = build_demo(tmp_path / "d.db", size=SIZE, seed=SEED)
    return store, demo.generate(size=SIZE, seed=SEED)


def world_period(world: demo.DemoWorld) -> tuple[date, date]:
    """A period holding every record of the world."""
    return world.start - timedelta(days=world.days + 5), world.start + timedelta(days=5)


def record_id(store: Store, source: str, external_id: str) -> int:
    row = store.connection().execute(
        "SELECT id FROM records WHERE source = ? AND external_id = ?", (source, external_id)
    ).fetchone()
    return int(row[0])


def state_of(store: Store, rid: int, pair: str = PAIR) -> str:
    from recon_tui.store.groups import state_of as pair_state

    return str(pair_state(store.connection(), pair, rid))


def resolve(store: Store, world: demo.DemoWorld, session: sessions.Session,
            pair: str = PAIR, actor: str = OPERATOR) -> Resolved:  # fmt: skip
    """Match or explain every open in-scope item: truth groups first (confirming a stored
    suggestion when it is exactly the truth, else a manual match with a reason), then any
    leftovers (records the engine paired wrongly elsewhere) explained as 'other'."""
    p = world.pair(pair)
    dec = Decisions(store, actor=actor)
    done = Resolved()
    conn = store.connection()
    for g in world.truth_for(pair):
        left = [record_id(store, p.left.source, e) for e in g.left]
        right = [record_id(store, p.right.source, e) for e in g.right]
        ids = left + right
        if any(state_of(store, i) == "matched" for i in ids):
            continue
        key = (frozenset(g.left), frozenset(g.right))
        exact = _suggested_group(conn, left, right)
        try:
            if exact is not None:
                dec.confirm(exact)
                done.matched.append(key)
            elif left and right:
                diff = sum((_amount(conn, i) for i in left), Decimal(0)) - sum(
                    (_amount(conn, i) for i in right), Decimal(0))
                dec.manual_match(pair, left, right, reason="fee" if diff else None,
                                 note=f"{g.scenario}: per the statement" if diff else None,
                                 session_id=session.id)  # fmt: skip
                done.matched.append(key)
            else:
                reason = "write-off" if g.scenario == "break" else "other"
                dec.explain(pair, ids, reason, f"{g.scenario}: no counterpart",
                            session_id=session.id, side="L" if left else "R")  # fmt: skip
                done.explained.append(frozenset(g.left or g.right))
        except DecisionError:
            continue
    for r in sessions.unresolved(conn, session):
        dec.explain(r.pair, [r.id], "other", "left over after the engine's pairing",
                    session_id=session.id, side=r.side)  # fmt: skip
    return done


def _amount(conn: object, rid: int) -> Decimal:
    return Decimal(conn.execute("SELECT amount FROM records WHERE id = ?", (rid,)).fetchone()[0])  # type: ignore[attr-defined]


def _suggested_group(conn: object, left: list[int], right: list[int]) -> int | None:
    want = {(i, "L") for i in left} | {(i, "R") for i in right}
    rows = conn.execute(  # type: ignore[attr-defined]
        "SELECT DISTINCT g.id FROM group_members m JOIN match_groups g ON g.id = m.group_id "
        "WHERE m.record_id = ? AND g.state = 'suggested'", ((left or right)[0],),
    ).fetchall()
    for (gid,) in rows:
        members = set(conn.execute(  # type: ignore[attr-defined]
            "SELECT record_id, side FROM group_members WHERE group_id = ?", (gid,)).fetchall())
        if members == want:
            return int(gid)
    return None


def closed_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   ) -> tuple[Store, demo.DemoWorld, sessions.Session, Resolved]:  # fmt: skip
    """Demo store with one resolved and closed session over ``PAIR``."""
    store, world = demo_store(tmp_path, monkeypatch)
    start, end = world_period(world)
    s = sessions.open_session(store, [PAIR], start, end, name="Q3 bank", actor=OPERATOR)
    done = resolve(store, world, s)
    s = sessions.close_session(store, s.id, actor=OPERATOR, note="all reconciled")
    return store, world, s, done


def store_totals(store: Store, source: str, account: str | None, start_us: int, end_us: int,
                 ) -> dict[str, tuple[int, Decimal]]:  # fmt: skip
    """Per asset: (count, exact sum) of a side's live records in a period, straight from SQL."""
    sql = ("SELECT asset, amount FROM records WHERE source = ? AND removed = 0 "
           "AND ts_us >= ? AND ts_us < ?")  # fmt: skip
    params: list[object] = [source, start_us, end_us]
    if account is not None:
        sql += " AND account = ?"
        params.append(account)
    out: dict[str, tuple[int, Decimal]] = {}
    for asset, amount in store.connection().execute(sql, params):
        n, total = out.get(asset, (0, Decimal(0)))
        out[asset] = (n + 1, total + Decimal(amount))
    return out
