"""Panes: what a workbench pane shows (a filter, a sort order) and the pager that reads one
pair side's rows page by page from the store (keyset pages, counts, positions); plus the
rows, totals and detail of given records.

A pane is over one *side of one pair*: the states it pages are that pair's
(:mod:`recon_tui.store.groups`), so a ledger line matched to the bank in one pair is
still open in another. The SQL is :mod:`recon_tui.store.panes`; this module turns a
filter into a store query and rows into :class:`Row`.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from recon_tui.model import Side, SourcePair
from recon_tui.store import Store
from recon_tui.store import groups as store_groups
from recon_tui.store import panes as store_panes
from recon_tui.store.db import Connection
from recon_tui.store.notes import notes_of_record
from recon_tui.store.records import amount_key, get_records, ts_to_us

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


def _day_us(d: date) -> int:
    return ts_to_us(datetime(d.year, d.month, d.day, tzinfo=UTC))


def pane_query(pair: str, code: str, filt: PaneFilter, sort: SortSpec) -> store_panes.PaneQuery:
    """A filter and sort order as the store's query of one pair side."""
    return store_panes.PaneQuery(
        pair=pair, side=code, states=filt.states, column=sort.column, desc=sort.desc,
        text_like=_like(filt.text) if filt.text else None,
        abs_min_e8=amount_key(filt.amount_min) if filt.amount_min is not None else None,
        abs_max_e8=amount_key(filt.amount_max) if filt.amount_max is not None else None,
        ts_from_us=_day_us(filt.date_from) if filt.date_from is not None else None,
        ts_before_us=_day_us(filt.date_to + timedelta(days=1)) if filt.date_to else None,
        asset=filt.asset,
    )  # fmt: skip


class SidePager:
    """Keyset pages of one pair side's records under a filter and sort order.

    ``after``/``before`` take a row's ``sort_key``; ``at`` takes an offset (O(offset):
    for far jumps, run it in a worker); ``count`` is read from the maintained totals when
    nothing narrows the pane, else a real ``COUNT`` (worker too).
    """

    def __init__(self, panes: PanesService, pair: str, code: str, side: Side,
                 filt: PaneFilter, sort: SortSpec) -> None:  # fmt: skip
        self.panes = panes
        self.pair = pair
        self.code = code
        self.side = side
        self.filter = filt
        self.sort = sort
        self.query = pane_query(pair, code, filt, sort)

    def _page(self, keyset: tuple[int, int] | None, forward: bool, limit: int,
              offset: int = 0) -> list[Row]:  # fmt: skip
        return [_row(r) for r in store_panes.page(self.panes.conn(), self.query, keyset,
                                                   forward, limit, offset)]  # fmt: skip

    def first(self, n: int) -> list[Row]:
        return self._page(None, True, n)

    def last(self, n: int) -> list[Row]:
        return self._page(None, False, n)

    def after(self, key: tuple[int, int], n: int) -> list[Row]:
        return self._page(key, True, n)

    def before(self, key: tuple[int, int], n: int) -> list[Row]:
        return self._page(key, False, n)

    def at(self, offset: int, n: int) -> list[Row]:
        return self._page(None, True, n, offset)

    def count(self) -> int:
        return store_panes.count(self.panes.conn(), self.query)

    def touched(self, ids: Sequence[int]) -> list[tuple[Row, bool]]:
        """The rows of those ``ids`` on this side, each with whether this pane shows it
        (its state, liveness and filter): what a decision that moved them left."""
        return [(_row(r[:-1]), bool(r[-1]))
                for r in store_panes.side_rows(self.panes.conn(), self.query, ids)]  # fmt: skip

    @property
    def count_is_cheap(self) -> bool:
        """Whether :meth:`count` is a read of the maintained totals (a few rows, fine on
        the UI thread) rather than a real ``COUNT`` (a worker's job)."""
        return not self.query.filtered

    def position(self, key: tuple[int, int]) -> int:
        """How many rows sort before ``key`` (O(position): a worker's job at scale)."""
        return store_panes.position(self.panes.conn(), self.query, key)

    def next_suggested(self, key: tuple[int, int] | None) -> Row | None:
        """The next row after ``key`` (wrapping to the start) with a live suggestion."""
        if "suggested" not in self.filter.states:
            return None
        only = SidePager(self.panes, self.pair, self.code, self.side,
                         replace_status(self.filter, "suggested"), self.sort)  # fmt: skip
        rows = only.after(key, 1) if key is not None else only.first(1)
        if not rows and key is not None:
            rows = only.first(1)
        return rows[0] if rows else None

    def ids(self, limit: int = 1_000_000) -> list[int]:
        """Ids of the rows under this filter (for bulk actions; a worker's job)."""
        return [r.id for r in self._page(None, True, limit)]


