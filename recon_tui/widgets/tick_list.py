"""A list of choices to tick (the new-session dialog's pairs), whose state reads without colour
and follows the keys in the order they were typed.

Textual's ``SelectionList`` draws the same ``X`` before a chosen and an unchosen item (only
the colour differs, so on a monochrome terminal or in a ``tmux capture-pane`` every item looks
ticked), and it toggles through a posted message that reads the highlight *when handled*:
``down space down space ctrl+s`` typed in one burst toggled the last item three times, after
the dialog had already read the choice (a session opened for its first pair only).
:class:`TickList` shows ``✓`` or a blank and toggles at once, when the key is read.
"""

from __future__ import annotations

from typing import TypeVar

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import Checkbox, SelectionList
from textual.widgets.option_list import OptionDoesNotExist

T = TypeVar("T")

TICKED = "✓"
UNTICKED = " "


class TickList(SelectionList[T]):
    """A :class:`~textual.widgets.SelectionList` with a readable tick and in-order toggles."""

    def action_select(self) -> None:
        # Toggle now (Space, Enter or a click), not through OptionSelected: a message handled
        # later reads the highlight of a later key, and a submit bound to the next key reads
        # the choice before it has changed.
        index = self.highlighted
        if index is None or self.get_option_at_index(index).disabled:
            return
        self.toggle(self.get_option_at_index(index))

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:  # past the last option: an empty line, nothing to mark
            return strip
        if len(segments) < 2 or segments[1].text != Checkbox.BUTTON_INNER:
            return strip
        mark = TICKED if selection.value in self._selected else UNTICKED
        segments[1] = Segment(mark, segments[1].style, segments[1].control)
        return Strip(segments, strip.cell_length)
