"""A pane over one side of a source pair, built on Textual's Line API.

Nothing like a ``DataTable`` holds the rows: the pane's virtual height is the side's row
count (a ``COUNT`` run in a worker), and ``render_line`` draws only the visible lines from a
small window of rows (at most :data:`WINDOW` rows) fetched by keyset pages around the
viewport. Moving the cursor or paging extends the window by one keyset query (~2 ms at any
size); a far jump (scrollbar drag to the middle) is an ``OFFSET`` query run in a worker,
with placeholder lines until it lands.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from math import ceil
from typing import NamedTuple, Self

from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.geometry import Region, Size
from textual.markup import escape
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip
from textual.widget import Widget

from recon_tui import bindings
from recon_tui.formatting import dr_cr, fmt_amounts, fmt_money, us_to_dt
from recon_tui.messages import MarksChanged, RowHighlighted
from recon_tui.model import Side
from recon_tui.services.panes import PairPanes, PaneFilter, Row, SidePager, SortSpec

PAGE = 100
WINDOW = 400
"""Rows kept in memory per pane: a few screens either side of the viewport."""
FAR = 2 * PAGE
"""A jump further than this from the window is an OFFSET query in a worker."""
NEAR = 2_000
"""A reload finds its window's index (the rows before it, counted) at once this near the
top; further down the count is a worker's (O(index): ~1.2 s at 500k of 1M rows)."""

STATE_GLYPH = {"open": "○", "suggested": "◆", "matched": "✔"}


def _thumb(bar: ScrollBar) -> tuple[int, int] | None:
    """Where a vertical scrollbar draws its thumb, in eighths of a line (what Textual's
    ``ScrollBarRender.render_bar`` computes from the same figures): equal thumbs are equal
    paintings."""
    size, virtual, window = bar.size.height, ceil(bar.window_virtual_size), ceil(bar.window_size)
    if not (size and window and virtual > window and size != virtual):
        return None
    eighths = len(bar.renderer.VERTICAL_BARS)
    thumb = max(1, window / (virtual / size))
    start = int((size - thumb) * (bar.position / (virtual - window)) * eighths)
    return start, start + ceil(thumb * eighths)


class _PassStyles(NamedTuple):
    """The pane's styles for one rendering pass (base, and each component on the base)."""

    base: Style
    cursor: Style
    debit: Style
    marked: Style
    suggested: Style
    dim: Style


