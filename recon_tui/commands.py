"""Command palette provider: every action of the registry (:mod:`recon_tui.bindings`),
shown with its key and its screen, fuzzy-matched on its label and description; and one
entry per source pair to open its workbench.

An action of another screen goes to that screen first (the workbench of the last pair,
the sessions list…), then runs there, exactly as its key would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from recon_tui.bindings import ACTIONS, SCOPES, Action

NAVIGABLE = ("app", "dashboard", "pane", "workbench", "sources", "sessions", "audit")
"""Scopes the palette can reach from anywhere (dialogs and lists act on what they show)."""


def palette_actions() -> list[Action]:
    return [a for a in ACTIONS if a.palette and a.scope in NAVIGABLE]


def title(a: Action) -> str:
    """What the palette lists and matches: label, key, screen."""
    return f"{a.label} ({a.first_key}) · {SCOPES[a.scope]}"


async def _mounted(app: Any) -> Any:
    """The screen on top once it is mounted (a screen pushed a moment ago composes first)."""
    for _ in range(200):
        screen = app.screen
        if screen.is_mounted:
            return screen
        await asyncio.sleep(0.005)
    return app.screen


async def go_to(app: Any, scope: str) -> Any | None:
    """Show the screen an action belongs to; ``None`` when there is none (no pairs)."""
    from recon_tui.screens.audit import AuditScreen
    from recon_tui.screens.workbench import WorkbenchScreen

    screen = app.screen
    if scope in ("workbench", "pane"):
        if not isinstance(screen, WorkbenchScreen):
            app.action_workbench()
    elif scope == "dashboard":
        if screen.id != "dashboard":
            app.action_dashboard()
    elif scope == "sources":
        app.action_sources()
    elif scope == "sessions":
        app.action_sessions()
    elif scope == "audit" and not isinstance(screen, AuditScreen):
        app.push_screen(AuditScreen())
    screen = await _mounted(app)
    if scope in ("workbench", "pane") and not isinstance(screen, WorkbenchScreen):
        return None
    return screen


async def run(app: Any, a: Action) -> None:
    """Run ``a`` as its key would, on its own screen."""
    if a.scope == "app":
        await app.run_action(a.action)
        return
    screen = await go_to(app, a.scope)
    if screen is None:
        return
    target = screen
    if a.scope == "pane":
        target = getattr(screen, "active", None) or screen.focused or screen
    await app.run_action(a.action, target)


class ReconCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], Awaitable[None] | None], str, float]]:
        app: Any = self.app
        cmds: list[tuple[str, Callable[[], Awaitable[None] | None], str, float]] = [
            (title(a), partial(run, app, a), a.description, 1.0) for a in palette_actions()
        ]
        for p in app.services.pairs.list():
            cmds.append((f"Open pair {p.name} · Workbench", partial(app.open_workbench, p.name),
                         f"{p.left.label()} vs {p.right.label()}", 1.0))  # fmt: skip
        return cmds

    async def discover(self) -> Hits:
        for name, callback, help_text, _ in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text, _ in self._commands():
            # The description counts too ("write-off" finds Match), a little below the name.
            score = max(matcher.match(name), 0.6 * matcher.match(help_text))
            if score > 0:
                shown = matcher.highlight(name) if matcher.match(name) else Text(name)
                yield Hit(score, shown, callback, text=name, help=help_text)
