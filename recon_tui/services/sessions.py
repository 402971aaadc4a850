"""Reconciliation sessions: open, close and reopen, with their totals and balances.

A session is a period ``[start, end)`` (on record ``ts``) of one or more source pairs, with
an as-of time (the data cut-off: records first seen later are *late arrivals*), an owner
(the OS user) and a state (``open`` or ``closed``):

- **open** snapshots what is in scope (ids, sides and content hashes) and its counts and
  totals per pair, asset and side, and lists the source changes seen after the close of an
  earlier session of its pairs (post-close differences it inherits);
- **close** requires every in-scope record to be matched or explained in its pair;
  otherwise it raises :class:`CloseRefused` listing what is unresolved. It snapshots the
  scope again and records the closing balances and differences per pair and asset;
- a **closed** session is read-only (:mod:`recon_tui.services.session_lock`), and the
  engine never reopens a group inside it: a source change there is kept as a post-close
  difference (:func:`recon_tui.store.sessions.record_post_close`);
- **reopen** needs a reason and is itself a decision.

The jobs beside it: :mod:`~recon_tui.services.session_lock` (the read-only lock),
:mod:`~recon_tui.services.history` (decisions of a record, group or session) and
:mod:`~recon_tui.services.verify` (the whole-store audit check). Their names are
re-exported here for older callers.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from recon_tui.errors import SessionError
from recon_tui.model import canonical_amount
from recon_tui.services.history import DECISION_COLS, _decision, decisions_for
from recon_tui.services.session_lock import guard
from recon_tui.services.verify import (
    AuditReport,
    group_state_problems,
    session_state_problems,
    startup_check,
    verify_all,
)
from recon_tui.store import Store, groups, now_us
from recon_tui.store.audit import append, current_actor, head
from recon_tui.store.db import Connection
from recon_tui.store.errors import StoreError
from recon_tui.store.pairs import get_pair
from recon_tui.store.sessions import (
    PairScope,
    Scope,
    ScopedRecord,
    Session,
    accepted_differences,
    get_session,
    insert_session,
    iso,
    iso_day,
    list_sessions,
    locked_records,
    parse_when,
    post_close_changes,
    scope_records,
    set_session_state,
    snapshot,
    snapshot_hashes,
    unresolved,
)

__all__ = [
    "DECISION_COLS",
    "AuditReport",
    "CloseRefused",
    "PairScope",
    "Scope",
    "ScopedRecord",
    "Session",
    "SessionError",
    "_decision",
    "accepted",
    "accepted_differences",
    "balances",
    "close_session",
    "decisions_for",
    "get_session",
    "group_state_problems",
    "guard",
    "iso",
    "iso_day",
    "list_sessions",
    "locked_records",
    "open_session",
    "parse_when",
    "reopen_session",
    "scope_records",
    "session_state_problems",
    "startup_check",
    "totals",
    "unresolved",
    "verify_all",
]  # fmt: skip

STATES = ("open", "closed")
SESSION_ACTIONS = ("session_open", "session_close", "session_reopen")
CHUNK = groups.CHUNK


class CloseRefused(SessionError):
    """Closing failed because in-scope records are neither matched nor explained."""

    def __init__(self, session_id: int, unresolved: list[ScopedRecord]) -> None:
        self.session_id = session_id
        self.unresolved = unresolved
        super().__init__(
            f"session {session_id} cannot close: {len(unresolved):,} unresolved item(s) "
            f"in scope (match or explain them first)"
        )


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    """Slices of ``ids`` small enough for one ``IN (…)`` (kept for the export's use)."""
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def _digest(records: Iterable[ScopedRecord]) -> str:
    lines = sorted(f"{r.pair}|{r.id}|{r.side}|{r.content_hash}" for r in records)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def totals(records: Iterable[ScopedRecord]) -> list[dict[str, Any]]:
    """Counts and sums per pair, asset and side (amounts as exact decimal strings)."""
    acc: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        t = acc.setdefault((r.pair, r.asset), {"L": [0, Decimal(0)], "R": [0, Decimal(0)]})
        t[r.side][0] += 1
        t[r.side][1] += r.amount
    return [
        {"pair": pair, "asset": asset, "left_count": t["L"][0],
         "left_total": canonical_amount(t["L"][1]), "right_count": t["R"][0],
         "right_total": canonical_amount(t["R"][1]),
         "difference": canonical_amount(t["L"][1] - t["R"][1])}
        for (pair, asset), t in sorted(acc.items())
    ]  # fmt: skip


# --- balances --------------------------------------------------------------------------


def balances(conn: Connection, session: Session, records: list[ScopedRecord] | None = None,
             ) -> dict[str, Any]:  # fmt: skip
    """Closing balances per pair and asset, and per asset over all pairs.

    ``difference`` is left total minus right total of the in-scope records. It is accounted
    for by ``adjustments`` (recorded on match groups: fees, fx, write-offs…), ``explained``
    (net of explained one-sided breaks), and ``outside_period`` (members of in-scope groups
    whose ``ts`` lies outside the period, left minus right, e.g. a bank booking the next
    month): ``unadjusted = difference - adjustments + outside_period - explained`` is what
    nothing accounts for (unresolved items, or engine tolerances without an adjustment).
    """
    records = scope_records(conn, session.scope) if records is None else records
    in_scope = {(r.pair, r.id) for r in records}
    zero = Decimal(0)
    acc: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in records:
        a, c = acc[(r.pair, r.asset)], counts[(r.pair, r.asset)]
        a["left_total" if r.side == "L" else "right_total"] += r.amount
        c["left_count" if r.side == "L" else "right_count"] += 1
        if r.state != "matched":
            c["unresolved"] += 1
    pairs = {p.name: p for p in session.scope.pairs}
    gids = groups.groups_touching(conn, None, [r.id for r in records], ("confirmed",))
    found = groups.get_groups(conn, gids)
    amounts = groups.member_amounts(conn, gids)
    for gid in gids:
        g = found[gid]
        if g.pair not in pairs:
            continue
        for side, rid, asset, amount in amounts.get(gid, []):
            signed = Decimal(amount) if side == "L" else -Decimal(amount)
            if (g.pair, rid) in in_scope:
                if g.kind == "explained":
                    acc[(g.pair, asset)]["explained"] += signed
                    counts[(g.pair, asset)]["explained_count"] += 1
            elif g.kind == "match":
                acc[(g.pair, asset)]["outside_period"] += signed
        for item in g.adjustments or []:
            if isinstance(item, dict) and "asset" in item and "amount" in item:
                acc[(g.pair, item["asset"])]["adjustments"] += Decimal(str(item["amount"]))
    rows_out: list[dict[str, Any]] = []
    by_asset: dict[str, dict[str, Any]] = {}
    for (pair, asset), a in sorted(acc.items()):
        c = counts[(pair, asset)]
        diff = a["left_total"] - a["right_total"]
        unadjusted = diff - a["adjustments"] + a["outside_period"] - a["explained"]
        row = {
            "pair": pair, "asset": asset, "left_count": c["left_count"],
            "left_total": a["left_total"], "right_count": c["right_count"],
            "right_total": a["right_total"], "difference": diff,
            "adjustments": a["adjustments"], "explained": a["explained"],
            "explained_count": c["explained_count"], "outside_period": a["outside_period"],
            "unadjusted": unadjusted, "unresolved_count": c["unresolved"],
        }  # fmt: skip
        rows_out.append(row)
        b = by_asset.setdefault(asset, {"asset": asset})
        for k, v in row.items():
            if k in ("pair", "asset"):
                continue
            b[k] = b.get(k, 0 if isinstance(v, int) else zero) + v
    return {"by_pair": [_money(r) for r in rows_out],
            "by_asset": [_money(b) for _, b in sorted(by_asset.items())]}  # fmt: skip


def _money(row: dict[str, Any]) -> dict[str, Any]:
    return {k: canonical_amount(v) if isinstance(v, Decimal) else v for k, v in row.items()}

def accepted(conn: Connection, session: Session) -> dict[str, Any]:
    """The differences the session's matches accepted (fees, FX, rounding, write-offs),
    per asset and reason (:func:`recon_tui.store.sessions.accepted_differences`): as frozen
    at the close for a closed session, as they stand now for an open one."""
    close = session.summary.get("close") if session.closed else None
    if close and "accepted_differences" in close:
        return dict(close["accepted_differences"])
    return accepted_differences(conn, session.scope)


# --- open / close / reopen -------------------------------------------------------------


def open_session(
    store: Store,
    pairs: Sequence[str],
    start: str | date | datetime,
    end: str | date | datetime,
    *,
    name: str | None = None,
    as_of: str | date | datetime | None = None,
    actor: str | None = None,
) -> Session:
    """Open a session over ``pairs`` for ``[start, end)``; refuses overlapping sessions."""
    if not pairs:
        raise SessionError("name at least one source pair")
    start_us, end_us = parse_when(start), parse_when(end)
    if end_us <= start_us:
        raise SessionError("the period's end must be after its start")
    as_of_us = parse_when(as_of) if as_of is not None else now_us()
    scoped: list[PairScope] = []
    for pname in dict.fromkeys(pairs):
        p = get_pair(store, pname)
        if p is None:
            raise SessionError(f"no source pair '{pname}' (see 'recon-tui pair list')")
        scoped.append(PairScope(p.name, p.left, p.right))
    scope = Scope(tuple(scoped), start_us, end_us, as_of_us)
    actor = actor or current_actor()
    name = (name or f"{'+'.join(scope.pair_names)} {iso_day(start_us)}..{iso_day(end_us)}").strip()
    with store.tx() as conn:
        for other in list_sessions(conn):
            common = set(other.scope.pair_names) & set(scope.pair_names)
            if common and start_us < other.scope.end_us and other.scope.start_us < end_us:
                raise SessionError(
                    f"overlaps session {other.id} '{other.name}' ({other.scope.label()}, "
                    f"{other.state})"
                )
        records = scope_records(conn, scope)
        summary: dict[str, Any] = {"open": {"records": len(records), "digest": _digest(records),
                                            "totals": totals(records)}}  # fmt: skip
        inherited = post_close_changes(conn, scope.pair_names)
        if inherited:
            # Source changes to records of closed sessions of these pairs: this session's
            # to look at (the closed ones stay as they were).
            summary["open"]["post_close_changes"] = inherited
        sid = insert_session(conn, name, scope, actor, summary)
        snapshot(conn, sid, "open", records)
        append(conn, "session_open", actor=actor, session_id=sid,
               pair=",".join(scope.pair_names), record_ids=None,
               after={"state": "open", "name": name, "scope": scope.to_json(),
                      **summary["open"]})  # fmt: skip
        return get_session(conn, sid)


def close_session(store: Store, session_id: int | str, *, actor: str | None = None,
                  note: str | None = None) -> Session:  # fmt: skip
    """Close a session whose every in-scope record is matched or explained.

    Raises :class:`CloseRefused` (with ``.unresolved``) otherwise. Records the closing
    balances, a snapshot of the scope, and what changed since opening.
    """
    actor = actor or current_actor()
    with store.tx() as conn:
        s = get_session(conn, session_id)
        if s.state != "open":
            raise SessionError(f"session {s.id} is already {s.state}")
        records = scope_records(conn, s.scope)
        open_items = [r for r in records if r.state != "matched"]
        if open_items:
            raise CloseRefused(s.id, open_items)
        opened = snapshot_hashes(conn, s.id, "open")
        now_ids = {r.id: r.content_hash for r in records}
        changes = {
            "new_since_open": sorted(set(now_ids) - set(opened)),
            "gone_since_open": sorted(set(opened) - set(now_ids)),
            "changed_since_open": sorted(
                i for i, h in now_ids.items() if i in opened and opened[i] != h
            ),
            "late_arrivals": sorted(r.id for r in records if r.first_seen_us > s.scope.as_of_us),
        }  # fmt: skip
        h_seq, h_hash = head(conn)
        close: dict[str, Any] = {
            "records": len(records), "digest": _digest(records), "totals": totals(records),
            "balances": balances(conn, s, records), "changes": changes,
            "accepted_differences": accepted_differences(conn, s.scope),
            "audit_head": {"seq": h_seq, "hash": h_hash}, "note": note,
        }  # fmt: skip
        summary = {**s.summary, "close": close}
        set_session_state(conn, s.id, "closed", summary)
        snapshot(conn, s.id, "close", records)
        append(conn, "session_close", actor=actor, session_id=s.id,
               pair=",".join(s.scope.pair_names), before={"state": "open"},
               after={"state": "closed", "records": len(records), "digest": close["digest"],
                      "balances": close["balances"]["by_asset"],
                      "changes": {k: len(v) for k, v in changes.items()}},
               note=note)  # fmt: skip
        return get_session(conn, s.id)


def reopen_session(store: Store, session_id: int | str, reason: str, *,
                   actor: str | None = None) -> Session:  # fmt: skip
    """Reopen a closed session (a recorded decision that needs a reason)."""
    if not reason or not reason.strip():
        raise SessionError("reopening a closed session needs a reason")
    actor = actor or current_actor()
    with store.tx() as conn:
        s = get_session(conn, session_id)
        if s.state != "closed":
            raise SessionError(f"session {s.id} is {s.state}, not closed")
        summary = {**s.summary, "reopened": int(s.summary.get("reopened", 0)) + 1}
        set_session_state(conn, s.id, "open", summary)
        append(conn, "session_reopen", actor=actor, session_id=s.id,
               pair=",".join(s.scope.pair_names), before={"state": "closed"},
               after={"state": "open"}, reason=reason.strip())  # fmt: skip
        return get_session(conn, s.id)




class SessionService:
    """Sessions as the app reads and changes them (bound to one store)."""

    def __init__(self, store: Store, reader: Callable[[], Connection] | None = None) -> None:
        self.store = store
        self._reader = reader or store.connection
        """Where reads go: the app passes its panes' ``conn`` (a reader of the UI thread's
        own there, the worker's connection in a worker)."""

    def _conn(self) -> Connection:
        return self._reader()

    def all(self) -> list[Session]:
        return list_sessions(self._conn())

    def get(self, session_id: int | str) -> Session:
        return get_session(self._conn(), session_id)

    def unresolved(self, session: Session) -> list[ScopedRecord]:
        return unresolved(self._conn(), session)

    def accepted_differences(self, session: Session) -> dict[str, Any]:
        return accepted(self._conn(), session)

    def pair_names(self) -> list[str]:
        from recon_tui.store.pairs import list_pairs

        return [p.name for p in list_pairs(self.store)]

    def open(self, pairs: Sequence[str], start: str | date | datetime, end: str | date | datetime,
             *, name: str | None = None, as_of: str | date | datetime | None = None,
             say: Callable[[str], None] | None = None) -> Session:  # fmt: skip
        with self._run("session open", say):
            return open_session(self.store, pairs, start, end, name=name, as_of=as_of)

    def close(self, session_id: int | str, note: str | None = None,
              say: Callable[[str], None] | None = None) -> Session:  # fmt: skip
        with self._run("session close", say):
            return close_session(self.store, session_id, note=note)

    def reopen(self, session_id: int | str, reason: str,
               say: Callable[[str], None] | None = None) -> Session:  # fmt: skip
        with self._run("session reopen", say):
            return reopen_session(self.store, session_id, reason)

    @contextlib.contextmanager
    def _run(self, kind: str, say: Callable[[str], None] | None) -> Iterator[None]:
        """A session change is a writing run, from the app as from the CLI: it takes the
        store's run lock (``say`` hears "waiting for match (pid …)…" while another run
        holds it), and a store that stays busy, or fills its disk, is one
        :class:`SessionError` line for the screen to show."""
        try:
            with self.store.run_lock(kind, say=say):
                yield
        except StoreError as exc:
            raise SessionError(str(exc)) from None
