"""Decisions on match groups: confirm, reject, manual match, explain a break, undo, notes.

The one place that changes match state. Every function runs in one transaction and
appends one hash-chained entry to the decisions log (who: the OS user; when; what,
before and after; why), so the app, the CLI and exports see the same truth.

State model:
- ``match_groups.state``: ``suggested`` (an engine proposal), ``confirmed``, ``rejected``,
  ``stale`` (a suggestion overtaken by a confirm or a re-run), ``undone``, ``reopened``
  (a confirmed group whose member a source changed or removed).
- ``records.state`` follows: ``matched`` when in a confirmed group (``group_id`` set),
  ``suggested`` when in a live suggestion, else ``open``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from recon_tui.model import canonical_amount, dumps
from recon_tui.services import sessions, writeoff
from recon_tui.store import Store, now_us
from recon_tui.store.audit import append, current_actor
from recon_tui.store.db import Connection
from recon_tui.store.records import get_records

DIFFERENCE_REASONS = ("fee", "fx", "rounding", "write-off", "timing")
REJECT_REASONS = ("wrong-counterparty", "wrong-amount", "wrong-date", "duplicate", "other")
EXPLAIN_REASONS = ("timing", "write-off", "fee", "fx", "rounding", "duplicate", "other")
UNDOABLE = ("confirm", "reject", "manual_match", "explain", "bulk_confirm")


class DecisionError(ValueError):
    """An operator action that cannot be done as asked; the message says why."""


@dataclass(slots=True)
class Member:
    record_id: int
    side: str  # "L" or "R"


def rejection_key(ids: Iterable[int]) -> str:
    return ",".join(str(i) for i in sorted(set(ids)))


def refresh_states(conn: Connection, record_ids: Iterable[int]) -> None:
    """Recompute ``records.state``/``group_id`` of the given records from their groups."""
    ids = sorted(set(record_ids))
    for i in range(0, len(ids), 5000):
        part = ids[i : i + 5000]
        marks = ", ".join("?" * len(part))
        conn.execute(
            f"""UPDATE records SET
                group_id = (SELECT g.id FROM group_members m JOIN match_groups g ON g.id = m.group_id
                            WHERE m.record_id = records.id AND g.state = 'confirmed' LIMIT 1),
                state = CASE
                    WHEN EXISTS (SELECT 1 FROM group_members m JOIN match_groups g
                                 ON g.id = m.group_id WHERE m.record_id = records.id
                                 AND g.state = 'confirmed') THEN 'matched'
                    WHEN EXISTS (SELECT 1 FROM group_members m JOIN match_groups g
                                 ON g.id = m.group_id WHERE m.record_id = records.id
                                 AND g.state = 'suggested') THEN 'suggested'
                    ELSE 'open' END
                WHERE id IN ({marks})""",
            part,
        )


def group_members(conn: Connection, group_id: int) -> list[Member]:
    return [
        Member(r, s)
        for r, s in conn.execute(
            "SELECT record_id, side FROM group_members WHERE group_id = ? ORDER BY side, record_id",
            (group_id,),
        )
    ]


def group_row(conn: Connection, group_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT id, pair, kind, state, origin, rule, score, explanation, adjustments, reason, note "
        "FROM match_groups WHERE id = ?",
        (group_id,),
    ).fetchone()
    if row is None:
        raise DecisionError(f"no match group {group_id}")
    keys = ("id", "pair", "kind", "state", "origin", "rule", "score", "explanation",
            "adjustments", "reason", "note")  # fmt: skip
    d = dict(zip(keys, row, strict=True))
    for k in ("explanation", "adjustments"):
        d[k] = json.loads(d[k]) if d[k] else None
    return d


def create_group(
    conn: Connection,
    pair: str,
    left_ids: Sequence[int],
    right_ids: Sequence[int],
    *,
    state: str,
    origin: str,
    kind: str = "match",
    rule: str | None = None,
    score: float | None = None,
    explanation: Any = None,
    adjustments: Any = None,
    decided_by: str | None = None,
    reason: str | None = None,
    note: str | None = None,
    session_id: int | None = None,
) -> int:
    """Insert a group and its members (no decision entry, no state refresh)."""
    now = now_us()
    cur = conn.execute(
        "INSERT INTO match_groups (pair, kind, state, origin, rule, score, explanation, "
        "adjustments, created_us, decided_us, decided_by, reason, note, session_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (pair, kind, state, origin, rule, score,
         dumps(explanation) if explanation is not None else None,
         dumps(adjustments) if adjustments is not None else None, now,
         now if state == "confirmed" else None, decided_by, reason, note, session_id),
    )  # fmt: skip
    gid = int(cur.lastrowid or 0)
    conn.executemany(
        "INSERT INTO group_members (group_id, record_id, side) VALUES (?, ?, ?)",
        [(gid, r, "L") for r in left_ids] + [(gid, r, "R") for r in right_ids],
    )
    return gid


def _net_difference(
    conn: Connection, left: Sequence[int], right: Sequence[int]
) -> dict[str, Decimal]:
    """Per asset: sum(left amounts) - sum(right amounts); zero entries dropped."""
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for side, ids in ((1, left), (-1, right)):
        if not ids:
            continue
        marks = ", ".join("?" * len(ids))
        for asset, amount in conn.execute(
            f"SELECT asset, amount FROM records WHERE id IN ({marks})", list(ids)
        ):
            sums[asset] += side * Decimal(amount)
    return {a: d for a, d in sums.items() if d != 0}


def _gross(conn: Connection, left_ids: Sequence[int], right_ids: Sequence[int]
           ) -> dict[str, Decimal]:  # fmt: skip
    """Per asset, the larger side's total in magnitude (what a relative limit is of)."""
    sides = []
    for ids in (left_ids, right_ids):
        total: dict[str, Decimal] = defaultdict(Decimal)
        for r in get_records(conn, ids):
            total[r.asset] += r.amount
        sides.append(total)
    return writeoff.gross_of(sides[0], sides[1])


