"""Read side of the operator's workbench: paged side queries, filters, counts, candidates,
record detail and dashboard aggregates. Screens call this; no SQL lives in a screen.

Paging is keyset paging over the store's ``records_side`` (ts) and ``records_side_amount``
(amount) indexes. A side may span several (account, state) index ranges (a side without an
account covers every account of its source; "unmatched" is both ``open`` and ``suggested``),
so a page is one ``UNION ALL`` of one arm per range with a shared ``ORDER BY``: SQLite merges
the already-ordered arms (``MERGE (UNION ALL)``) instead of sorting, so a page costs the same
~2 ms at a hundred rows or a million. Counts are real ``COUNT`` queries, meant for workers.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from recon_tui.model import Side, SourcePair
from recon_tui.store import Store
from recon_tui.store.db import Connection
from recon_tui.store.records import _SELECT, amount_key, row_to_record, side_clause, ts_to_us
from recon_tui.store.sources import SourceInfo, list_pairs, list_sources

# --- amounts -----------------------------------------------------------------------------

PLACES: dict[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "JPY": 0,
    "BTC": 8, "ETH": 18, "USDT": 6, "USDC": 6, "SOL": 9, "XRP": 6,
}  # fmt: skip
"""Display precision per asset; unknown assets show 8 places (most crypto) trimmed."""

MIN_SHOWN = 6
"""Assets finer than this (ETH, 18) are trimmed of trailing zeros down to this many places."""

MINUS = "\u2212"  # a real minus sign: distinct from a hyphen, and visible without colour


def places_for(asset: str) -> int:
    return PLACES.get(asset, 8)


def fmt_money(amount: Decimal, asset: str, *, signed: bool = True) -> str:
    """An amount at its asset's precision (ETH trimmed sensibly), with a true minus sign."""
    places = places_for(asset)
    q = amount.quantize(Decimal(1).scaleb(-places)) if places <= 18 else amount
    text = f"{abs(q):,.{places}f}"
    if places > 8 and "." in text:
        # 18-place wei amounts are unreadable; drop zeros nobody typed, keep MIN_SHOWN.
        whole, frac = text.split(".")
        frac = frac.rstrip("0").ljust(MIN_SHOWN, "0")
        text = f"{whole}.{frac}"
    if signed and q < 0:
        return MINUS + text
    return text


def dr_cr(amount: Decimal) -> str:
    """DR for money out (negative), CR for money in: readable without colour."""
    return "DR" if amount < 0 else "CR"


