"""Reconciliation sessions in the store: what a session covers (its pairs with their sides
frozen at opening, its period and as-of time), the session rows, the scope snapshots, the
records a closed session locks, and source changes seen after a close.

The one owner of ``sessions``, ``session_records`` and ``post_close_changes``; the
lifecycle rules (what may close, balances) are :mod:`recon_tui.services.sessions`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from recon_tui.errors import SessionError
from recon_tui.model import Side, canonical_amount
from recon_tui.store.db import Connection, now_us
from recon_tui.store.groups import chunks, marks
from recon_tui.store.records import ts_to_us, us_to_ts

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
    """The live (not removed) records of each pair side with ``ts`` in the period, with
    their state in that pair (``open`` when the pair has no state for them)."""
    out: list[ScopedRecord] = []
    for p in scope.pairs:
        for code, side in (("L", p.left), ("R", p.right)):
            where = "r.source = ? AND r.removed = 0 AND r.ts_us >= ? AND r.ts_us < ?"
            params: list[Any] = [p.name, side.source, scope.start_us, scope.end_us]
            if side.account is not None:
                where += " AND r.account = ?"
                params.append(side.account)
            for row in conn.execute(
                "SELECT r.id, r.source, r.account, r.external_id, r.kind, r.ts_us, r.asset, "
                "r.amount, coalesce(s.state, 'open'), s.group_id, r.content_hash, "
                "r.first_seen_us FROM records r LEFT JOIN pair_states s ON s.pair = ? "
                f"AND s.record_id = r.id WHERE {where} ORDER BY r.ts_us, r.id", params,
            ):  # fmt: skip
                out.append(ScopedRecord(
                    id=row[0], pair=p.name, side=code, source=row[1], account=row[2],
                    external_id=row[3], kind=row[4], ts_us=row[5], asset=row[6],
                    amount=Decimal(row[7]), state=row[8], group_id=row[9], content_hash=row[10],
                    first_seen_us=row[11],
                ))  # fmt: skip
    return out


def unresolved(conn: Connection, session: Session) -> list[ScopedRecord]:
    """In-scope records neither matched nor explained (not ``matched`` in their pair)."""
    return [r for r in scope_records(conn, session.scope) if r.state != "matched"]


def snapshot(conn: Connection, session_id: int, phase: str, records: list[ScopedRecord]) -> None:
    conn.execute(
        "DELETE FROM session_records WHERE session_id = ? AND phase = ?", (session_id, phase)
    )
    conn.executemany(
        "INSERT OR IGNORE INTO session_records (session_id, phase, pair, record_id, side, "
        "content_hash) VALUES (?, ?, ?, ?, ?, ?)",
        [(session_id, phase, r.pair, r.id, r.side, r.content_hash) for r in records],
    )


def snapshot_hashes(conn: Connection, session_id: int, phase: str) -> dict[int, str]:
    return dict(conn.execute(
        "SELECT record_id, content_hash FROM session_records WHERE session_id = ? AND phase = ?",
        (session_id, phase),
    ).fetchall())  # fmt: skip


def snapshot_ids(conn: Connection, session_id: int) -> set[int]:
    return {r for (r,) in conn.execute(
        "SELECT record_id FROM session_records WHERE session_id = ?", (session_id,))}  # fmt: skip


def insert_session(conn: Connection, name: str, scope: Scope, owner: str,
                   summary: dict[str, Any]) -> int:  # fmt: skip
    cur = conn.execute(
        "INSERT INTO sessions (name, scope, owner, state, as_of_us, opened_us, summary) "
        "VALUES (?, ?, ?, 'open', ?, ?, ?)",
        (name, json.dumps(scope.to_json()), owner, scope.as_of_us, now_us(), json.dumps(summary)),
    )
    return int(cur.lastrowid or 0)


def set_session_state(conn: Connection, session_id: int, state: str,
                      summary: dict[str, Any]) -> None:  # fmt: skip
    conn.execute(
        "UPDATE sessions SET state = ?, closed_us = ?, summary = ? WHERE id = ?",
        (state, now_us() if state == "closed" else None, json.dumps(summary), session_id),
    )


def session_states(conn: Connection) -> dict[int, str]:
    return dict(conn.execute("SELECT id, state FROM sessions ORDER BY id").fetchall())


def closed_sessions_of_pair(conn: Connection, pair: str) -> list[Session]:
    return [s for s in list_sessions(conn) if s.closed and pair in s.scope.pair_names]


# --- accepted differences --------------------------------------------------------------


def accepted_differences(conn: Connection, scope: Scope) -> dict[str, Any]:
    """The differences a session's matches accepted: its pairs' confirmed match groups with
    a member in scope whose recorded adjustments are non-zero (a fee, FX, rounding or a
    write-off, by the engine within tolerance or by an operator with a reason).

    ``{"groups": n, "by_asset": [{"asset", "groups", "amount", "by_reason": [{"reason",
    "groups", "amount"}]}]}``: amounts are exact decimal text (the sum of the adjustments as
    recorded); a group counts once per asset, and once under each reason it carries.
    """
    if not scope.pairs:
        return {"groups": 0, "by_asset": []}
    # Driven from the in-scope records (a side's records in the period, by index) to their
    # live confirmed group of that pair: a month of a big store reads its month only.
    legs: list[str] = []
    params: list[Any] = []
    for p in scope.pairs:
        for side in (p.left, p.right):
            legs.append(
                "SELECT m.group_id FROM records r JOIN group_members m ON m.record_id = r.id "
                "AND m.pair = ? AND m.confirmed = 1 WHERE r.source = ? "
                + ("AND r.account = ? " if side.account is not None else "")
                + "AND r.ts_us >= ? AND r.ts_us < ? AND r.removed = 0"
            )
            params += [p.name, side.source, *([side.account] if side.account is not None
                                               else []), scope.start_us, scope.end_us]  # fmt: skip
    rows = conn.execute(
        "SELECT g.id, g.adjustments FROM match_groups g WHERE g.id IN "
        f"({' UNION '.join(legs)}) AND g.state = 'confirmed' AND g.kind != 'explained' "
        "AND g.adjustments IS NOT NULL ORDER BY g.id", params,
    ).fetchall()  # fmt: skip
    return accepted_from_rows(rows)


def accepted_from_rows(rows: Iterable[tuple[int, str]]) -> dict[str, Any]:
    """:func:`accepted_differences` from its groups' (id, adjustments JSON) rows, by id
    (the export finds them among the groups it staged already)."""
    per_asset: dict[str, dict[str, Any]] = {}
    counted: set[int] = set()
    for gid, text in rows:
        try:
            items = json.loads(text) or []
        except ValueError:
            continue
        seen: set[tuple[str, str | None]] = set()
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or "asset" not in item or "amount" not in item:
                continue
            amount = Decimal(str(item["amount"]))
            if amount == 0:
                continue
            asset, reason = str(item["asset"]), str(item.get("kind") or "unspecified")
            a = per_asset.setdefault(asset, {"groups": 0, "amount": Decimal(0), "by_reason": {}})
            r = a["by_reason"].setdefault(reason, {"groups": 0, "amount": Decimal(0)})
            if (asset, None) not in seen:
                a["groups"] += 1
                seen.add((asset, None))
            if (asset, reason) not in seen:
                r["groups"] += 1
                seen.add((asset, reason))
            a["amount"] += amount
            r["amount"] += amount
            counted.add(gid)
    return {
        "groups": len(counted),
        "by_asset": [
            {"asset": asset, "groups": a["groups"], "amount": canonical_amount(a["amount"]),
             "by_reason": [{"reason": reason, "groups": r["groups"],
                            "amount": canonical_amount(r["amount"])}
                           for reason, r in sorted(a["by_reason"].items())]}
            for asset, a in sorted(per_asset.items())
        ],
    }  # fmt: skip


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
    for part in chunks(ids):
        for rid, sid in conn.execute(
            f"SELECT sr.record_id, sr.session_id FROM session_records sr JOIN sessions s "
            f"ON s.id = sr.session_id WHERE s.state = 'closed' AND sr.record_id IN "
            f"({marks(len(part))})", part,
        ):  # fmt: skip
            out.setdefault(rid, sid)
        for rid, source, account, ts_us in conn.execute(
            f"SELECT id, source, account, ts_us FROM records WHERE id IN ({marks(len(part))})", part
        ):
            for sid, scope in scopes:
                if scope.contains(source, account, ts_us):
                    out.setdefault(rid, sid)
                    break
    return out


def any_closed(conn: Connection) -> bool:
    return conn.execute("SELECT 1 FROM sessions WHERE state = 'closed' LIMIT 1").fetchone() is not None


def session_name(conn: Connection, session_id: int) -> tuple[str, str] | None:
    row = conn.execute("SELECT name, state FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return (row[0], row[1]) if row else None


# --- source changes after a close ------------------------------------------------------


def record_post_close(conn: Connection, session_id: int, pair: str, record_id: int,
                      group_id: int | None) -> None:  # fmt: skip
    """A source changed a record that a closed session holds: kept (with the hash the
    session closed on and the new one) for the next session; the closed session itself
    does not change."""
    old = snapshot_hashes(conn, session_id, "close").get(record_id)
    conn.execute(
        "INSERT OR IGNORE INTO post_close_changes (session_id, pair, record_id, group_id, "
        "old_hash, new_hash, detected_us) SELECT ?, ?, id, ?, ?, content_hash, ? FROM records "
        "WHERE id = ?",
        (session_id, pair, group_id, old, now_us(), record_id),
    )


def post_close_changes(conn: Connection, pairs: Sequence[str] | None = None) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, session_id, pair, record_id, group_id, old_hash, new_hash, detected_us "
        "FROM post_close_changes ORDER BY id"
    ).fetchall()
    keys = ("id", "session_id", "pair", "record_id", "group_id", "old_hash", "new_hash",
            "detected_us")  # fmt: skip
    return [dict(zip(keys, r, strict=True)) for r in rows if pairs is None or r[2] in pairs]
