"""Every key of the app, named once. Screens and widgets take their ``BINDINGS`` from here,
and the help screen and the README's keyboard map are written from the same lists."""

from __future__ import annotations

from textual.binding import Binding

_MOVE = Binding.Group("Move", compact=True)
_ENDS = Binding.Group("Top/End", compact=True)
_NEXT = Binding.Group("Next sugg.", compact=True)

APP = [
    Binding("question_mark", "app.help", "Help", key_display="?"),
    Binding("f2", "app.dashboard", "Dashboard"),
    Binding("f3", "app.workbench", "Workbench"),
    Binding("f4", "app.sources", "Sources"),
    Binding("f5", "app.sessions", "Sessions"),
    Binding("f6", "app.runs", "Runs", show=False),
    Binding("ctrl+p", "app.command_palette", "Commands", show=False),
    Binding("ctrl+q", "app.quit", "Quit", show=False, priority=True),
]

PANE = [
    Binding("up,k", "cursor_up", "Up", key_display="↑", group=_MOVE),
    Binding("down,j", "cursor_down", "Down", key_display="↓", group=_MOVE),
    Binding("pageup", "page_up", "Page up", show=False),
    Binding("pagedown", "page_down", "Page down", show=False),
    Binding("home,g", "first", "Top", key_display="g", group=_ENDS),
    Binding("end,G", "last", "End", key_display="G", group=_ENDS),
    Binding("space", "toggle_mark", "Mark"),
]

WORKBENCH = [
    Binding("tab", "app.focus_next", "Pane", show=False),
    Binding("shift+tab", "app.focus_previous", "Pane back", show=False),
    Binding("enter", "confirm", "Confirm"),
    Binding("x", "reject", "Reject"),
    Binding("m", "manual_match", "Match marked"),
    Binding("u", "undo", "Undo"),
    Binding("n", "note", "Note"),
    Binding("slash", "filter", "Filter", key_display="/"),
    Binding("A", "accept_all", "Accept all≥"),
    Binding("s", "next_suggested", "Next sugg.", group=_NEXT),
    Binding("right_square_bracket", "next_suggested", "Next sugg.", key_display="]", group=_NEXT),
    Binding("b", "explain", "Explain break"),
    Binding("e", "export", "Export"),
    Binding("a", "audit", "Audit trail", show=False),
    Binding("o", "cycle_sort", "Sort"),
    Binding("d", "toggle_detail", "Detail"),
    Binding("c", "clear_marks", "Clear marks", show=False),
    Binding("r", "reload", "Reload", show=False),
    Binding("M", "run_matching", "Run matching", show=False),
    Binding("escape", "app.dashboard", "Back", show=False),
]

DASHBOARD = [
    Binding("enter", "open_pair", "Open pair"),
    Binding("S", "sync_now", "Sync now"),
    Binding("M", "run_matching", "Run matching"),
    Binding("r", "reload", "Refresh"),
    Binding("e", "export", "Export"),
]

SOURCES = [
    Binding("a", "add_source", "Add source"),
    Binding("enter", "edit_source", "Edit"),
    Binding("S", "sync_now", "Sync now"),
    Binding("t", "test_connection", "Test connection"),
    Binding("escape", "app.dashboard", "Back", show=False),
]

SESSIONS = [
    Binding("n", "new_session", "New session"),
    Binding("c", "close_session", "Close"),
    Binding("R", "reopen_session", "Reopen"),
    Binding("e", "export", "Export"),
    Binding("a", "audit", "Audit trail"),
    Binding("u", "unresolved", "Unresolved"),
    Binding("r", "reload", "Refresh", show=False),
    Binding("escape", "back", "Back", show=False),
]

RUNS = [
    Binding("r", "reload", "Refresh"),
    Binding("f", "toggle_failed", "Failed only"),
    Binding("escape", "back", "Back", show=False),
]

AUDIT = [
    Binding("escape,q", "close", "Close"),
    Binding("v", "verify", "Verify chain"),
]

MODAL = [
    Binding("escape", "cancel", "Cancel"),
    Binding("ctrl+s", "submit", "OK"),
]

KEYMAP_SECTIONS: list[tuple[str, list[Binding]]] = [
    ("Anywhere", APP),
    ("Dashboard", DASHBOARD),
    ("Workbench: moving in a pane", PANE),
    ("Workbench: deciding", WORKBENCH),
    ("Sources", SOURCES),
    ("Sessions", SESSIONS),
    ("Runs", RUNS),
    ("Audit trail", AUDIT),
    ("Dialogs", MODAL),
]
