"""The footer: the keys of what has focus, most important first, never cut.

Textual's ``Footer`` lays every shown binding side by side and clips the row at the edge
(at 200 columns ``f2 Dashb▏`` and F3-F5 and Quit never showed). This one takes the active
bindings that the registry (:mod:`recon_tui.bindings`) gives a footer priority, orders them
by it, and shows whole entries while they fit, always ending with ``? more``/``? help``:
what is left out is on the help screen and in the command palette.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.screen import Screen
from textual.widget import Widget

from recon_tui.bindings import BY_ID, Action, actions_in, scopes_of

SEP = "  "
HELP_ID = "app.help"


def footer_entries(screen: Screen[object]) -> list[Action]:
    """The registry actions active on ``screen`` (its focus chain), by footer priority.

    A key a focused widget binds itself (a table's Enter selects its row) counts as the
    screen's action for that key: the screen acts on the widget's message (Enter on a pair
    opens it)."""
    screen_id = getattr(screen, "HELP_ID", None) or screen.id
    by_key = {key.strip(): a for scope in scopes_of(screen_id) for a in actions_in(scope)
              for key in a.keys.split(",")}  # fmt: skip
    seen: dict[str, Action] = {}
    for key, active in screen.active_bindings.items():
        if active.binding.id:
            action = BY_ID.get(active.binding.id)
        else:
            action = by_key.get(key)
        if action is not None and action.footer > 0 and active.enabled:
            seen.setdefault(action.id, action)
    return sorted(seen.values(), key=lambda a: a.footer)


def entry_text(action: Action) -> tuple[str, str]:
    return (action.first_key, action.label)


def fit(entries: list[Action], width: int) -> tuple[list[Action], str]:
    """The entries that fit in ``width`` cells whole, and the closing ``?`` label: every
    entry shown is complete and the ``?`` entry is always there."""
    rest = [a for a in entries if a.id != HELP_ID]
    shown: list[Action] = []
    used = 0
    for i, a in enumerate(rest):
        key, label = entry_text(a)
        cost = cell_len(f"{key} {label}") + cell_len(SEP)
        closing = "? help" if i == len(rest) - 1 else "? more"
        if used + cost + cell_len(closing) > width:
            return shown, "? more"
        shown.append(a)
        used += cost
    return shown, "? help"


class KeyFooter(Widget):
    """One line of ``key label`` entries for the focused widget and its screen."""

    COMPONENT_CLASSES = {"key-footer--key"}

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen:
            self.refresh()

    def shown(self) -> tuple[list[Action], str]:
        return fit(footer_entries(self.screen), max(0, self.size.width - 1))

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-footer--key")
        shown, closing = self.shown()
        t = Text(" ", no_wrap=True, overflow="crop")
        for a in shown:
            key, label = entry_text(a)
            t.append(key, style=key_style)
            t.append(f" {label}{SEP}")
        t.append("?", style=key_style)
        t.append(closing[1:])
        return t
