"""Reconciliation sessions, the read-only lock of closed ones, and the whole-store audit check.

A session is a period ``[start, end)`` (on record ``ts``) of one or more source pairs, with
an as-of time (the data cut-off: records first seen later are *late arrivals*), an owner
(the OS user) and a state (``open`` or ``closed``):

- **open** snapshots what is in scope (``session_records`` phase ``open``: ids, sides and
  content hashes) and its counts and totals per pair, asset and side;
- **close** requires every in-scope record to be matched or explained (a break is explained
  with :meth:`Decisions.explain`: a reason code and a note); otherwise it raises
  :class:`CloseRefused` listing what is unresolved. It snapshots the scope again (phase
  ``close``) and records the closing balances and differences per pair and asset;
- a **closed** session is read-only: :func:`guard` (called by every mutating method of
  :class:`~recon_tui.services.decisions.Decisions`) refuses decisions touching its records;
- **reopen** needs a reason and is itself a decision.

Open, close and reopen are entries of the hash-chained decisions log. :func:`verify_all`
adds to the chain walk a cheap check that match-group states agree with the log, and
:func:`startup_check` turns both into the one warning line the app shows on start.

This module does not import :mod:`~recon_tui.services.decisions` at load time, because
``decisions`` imports it for the guard; the few uses are imported where needed.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from recon_tui.model import Side, canonical_amount
from recon_tui.store import Store, now_us
from recon_tui.store.audit import append, current_actor, head
from recon_tui.store.audit import verify as verify_chain
from recon_tui.store.db import Connection
from recon_tui.store.records import side_clause, ts_to_us, us_to_ts
from recon_tui.store.sources import get_pair

STATES = ("open", "closed")
SESSION_ACTIONS = ("session_open", "session_close", "session_reopen")
CHUNK = 5000


class SessionError(ValueError):
    """A session operation that cannot be done as asked; the message is one line."""


class CloseRefused(SessionError):
    """Closing failed because in-scope records are neither matched nor explained."""

    def __init__(self, session_id: int, unresolved: list[ScopedRecord]) -> None:
        self.session_id = session_id
        self.unresolved = unresolved
        super().__init__(
            f"session {session_id} cannot close: {len(unresolved):,} unresolved item(s) "
            f"in scope (match or explain them first)"
        )


# --- scope -----------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class PairScope:
    """One pair of a session, with its sides frozen at opening (later pair edits do not
    change what a session covered)."""

    name: str
    left: Side
    right: Side

    def side_of(self, source: str, account: str | None) -> str | None:
        for code, side in (("L", self.left), ("R", self.right)):
            if side.source == source and (side.account is None or side.account == account):
                return code
        return None


@dataclass(slots=True, frozen=True)
class Scope:
    pairs: tuple[PairScope, ...]
    start_us: int
    end_us: int
    as_of_us: int

    def to_json(self) -> dict[str, Any]:
        return {
            "pairs": [
                {"name": p.name, "left": {"source": p.left.source, "account": p.left.account},
                 "right": {"source": p.right.source, "account": p.right.account}}
                for p in self.pairs
            ],
            "start_us": self.start_us, "end_us": self.end_us, "as_of_us": self.as_of_us,
            "start": iso(self.start_us), "end": iso(self.end_us), "as_of": iso(self.as_of_us),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scope:
        pairs = tuple(
            PairScope(p["name"], Side(p["left"]["source"], p["left"]["account"]),
                      Side(p["right"]["source"], p["right"]["account"]))
            for p in data["pairs"]
        )  # fmt: skip
        return cls(pairs, int(data["start_us"]), int(data["end_us"]), int(data["as_of_us"]))

    @property
    def pair_names(self) -> list[str]:
        return [p.name for p in self.pairs]

    def contains(self, source: str, account: str | None, ts_us: int) -> bool:
        if not self.start_us <= ts_us < self.end_us:
            return False
        return any(p.side_of(source, account) for p in self.pairs)

    def label(self) -> str:
        return f"{', '.join(self.pair_names)}  {iso_day(self.start_us)} → {iso_day(self.end_us)}"


@dataclass(slots=True)
class Session:
    id: int
    name: str
    owner: str
    state: str
    scope: Scope
    opened_us: int
    closed_us: int | None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        return self.state == "closed"


@dataclass(slots=True)
class ScopedRecord:
    """An in-scope record with the pair and side it is in scope through."""

    id: int
    pair: str
    side: str
    source: str
    account: str | None
    external_id: str
    kind: str
    ts_us: int
    asset: str
    amount: Decimal
    state: str
    group_id: int | None
    content_hash: str
    first_seen_us: int

    def line(self) -> str:
        return (f"#{self.id} {self.pair} {self.side} {self.source}:{self.external_id} "
                f"{iso(self.ts_us)} {canonical_amount(self.amount)} {self.asset} "
                f"({self.state})")  # fmt: skip


# --- time helpers ----------------------------------------------------------------------


def iso(us: int | None) -> str | None:
    """ISO-8601 UTC text of a µs timestamp (``Z`` suffix, µs only when non-zero)."""
    if us is None:
        return None
    ts = us_to_ts(us)
    text = ts.strftime("%Y-%m-%dT%H:%M:%S")
    if ts.microsecond:
        text += f".{ts.microsecond:06d}"
    return text + "Z"


def iso_day(us: int) -> str:
    return us_to_ts(us).strftime("%Y-%m-%d")


def parse_when(value: str | date | datetime) -> int:
    """A period bound: a date (UTC midnight) or an aware ISO-8601 datetime, as µs."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise SessionError(f"naive time {value.isoformat()} (give a timezone, e.g. Z)")
        return ts_to_us(value.astimezone(UTC))
    if isinstance(value, date):
        return ts_to_us(datetime(value.year, value.month, value.day, tzinfo=UTC))
    text = str(value).strip()
    try:
        if len(text) == 10:
            return parse_when(date.fromisoformat(text))
        return parse_when(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise SessionError(f"'{value}' is not a date (YYYY-MM-DD) or ISO-8601 time") from None


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


# --- reading sessions ------------------------------------------------------------------

_COLS = "id, name, owner, state, scope, opened_us, closed_us, summary"


def _session(row: Sequence[Any]) -> Session:
    return Session(
        id=row[0], name=row[1], owner=row[2], state=row[3],
        scope=Scope.from_json(json.loads(row[4])), opened_us=row[5], closed_us=row[6],
        summary=json.loads(row[7]) if row[7] else {},
    )  # fmt: skip


def get_session(conn: Connection, session_id: int | str) -> Session:
    try:
        sid = int(session_id)
    except (TypeError, ValueError):
        raise SessionError(
            f"'{session_id}' is not a session id (see 'recon-tui session list')"
        ) from None
    row = conn.execute(f"SELECT {_COLS} FROM sessions WHERE id = ?", (sid,)).fetchone()
    if row is None:
        raise SessionError(f"no session {sid} (see 'recon-tui session list')")
    return _session(row)


def list_sessions(conn: Connection) -> list[Session]:
    return [_session(r) for r in conn.execute(f"SELECT {_COLS} FROM sessions ORDER BY id")]


def scope_records(conn: Connection, scope: Scope) -> list[ScopedRecord]:
    """The live (not removed) records of each pair side with ``ts`` in the period."""
    out: list[ScopedRecord] = []
    for p in scope.pairs:
        for code, side in (("L", p.left), ("R", p.right)):
            where, side_params = side_clause(side)
            where += " AND ts_us >= ? AND ts_us < ?"
            params = [*side_params, scope.start_us, scope.end_us]
            for row in conn.execute(
                "SELECT id, source, account, external_id, kind, ts_us, asset, amount, state, "
                f"group_id, content_hash, first_seen_us FROM records WHERE {where} "
                "ORDER BY ts_us, id", params,
            ):  # fmt: skip
                out.append(ScopedRecord(
                    id=row[0], pair=p.name, side=code, source=row[1], account=row[2],
                    external_id=row[3], kind=row[4], ts_us=row[5], asset=row[6],
                    amount=Decimal(row[7]), state=row[8], group_id=row[9], content_hash=row[10],
                    first_seen_us=row[11],
                ))  # fmt: skip
    return out


def unresolved(conn: Connection, session: Session) -> list[ScopedRecord]:
    """In-scope records neither matched nor explained (``records.state`` is not matched)."""
    return [r for r in scope_records(conn, session.scope) if r.state != "matched"]


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


def _snapshot(conn: Connection, session_id: int, phase: str, records: list[ScopedRecord]) -> None:
    conn.execute(
        "DELETE FROM session_records WHERE session_id = ? AND phase = ?", (session_id, phase)
    )
    conn.executemany(
        "INSERT OR IGNORE INTO session_records (session_id, phase, pair, record_id, side, "
        "content_hash) VALUES (?, ?, ?, ?, ?, ?)",
        [(session_id, phase, r.pair, r.id, r.side, r.content_hash) for r in records],
    )


# --- balances --------------------------------------------------------------------------


def _groups_touching(conn: Connection, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Confirmed groups with a member among ``ids``: id -> (kind, adjustments JSON)."""
    out: dict[int, tuple[str, str]] = {}
    ordered = sorted(set(ids))
    for part in _chunks(ordered):
        marks = ", ".join("?" * len(part))
        for gid, kind, adj in conn.execute(
            f"SELECT DISTINCT g.id, g.kind, g.adjustments FROM group_members m JOIN match_groups g "
            f"ON g.id = m.group_id WHERE m.record_id IN ({marks}) AND g.state = 'confirmed'", part,
        ):  # fmt: skip
            out[gid] = (kind, adj)
    return out


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
    groups = _groups_touching(conn, [r.id for r in records])
    gids = sorted(groups)
    for part in _chunks(gids):
        marks = ", ".join("?" * len(part))
        rows = conn.execute(
            f"SELECT g.id, g.pair, m.side, r.id, r.asset, r.amount FROM match_groups g "
            f"JOIN group_members m ON m.group_id = g.id JOIN records r ON r.id = m.record_id "
            f"WHERE g.id IN ({marks})", part,
        ).fetchall()  # fmt: skip
        for gid, pair, side, rid, asset, amount in rows:
            if pair not in pairs:
                continue
            signed = Decimal(amount) if side == "L" else -Decimal(amount)
            kind = groups[gid][0]
            if (pair, rid) in in_scope:
                if kind == "explained":
                    acc[(pair, asset)]["explained"] += signed
                    counts[(pair, asset)]["explained_count"] += 1
            elif kind == "match":
                acc[(pair, asset)]["outside_period"] += signed
        for gid in part:
            kind, adj = groups[gid]
            pair = next((p for g, p, *_ in rows if g == gid), None)
            if pair is None or pair not in pairs or not adj:
                continue
            for item in json.loads(adj) or []:
                if isinstance(item, dict) and "asset" in item and "amount" in item:
                    acc[(pair, item["asset"])]["adjustments"] += Decimal(str(item["amount"]))
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
        opened = now_us()
        summary = {"open": {"records": len(records), "digest": _digest(records),
                            "totals": totals(records)}}  # fmt: skip
        cur = conn.execute(
            "INSERT INTO sessions (name, scope, owner, state, as_of_us, opened_us, summary) "
            "VALUES (?, ?, ?, 'open', ?, ?, ?)",
            (name, json.dumps(scope.to_json()), actor, as_of_us, opened, json.dumps(summary)),
        )
        sid = int(cur.lastrowid or 0)
        _snapshot(conn, sid, "open", records)
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
        opened = dict(conn.execute(
            "SELECT record_id, content_hash FROM session_records WHERE session_id = ? "
            "AND phase = 'open'", (s.id,),
        ).fetchall())  # fmt: skip
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
        close = {
            "records": len(records), "digest": _digest(records), "totals": totals(records),
            "balances": balances(conn, s, records), "changes": changes,
            "audit_head": {"seq": h_seq, "hash": h_hash}, "note": note,
        }  # fmt: skip
        summary = {**s.summary, "close": close}
        closed_us = now_us()
        conn.execute(
            "UPDATE sessions SET state = 'closed', closed_us = ?, summary = ? WHERE id = ?",
            (closed_us, json.dumps(summary), s.id),
        )
        _snapshot(conn, s.id, "close", records)
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
        conn.execute("UPDATE sessions SET state = 'open', closed_us = NULL, summary = ? "
                     "WHERE id = ?", (json.dumps(summary), s.id))  # fmt: skip
        append(conn, "session_reopen", actor=actor, session_id=s.id,
               pair=",".join(s.scope.pair_names), before={"state": "closed"},
               after={"state": "open"}, reason=reason.strip())  # fmt: skip
        return get_session(conn, s.id)


# --- the read-only lock of closed sessions ---------------------------------------------


def locked_records(conn: Connection, record_ids: Iterable[int]) -> dict[int, int]:
    """Which of ``record_ids`` lie in a closed session: record id -> session id.

    A record is locked if a closed session's snapshot holds it or if it falls in a closed
    session's scope now (a late arrival in a closed period is locked too: reopen first).
    """
    ids = sorted({int(i) for i in record_ids})
    if not ids:
        return {}
    closed = conn.execute("SELECT id, scope FROM sessions WHERE state = 'closed'").fetchall()
    if not closed:  # the common case: one indexed lookup and done
        return {}
    scopes = [(sid, Scope.from_json(json.loads(text))) for sid, text in closed]
    out: dict[int, int] = {}
    for part in _chunks(ids):
        marks = ", ".join("?" * len(part))
        for rid, sid in conn.execute(
            f"SELECT sr.record_id, sr.session_id FROM session_records sr JOIN sessions s "
            f"ON s.id = sr.session_id WHERE s.state = 'closed' AND sr.record_id IN ({marks})", part,
        ):  # fmt: skip
            out.setdefault(rid, sid)
        for rid, source, account, ts_us in conn.execute(
            f"SELECT id, source, account, ts_us FROM records WHERE id IN ({marks})", part
        ):
            for sid, scope in scopes:
                if scope.contains(source, account, ts_us):
                    out.setdefault(rid, sid)
                    break
    return out


def guard(
    conn: Connection,
    record_ids: Iterable[int] = (),
    group_ids: Iterable[int | None] = (),
    session_id: int | None = None,
) -> None:
    """Refuse a decision touching a closed session (its records, groups, or itself).

    Raises :class:`~recon_tui.services.decisions.DecisionError` so callers that already
    show decision errors show this one too.
    """
    ids = {int(i) for i in record_ids if i is not None}
    gids = [int(g) for g in group_ids if g is not None]
    if not conn.execute("SELECT 1 FROM sessions WHERE state = 'closed' LIMIT 1").fetchone():
        return
    for part in _chunks(gids):
        marks = ", ".join("?" * len(part))
        ids.update(r for (r,) in conn.execute(
            f"SELECT record_id FROM group_members WHERE group_id IN ({marks})", part))  # fmt: skip
    from recon_tui.services.decisions import DecisionError

    if session_id is not None:
        row = conn.execute(
            "SELECT name, state FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        if row and row[1] == "closed":
            raise DecisionError(f"session {session_id} '{row[0]}' is closed and read-only "
                                f"(reopen it to change anything)")  # fmt: skip
    locked = locked_records(conn, ids)
    if locked:
        sid = min(locked.values())
        name = conn.execute("SELECT name FROM sessions WHERE id = ?", (sid,)).fetchone()[0]
        shown = sorted(r for r, s in locked.items() if s == sid)
        more = f" and {len(shown) - 5} more" if len(shown) > 5 else ""
        raise DecisionError(
            f"session {sid} '{name}' is closed: record(s) {', '.join(map(str, shown[:5]))}{more} "
            f"are read-only (reopen the session to change them)"
        )


# --- decisions of a record, group or session -------------------------------------------

DECISION_COLS = (
    "seq", "at_us", "actor", "actor_kind", "action", "pair", "group_id", "record_ids",
    "session_id", "before", "after", "reason", "note", "prev_hash", "hash",
)  # fmt: skip


def _decision(row: Sequence[Any]) -> dict[str, Any]:
    d = dict(zip(DECISION_COLS, row, strict=True))
    for k in ("record_ids", "before", "after"):
        d[k] = json.loads(d[k]) if d[k] else None
    return d


def _all_decisions(conn: Connection) -> Iterator[dict[str, Any]]:
    for row in conn.execute(f"SELECT {', '.join(DECISION_COLS)} FROM decisions ORDER BY seq"):
        yield _decision(row)


def _touches(d: dict[str, Any], records: set[int], groups: set[int], bulk: dict[int, list[int]],
             ) -> bool:  # fmt: skip
    if d["group_id"] is not None and d["group_id"] in groups:
        return True
    if d["record_ids"] and not records.isdisjoint(d["record_ids"]):
        return True
    after, before = d["after"] or {}, d["before"] or {}
    if isinstance(after, dict) and not groups.isdisjoint(after.get("groups") or ()):
        return True
    if d["action"] == "undo" and isinstance(before, dict) and before.get("seq") in bulk:
        return not groups.isdisjoint(bulk[before["seq"]])
    return False


def decisions_for(
    conn: Connection,
    *,
    record_id: int | None = None,
    group_id: int | None = None,
    session_id: int | None = None,
) -> list[dict[str, Any]]:
    """The decisions touching a record (or its groups), a group, or a session's scope.

    A session's decisions are those naming it plus those touching a record in its scope
    (now or in its snapshots) or a group with such a member.
    """
    records: set[int] = set()
    groups: set[int] = set()
    if record_id is not None:
        records.add(record_id)
        groups.update(g for (g,) in conn.execute(
            "SELECT group_id FROM group_members WHERE record_id = ?", (record_id,)))  # fmt: skip
    if group_id is not None:
        groups.add(group_id)
    if session_id is not None:
        s = get_session(conn, session_id)
        records.update(r.id for r in scope_records(conn, s.scope))
        records.update(r for (r,) in conn.execute(
            "SELECT record_id FROM session_records WHERE session_id = ?", (s.id,)))  # fmt: skip
        for part in _chunks(sorted(records)):
            marks = ", ".join("?" * len(part))
            groups.update(g for (g,) in conn.execute(
                f"SELECT DISTINCT group_id FROM group_members WHERE record_id IN ({marks})",
                part))  # fmt: skip
    bulk: dict[int, list[int]] = {}
    out = []
    for d in _all_decisions(conn):
        after = d["after"] if isinstance(d["after"], dict) else {}
        if after.get("groups"):
            bulk[d["seq"]] = list(after["groups"])
        named = session_id is not None and d["session_id"] == session_id
        if named or _touches(d, records, groups, bulk):
            out.append(d)
    return out


# --- the whole-store audit check -------------------------------------------------------


@dataclass(slots=True)
class AuditReport:
    """The chain walk plus the agreement of match-group states with the log."""

    ok: bool
    entries: int
    head: str
    broken_at: int | None = None
    problem: str | None = None
    state_problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.broken_at is not None or self.problem:
            out.append(f"Audit trail BROKEN at decision {self.broken_at}: {self.problem}")
        if self.state_problems:
            shown = self.state_problems[:10]
            out.append(f"{len(self.state_problems):,} match group or session state(s) disagree "
                       f"with the decisions log:")  # fmt: skip
            out.extend(f"  {p}" for p in shown)
            if len(self.state_problems) > len(shown):
                out.append(f"  … and {len(self.state_problems) - len(shown):,} more")
        return out


_CONFIRMING = ("confirm", "auto_confirm", "manual_match", "explain", "bulk_confirm")


def group_state_problems(conn: Connection) -> list[str]:
    """Groups whose state says confirmed/rejected/undone/reopened without the log agreeing.

    The log's outcome of a group is its newest decision: ``after.state`` where given, the
    action otherwise; an undo returns a confirm/reject to ``suggested`` and a manual match
    or explanation to ``undone``. ``reopened`` (a source changed a member) may follow a
    confirmation. Suggested and stale groups are the engine's and carry no decision.
    """
    outcome: dict[int, str] = {}
    bulk: dict[int, list[int]] = {}
    for seq, action, gid, before, after in conn.execute(
        "SELECT seq, action, group_id, before, after FROM decisions WHERE group_id IS NOT NULL "
        "OR action IN ('bulk_confirm', 'undo') ORDER BY seq"
    ):
        a = json.loads(after) if after else {}
        b = json.loads(before) if before else {}
        a = a if isinstance(a, dict) else {}
        b = b if isinstance(b, dict) else {}
        if action == "undo":
            undone = b.get("action")
            targets = bulk.get(int(b.get("seq") or 0), []) if undone == "bulk_confirm" else [gid]
            back = "suggested" if undone in ("confirm", "bulk_confirm", "reject") else "undone"
            for g in targets:
                if g is not None:
                    outcome[g] = back
            continue
        if a.get("groups") and "confirm" in action:
            bulk[seq] = [int(g) for g in a["groups"]]
            for g in bulk[seq]:
                outcome[g] = "confirmed"
            continue
        if gid is None:
            continue
        if isinstance(a.get("state"), str):
            outcome[gid] = a["state"]
        elif action in _CONFIRMING:
            outcome[gid] = "confirmed"
        elif action == "reject":
            outcome[gid] = "rejected"
    problems: list[str] = []
    decided = ("confirmed", "rejected", "undone", "reopened")
    states = dict(conn.execute("SELECT id, state FROM match_groups").fetchall())
    for gid, state in sorted(states.items()):
        logged = outcome.get(gid)
        if state in decided and logged != state:
            says = f"the log says {logged}" if logged else "no decision says so"
            problems.append(f"group {gid} is {state} but {says}")
        elif logged in decided and state != logged and (logged, state) != ("confirmed", "reopened"):
            problems.append(f"group {gid} is {state} but the log says {logged}")
    for gid in sorted(set(outcome) - set(states)):
        problems.append(f"group {gid} is in the decisions log but no longer exists")
    return problems


def session_state_problems(conn: Connection) -> list[str]:
    """Sessions whose state differs from their newest open/close/reopen decision (flipping
    a closed session to open in SQL would otherwise lift its read-only lock unseen)."""
    logged: dict[int, str] = {}
    for sid, action in conn.execute(
        "SELECT session_id, action FROM decisions WHERE action IN "
        "('session_open', 'session_close', 'session_reopen') ORDER BY seq"
    ):
        logged[sid] = "closed" if action == "session_close" else "open"
    problems = []
    for sid, state in conn.execute("SELECT id, state FROM sessions ORDER BY id"):
        if sid not in logged:
            problems.append(f"session {sid} is {state} but no decision opened it")
        elif logged[sid] != state:
            problems.append(f"session {sid} is {state} but the log says {logged[sid]}")
    return problems


def verify_all(conn: Connection) -> AuditReport:
    """Walk the hash chain (and its remembered head), then check group and session states
    against it."""
    r = verify_chain(conn)
    report = AuditReport(r.ok, r.entries, r.head, r.broken_at, r.problem)
    from recon_tui.services import integrity  # the tables rebuilt from the keyed logs

    report.state_problems = (group_state_problems(conn) + session_state_problems(conn)
                             + integrity.state_problems(conn))  # fmt: skip
    report.ok = r.ok and not report.state_problems
    return report


def startup_check(store: Store) -> str | None:
    """One warning line for the app's start when the audit trail is broken, else ``None``.

    Walks the whole chain (SHA-256 per decision: ~1 s per million); call it from a worker.
    """
    report = verify_all(store.connection())
    if report.ok:
        return None
    if report.broken_at is not None:
        return (f"Audit trail BROKEN at decision {report.broken_at}: {report.problem} "
                f"— run 'recon-tui verify'")  # fmt: skip
    first = report.state_problems[0]
    more = len(report.state_problems) - 1
    return (f"Audit warning: {first}{f' (and {more} more)' if more else ''} "
            f"— run 'recon-tui verify'")  # fmt: skip
