"""Which decision ``u`` undoes: the operator's newest decision not yet undone, found from
the undos newer than the candidates only; the same answer as reading every undo ever
made, through a random run of confirms, rejects and undos (undos of undone ones
included)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from recon_tui.errors import DecisionError
from recon_tui.services.decisions import UNDOABLE, Decisions
from recon_tui.store.db import Connection
from tests.workbench_fixtures import demo_store


def _reference(conn: Connection, actor: str) -> tuple[Any, ...] | None:
    undone = {json.loads(b)["seq"] for (b,) in conn.execute(
        "SELECT before FROM decisions WHERE action = 'undo' AND actor = ?", (actor,))}  # fmt: skip
    for seq, action, gid, after in conn.execute(
        f"SELECT seq, action, group_id, after FROM decisions WHERE actor = ? AND action IN "
        f"({', '.join('?' * len(UNDOABLE))}) ORDER BY seq DESC LIMIT 200", (actor, *UNDOABLE),
    ):  # fmt: skip
        if seq not in undone:
            return seq, action, gid, json.loads(after) if after else None
    return None


def test_last_undoable_equals_reading_every_undo(tmp_path: Path) -> None:
    store = demo_store(tmp_path)
    d = Decisions(store, actor="ops")
    rnd = random.Random("undo-window")
    conn = store.connection()
    steps = undos = 0
    for _ in range(60):
        suggested = [g for (g,) in conn.execute(
            "SELECT id FROM match_groups WHERE state = 'suggested' ORDER BY id")]  # fmt: skip
        op = rnd.choice(["confirm", "reject", "undo", "undo"])
        try:
            if op == "undo":
                d.undo()
                undos += 1
            elif suggested and op == "confirm":
                d.confirm(rnd.choice(suggested))
            elif suggested:
                d.reject(rnd.choice(suggested), "wrong-amount")
        except DecisionError:
            pass  # nothing to undo, or a group moved since: refused, nothing written
        assert d.last_undoable(conn) == _reference(conn, "ops")
        steps += 1
    assert steps == 60 and undos > 10
    assert {a for (a,) in conn.execute("SELECT DISTINCT action FROM decisions")} >= {
        "confirm", "reject", "undo"}
    store.close()
