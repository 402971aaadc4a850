"""The action registry: every action of the app (its keys, its screen, a short label and a
one-line description) is declared here once.

Everything that shows or runs an action is generated from :data:`ACTIONS`:

- each screen's and widget's ``BINDINGS`` (:func:`bindings_for`),
- the footer (:class:`~recon_tui.widgets.key_footer.KeyFooter`: the ``footer`` priority
  decides what shows first; what does not fit is left to ``?``),
- the help screen of the screen you are on (:func:`scopes_of`, :func:`help_rows`),
- the command palette (:mod:`recon_tui.commands`: every action, with its key),
- the README's keyboard map (:func:`keymap_markdown`, kept current by tests/test_readme.py).

Binding ids are ``scope.action``, so a keymap (``App.set_keymap``) can rebind any of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True, slots=True)
class Action:
    """One thing a user can do, with the keys that do it."""

    scope: str
    """Where it applies: a key of :data:`SCOPES`."""
    keys: str
    """Textual key names, comma-separated (``"up,k"``)."""
    action: str
    """The action method (``"reject"`` runs ``action_reject``; ``"app.help"`` the app's)."""
    label: str
    """A word or two, for the footer and the keyboard map."""
    description: str
    """One line: what it does (help screen, command palette)."""
    footer: int = 0
    """Footer priority: 1 shows first; 0 never in the footer (help and palette only)."""
    key_display: str | None = None
    priority: bool = False
    palette: bool = True
    """Offer it in the command palette (False for keys that only make sense in place)."""

    @property
    def id(self) -> str:
        """``scope.method``: ``app.help``, ``workbench.reject``."""
        return f"{self.scope}.{self.action.rpartition('.')[2]}"

    @property
    def key_text(self) -> str:
        """The keys as a user reads them: ``↑ / k``, ``Ctrl+F``, ``Space``."""
        return " / ".join(key_name(k) for k in self.keys.split(","))

    @property
    def first_key(self) -> str:
        """The key shown where there is room for one (the footer, the palette)."""
        return self.key_display or key_name(self.keys.split(",")[0])


SCOPES: dict[str, str] = {
    "app": "Anywhere",
    "dashboard": "Dashboard",
    "pane": "Workbench: moving in a pane",
    "workbench": "Workbench: deciding",
    "sources": "Sources",
    "sessions": "Sessions",
    "runs": "Runs",
    "unresolved": "Unresolved items",
    "audit": "Audit trail",
    "dialog": "Dialogs",
}
"""Scope -> the title of its section (help screen, README)."""

SCREEN_SCOPES: dict[str, tuple[str, ...]] = {
    "dashboard": ("dashboard",),
    "workbench": ("pane", "workbench"),
    "sources": ("sources",),
    "sessions": ("sessions",),
    "runs": ("runs",),
    "unresolved": ("unresolved",),
    "audit": ("audit",),
}
"""Screen id -> the scopes its help shows (``app`` is always added)."""

_KEY_NAMES = {
    "question_mark": "?", "slash": "/", "right_square_bracket": "]", "space": "Space",
    "enter": "Enter", "escape": "Esc", "tab": "Tab", "shift+tab": "Shift+Tab",
    "pageup": "PgUp", "pagedown": "PgDn", "home": "Home", "end": "End", "up": "↑",
    "down": "↓", "f2": "F2", "f3": "F3", "f4": "F4", "f5": "F5", "f6": "F6",
}  # fmt: skip


def key_name(key: str) -> str:
    key = key.strip()
    if key in _KEY_NAMES:
        return _KEY_NAMES[key]
    if key.startswith("ctrl+"):
        return "Ctrl+" + key[5:].upper()
    return key


_A = Action
ACTIONS: list[Action] = [
    # --- anywhere ----------------------------------------------------------------------
    _A("app", "question_mark", "app.help", "Help",
       "Keys and how this screen works; every key of the screen you are on", 1, "?"),
    _A("app", "f2", "app.dashboard", "Dashboard",
       "Dashboard: sources' health and every pair's progress", 30),
    _A("app", "f3", "app.workbench", "Workbench",
       "Workbench of the last pair: both sides' unmatched items side by side", 31),
    _A("app", "f4", "app.sources", "Sources", "Sources: add, edit, test and sync", 32),
    _A("app", "f5", "app.sessions", "Sessions",
       "Sessions: open, close, reopen and export reconciliation periods", 33),
    _A("app", "f6", "app.runs", "Runs", "Runs: every sync, match, export and verify, and how it ended",
       36),
    _A("app", "ctrl+p", "app.command_palette", "Commands",
       "Command palette: every action of every screen, by name", 35, palette=False),
    _A("app", "ctrl+q", "app.quit", "Quit", "Quit recon-tui", 34, priority=True),
    # --- dashboard ---------------------------------------------------------------------
    _A("dashboard", "enter", "open_pair", "Open",
       "Open the highlighted pair in the workbench (on the aging chart: its oldest break)", 2),
    _A("dashboard", "down,j", "cursor_down", "Move", "Next pair (next age bucket on the chart)",
       7, "↑↓", palette=False),
    _A("dashboard", "up,k", "cursor_up", "Up", "Previous pair (previous age bucket)",
       0, "↑", palette=False),
    _A("dashboard", "S", "sync_now", "Sync", "Sync every enabled source now", 3),
    _A("dashboard", "M", "run_matching", "Match", "Run the matchers on every pair", 4),
    _A("dashboard", "e", "export", "Export", "Export a reconciliation session", 5),
    _A("dashboard", "r", "reload", "Refresh", "Read the dashboard's figures again", 6),
    _A("dashboard", "p", "new_pair", "New pair", "Add a source pair (two sides to reconcile)", 8),
    _A("dashboard", "P", "edit_pair", "Edit pair", "Edit the highlighted pair's sides and rules",
       9),
    # --- workbench: moving in a pane ----------------------------------------------------
    _A("pane", "down,j", "cursor_down", "Move", "Next item", 2, "↑↓", palette=False),
    _A("pane", "up,k", "cursor_up", "Up", "Previous item", 0, "↑", palette=False),
    _A("pane", "pagedown", "page_down", "Page down", "One screen of items down", palette=False),
    _A("pane", "pageup", "page_up", "Page up", "One screen of items up", palette=False),
    _A("pane", "home,g", "first", "Top", "First item of the pane", 0, "g"),
    _A("pane", "end,G", "last", "End", "Last item of the pane", 0, "G"),
    _A("pane", "space", "toggle_mark", "Mark",
       "Mark or unmark the item and move to the next (sums show in the border)", 3),
    # --- workbench: deciding -------------------------------------------------------------
    _A("workbench", "tab", "app.focus_next", "Pane", "Next pane (left, right, candidates)",
       palette=False),
    _A("workbench", "shift+tab", "app.focus_previous", "Pane back", "Previous pane",
       palette=False),
    _A("workbench", "enter", "confirm", "Confirm",
       "Confirm the best (or highlighted) candidate as a match", 4),
    _A("workbench", "x", "reject", "Reject",
       "Reject the best (or highlighted) candidate, with a reason; never suggested again", 5),
    _A("workbench", "m", "manual_match", "Match",
       "Match the marked items by hand; a difference needs a reason (fee, FX, rounding, "
       "write-off) within the pair's limits", 6),
    _A("workbench", "u", "undo", "Undo", "Undo the last decision", 7),
    _A("workbench", "slash", "filter", "Filter",
       "Filter the pane by text, amount, date, asset or state", 8, "/"),
    _A("workbench", "ctrl+f", "search", "Search",
       "Search both sides of the pair by text, amount or id", 9),
    _A("workbench", "n", "note", "Note", "Add a note to the focused item", 10),
    _A("workbench", "b", "explain", "Explain",
       "Explain a break (the focused or marked items) with a reason and a note", 11),
    _A("workbench", "s,right_square_bracket", "next_suggested", "Next sugg.",
       "Jump to the next item with a suggestion", 40, "s"),
    _A("workbench", "A", "accept_all", "Accept all",
       "Confirm every suggestion above a score threshold (previewed first)", 41),
    _A("workbench", "F", "saved_filters", "Saved filters",
       "Apply, save or delete this pair's named filters", 42),
    _A("workbench", "o", "cycle_sort", "Sort", "Sort by date or amount, up or down", 43),
    _A("workbench", "d", "toggle_detail", "Detail", "Show or hide the detail pane", 44),
    _A("workbench", "a", "audit", "Audit", "The audit trail of the focused item", 45),
    _A("workbench", "c", "clear_marks", "Clear marks", "Unmark every item of both panes", 46),
    _A("workbench", "e", "export", "Export", "Export a reconciliation session"),
    _A("workbench", "r", "reload", "Reload", "Read both panes again"),
    _A("workbench", "M", "run_matching", "Run matching", "Run the matchers on this pair"),
    _A("workbench", "escape", "app.dashboard", "Back", "Back to the dashboard", palette=False),
    # --- sources -----------------------------------------------------------------------
    _A("sources", "a", "add_source", "Add", "Add a source (its form follows its kind)", 2),
    _A("sources", "enter", "edit_source", "Edit", "Edit the highlighted source", 3),
    _A("sources", "S", "sync_now", "Sync", "Sync the highlighted source now", 4),
    _A("sources", "t", "test_connection", "Test", "Test the source's connection", 5),
    _A("sources", "escape", "app.dashboard", "Back", "Back to the dashboard", palette=False),
    # --- sessions ----------------------------------------------------------------------
    _A("sessions", "n", "new_session", "New", "Open a session for pairs and a period", 2),
    _A("sessions", "c", "close_session", "Close",
       "Close the highlighted session (asks first; lists what is unresolved)", 3),
    _A("sessions", "u", "unresolved", "Unresolved",
       "What keeps the session open (Enter on an item opens it in the workbench)", 4),
    _A("sessions", "e", "export", "Export", "Export the highlighted session", 5),
    _A("sessions", "a", "audit", "Audit", "The session's audit trail", 6),
    _A("sessions", "R", "reopen_session", "Reopen", "Reopen a closed session, with a reason", 7),
    _A("sessions", "down,j", "cursor_down", "Move", "Next session", 8, "↑↓", palette=False),
    _A("sessions", "up,k", "cursor_up", "Up", "Previous session", 0, "↑", palette=False),
    _A("sessions", "r", "reload", "Refresh", "Read the sessions again"),
    _A("sessions", "escape", "back", "Back", "Back to the dashboard", palette=False),
    # --- runs ----------------------------------------------------------------------------
    _A("runs", "r", "reload", "Refresh", "Read the run history again", 2),
    _A("runs", "f", "toggle_failed", "Failed only", "Show only the runs that failed, or all", 3),
    _A("runs", "escape", "back", "Back", "Back to the dashboard", palette=False),
    # --- unresolved items ----------------------------------------------------------------
    _A("unresolved", "enter", "open_record", "Open",
       "Open the highlighted item in its pair's workbench", 2, palette=False),
    _A("unresolved", "escape,q", "close", "Close", "Close the list", 3, "Esc", palette=False),
    # --- audit trail ---------------------------------------------------------------------
    _A("audit", "enter", "open_record", "Open",
       "Open the entry's record in its pair's workbench", 2, palette=False),
    _A("audit", "v", "verify", "Verify", "Verify the hash chain of the audit trail", 3),
    _A("audit", "escape,q", "close", "Close", "Close the audit trail", 4, "Esc", palette=False),
    # --- dialogs -------------------------------------------------------------------------
    _A("dialog", "escape", "cancel", "Cancel", "Close the dialog, changing nothing", 2,
       "Esc", palette=False),
    _A("dialog", "ctrl+s", "submit", "OK", "Submit the dialog (Enter in its last field too)", 3,
       palette=False),
]  # fmt: skip
"""Every action, in the order the help screen and the README list them."""

BY_ID: dict[str, Action] = {a.id: a for a in ACTIONS}


def actions_in(scope: str) -> list[Action]:
    return [a for a in ACTIONS if a.scope == scope]


def bindings_for(scope: str) -> list[Binding]:
    """The Textual bindings of a scope (the footer is ours: ``show`` only marks the entries
    with a footer priority, for anything that reads Textual's own flag)."""
    return [
        Binding(a.keys, a.action, a.label, show=a.footer > 0, key_display=a.key_display,
                priority=a.priority, tooltip=a.description, id=a.id)
        for a in actions_in(scope)
    ]  # fmt: skip


def scopes_of(screen_id: str | None) -> tuple[str, ...]:
    """The scopes a screen's help lists: its own, then ``app``."""
    return (*SCREEN_SCOPES.get(screen_id or "", ()), "app")


def help_rows(scopes: Iterable[str]) -> list[tuple[str, list[Action]]]:
    """(section title, actions) for each scope."""
    return [(SCOPES[s], actions_in(s)) for s in scopes]


def keymap_markdown() -> str:
    """The whole keyboard map as Markdown tables (the README's section)."""
    out = []
    for title, actions in help_rows(SCOPES):
        out.append(f"\n### {title}\n\n| key | action |\n|---|---|")
        for a in actions:
            out.append(f"| `{a.key_text}` | {a.description} |")
    return "\n".join(out).strip()


APP = bindings_for("app")
DASHBOARD = bindings_for("dashboard")
PANE = bindings_for("pane")
WORKBENCH = bindings_for("workbench")
SOURCES = bindings_for("sources")
SESSIONS = bindings_for("sessions")
RUNS = bindings_for("runs")
UNRESOLVED = bindings_for("unresolved")
AUDIT = bindings_for("audit")
MODAL = bindings_for("dialog")
