"""Command palette provider: open any pair's workbench, jump to a screen, sync, match,
export, help; fuzzy-matched like the rest of Textual's palette."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider


class ReconCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app: Any = self.app
        cmds: list[tuple[str, Callable[[], Any], str]] = [
            ("Dashboard", app.action_dashboard, "Sources' health and every pair's progress"),
            ("Sources", app.action_sources, "Add, edit, test and sync sources"),
            ("Sync now", app.sync_now, "Sync every enabled source in the background"),
            ("Run matching", app.run_matching, "Run the matchers on every pair"),
            ("Export", app.action_export, "Export a reconciliation session"),
            ("Help", app.action_help, "Keyboard map and how the workbench works"),
        ]
        for p in app.services.pairs.list():
            cmds.append((f"Open pair {p.name}", partial(app.open_workbench, p.name),
                         f"{p.left.label()} vs {p.right.label()}"))  # fmt: skip
        return cmds

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