class RecordPane(ScrollView, can_focus=True):
    """One side's records (open and suggested by default), paged from the store."""

    BINDINGS = bindings.PANE
    COMPONENT_CLASSES = {
        "record-pane--cursor",
        "record-pane--cursor-blur",
        "record-pane--marked",
        "record-pane--debit",
        "record-pane--suggested",
        "record-pane--dim",
    }

    _titling = False
    """While :meth:`_update_title` sets the border titles (their refresh is of the borders)."""

    # No watch at mount: the first page is read by ``set_query`` (an initial watch read a
    # page through the default pager first, ~40 ms of the pair's opening at 100k).
    cursor: reactive[int] = reactive(0, always_update=True, repaint=False, init=False)

    def __init__(
        self, service: PairPanes, side: Side, code: str, *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.service = service
        self.side = side
        self.code = code  # "L" or "R": which side of the pair's groups these records are
        self.filter = PaneFilter()
        self.sort = SortSpec()
        self.pager: SidePager = service.pager(side)
        self.count: int | None = None
        self.marked: dict[int, Row] = {}
        self._base = 0
        self._rows: list[Row] = []
        self._at_end = False
        self._generation = 0
        self._jumping: int | None = None
        self._prefetching = False
        self._placing: int | None = None
        """While the window's index is a guess (a reload far down, its count on the way in
        a worker): that count's token; None when ``_base`` is the rows' true index."""
        self._place_token = 0
        self._last_row_id: int | None = None
        self.marks_note = ""
        self._pass_styles: _PassStyles | None = None
        self._styles_of: tuple[bool, _PassStyles] | None = None
        """The pane's styles, for the focus they were read with (read again on a CSS
        change: :meth:`notify_style_update`)."""
        self.first_paint_s: float | None = None
        """perf_counter() of the first paint that showed real rows (for bench/tui.py)."""

    # --- data ----------------------------------------------------------------------------

    def set_query(self, filt: PaneFilter | None = None, sort: SortSpec | None = None) -> None:
        """Show the side under a new filter/sort: first page now, the count in a worker."""
        if filt is not None:
            self.filter = filt
        if sort is not None:
            self.sort = sort
        self.pager = self.service.pager(self.side, self.filter, self.sort)
        self._generation += 1
        self.count = None
        self._base = 0
        self._placing = None
        self._rows = self.pager.first(PAGE)
        self._at_end = len(self._rows) < PAGE
        if self._at_end:
            self.count = len(self._rows)
        elif self.pager.count_is_cheap:
            self.count = self.pager.count()
        self.cursor = 0
        self._resize()
        self.scroll_to(y=0, animate=False)
        if self.count is None:
            self._count(self._generation)
        self._update_title()
        self.refresh()
        self._announce(force=True)

    def reload(self) -> None:
        """Re-read after a decision or a sync: same place, fresh rows and count.

        Only the screen's rows and half a page either side are read again (the rest of
        the window comes back by keyset pages as the cursor moves): re-reading the whole
        window was up to 500 rows on the UI thread after every confirm and undo.

        The re-read starts at a row of the old window, whose index moved by the rows that
        left the pane before it or joined it meanwhile (a match run, a sync, another
        session's decisions): it is counted again (:meth:`_place`), and the cursor and the
        view move with it, so they stay on their rows. Kept at its old index, every row
        showed one place off per row gone before it, and the last rows could not be
        reached."""
        self._generation += 1
        self.pager = self.service.pager(self.side, self.filter, self.sort)
        height = max(1, self.size.height)
        top = self.scroll_offset.y
        anchor = max(self._base, min(self.cursor, top) - PAGE // 2)
        want = max(PAGE, top + height + PAGE // 2 - anchor)
        row = self.row_at(anchor) if anchor > 0 else None
        if row is None and anchor > 0:
            # The screen is outside the window (a far jump on its way): keep the window.
            anchor = self._base
            row = self._rows[0] if self._rows and anchor > 0 else None
            want = len(self._rows) + PAGE
        self._placing = None
        if row is not None:
            self._base = anchor
            self._rows = self.pager.after(self._from(row), want)
        else:
            # At the top, read from the top: a row restored (undo) before the old first row
            # belongs in the pane too.
            self._base = 0
            self._rows = self.pager.first(want)
        if not self._rows and self._base:
            self._base = 0
            want = PAGE
            self._rows = self.pager.first(want)
        self._at_end = len(self._rows) < want
        shift = self._place() if self._base else 0
        self.count = None
        if self._at_end and self._base == 0:
            self.count = len(self._rows)
        elif self.pager.count_is_cheap:
            self.count = self.pager.count()
        else:
            self._count(self._generation)
        self._rows_changed(shift)

    def _place(self) -> int:
        """Count the rows before the window's first row: near the top now (returns how far
        the window's index moves), else in a worker (:meth:`_placed`; returns 0 and the
        index is a guess until then)."""
        first = self._rows[0]
        if self._base <= NEAR:
            self._placing = None
            return self._shift(self.pager.position(first.sort_key) - self._base)
        self._place_token += 1
        self._placing = self._place_token
        self._position(self._place_token, first)
        return 0

    @work(thread=True, exclusive=True, group="position")
    def _position(self, token: int, row: Row) -> None:
        n = self.pager.position(row.sort_key)
        self.app.call_from_thread(self._placed, token, row.id, n)

    def _placed(self, token: int, row_id: int, n: int) -> None:
        if token != self._placing:
            return  # the window was placed (or read again) since: a newer count is due
        self._placing = None
        i = next((i for i, r in enumerate(self._rows) if r.id == row_id), None)
        if i is None:  # paged away from that row meanwhile: count the window's first row
            if self._rows and self._base:
                self._place()
            return
        shift = self._shift(n - (self._base + i))
        if shift:
            self._scroll_with(shift)
            self.refresh()

    def _shift(self, delta: int) -> int:
        """Move the window's index by ``delta`` rows (its rows stay): the cursor moves with
        it, so it stays on its row (no news for the detail). Returns ``delta``."""
        if delta:
            self._base = max(0, self._base + delta)
            self.set_reactive(RecordPane.cursor, max(0, self.cursor + delta))
        return delta

    def _scroll_with(self, delta: int) -> None:
        """The view follows a shift of the window's index (the same rows stay on screen)."""
        self._resize()
        self.scroll_to(y=max(0, self.scroll_offset.y + delta), animate=False, immediate=True)

    def apply_decided(self, ids: Sequence[int],
                      states_before: Mapping[int, str] | None = None) -> None:  # fmt: skip
        """Update the rows in place after a decision moved the records ``ids`` (what the
        write returned), instead of re-reading the screen: one indexed read of those rows,
        then each leaves the window, changes in it, or joins it at its place.

        A decided record that sorts before the window moves the window's indexes by
        whether it left or joined the pane, which ``states_before`` (each record's state
        before the decision) tells; without it, as with an empty window or an unknown set
        of records, this is a full :meth:`reload`."""
        if not ids or not self._rows or self._jumping is not None:
            self.reload()
            return
        found = self.pager.touched(ids)
        if not found:
            return  # none of them is on this side
        painted = self._on_screen()
        desc = self.sort.desc
        first, last = self._rows[0].sort_key, self._rows[-1].sort_key

        def before(key: tuple[int, int], edge: tuple[int, int]) -> bool:
            return key > edge if desc else key < edge

        ahead = [(r, ok) for r, ok in found if self._base > 0 and before(r.sort_key, first)]
        if ahead and states_before is None:
            self.reload()
            return
        # Before the window, a decision only adds or removes rows (a record's sort key and
        # the rest of the filter are its own, which no decision changes).
        shift = sum(int(ok) - int(states_before.get(r.id) in self.filter.states)
                    for r, ok in ahead) if states_before is not None else 0  # fmt: skip
        skip = {r.id for r, _ in ahead}
        shown = {r.id: r for r, ok in found if ok and r.id not in skip}
        gone = {r.id for r, ok in found if not ok}
        rows = [shown.pop(r.id, r) for r in self._rows if r.id not in gone]
        self._base = max(0, self._base + shift)
        if not rows and not shown and (self._base or not self._at_end):
            self.reload()  # the window emptied with rows around it: read where it is
            return
        # Rows that join the pane (an undo brings them back) belong in the window when they
        # sort within it (or before it at the top, or after it at the end).
        joined = [r for r in shown.values() if self._at_end or not before(last, r.sort_key)]
        if joined:
            rows.extend(joined)
            rows.sort(key=lambda r: r.sort_key, reverse=desc)
        self._generation += 1
        self._rows = rows
        if self._placing is not None and rows and self._base:
            # The count on its way may or may not have seen this decision: count again.
            self._place()
        if self.pager.count_is_cheap:
            self.count = self.pager.count()
        else:
            self._count(self._generation)
        self._rows_changed(painted=painted)

    def _rows_changed(self, shift: int = 0,
                      painted: tuple[int, list[object]] | None = None) -> None:  # fmt: skip
        """After the window's rows changed (a reload, a decision applied in place): the end,
        the cursor, the size, the title and the paint follow, and the detail hears of it.
        ``shift``: how far the window's index moved (the view moves with it); ``painted``:
        what the screen showed before (:meth:`_on_screen`), so only the lines that differ
        are painted again (a confirm changes a line or two of a pane, and its title)."""
        if self.count is not None:
            self._at_end = self._base + len(self._rows) >= self.count
        if shift:
            self._scroll_with(shift)
        self.cursor = min(self.cursor, max(0, self.total - 1))
        self._resize()
        self._update_title()
        now = self._on_screen() if painted is not None else None
        if painted is None or now is None or now[0] != painted[0] or len(now[1]) != len(painted[1]):
            self.refresh()
        else:
            for y, (was, is_) in enumerate(zip(painted[1], now[1], strict=True)):
                if was != is_:
                    self.refresh_line(now[0] + y)
        self._announce(force=True)

    def _on_screen(self) -> tuple[int, list[object]]:
        """What each visible line shows (its row, marked, under the cursor; a placeholder;
        nothing), from the top of the view."""
        top, total = self.scroll_offset.y, self.total
        lines: list[object] = []
        for index in range(top, top + self.size.height):
            row = self.row_at(index) if index < total else None
            lines.append((row, row.id in self.marked, index == self.cursor) if row is not None
                         else "…" if index < total else None)  # fmt: skip
        return top, lines

    def _from(self, row: Row) -> tuple[int, int]:
        """The keyset that makes ``after`` start at ``row`` itself (inclusive), in either
        order: (k, id) >= (k0, id0) is (k, id) > (k0, id0 - 1) ascending, < (k0, id0 + 1)
        descending."""
        return (row.key, row.id + 1 if self.sort.desc else row.id - 1)

    @work(thread=True, exclusive=True, group="count")
    def _count(self, generation: int) -> None:
        n = self.pager.count()
        self.app.call_from_thread(self._counted, generation, n)

    def _counted(self, generation: int, n: int) -> None:
        if generation != self._generation:
            return
        self.count = n
        self._at_end = self._base + len(self._rows) >= n
        self._resize()
        self._update_title()
        self.refresh()

    @property
    def total(self) -> int:
        """Rows the pane scrolls over (the count once known; what is loaded plus a page
        of headroom before that, so the cursor can move on while the count runs)."""
        if self.count is not None:
            return self.count
        loaded = self._base + len(self._rows)
        return loaded if self._at_end else loaded + PAGE

    def _resize(self) -> None:
        size = Size(self.size.width, self.total)
        if size == self.virtual_size:
            return
        # The new height moves the scrollbar only: no layout of the whole screen (the
        # reactive's default) for it. A scrollbar that appears or goes is a layout still
        # (``_scroll_update`` sets ``show_vertical_scrollbar``, a layout reactive).
        old = self.virtual_size
        bar = self.vertical_scrollbar if self.show_vertical_scrollbar else None
        view = self.scrollable_content_region.height
        if bar is not None and old.width == size.width and min(old.height, size.height) > view:
            # Still scrolling: the scrollbar learns the new height, and is painted again
            # only if its thumb moves (a decision's row more or less in a million does
            # not move it; a scrollbar's repaint cost as much as the rows').
            thumb = _thumb(bar)
            self.set_reactive(Widget.virtual_size, size)
            bar.set_reactive(ScrollBar.window_virtual_size, size.height)
            if _thumb(bar) != thumb:
                bar.refresh()
            self.scroll_y = self.validate_scroll_y(self.scroll_y)
            return
        self.set_reactive(Widget.virtual_size, size)
        self._scroll_update(size)

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size,
                      layout: bool = True) -> bool:  # fmt: skip
        # Every layout of the screen hands a scroll view its viewport as ``virtual_size``,
        # which never equals its real one, so each re-rendered both panes' scrollbars
        # (as dear as the rows). Only a real change of size is news here; the virtual
        # size is :meth:`_resize`'s.
        if size == self._size and container_size == self._container_size:
            return False
        return super()._size_updated(size, virtual_size, container_size, layout)

    def row_at(self, index: int) -> Row | None:
        i = index - self._base
        if 0 <= i < len(self._rows):
            return self._rows[i]
        return None

    @property
    def current(self) -> Row | None:
        if not self._rows:
            return None
        self._ensure(self.cursor, self.cursor + 1)
        return self.row_at(self.cursor)

    def _ensure(self, a: int, b: int) -> None:
        """Make rows [a, b) present in the window (keyset pages; a worker for far jumps)."""
        total = self.total
        a, b = max(0, a), min(b, total)
        if a >= b or (not self._rows and self._at_end):
            return
        base, end = self._base, self._base + len(self._rows)
        if b > end and not self._at_end and base <= a <= end + FAR and self._rows:
            want = b - end + PAGE
            more = self.pager.after(self._rows[-1].sort_key, want)
            self._rows.extend(more)
            if len(more) < want:
                self._at_end = True
                if self._placing is None:  # else the index is a guess: the count is not
                    self.count = self._base + len(self._rows)
                self._resize()
        if a < base and b >= base - FAR and self._rows:
            want = base - a + PAGE
            prev = self.pager.before(self._rows[0].sort_key, want)
            self._rows[:0] = prev
            self._base -= len(prev)
            if len(prev) < want and self._base != 0:
                # Rows vanished before the window (decided elsewhere): re-anchor at 0.
                self._base = 0
            if len(prev) < want:
                self._placing = None  # at the top: the index is known
        base, end = self._base, self._base + len(self._rows)
        if not (base <= a and b <= end):
            if self.count is not None and a >= self.count - FAR:
                n = max(PAGE, self.count - a + PAGE)
                self._rows = self.pager.last(n)
                self._base = self.count - len(self._rows)
                self._at_end = True
                self._placing = None
            elif a < FAR:
                self._rows = self.pager.first(b + PAGE)
                self._base = 0
                self._placing = None
                self._at_end = len(self._rows) < b + PAGE
            elif self._jumping != a:
                self._jumping = a
                self._jump(self._generation, a, b - a + PAGE)
                return
        self._trim(a, b)

    def _trim(self, a: int, b: int) -> None:
        """Shrink the window to :data:`WINDOW` rows (or [a, b) if wider), keeping [a, b)
        and as many rows either side of it as fit: the far ends go, never the rows asked
        for (dropping from the end regardless lost the cursor row after ~20 PgDn)."""
        n = len(self._rows)
        size = max(WINDOW, b - a)
        if n <= size:
            return
        base, end = self._base, self._base + n
        lo = max(base, min(a - (size - (b - a)) // 2, end - size))
        hi = min(end, lo + size)
        if hi < end:
            del self._rows[hi - base :]
            self._at_end = False
        if lo > base:
            del self._rows[: lo - base]
            self._base = lo

    @work(thread=True, exclusive=True, group="jump")
    def _jump(self, generation: int, offset: int, n: int) -> None:
        rows = self.pager.at(max(0, offset - PAGE // 2), n + PAGE // 2)
        self.app.call_from_thread(self._jumped, generation, max(0, offset - PAGE // 2), rows)

    def _jumped(self, generation: int, base: int, rows: list[Row]) -> None:
        self._jumping = None
        if generation != self._generation:
            return
        self._base, self._rows = base, rows
        self._at_end = False
        self._placing = None
        self.refresh()
        self._announce()

    # --- cursor ----------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        top, window = self.scroll_offset.y, self._window_id()
        self._ensure(new, new + 1)
        self.scroll_to_region(Region(0, new, 1, 1), animate=False, immediate=True)
        if self.scroll_offset.y == top and self._window_id() == window:
            # The view did not move: only the two cursor lines change (a full repaint of
            # the pane per arrow key was most of a move's cost).
            self.refresh_line(old)
            self.refresh_line(new)
        else:
            self.refresh()
        self._announce()
        self._prefetch()

    def _prefetch(self) -> None:
        """Read the next page in a worker while the cursor is within a page of the
        window's end, so a page-down finds its rows loaded and only paints (it read them on
        the UI thread, ~100 rows, every few keys)."""
        if self._prefetching or self._at_end or not self._rows or self._jumping is not None:
            return
        end = self._base + len(self._rows)
        if end - (self.scroll_offset.y + self.size.height) >= PAGE:
            return
        self._prefetching = True
        key, generation = self._rows[-1].sort_key, self._generation
        self.run_worker(lambda: self._read_ahead(generation, key), thread=True,
                        group=f"prefetch-{self.id}")  # fmt: skip

    def _read_ahead(self, generation: int, key: tuple[int, int]) -> None:
        rows = self.pager.after(key, PAGE)
        self.app.call_from_thread(self._read_ahead_done, generation, key, rows)

    def _read_ahead_done(self, generation: int, key: tuple[int, int], rows: list[Row]) -> None:
        self._prefetching = False
        if generation != self._generation or not self._rows or self._rows[-1].sort_key != key:
            return  # the window moved or was read again meanwhile: nothing to add to
        self._rows.extend(rows)
        if len(rows) < PAGE:
            self._at_end = True
            if self._placing is None:  # else the index is a guess: the count is not
                self.count = self._base + len(self._rows)
            self._resize()
            self._update_title()
        top = self.scroll_offset.y
        self._trim(min(self.cursor, top), max(self.cursor + 1, top + self.size.height))

    def _window_id(self) -> tuple[int, int | None]:
        """Where the window starts and with which row: same, and each loaded index still
        holds the row it held (the window only grew at its end)."""
        return self._base, self._rows[0].id if self._rows else None

    def _announce(self, force: bool = False) -> None:
        if not self._rows and not self._at_end:
            return  # nothing read yet (focused before the first page): no news
        row = self.row_at(self.cursor) if self._rows else None
        rid = row.id if row else None
        if force or rid != self._last_row_id:
            self._last_row_id = rid
            self.post_message(RowHighlighted(self, row))

    def move_to(self, index: int) -> None:
        self.cursor = max(0, min(index, self.total - 1))

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_to(self.cursor + 1)

    def action_page_up(self) -> None:
        self.move_to(self.cursor - max(1, self.size.height - 1))

    def action_page_down(self) -> None:
        self.move_to(self.cursor + max(1, self.size.height - 1))

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        if self.count is None:
            # Unknown length: jump to the end by a reverse keyset page, then count.
            rows = self.pager.last(PAGE)
            self._rows = rows
            self._at_end = True
            self.count = None
            self._base = 0
            self._placing = None  # placed at the end by the count
            self._count_then_last(self._generation)
            return
        self.move_to(self.count - 1)

    @work(thread=True, exclusive=True, group="count")
    def _count_then_last(self, generation: int) -> None:
        n = self.pager.count()
        self.app.call_from_thread(self._counted_last, generation, n)

    def _counted_last(self, generation: int, n: int) -> None:
        if generation != self._generation:
            return
        self.count = n
        self._base = max(0, n - len(self._rows))
        self._resize()
        self._update_title()
        self.move_to(n - 1)

    def action_toggle_mark(self) -> None:
        row = self.current
        if row is None:
            return
        if row.id in self.marked:
            del self.marked[row.id]
        else:
            self.marked[row.id] = row
        self._update_title()
        self.refresh()
        self.post_message(MarksChanged(self))
        self.move_to(self.cursor + 1)

    def clear_marks(self) -> None:
        self.marked.clear()
        self._update_title()
        self.refresh()
        self.post_message(MarksChanged(self))

    def select_row(self, row: Row) -> None:
        """Move the cursor onto ``row`` (found by keyset position; a count query)."""
        pos = self.pager.position(row.sort_key)
        self._rows = self.pager.after(self._from(row), PAGE)
        self._base = pos
        self._placing = None
        self._at_end = False
        self.cursor = pos

    def _on_click(self, event: events.Click) -> None:
        self.focus()
        self.move_to(self.scroll_offset.y + event.y)

    def on_resize(self, event: events.Resize) -> None:
        self._resize()

    def on_focus(self) -> None:
        self.refresh()
        self._announce(force=True)

    def on_blur(self) -> None:
        self.refresh()

    def _update_title(self) -> None:
        count = "counting…" if self.count is None else f"{self.count:,}"
        label = {"unmatched": "unmatched"}.get(self.filter.status, self.filter.status)
        what = self.filter.describe()
        title = escape(f"{self.code} {self.side.label()} · {count} {label}")
        sub = [self.sort.describe()]
        if what:
            sub.append(f"filter {what}")
        if self.marked:
            sub.append(f"{len(self.marked):,} marked Σ {fmt_amounts(self.marked_totals())}")
        if self.marks_note:
            sub.append(self.marks_note)
        subtitle = escape(" · ".join(sub))
        # Setting a border title repaints the whole pane (Textual's descriptor refreshes
        # the widget), the same title too: set only what changed, and repaint only the
        # border lines for it (:meth:`refresh`).
        self._titling = True
        try:
            if title != self.border_title:
                self.border_title = title
            if subtitle != self.border_subtitle:
                self.border_subtitle = subtitle
        finally:
            self._titling = False

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> Self:  # fmt: skip
        if self._titling and not regions and repaint and not layout and not recompose:
            # A new border title or subtitle: its line (the top or the bottom border) only.
            # Regions are the content's; the borders are outside it.
            off, outer = self.content_offset, self.outer_size
            regions = (Region(-off.x, -off.y, outer.width, 1),
                       Region(-off.x, outer.height - 1 - off.y, outer.width, 1))  # fmt: skip
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def marked_totals(self) -> dict[str, Decimal]:
        """Per asset, the exact sum of the marked items."""
        out: dict[str, Decimal] = {}
        for r in self.marked.values():
            out[r.asset] = out.get(r.asset, Decimal(0)) + r.amount
        return dict(sorted(out.items()))

    def show_marks_note(self, note: str) -> None:
        """A line about both sides' marks (the running difference), set by the workbench."""
        self.marks_note = note
        self._update_title()

    # --- rendering -------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        top = self.scroll_offset.y
        self._ensure(top, top + self.size.height)
        # The styles of this pass, read once: ``rich_style`` walks the ancestors' CSS and
        # took ~1.5 ms per line read per line (a full pane, 45 lines, 70 ms at load 8).
        self._pass_styles = self._styles()
        try:
            strips = super().render_lines(crop)
        finally:
            self._pass_styles = None
        if self.first_paint_s is None and self._rows:
            self.first_paint_s = time.perf_counter()
        return strips

    def notify_style_update(self) -> None:
        # Every CSS change reaching the pane (a theme, a class, the screen's styles: the
        # stylesheet applies to each node under the one that changed) comes through here.
        self._styles_of = None
        super().notify_style_update()

    def _styles(self) -> _PassStyles:
        # Kept between passes: read anew, they walked the ancestors' CSS six times on every
        # paint, a third of a cursor move's rendering (two lines).
        focus = self.has_focus
        if self._styles_of is None or self._styles_of[0] != focus:
            self._styles_of = (focus, self._read_styles())
        return self._styles_of[1]

    def _read_styles(self) -> _PassStyles:
        base = self.rich_style
        cursor = "record-pane--cursor" if self.has_focus else "record-pane--cursor-blur"
        return _PassStyles(
            base, self.get_component_rich_style(cursor),
            base + self.get_component_rich_style("record-pane--debit"),
            base + self.get_component_rich_style("record-pane--marked"),
            base + self.get_component_rich_style("record-pane--suggested"),
            base + self.get_component_rich_style("record-pane--dim"),
        )  # fmt: skip

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.size.width
        st = self._pass_styles or self._styles()
        base_style = st.base
        if index >= self.total:
            return Strip.blank(width, base_style)
        row = self.row_at(index)
        if row is None:
            return Strip([Segment("…".ljust(width), base_style)], width)
        segments = self._segments(row, width, st)
        if index == self.cursor:
            segments = [Segment(t, (s or base_style) + st.cursor) for t, s, _ in segments]
        return Strip(segments, width).crop(0, width)

    def _segments(self, row: Row, width: int, st: _PassStyles) -> list[Segment]:
        base = st.base
        marked = row.id in self.marked
        amount = fmt_money(row.amount, row.asset)
        aw = 20 if width >= 70 else 16
        if len(amount) > aw:
            amount = amount[: aw - 1] + "…"
        date = us_to_dt(row.ts_us).strftime("%Y-%m-%d %H:%M" if width >= 60 else "%m-%d %H:%M")
        fixed = f"{'✓' if marked else ' '}{STATE_GLYPH.get(row.state, ' ')} {date} "
        text_width = max(0, width - len(fixed) - 3 - aw - 1 - 6)
        text = row.text or row.kind
        text = text[:text_width].ljust(text_width)
        return [
            Segment("✓" if marked else " ", st.marked if marked else base),
            Segment(STATE_GLYPH.get(row.state, " "),
                    st.suggested if row.state == "suggested" else base),
            Segment(fixed[2:], base),
            Segment(dr_cr(row.amount) + " ", base),
            Segment(amount.rjust(aw), st.debit if row.amount < 0 else base),
            Segment(" " + row.asset.ljust(5)[:5] + " ", base),
            Segment(text, st.dim),
        ]

    def status_line(self) -> str:
        return f"{self.cursor + 1 if self._rows else 0}/{self.total}"

