"""The ``?`` help screen for the screen it opens over: what that screen is for (a section
of help.md) and its keys, from the action registry (:mod:`recon_tui.bindings`).

One ``Static`` of Rich text, not a ``Markdown`` widget: the Markdown widget built a
table per section and took 1.4-1.7 s to open; this paints in one frame.
"""

from __future__ import annotations

import re
import time
from functools import cache
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from recon_tui.bindings import help_rows, keymap_markdown, scopes_of

HELP_MD = Path(__file__).with_name("help.md")

__all__ = ["HelpScreen", "help_text", "keymap_markdown"]


@cache
def sections() -> dict[str, str]:
    """help.md's sections by screen id (read once)."""
    text = HELP_MD.read_text(encoding="utf-8")
    parts = re.split(r"^## (\w+)\s*$", text, flags=re.M)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def _prose(body: str) -> Text:
    """help.md's little markup: paragraphs, **bold** and `code`."""
    out = Text()
    for i, para in enumerate(p for p in re.split(r"\n\s*\n", body) if p.strip()):
        if i:
            out.append("\n\n")
        line = " ".join(para.split())
        for j, chunk in enumerate(re.split(r"(\*\*[^*]+\*\*|`[^`]+`)", line)):
            if j % 2 == 0:
                out.append(chunk)
            elif chunk.startswith("**"):
                out.append(chunk[2:-2], style="bold")
            else:
                out.append(chunk[1:-1], style="bold italic")
    return out


KEY_WIDTH = 14
SCREEN_TITLES = {"dashboard": "Dashboard", "workbench": "Workbench", "sources": "Sources",
                 "sessions": "Sessions", "unresolved": "Unresolved items",
                 "audit": "Audit trail"}  # fmt: skip


def help_text(screen_id: str | None) -> tuple[Text, list[Text]]:
    """The prose and the key sections of a screen's help (plain Rich text: a ``Table``
    per section cost a third of a second to lay out)."""
    prose = _prose(sections().get(screen_id or "", sections()["other"]))
    blocks = []
    for title, actions in help_rows(scopes_of(screen_id)):
        t = Text(no_wrap=False)
        t.append(title, style="bold underline")
        for a in actions:
            t.append("\n")
            t.append(f"{a.key_text:<{KEY_WIDTH}}", style="bold")
            t.append(" " + a.description)
        blocks.append(t)
    return prose, blocks


class HelpScreen(ModalScreen[None]):
    """Help for ``screen_id`` (the screen under it)."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, screen_id: str | None = None) -> None:
        super().__init__()
        self.screen_id = screen_id
        self.asked_s = time.perf_counter()
        """When ``?`` asked for help (for the open-time test and bench)."""
        self.painted_s: float | None = None

    def compose(self) -> ComposeResult:
        prose, blocks = help_text(self.screen_id)
        title = SCREEN_TITLES.get(self.screen_id or "")
        with Vertical(id="help-dialog", classes="dialog") as v:
            v.border_title = f"Help · {title}" if title else "Help"
            with VerticalScroll(id="help-scroll"):
                yield Static(prose, id="help-prose")
                for t in blocks:
                    yield Static(t, classes="help-keys")
            yield Static("Esc: close · ↑↓ PgUp PgDn: scroll · Ctrl+P: every action by name",
                         classes="dialog-keys")  # fmt: skip

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def asked(self) -> None:
        """``?`` was pressed: time the open from now (a kept screen is shown again)."""
        self.asked_s = time.perf_counter()
        self.painted_s = None

    def on_screen_resume(self) -> None:
        self.query_one("#help-scroll").scroll_home(animate=False)
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        self.painted_s = time.perf_counter()

    @property
    def open_s(self) -> float | None:
        """Seconds from ``?`` to the first painted frame of the help."""
        return None if self.painted_s is None else self.painted_s - self.asked_s

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
