"""A checkbox whose state reads without colour: ``✓`` when ticked, blank when not.

Textual's ``Checkbox`` draws the same ``X`` in both states (only the colour differs), so on a
monochrome terminal or in a ``tmux capture-pane`` the export dialog's Zip, Encrypt and
Draft boxes all looked ticked.
"""

from __future__ import annotations

from textual.content import Content
from textual.style import Style
from textual.widgets import Checkbox

from recon_tui.widgets.tick_list import TICKED, UNTICKED


class TickBox(Checkbox):
    """A :class:`~textual.widgets.Checkbox` showing ``✓`` or a blank."""

    @property
    def _button(self) -> Content:
        button_style = self.get_visual_style("toggle--button")
        side_style = Style(foreground=button_style.background,
                           background=self.background_colors[1])  # fmt: skip
        return Content.assemble(
            (self.BUTTON_LEFT, side_style),
            (TICKED if self.value else UNTICKED, button_style),
            (self.BUTTON_RIGHT, side_style),
        )