def _check_open(conn: Connection, ids: Sequence[int]) -> None:
    marks = ", ".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT id, state, removed FROM records WHERE id IN ({marks})", list(ids)
    ).fetchall()
    if len(rows) != len(set(ids)):
        raise DecisionError("some of the chosen records do not exist")
    taken = [r[0] for r in rows if r[1] == "matched"]
    if taken:
        raise DecisionError(f"record(s) {', '.join(map(str, taken))} are already matched")
    gone = [r[0] for r in rows if r[2]]
    if gone:
        raise DecisionError(f"record(s) {', '.join(map(str, gone))} were removed by their source")


def _stale_overlapping(conn: Connection, ids: Sequence[int], keep: int | None) -> list[int]:
    """Mark live suggestions that share a record with ``ids`` stale; returns their members."""
    marks = ", ".join("?" * len(ids))
    groups = [
        g for (g,) in conn.execute(
            f"SELECT DISTINCT m.group_id FROM group_members m JOIN match_groups g ON g.id = m.group_id "
            f"WHERE m.record_id IN ({marks}) AND g.state = 'suggested'", list(ids),
        ) if g != keep
    ]  # fmt: skip
    if not groups:
        return []
    gm = ", ".join("?" * len(groups))
    conn.execute(f"UPDATE match_groups SET state = 'stale' WHERE id IN ({gm})", groups)
    return [r for (r,) in conn.execute(
        f"SELECT record_id FROM group_members WHERE group_id IN ({gm})", groups)]  # fmt: skip


