"""Decisions on match groups: confirm, reject, manual match, explain a break, notes, undo.

Every method runs in one transaction, through :mod:`recon_tui.store.groups` (the owner of
groups and of each record's state per pair, and of their invariants), and appends one
hash-chained entry to the decisions log (who: the OS user; when; what, before and after;
why), so the app, the CLI and exports see the same truth.

Each entry's ``after.changes`` lists every group whose state the decision moved, as
``[group id, before, after]`` (``before`` is ``null`` for a group it created), the
engine's suggestions it dissolved included. :meth:`Decisions.undo` applies exactly the
inverse of that list, as its own decision, after checking that nothing moved those
groups since. :meth:`Decisions.dissolves` says beforehand which suggestions an action
would dissolve, so a screen can ask first.
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from recon_tui.errors import DecisionError
from recon_tui.model import canonical_amount
from recon_tui.services import writeoff
from recon_tui.services.session_lock import guard
from recon_tui.store import Store, groups
from recon_tui.store.audit import append, current_actor
from recon_tui.store.db import Connection
from recon_tui.store.errors import StoreError
from recon_tui.store.groups import Member, create_group, rejection_key
from recon_tui.store.records import get_records

__all__ = [
    "DIFFERENCE_REASONS", "EXPLAIN_REASONS", "REJECT_REASONS", "UNDOABLE", "DecisionError",
    "Decisions", "Dissolved", "Member", "Outcome", "create_group", "group_members", "group_row",
    "refresh_states", "rejection_key",
]  # fmt: skip

DIFFERENCE_REASONS = ("fee", "fx", "rounding", "write-off", "timing")
REJECT_REASONS = ("wrong-counterparty", "wrong-amount", "wrong-date", "duplicate", "other")
EXPLAIN_REASONS = ("timing", "write-off", "fee", "fx", "rounding", "duplicate", "other")
UNDOABLE = ("confirm", "reject", "manual_match", "explain", "bulk_confirm")

Change = tuple[int, str | None, str]
"""(group id, state before or None for a new group, state after)."""


# Older callers (tests, snapshots) used these names from here.
def refresh_states(conn: Connection, record_ids: Iterable[int], pair: str | None = None) -> None:
    groups.refresh(conn, record_ids, pair)


def group_members(conn: Connection, group_id: int) -> list[Member]:
    return groups.members(conn, group_id)


def group_row(conn: Connection, group_id: int) -> dict[str, Any]:
    return groups.get_group(conn, group_id).as_dict()


@dataclass(slots=True, frozen=True)
class Dissolved:
    """A live suggestion an action would dissolve (make stale)."""

    group_id: int
    score: float
    rule: str
    members: int

    def line(self) -> str:
        return f"suggestion {self.group_id} ({self.rule or 'rule?'} {self.score:.2f}, " \
               f"{self.members} records)"  # fmt: skip


def _net_difference(conn: Connection, left: Sequence[int], right: Sequence[int]
                    ) -> dict[str, Decimal]:  # fmt: skip
    """Per asset: sum(left amounts) - sum(right amounts); zero entries dropped."""
    from recon_tui.store.records import get_records

    sums: dict[str, Decimal] = defaultdict(Decimal)
    for sign, ids in ((1, left), (-1, right)):
        for r in get_records(conn, ids):
            sums[r.asset] += sign * r.amount
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


@dataclass(slots=True, frozen=True)
class Outcome:
    """What a decision did: its one line, every record whose state in ``pair`` it moved
    (or may have), and the group changes it recorded."""

    message: str
    record_ids: tuple[int, ...] = ()
    pair: str | None = None
    changes: tuple[Change, ...] = ()
    states_before: tuple[tuple[int, str], ...] | None = None
    """(record id, its state in ``pair`` before the decision) of every record in
    ``record_ids``; None when not known."""


def _changes_json(changes: list[Change]) -> list[list[Any]]:
    return [[g, b, a] for g, b, a in changes]


class DecisionNotWritten(DecisionError):
    """The store could not take a decision now (kept busy by a run past the wait, a full
    disk): one line for the operator, nothing written."""


class Decisions:
    """Operator decisions over one store."""

    def __init__(self, store: Store, actor: str | None = None,
                 reader: Callable[[], Connection] | None = None) -> None:  # fmt: skip
        self.store = store
        self.actor = actor or current_actor()
        self._reader = reader or store.connection
        """Where read-only questions (:meth:`dissolves`) read: the app's UI-thread reader."""

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Connection]:
        """The decision's one short transaction; a store condition the operator can meet
        (a long import holding the write lock, a full disk) is one :class:`DecisionNotWritten`
        line, which the app shows like any refusal instead of losing its worker."""
        try:
            with self.store.tx() as conn:
                yield conn
        except StoreError as exc:
            raise DecisionNotWritten(str(exc)) from None

    # --- asking first --------------------------------------------------------------------

    def dissolves(self, pair: str, record_ids: Sequence[int], keep: int | None = None
                  ) -> list[Dissolved]:  # fmt: skip
        """The live suggestions of ``pair`` that matching or explaining ``record_ids`` would
        dissolve (``keep``: the group being confirmed itself)."""
        conn = self._reader()
        gids = [g for g in groups.groups_touching(conn, pair, record_ids, ("suggested",))
                if g != keep]  # fmt: skip
        found = groups.get_groups(conn, gids)
        sizes = groups.members_of(conn, gids)
        return [Dissolved(g, float(found[g].score or 0.0), found[g].rule or "",
                          len(sizes.get(g, []))) for g in gids]  # fmt: skip

    # --- confirm / reject ---------------------------------------------------------------

    @staticmethod
    def _suggestion(conn: Connection, group_id: int) -> tuple[groups.Group, list[int]]:
        """The group, refused unless it is a live suggestion, and its member ids."""
        g = groups.get_group(conn, group_id)
        if g.state != "suggested":
            raise DecisionError(f"group {group_id} is {g.state}, not a suggestion")
        return g, [m.record_id for m in groups.members(conn, group_id)]

    def _confirm(self, conn: Connection, group_id: int, note: str | None
                 ) -> tuple[groups.Group, list[int], list[Change], list[int], dict[int, str]]:  # fmt: skip
        """Confirm one suggestion in the caller's transaction: (the group as it was, its
        member ids, the changes made, every record whose state it refreshed, and their
        states before)."""
        g, ids = self._suggestion(conn, group_id)
        groups.set_state(conn, group_id, "confirmed", decided_by=self.actor, note=note,
                         update_states=False)  # fmt: skip
        staled = groups.stale_overlapping(conn, g.pair, ids, keep=group_id)
        touched = sorted({*ids, *groups.member_ids(conn, staled)})
        before = {r: st for r, (st, _live) in groups.states(conn, g.pair, touched).items()}
        groups.refresh(conn, touched, g.pair)
        changes: list[Change] = [(group_id, "suggested", "confirmed"),
                                 *((s, "suggested", "stale") for s in staled)]  # fmt: skip
        return g, ids, changes, touched, before

    def confirm(self, group_id: int, note: str | None = None) -> Outcome:
        """Confirm a suggested group (its records must still be free in its pair).

        Returns what it did (the changes and every record whose state moved), so a screen
        can update from the write itself instead of asking the store again."""
        with self._tx() as conn:
            guard(conn, group_ids=[group_id])
            g, ids, changes, touched, before = self._confirm(conn, group_id, note)
            append(conn, "confirm", actor=self.actor, pair=g.pair, group_id=group_id,
                   record_ids=ids, before={"state": "suggested"},
                   after={"state": "confirmed", "changes": _changes_json(changes)},
                   note=note)  # fmt: skip
        staled = len(changes) - 1
        also = f"; {staled} competing suggestion(s) dissolved" if staled else ""
        return Outcome(f"confirmed group {group_id}{also}", tuple(touched), g.pair,
                       tuple(changes), tuple(sorted(before.items())))  # fmt: skip

    def bulk_confirm(self, group_ids: Sequence[int], note: str | None = None) -> int:
        """Confirm many suggestions as one decision (undone together); skips conflicts."""
        done: list[int] = []
        changes: list[Change] = []
        with self._tx() as conn:
            guard(conn, group_ids=group_ids)
            for gid in group_ids:
                if groups.get_group(conn, gid).state != "suggested":
                    continue
                try:
                    changes += self._confirm(conn, gid, note)[2]
                except DecisionError:
                    continue
                done.append(gid)
            if done:
                append(conn, "bulk_confirm", actor=self.actor,
                       after={"groups": done, "changes": _changes_json(changes)}, note=note,
                       record_ids=groups.member_ids(conn, done))  # fmt: skip
        return len(done)

    def reject(self, group_id: int, reason: str, note: str | None = None) -> None:
        """Reject a suggestion; the engine never proposes the same set in this pair again."""
        if reason not in REJECT_REASONS:
            raise DecisionError(f"reason must be one of {', '.join(REJECT_REASONS)}")
        with self._tx() as conn:
            guard(conn, group_ids=[group_id])
            g, ids = self._suggestion(conn, group_id)
            groups.set_state(conn, group_id, "rejected", decided_by=self.actor, reason=reason,
                             note=note)  # fmt: skip
            groups.add_rejection(conn, g.pair, ids, self.actor, reason)
            append(conn, "reject", actor=self.actor, pair=g.pair, group_id=group_id,
                   record_ids=ids, before={"state": "suggested"},
                   after={"state": "rejected",
                          "changes": [[group_id, "suggested", "rejected"]]},
                   reason=reason, note=note)  # fmt: skip

    # --- manual match and explained breaks ----------------------------------------------

    def _new_confirmed(self, conn: Connection, pair: str, left: Sequence[int],
                       right: Sequence[int], **fields: Any) -> tuple[int, list[Change]]:  # fmt: skip
        ids = [*left, *right]
        gid = create_group(conn, pair, left, right, state="confirmed", origin="manual",
                           decided_by=self.actor, update_states=False, **fields)  # fmt: skip
        staled = groups.stale_overlapping(conn, pair, ids, keep=gid)
        groups.refresh(conn, [*ids, *groups.member_ids(conn, staled)], pair)
        return gid, [(gid, None, "confirmed"), *((s, "suggested", "stale") for s in staled)]

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
        with self._tx() as conn:
            ids = [*left_ids, *right_ids]
            guard(conn, record_ids=ids, session_id=session_id)
            groups.check_free(conn, pair, ids)
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
            gid, changes = self._new_confirmed(
                conn, pair, left_ids, right_ids, kind="reversal" if one_sided else "match",
                adjustments=adjustments, reason=reason, note=note, session_id=session_id,
                explanation={"manual": {"agree": True, "detail": f"matched by {self.actor}"}},
            )  # fmt: skip
            append(conn, "manual_match", actor=self.actor, pair=pair, group_id=gid,
                   record_ids=ids, after={"state": "confirmed", "adjustments": adjustments,
                                          "changes": _changes_json(changes)},
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
        with self._tx() as conn:
            guard(conn, record_ids=record_ids, session_id=session_id)
            left = list(record_ids) if side == "L" else []
            right = list(record_ids) if side == "R" else []
            gid, changes = self._new_confirmed(
                conn, pair, left, right, kind="explained", reason=reason, note=note,
                session_id=session_id,
            )  # fmt: skip
            append(conn, "explain", actor=self.actor, pair=pair, group_id=gid,
                   record_ids=list(record_ids),
                   after={"state": "confirmed", "kind": "explained",
                          "changes": _changes_json(changes)},
                   reason=reason, note=note, session_id=session_id)  # fmt: skip
            return gid

    # --- notes --------------------------------------------------------------------------

    def add_note(self, text: str, *, record_id: int | None = None, group_id: int | None = None,
                 session_id: int | None = None) -> None:  # fmt: skip
        from recon_tui.store.notes import add_note

        if not text.strip():
            raise DecisionError("empty note")
        with self._tx() as conn:
            guard(conn, record_ids=[record_id] if record_id is not None else (),
                  group_ids=[group_id], session_id=session_id)  # fmt: skip
            add_note(conn, text, actor=self.actor, record_id=record_id, group_id=group_id,
                     session_id=session_id)  # fmt: skip
            append(conn, "note", actor=self.actor, group_id=group_id,
                   record_ids=[record_id] if record_id is not None else None,
                   session_id=session_id, note=text)  # fmt: skip

    # --- undo ---------------------------------------------------------------------------

    def last_undoable(self, conn: Connection) -> tuple[int, str, int | None, Any] | None:
        """(seq, action, group_id, after) of this actor's newest decision not yet undone."""
        recent = conn.execute(
            f"SELECT seq, action, group_id, after FROM decisions WHERE actor = ? "
            f"AND action IN ({groups.marks(len(UNDOABLE))}) ORDER BY seq DESC LIMIT 200",
            (self.actor, *UNDOABLE),
        ).fetchall()
        if not recent:
            return None
        # An undo comes after what it undoes: only undos newer than the oldest candidate
        # can concern these (reading every undo ever made grew with each one).
        undone = {
            json.loads(b)["seq"]
            for (b,) in conn.execute(
                "SELECT before FROM decisions WHERE seq > ? AND action = 'undo' AND actor = ?",
                (recent[-1][0], self.actor),
            )
        }
        for seq, action, gid, after in recent:
            if seq not in undone:
                return seq, action, gid, json.loads(after) if after else None
        return None

    @staticmethod
    def _recorded_changes(conn: Connection, action: str, gid: int | None,
                          after: Any) -> list[Change]:  # fmt: skip
        """The changes a decision made: its own list, or (entries written before decisions
        carried one) what the action implies."""
        after = after if isinstance(after, dict) else {}
        if isinstance(after.get("changes"), list):
            return [(int(g), b, str(a)) for g, b, a in after["changes"]]
        targets = after.get("groups") or [gid] if action == "bulk_confirm" else [gid]
        out: list[Change] = []
        for g in targets:
            if g is None:
                continue
            if action in ("confirm", "bulk_confirm"):
                out.append((int(g), "suggested", "confirmed"))
            elif action == "reject":
                out.append((int(g), "suggested", "rejected"))
            else:
                out.append((int(g), None, "confirmed"))
        return out

    def undo(self) -> str:
        """Undo this operator's last decision exactly: every group it moved goes back to
        its state before (a group it created becomes ``undone``), rejections it added are
        lifted, and every record state follows; refused if anything moved those groups
        since. Recorded as its own ``undo`` decision."""
        return self.undo_outcome().message

    def undo_outcome(self) -> Outcome:
        """:meth:`undo`, returning what it did (the records whose state it restored)."""
        with self._tx() as conn:
            last = self.last_undoable(conn)
            if last is None:
                raise DecisionError("nothing to undo")
            seq, action, gid, after = last
            changes = self._recorded_changes(conn, action, gid, after)
            gids = [g for g, _, _ in changes]
            guard(conn, group_ids=gids)
            now = groups.get_groups(conn, gids)
            for g, _before, state_after in changes:
                if g not in now:
                    raise DecisionError(f"group {g} no longer exists; cannot undo")
                if now[g].state != state_after:
                    raise DecisionError(
                        f"group {g} is {now[g].state} now, no longer {state_after}; cannot undo"
                    )
            # Back to "before" in reverse order: a staled suggestion returns only after the
            # group that took its records has let them go.
            inverse: list[Change] = []
            ids: set[int] = set()
            pairs: set[str] = set()
            for g, before, state_after in reversed(changes):
                target = before if before is not None else "undone"
                row = now[g]
                members = [m.record_id for m in groups.members(conn, g)]
                ids.update(members)
                pairs.add(row.pair)
                if state_after == "rejected":
                    groups.remove_rejection(conn, row.pair, members)
                groups.set_state(conn, g, target, clear_decision=target == "suggested",
                                 update_states=False)  # fmt: skip
                inverse.append((g, state_after, target))
            was = (groups.states(conn, next(iter(pairs)), ids) if len(pairs) == 1
                      else {})  # fmt: skip
            for pair in pairs:
                groups.refresh(conn, ids, pair)
            append(conn, "undo", actor=self.actor, group_id=gid, record_ids=sorted(ids),
                   before={"seq": seq, "action": action},
                   after={"undone": action, "changes": _changes_json(inverse)})  # fmt: skip
            main = [g for g, b, _ in changes if b is None or g == gid] or gids
            line = f"undid {action.replace('_', ' ')} of group {', '.join(map(str, main[:5]))}"
            return Outcome(line, tuple(sorted(ids)), next(iter(pairs)) if len(pairs) == 1
                           else None, tuple(inverse),
                           tuple(sorted((r, st) for r, (st, _) in was.items())))  # fmt: skip
