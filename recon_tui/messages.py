"""Custom messages: how widgets, screens and workers tell each other things, instead of
reaching into each other."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class RowHighlighted(Message):
    """A record pane's cursor moved to ``row`` (``None`` when the pane is empty)."""

    def __init__(self, pane: Any, row: Any) -> None:
        super().__init__()
        self.pane = pane
        self.row = row


class StoreChanged(Message):
    """Records or decisions changed (a sync, a matching run, a decision): refresh views."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class SyncProgress(Message):
    """A sync worker committed a batch of ``source``."""

    def __init__(self, source: str, done: int, total: int | None) -> None:
        super().__init__()
        self.source = source
        self.done = done
        self.total = total


class SyncFinished(Message):
    """A sync (and the matching run after it) ended; ``lines`` say what happened."""

    def __init__(self, lines: list[str], ok: bool) -> None:
        super().__init__()
        self.lines = lines
        self.ok = ok


class OpenPair(Message):
    """Open the workbench on a source pair."""

    def __init__(self, pair: str) -> None:
        super().__init__()
        self.pair = pair


class MarksChanged(Message):
    """A record pane's marked items changed (the workbench shows the running sums)."""

    def __init__(self, pane: Any) -> None:
        super().__init__()
        self.pane = pane
