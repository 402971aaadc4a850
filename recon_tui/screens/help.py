"""The ``?`` help screen: what the app is, then the keyboard map generated from
:mod:`recon_tui.bindings` (so it can never disagree with the keys)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

from recon_tui.bindings import KEYMAP_SECTIONS

HELP_MD = Path(__file__).with_name("help.md")

_KEY_NAMES = {
    "question_mark": "?", "slash": "/", "right_square_bracket": "]", "space": "Space",
    "enter": "Enter", "escape": "Esc", "tab": "Tab", "shift+tab": "Shift+Tab",
    "pageup": "PgUp", "pagedown": "PgDn", "home": "Home", "end": "End", "up": "↑",
    "down": "↓",
}  # fmt: skip


def key_names(b: Binding) -> str:
    keys = [_KEY_NAMES.get(k.strip(), k.strip()) for k in b.key.split(",")]
    return " / ".join(k.replace("ctrl+", "Ctrl+") for k in keys)


def keymap_markdown() -> str:
    out = []
    for title, section in KEYMAP_SECTIONS:
        out.append(f"\n## {title}\n\n| key | action |\n|---|---|")
        for b in section:
            out.append(f"| `{key_names(b)}` | {b.description} |")
    return "\n".join(out)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog") as v:
            v.border_title = "Help"
            with VerticalScroll(id="help-scroll"):
                yield Markdown(HELP_MD.read_text(encoding="utf-8") + keymap_markdown())
            yield Static("Esc: close · ↑↓ PgUp PgDn: scroll", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