def us_to_dt(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


# --- filters and sorting -----------------------------------------------------------------

UNMATCHED = ("open", "suggested")
STATE_CHOICES: dict[str, tuple[str, ...]] = {
    "unmatched": UNMATCHED,
    "open": ("open",),
    "suggested": ("suggested",),
    "matched": ("matched",),
}


@dataclass(frozen=True, slots=True)
class PaneFilter:
    """What a pane shows. ``amount_min``/``amount_max`` bound the magnitude (|amount|)."""

    text: str = ""
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    date_from: date | None = None
    date_to: date | None = None
    asset: str | None = None
    status: str = "unmatched"

    @property
    def states(self) -> tuple[str, ...]:
        return STATE_CHOICES[self.status]

    def is_default(self) -> bool:
        return self == PaneFilter()

    def describe(self) -> str:
        """A short label for a pane title ("" when nothing narrows the pane)."""
        parts = []
        if self.text:
            parts.append(f'"{self.text}"')
        if self.amount_min is not None or self.amount_max is not None:
            lo = "" if self.amount_min is None else str(self.amount_min)
            hi = "" if self.amount_max is None else str(self.amount_max)
            parts.append(f"|amt| {lo}..{hi}")
        if self.date_from or self.date_to:
            parts.append(f"{self.date_from or ''}..{self.date_to or ''}")
        if self.asset:
            parts.append(self.asset)
        if self.status != "unmatched":
            parts.append(self.status)
        return " ".join(parts)

    @classmethod
    def parse(
        cls, *, text: str = "", amount_min: str = "", amount_max: str = "", date_from: str = "",
        date_to: str = "", asset: str = "", status: str = "unmatched",
    ) -> PaneFilter:  # fmt: skip
        """Build a filter from form text; ``ValueError`` names the field that is wrong."""

        def dec(value: str, name: str) -> Decimal | None:
            value = value.strip().replace(",", "")
            if not value:
                return None
            try:
                d = Decimal(value)
            except InvalidOperation:
                raise ValueError(f"{name}: '{value}' is not a number") from None
            if not d.is_finite():
                raise ValueError(f"{name}: '{value}' is not a number")
            return abs(d)

        def day(value: str, name: str) -> date | None:
            value = value.strip()
            if not value:
                return None
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{name}: '{value}' is not a date (YYYY-MM-DD)") from None

        if status not in STATE_CHOICES:
            raise ValueError(f"status: '{status}' is not one of {', '.join(STATE_CHOICES)}")
        lo, hi = dec(amount_min, "min amount"), dec(amount_max, "max amount")
        if lo is not None and hi is not None and lo > hi:
            raise ValueError("min amount is above max amount")
        d0, d1 = day(date_from, "from date"), day(date_to, "to date")
        if d0 and d1 and d0 > d1:
            raise ValueError("from date is after to date")
        return cls(
            text=text.strip(), amount_min=lo, amount_max=hi, date_from=d0, date_to=d1,
            asset=asset.strip().upper() or None, status=status,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SortSpec:
    key: str = "ts"  # "ts" or "amount"
    desc: bool = False

    @property
    def column(self) -> str:
        return "amount_e8" if self.key == "amount" else "ts_us"

    def describe(self) -> str:
        return f"{'date' if self.key == 'ts' else 'amount'} {'↓' if self.desc else '↑'}"


# --- rows --------------------------------------------------------------------------------

ROW_COLUMNS = (
    "id, ts_us, asset, amount, kind, state, status, counterparty, reference, memo, external_id"
)


@dataclass(slots=True)
class Row:
    """One line of a pane: what the list shows, not the whole record."""

    key: int  # the sort value (ts_us or amount_e8)
    id: int
    ts_us: int
    asset: str
    amount: Decimal
    kind: str
    state: str
    status: str
    counterparty: str | None
    reference: str | None
    memo: str | None
    external_id: str

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.key, self.id)

    @property
    def text(self) -> str:
        return " · ".join(x for x in (self.counterparty, self.reference, self.memo) if x)


def _row(r: Sequence[Any]) -> Row:
    return Row(r[0], r[1], r[2], r[3], Decimal(r[4]), r[5], r[6], r[7], r[8], r[9], r[10], r[11])


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class SidePager:
    """Keyset pages of one side's records under a filter and sort order.

    ``after``/``before`` take a row's ``sort_key``; ``at`` takes an offset (O(offset):
    for far jumps, run it in a worker); ``count`` is a real ``COUNT`` (worker too).
    """

    def __init__(
        self, service: WorkbenchService, side: Side, filt: PaneFilter, sort: SortSpec
    ) -> None:
        self.service = service
        self.side = side
        self.filter = filt
        self.sort = sort
        self._arms: list[tuple[str, list[Any]]] | None = None

    # Arms are built lazily: listing a source's accounts is a few index probes.
    def arms(self) -> list[tuple[str, list[Any]]]:
        if self._arms is None:
            accounts: list[str | None]
            if self.side.account is not None:
                accounts = [self.side.account]
            else:
                accounts = self.service.accounts(self.side.source)
            extra, extra_params = self._extra()
            arms = []
            for account in accounts:
                for state in self.filter.states:
                    acc = "account IS NULL" if account is None else "account = ?"
                    params: list[Any] = [self.side.source]
                    if account is not None:
                        params.append(account)
                    params.append(state)
                    where = f"source = ? AND {acc} AND state = ? AND removed = 0{extra}"
                    arms.append((where, params + extra_params))
            self._arms = arms or [("0", [])]
        return self._arms

    def _extra(self) -> tuple[str, list[Any]]:
        f = self.filter
        sql: list[str] = []
        params: list[Any] = []
        if f.text:
            like = _like(f.text)
            sql.append(
                "(counterparty LIKE ? ESCAPE '\\' OR reference LIKE ? ESCAPE '\\' OR memo LIKE ? "
                "ESCAPE '\\' OR external_id LIKE ? ESCAPE '\\' OR txid LIKE ? ESCAPE '\\')"
            )
            params += [like] * 5
        if f.amount_min is not None:
            sql.append("abs(amount_e8) >= ?")
            params.append(amount_key(f.amount_min))
        if f.amount_max is not None:
            sql.append("abs(amount_e8) <= ?")
            params.append(amount_key(f.amount_max))
        if f.date_from is not None:
            sql.append("ts_us >= ?")
            params.append(ts_to_us(datetime(f.date_from.year, f.date_from.month,
                                            f.date_from.day, tzinfo=UTC)))  # fmt: skip
        if f.date_to is not None:
            end = f.date_to + timedelta(days=1)
            sql.append("ts_us < ?")
            params.append(ts_to_us(datetime(end.year, end.month, end.day, tzinfo=UTC)))
        if f.asset:
            sql.append("asset = ?")
            params.append(f.asset)
        return ("".join(" AND " + s for s in sql), params)

    def _query(
        self, keyset: tuple[int, int] | None, forward: bool, limit: int, offset: int = 0
    ) -> list[Row]:
        col = self.sort.column
        asc = forward != self.sort.desc
        op = ">" if asc else "<"
        order = "ASC" if asc else "DESC"
        parts: list[str] = []
        params: list[Any] = []
        for where, p in self.arms():
            cond = where
            if keyset is not None:
                cond += f" AND ({col}, id) {op} (?, ?)"
            parts.append(f"SELECT {col} AS k, {ROW_COLUMNS} FROM records WHERE {cond}")
            params += p
            if keyset is not None:
                params += list(keyset)
        sql = " UNION ALL ".join(parts) + f" ORDER BY 1 {order}, 2 {order} LIMIT ? OFFSET ?"
        rows = [_row(r) for r in self.service.conn().execute(sql, [*params, limit, offset])]
        return rows if forward else rows[::-1]

    def first(self, n: int) -> list[Row]:
        return self._query(None, True, n)

    def last(self, n: int) -> list[Row]:
        return self._query(None, False, n)

    def after(self, key: tuple[int, int], n: int) -> list[Row]:
        return self._query(key, True, n)

    def before(self, key: tuple[int, int], n: int) -> list[Row]:
        return self._query(key, False, n)

    def at(self, offset: int, n: int) -> list[Row]:
        return self._query(None, True, n, offset)

    def count(self) -> int:
        parts, params = [], []
        for where, p in self.arms():
            parts.append(f"SELECT count(*) AS c FROM records WHERE {where}")
            params += p
        sql = f"SELECT sum(c) FROM ({' UNION ALL '.join(parts)})"
        return int(self.service.conn().execute(sql, params).fetchone()[0] or 0)

    def position(self, key: tuple[int, int]) -> int:
        """How many rows sort before ``key`` (O(position): a worker's job at scale)."""
        col = self.sort.column
        op = "<" if not self.sort.desc else ">"
        parts, params = [], []
        for where, p in self.arms():
            parts.append(
                f"SELECT count(*) AS c FROM records WHERE {where} AND ({col}, id) {op} (?, ?)"
            )
            params += [*p, *key]
        sql = f"SELECT sum(c) FROM ({' UNION ALL '.join(parts)})"
        return int(self.service.conn().execute(sql, params).fetchone()[0] or 0)

    def next_suggested(self, key: tuple[int, int] | None) -> Row | None:
        """The next row after ``key`` (wrapping to the start) with a live suggestion."""
        if "suggested" not in self.filter.states:
            return None
        only = SidePager(self.service, self.side,
                         _replace_status(self.filter, "suggested"), self.sort)  # fmt: skip
        rows = only.after(key, 1) if key is not None else only.first(1)
        if not rows and key is not None:
            rows = only.first(1)
        return rows[0] if rows else None

    def ids(self, limit: int = 1_000_000) -> list[int]:
        """Ids of the rows under this filter (for bulk actions; a worker's job)."""
        return [r.id for r in self._query(None, True, limit)]


def _replace_status(f: PaneFilter, status: str) -> PaneFilter:
    return PaneFilter(f.text, f.amount_min, f.amount_max, f.date_from, f.date_to, f.asset, status)


# --- candidates ----------------------------------------------------------------------------


@dataclass(slots=True)
class Candidate:
    """A ranked counterpart proposal for the focused record (a stored suggestion, or an
    on-demand engine candidate when the matching service provides one)."""

    group_id: int | None
    left_ids: tuple[int, ...]
    right_ids: tuple[int, ...]
    score: float
    rule: str
    decision: str
    explanation: dict[str, Any]
    adjustments: list[dict[str, Any]]
    amount_difference: str
    date_lag_days: int | None
    counterparts: list[Row] = field(default_factory=list)
    source: Any = None
    """The matching service's own candidate object (passed back on accept/reject)."""

    def _entries(self) -> list[tuple[str, dict[str, Any]]]:
        # The engine's ``decision`` entry is no field comparison: the shape line says it.
        return [(k, v) for k, v in self.explanation.items()
                if k != "decision" and isinstance(v, dict)]

    @property
    def agreed(self) -> list[str]:
        return [k for k, v in self._entries() if v.get("agree")]

    @property
    def disagreed(self) -> list[str]:
        # ``agree`` None is "missing on a side": no evidence either way, not a clash.
        return [k for k, v in self._entries() if v.get("agree") is False]


def _match_service(store: Store) -> Any:
    # Imported on first use: the engine (numpy, rapidfuzz) is not needed to paint a pane.
    from recon_tui.services.matching import MatchService

    return MatchService(store)


# --- dashboard ---------------------------------------------------------------------------

AGING_BUCKETS = ("0-1d", "2-7d", "8-30d", "30d+")


def aging_bucket(age_days: int) -> int:
    if age_days <= 1:
        return 0
    if age_days <= 7:
        return 1
    if age_days <= 30:
        return 2
    return 3


@dataclass(slots=True)
class SideSummary:
    counts: dict[str, int] = field(
        default_factory=lambda: {s: 0 for s in ("open", "suggested", "matched")}
    )
    amounts: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    """state -> asset -> sum of amounts."""


@dataclass(slots=True)
class PairSummary:
    pair: SourcePair
    left: SideSummary
    right: SideSummary
    aging: list[int]
    """Unmatched items of both sides per :data:`AGING_BUCKETS`."""
    difference: dict[str, Decimal]
    """Per asset: unmatched left total minus unmatched right total."""


@dataclass(slots=True)
class SourceHealth:
    info: SourceInfo
    records: int

    @property
    def health(self) -> str:
        return self.info.health


@dataclass(slots=True)
class Dashboard:
    sources: list[SourceHealth]
    pairs: list[PairSummary]
    now_us: int


def ago(us: int | None, now_us: int) -> str:
    """'never', '12s ago', '5m ago', '3h ago', '2d ago' relative to the given now."""
    if us is None:
        return "never"
    s = max(0, (now_us - us) // 1_000_000)
    if s < 60:
        return f"{s}s ago"
    if s < 3600:
        return f"{s // 60}m ago"
    if s < 86400:
        return f"{s // 3600}h ago"
    return f"{s // 86400}d ago"


# --- the service -------------------------------------------------------------------------


class WorkbenchService:
    """Everything the workbench and dashboard read, over one store.

    UI-thread calls use a reader connection of their own (see ``Store.open_reader``);
    calls from worker threads use that thread's connection.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._reader: Connection | None = None
        self._accounts: dict[str, list[str | None]] = {}
        self._match: Any = None
        # Thread workers cannot be cancelled, so two candidate lookups may overlap: the
        # matching service's warm engines are not thread-safe.
        self._match_lock = threading.Lock()
        self.use_engine = True
        """Ask the matching engine for on-demand candidates (off: stored suggestions only)."""

    def match_service(self) -> Any | None:
        """One matching service per workbench (it keeps each pair's engine warm)."""
        if not self.use_engine:
            return None
        if self._match is None:
            self._match = _match_service(self.store)
        return self._match

    def conn(self) -> Connection:
        if threading.current_thread() is threading.main_thread():
            if self._reader is None:
                self._reader = self.store.open_reader()
            return self._reader
        return self.store.connection()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # --- pairs and sides ---------------------------------------------------------------

    def pairs(self) -> list[SourcePair]:
        return list_pairs(self.store)

    def pair(self, name: str) -> SourcePair | None:
        return next((p for p in self.pairs() if p.name == name), None)

    def accounts(self, source: str) -> list[str | None]:
        """Distinct accounts of a source, by skipping through the index (O(accounts))."""
        if source not in self._accounts:
            conn = self.conn()
            found: list[str | None] = []
            if conn.execute(
                "SELECT 1 FROM records WHERE source = ? AND account IS NULL LIMIT 1", (source,)
            ).fetchone():
                found.append(None)
            last = ""
            while True:
                row = conn.execute(
                    "SELECT min(account) FROM records WHERE source = ? AND account > ?",
                    (source, last),
                ).fetchone()
                if row is None or row[0] is None:
                    break
                found.append(row[0])
                last = row[0]
            if conn.execute(
                "SELECT 1 FROM records WHERE source = ? AND account = '' LIMIT 1", (source,)
            ).fetchone():
                found.append("")
            self._accounts[source] = found
        return self._accounts[source]

    def forget_accounts(self) -> None:
        """After a sync a source may have new accounts."""
        self._accounts.clear()

    def pager(self, side: Side, filt: PaneFilter | None = None,
              sort: SortSpec | None = None) -> SidePager:  # fmt: skip
        return SidePager(self, side, filt or PaneFilter(), sort or SortSpec())

    # --- records -----------------------------------------------------------------------

    def record_detail(self, record_id: int) -> dict[str, Any] | None:
        """The full record, its raw payload, its notes and the groups it belongs to."""
        conn = self.conn()
        row = conn.execute(
            f"SELECT {_SELECT}, state, group_id, version, removed FROM records WHERE id = ?",
            (record_id,),
        ).fetchone()
        if row is None:
            return None
        rec = row_to_record(row[:20])
        notes = [
            {"at": us_to_dt(at).strftime("%Y-%m-%d %H:%M"), "text": text}
            for at, text in conn.execute(
                "SELECT at_us, text FROM notes WHERE record_id = ? ORDER BY id", (record_id,)
            )
        ]
        groups = [
            {"id": g, "state": s, "kind": k, "reason": r, "note": n}
            for g, s, k, r, n in conn.execute(
                "SELECT g.id, g.state, g.kind, g.reason, g.note FROM group_members m "
                "JOIN match_groups g ON g.id = m.group_id WHERE m.record_id = ? "
                "AND g.state IN ('suggested', 'confirmed') ORDER BY g.id",
                (record_id,),
            )
        ]
        return {
            "record": rec, "state": row[20], "group_id": row[21], "version": row[22],
            "removed": bool(row[23]), "notes": notes, "groups": groups,
        }  # fmt: skip

    def rows(self, ids: Sequence[int]) -> list[Row]:
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        found = {
            r[1]: _row(r)
            for r in self.conn().execute(
                f"SELECT ts_us, {ROW_COLUMNS} FROM records WHERE id IN ({marks})", list(ids)
            )
        }
        return [found[i] for i in ids if i in found]

    def totals(self, ids: Sequence[int]) -> dict[str, Decimal]:
        """Per asset, the exact sum of the given records' amounts."""
        out: dict[str, Decimal] = defaultdict(Decimal)
        for r in self.rows(ids):
            out[r.asset] += r.amount
        return dict(out)

    @staticmethod
    def difference(left: dict[str, Decimal], right: dict[str, Decimal]) -> dict[str, Decimal]:
        """Per asset: left minus right (what :meth:`Decisions.manual_match` checks)."""
        assets = sorted(set(left) | set(right))
        return {a: left.get(a, Decimal(0)) - right.get(a, Decimal(0)) for a in assets}

    # --- candidates --------------------------------------------------------------------

    def stored_candidates(self, pair: str, record_id: int, k: int = 10) -> list[Candidate]:
        """Live stored suggestions containing the record, best first."""
        from recon_tui.services.matching import stored_suggestions

        return [
            self._candidate(
                v.group_id, v.left_ids, v.right_ids, v.score, v.rule, v.decision,
                v.explanation, v.adjustments,
            )
            for v in stored_suggestions(self.conn(), pair, record_id, limit=k)
        ]

    def _candidate(
        self, gid: int | None, left: tuple[int, ...], right: tuple[int, ...], score: float,
        rule: str, decision: str, explanation: dict[str, Any], adjustments: list[dict[str, Any]],
        *, amount_difference: str | None = None, date_lag_days: int | None = None,
        source: Any = None,
    ) -> Candidate:  # fmt: skip
        rows = self.rows([*left, *right])
        by_id = {r.id: r for r in rows}
        if amount_difference is None:
            diff = self.difference(
                _sum(by_id[i] for i in left if i in by_id),
                _sum(by_id[i] for i in right if i in by_id),
            )
            amount_difference = ", ".join(
                f"{fmt_money(v, a)} {a}" for a, v in diff.items() if v != 0
            ) or "0"
        if date_lag_days is None and left and right:
            lt = [by_id[i].ts_us for i in left if i in by_id]
            rt = [by_id[i].ts_us for i in right if i in by_id]
            if lt and rt:
                date_lag_days = abs(max(rt) - min(lt)) // 86_400_000_000
        return Candidate(
            group_id=gid, left_ids=left, right_ids=right, score=float(score), rule=rule,
            decision=decision, explanation=explanation or {}, adjustments=adjustments or [],
            amount_difference=amount_difference, date_lag_days=date_lag_days,
            counterparts=rows, source=source,
        )  # fmt: skip

    def candidates(self, pair: str, record_id: int, k: int = 5) -> list[Candidate]:
        """Ranked candidates: stored suggestions first, then the engine's on-demand ones
        (when the matching service exists). May be slow: call from a worker."""
        stored = self.stored_candidates(pair, record_id, k=max(k, 10))
        # Stored suggestions rank before the engine's candidates, k in all: the engine
        # only fills the room the stored ones leave.
        room = max(0, k - len(stored))
        svc = self.match_service()
        if svc is None or room == 0:
            return stored
        seen = {(c.left_ids, c.right_ids) for c in stored}
        try:
            with self._match_lock:
                views = svc.engine_candidates(pair, record_id, k, exclude=seen)
        except Exception:  # the engine failing must not take the workbench down
            return stored
        return [*stored, *(
            self._candidate(
                v.group_id, v.left_ids, v.right_ids, v.score, v.rule, v.decision,
                v.explanation, v.adjustments, amount_difference=v.amount_difference,
                date_lag_days=v.date_lag_days, source=v,
            )
            for v in views[:room]
        )]  # fmt: skip

    # --- decisions on candidates ------------------------------------------------------

    def accept(self, pair: str, cand: Candidate, note: str | None = None) -> int:
        """Confirm a candidate: a stored suggestion through :meth:`Decisions.confirm`, an
        engine candidate through the matching service (which persists it first)."""
        from recon_tui.services.decisions import DecisionError, Decisions

        if cand.group_id is not None:
            Decisions(self.store).confirm(cand.group_id, note=note)
            return cand.group_id
        svc = self.match_service()
        if svc is None or cand.source is None:
            raise DecisionError("this candidate needs the matching service to be accepted")
        with self._match_lock:
            return int(svc.accept(pair, cand.source, note=note))

    def reject(self, pair: str, cand: Candidate, reason: str, note: str | None = None) -> None:
        from recon_tui.services.decisions import DecisionError, Decisions

        if cand.group_id is not None:
            Decisions(self.store).reject(cand.group_id, reason, note=note)
            return
        svc = self.match_service()
        if svc is None or cand.source is None:
            raise DecisionError("this candidate needs the matching service to be rejected")
        with self._match_lock:
            svc.reject(pair, cand.source, reason, note=note)

    # --- bulk --------------------------------------------------------------------------

    def suggestions_above(
        self, pair: SourcePair, threshold: float, filt: PaneFilter | None = None
    ) -> list[int]:
        """Stored suggestions of ``pair`` scoring at least ``threshold`` whose left-side
        members all pass the current filter (what 'accept all' applies to)."""
        filt = filt or PaneFilter()
        conn = self.conn()
        gids = [
            g for (g,) in conn.execute(
                "SELECT id FROM match_groups WHERE pair = ? AND state = 'suggested' "
                "AND score >= ? ORDER BY score DESC, id", (pair.name, threshold),
            )
        ]  # fmt: skip
        if filt.is_default() or not gids:
            return gids
        pager = SidePager(self, pair.left, _replace_status(filt, "suggested"), SortSpec())
        extra, params = pager._extra()
        keep = []
        for g in gids:
            left = [r for (r,) in conn.execute(
                "SELECT record_id FROM group_members WHERE group_id = ? AND side = 'L'", (g,))]
            if not left:
                continue
            marks = ", ".join("?" * len(left))
            n = conn.execute(
                f"SELECT count(*) FROM records WHERE id IN ({marks}){extra}", [*left, *params]
            ).fetchone()[0]
            if n == len(left):
                keep.append(g)
        return keep

    # --- dashboard ---------------------------------------------------------------------

    def dashboard(self, now_us: int) -> Dashboard:
        """Source health and per-pair counts, amounts, aging and differences.

        One pass over each side's rows with exact Decimal sums: O(records), so call it from
        a worker (about a second per million rows).
        """
        conn = self.conn()
        counts = dict(conn.execute(
            "SELECT source, count(*) FROM records WHERE removed = 0 GROUP BY source"))  # fmt: skip
        sources = [SourceHealth(s, counts.get(s.name, 0)) for s in list_sources(self.store)]
        pairs = []
        for p in list_pairs(self.store):
            aging = [0, 0, 0, 0]
            sides = []
            unmatched: list[dict[str, Decimal]] = []
            for side in (p.left, p.right):
                summary = SideSummary()
                open_sum: dict[str, Decimal] = defaultdict(Decimal)
                where, params = side_clause(side)
                sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
                for state, asset, amount, ts in conn.execute(
                    f"SELECT state, asset, amount, ts_us FROM records WHERE {where}", params
                ):
                    summary.counts[state] = summary.counts.get(state, 0) + 1
                    d = Decimal(amount)
                    sums[(state, asset)] += d
                    if state != "matched":
                        open_sum[asset] += d
                        aging[aging_bucket((now_us - ts) // 86_400_000_000)] += 1
                for (state, asset), v in sums.items():
                    summary.amounts.setdefault(state, {})[asset] = v
                sides.append(summary)
                unmatched.append(open_sum)
            diff = {a: v for a, v in self.difference(unmatched[0], unmatched[1]).items()}
            pairs.append(PairSummary(p, sides[0], sides[1], aging, diff))
        return Dashboard(sources, pairs, now_us)


def _sum(rows: Any) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        out[r.asset] += r.amount
    return dict(out)