class Decisions:
    """Operator (and engine) decisions over one store."""

    def __init__(self, store: Store, actor: str | None = None) -> None:
        self.store = store
        self.actor = actor or current_actor()

    # --- confirm / reject ---------------------------------------------------------------

    def confirm(self, group_id: int, note: str | None = None) -> None:
        """Confirm a suggested group."""
        with self.store.tx() as conn:
            sessions.guard(conn, group_ids=[group_id])
            self._confirm(conn, group_id, note)
            append(conn, "confirm", actor=self.actor, pair=group_row(conn, group_id)["pair"],
                   group_id=group_id, record_ids=[m.record_id for m in group_members(conn, group_id)],
                   before={"state": "suggested"}, after={"state": "confirmed"}, note=note)  # fmt: skip

    def _confirm(self, conn: Connection, group_id: int, note: str | None) -> list[int]:
        g = group_row(conn, group_id)
        if g["state"] != "suggested":
            raise DecisionError(f"group {group_id} is {g['state']}, not a suggestion")
        ids = [m.record_id for m in group_members(conn, group_id)]
        _check_open(conn, ids)
        conn.execute(
            "UPDATE match_groups SET state = 'confirmed', decided_us = ?, decided_by = ?, "
            "note = COALESCE(?, note) WHERE id = ?",
            (now_us(), self.actor, note, group_id),
        )
        touched = _stale_overlapping(conn, ids, keep=group_id)
        refresh_states(conn, [*ids, *touched])
        return ids

    def bulk_confirm(self, group_ids: Sequence[int], note: str | None = None) -> int:
        """Confirm many suggestions as one decision (undone together); skips conflicts."""
        done: list[int] = []
        with self.store.tx() as conn:
            sessions.guard(conn, group_ids=group_ids)
            for gid in group_ids:
                g = group_row(conn, gid)
                if g["state"] != "suggested":
                    continue
                try:
                    self._confirm(conn, gid, note)
                except DecisionError:
                    continue
                done.append(gid)
            if done:
                append(
                    conn,
                    "bulk_confirm",
                    actor=self.actor,
                    after={"groups": done},
                    note=note,
                    record_ids=[m.record_id for g in done for m in group_members(conn, g)],
                )
        return len(done)

    def reject(self, group_id: int, reason: str, note: str | None = None) -> None:
        """Reject a suggestion; the engine never proposes the same set again."""
        if reason not in REJECT_REASONS:
            raise DecisionError(f"reason must be one of {', '.join(REJECT_REASONS)}")
        with self.store.tx() as conn:
            sessions.guard(conn, group_ids=[group_id])
            g = group_row(conn, group_id)
            if g["state"] != "suggested":
                raise DecisionError(f"group {group_id} is {g['state']}, not a suggestion")
            ids = [m.record_id for m in group_members(conn, group_id)]
            conn.execute(
                "UPDATE match_groups SET state = 'rejected', decided_us = ?, decided_by = ?, "
                "reason = ?, note = ? WHERE id = ?",
                (now_us(), self.actor, reason, note, group_id),
            )
            conn.execute(
                "INSERT OR IGNORE INTO rejections (key, pair, decided_us, decided_by, reason) "
                "VALUES (?, ?, ?, ?, ?)",
                (rejection_key(ids), g["pair"], now_us(), self.actor, reason),
            )
            refresh_states(conn, ids)
            append(conn, "reject", actor=self.actor, pair=g["pair"], group_id=group_id,
                   record_ids=ids, before={"state": "suggested"}, after={"state": "rejected"},
                   reason=reason, note=note)  # fmt: skip

    # --- manual match and explained breaks ----------------------------------------------

    def manual_match(
        self,
        pair: str,
        left_ids: Sequence[int],
        right_ids: Sequence[int],
        *,
        reason: str | None = None,
        note: str | None = None,
        session_id: int | None = None,
    ) -> int:
        """Match marked records by hand. A non-zero difference needs a reason and a note,
        and is recorded as an explicit adjustment on the group. Items of one side alone
        may be matched only when they net to zero: a posting and its reversal."""
        if len(left_ids) + len(right_ids) < 2:
            raise DecisionError("mark at least two items (one on each side, or a reversal pair)")
        one_sided = not left_ids or not right_ids
        with self.store.tx() as conn:
            sessions.guard(conn, record_ids=[*left_ids, *right_ids], session_id=session_id)
            ids = [*left_ids, *right_ids]
            _check_open(conn, ids)
            diff = _net_difference(conn, left_ids, right_ids)
            adjustments = None
            if one_sided and diff:
                raise DecisionError(
                    "items of one side must net to zero to match (a reversal); "
                    "explain a break with its reason instead"
                )
            if diff:
                if reason not in DIFFERENCE_REASONS:
                    shown = ", ".join(f"{canonical_amount(v)} {a}" for a, v in diff.items())
                    raise DecisionError(
                        f"the sides differ by {shown}: give a reason "
                        f"({', '.join(DIFFERENCE_REASONS)}) and a note"
                    )
                if not note:
                    raise DecisionError("a difference needs a note saying why")
                # Tolerance has limits: beyond the pair's, only a reason whose own covers it.
                refusal = writeoff.check(writeoff.limits_for(conn, pair), pair, diff,
                                         _gross(conn, left_ids, right_ids), reason)  # fmt: skip
                if refusal:
                    raise DecisionError(refusal)
                adjustments = [
                    {"kind": reason, "asset": a, "amount": canonical_amount(v)}
                    for a, v in diff.items()
                ]
            gid = create_group(
                conn, pair, left_ids, right_ids, state="confirmed", origin="manual",
                kind="reversal" if one_sided else "match",
                adjustments=adjustments, decided_by=self.actor, reason=reason, note=note,
                session_id=session_id,
                explanation={"manual": {"agree": True, "detail": f"matched by {self.actor}"}},
            )  # fmt: skip
            touched = _stale_overlapping(conn, ids, keep=gid)
            refresh_states(conn, [*ids, *touched])
            append(conn, "manual_match", actor=self.actor, pair=pair, group_id=gid,
                   record_ids=ids, after={"state": "confirmed", "adjustments": adjustments},
                   reason=reason, note=note, session_id=session_id)  # fmt: skip
            return gid

    def explain(
        self, pair: str, record_ids: Sequence[int], reason: str, note: str,
        *, session_id: int | None = None, side: str = "L",
    ) -> int:  # fmt: skip
        """Explain a break (records with no counterpart): a one-sided confirmed group."""
        if reason not in EXPLAIN_REASONS:
            raise DecisionError(f"reason must be one of {', '.join(EXPLAIN_REASONS)}")
        if not note:
            raise DecisionError("an explained break needs a note")
        with self.store.tx() as conn:
            sessions.guard(conn, record_ids=record_ids, session_id=session_id)
            _check_open(conn, record_ids)
            left = list(record_ids) if side == "L" else []
            right = list(record_ids) if side == "R" else []
            gid = create_group(
                conn, pair, left, right, state="confirmed", origin="manual", kind="explained",
                decided_by=self.actor, reason=reason, note=note, session_id=session_id,
            )  # fmt: skip
            touched = _stale_overlapping(conn, record_ids, keep=gid)
            refresh_states(conn, [*record_ids, *touched])
            append(conn, "explain", actor=self.actor, pair=pair, group_id=gid,
                   record_ids=list(record_ids), after={"state": "confirmed", "kind": "explained"},
                   reason=reason, note=note, session_id=session_id)  # fmt: skip
            return gid

    # --- notes and undo -----------------------------------------------------------------

    def add_note(self, text: str, *, record_id: int | None = None, group_id: int | None = None,
                 session_id: int | None = None) -> None:  # fmt: skip
        if not text.strip():
            raise DecisionError("empty note")
        with self.store.tx() as conn:
            sessions.guard(
                conn,
                record_ids=[record_id] if record_id is not None else (),
                group_ids=[group_id],
                session_id=session_id,
            )
            conn.execute(
                "INSERT INTO notes (record_id, group_id, session_id, at_us, actor, text) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (record_id, group_id, session_id, now_us(), self.actor, text),
            )
            append(conn, "note", actor=self.actor, group_id=group_id,
                   record_ids=[record_id] if record_id is not None else None,
                   session_id=session_id, note=text)  # fmt: skip

    def last_undoable(self, conn: Connection) -> tuple[int, str, int | None, Any] | None:
        """(seq, action, group_id, after) of this actor's newest decision not yet undone."""
        undone = {
            json.loads(b)["seq"]
            for (b,) in conn.execute(
                "SELECT before FROM decisions WHERE action = 'undo' AND actor = ?", (self.actor,)
            )
        }
        marks = ", ".join("?" * len(UNDOABLE))
        for seq, action, gid, after in conn.execute(
            f"SELECT seq, action, group_id, after FROM decisions WHERE actor = ? "
            f"AND action IN ({marks}) ORDER BY seq DESC LIMIT 200", (self.actor, *UNDOABLE),
        ):  # fmt: skip
            if seq not in undone:
                return seq, action, gid, json.loads(after) if after else None
        return None

    def undo(self) -> str:
        """Undo this operator's last decision; returns a one-line description."""
        with self.store.tx() as conn:
            last = self.last_undoable(conn)
            if last is None:
                raise DecisionError("nothing to undo")
            seq, action, gid, after = last
            groups = after["groups"] if action == "bulk_confirm" else [gid]
            sessions.guard(conn, group_ids=groups)
            ids: list[int] = []
            for g in groups:
                row = group_row(conn, g)
                members = [m.record_id for m in group_members(conn, g)]
                ids.extend(members)
                if action in ("confirm", "bulk_confirm"):
                    if row["state"] != "confirmed":
                        raise DecisionError(f"group {g} is no longer confirmed; cannot undo")
                    conn.execute("UPDATE match_groups SET state = 'suggested', decided_us = NULL, "
                                 "decided_by = NULL WHERE id = ?", (g,))  # fmt: skip
                    # Suggestions staled by this confirm become live again.
                    marks = ", ".join("?" * len(members))
                    conn.execute(
                        f"UPDATE match_groups SET state = 'suggested' WHERE state = 'stale' AND id IN "
                        f"(SELECT group_id FROM group_members WHERE record_id IN ({marks}))", members,
                    )  # fmt: skip
                    ids.extend(r for (r,) in conn.execute(
                        f"SELECT record_id FROM group_members WHERE group_id IN (SELECT group_id "
                        f"FROM group_members WHERE record_id IN ({marks}))", members))  # fmt: skip
                elif action == "reject":
                    conn.execute("UPDATE match_groups SET state = 'suggested', reason = NULL "
                                 "WHERE id = ?", (g,))  # fmt: skip
                    conn.execute("DELETE FROM rejections WHERE key = ?", (rejection_key(members),))
                else:  # manual_match, explain
                    conn.execute("UPDATE match_groups SET state = 'undone' WHERE id = ?", (g,))
            refresh_states(conn, ids)
            append(conn, "undo", actor=self.actor, group_id=gid, record_ids=sorted(set(ids)),
                   before={"seq": seq, "action": action}, after={"undone": action})  # fmt: skip
            return f"undid {action.replace('_', ' ')} of group {gid if gid else ', '.join(map(str, groups))}"