def replace_status(f: PaneFilter, status: str) -> PaneFilter:
    return PaneFilter(f.text, f.amount_min, f.amount_max, f.date_from, f.date_to, f.asset, status)


class PairPanes:
    """The panes of one pair: ``pager(side)`` for its left or right side (what a
    :class:`~recon_tui.widgets.record_pane.RecordPane` is given)."""

    def __init__(self, panes: PanesService, pair: SourcePair) -> None:
        self.panes = panes
        self.pair = pair

    def code(self, side: Side) -> str:
        return "L" if side == self.pair.left else "R"

    def pager(self, side: Side, filt: PaneFilter | None = None,
              sort: SortSpec | None = None) -> SidePager:  # fmt: skip
        return SidePager(self.panes, self.pair.name, self.code(side), side,
                         filt or PaneFilter(), sort or SortSpec())  # fmt: skip


class PanesService:
    """Rows, pages and record detail for the workbench, over one store.

    UI-thread calls use a reader connection of their own (see ``Store.open_reader``), so
    they only see committed data and never wait on a writer; worker threads use theirs.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._reader: Connection | None = None

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

    def for_pair(self, pair: SourcePair) -> PairPanes:
        return PairPanes(self, pair)

    def pager(self, pair: SourcePair, side: Side, filt: PaneFilter | None = None,
              sort: SortSpec | None = None) -> SidePager:  # fmt: skip
        return PairPanes(self, pair).pager(side, filt, sort)

    def rows(self, ids: Sequence[int], pair: str | None = None) -> list[Row]:
        """Rows of the given records in the order given (state: the one in ``pair``)."""
        return [_row(r) for r in store_panes.rows_by_id(self.conn(), pair, list(ids))]

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

    def record_detail(self, record_id: int, pair: str | None = None) -> dict[str, Any] | None:
        """The full record, its raw payload, its notes, its state in ``pair`` (and in every
        pair it is on) and the live groups it belongs to."""
        conn = self.conn()
        found = get_records(conn, [record_id])
        if not found:
            return None
        version, removed = store_panes.record_meta(conn, record_id) or (1, False)
        in_pairs = store_groups.record_pairs(conn, record_id)
        mine = in_pairs.get(pair) if pair else next(iter(in_pairs.values()), None)
        notes = [
            {"at": us_to_dt(n["at_us"]).strftime("%Y-%m-%d %H:%M"), "text": n["text"]}
            for n in notes_of_record(conn, record_id)
        ]
        groups = [
            {"id": g.id, "pair": g.pair, "state": g.state, "kind": g.kind, "reason": g.reason,
             "note": g.note}
            for g in store_groups.groups_of_record(conn, record_id)
        ]  # fmt: skip
        return {
            "record": found[0], "state": mine[1] if mine else "open",
            "group_id": mine[2] if mine else None, "version": version, "removed": bool(removed),
            "pairs": {p: s for p, (_side, s, _g) in in_pairs.items()},
            "notes": notes, "groups": groups,
        }  # fmt: skip


def us_to_dt(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)
