"""Keys typed while a screen or dialog opens are kept (issue 13.6).

Textual forwards a key to the widget focused *when the app reads it*, and checks the
screen's bindings only when the key bubbles back up unhandled. Type ``/`` then ``abc`` fast
and all four keys go to the record pane; ``/`` bubbles back and opens the filter dialog,
then ``a``, ``b``, ``c`` bubble back too, find no binding in the dialog, and are dropped.

:class:`TypeAheadApp` remembers which screen each key was typed on. A key that bubbles back
unhandled after the screen has changed is replayed on the screen now shown, in order, as if
typed there: its bindings first (Tab moves to the next field at once, so the following
characters land in that field), else the focused widget.
"""

from __future__ import annotations

import asyncio
import weakref

from textual import events
from textual.app import App
from textual.screen import Screen

MOUNT_WAIT_STEPS = 200
"""How long (x 5 ms) a replayed key waits for a screen that is still being mounted."""


class TypeAheadApp(App[None]):
    """An :class:`App` that replays type-ahead keys on the screen that has opened since."""

    def __init__(self) -> None:
        super().__init__()
        self._typed_on: weakref.WeakKeyDictionary[events.Key, Screen[object]] = (
            weakref.WeakKeyDictionary()
        )

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            self._typed_on[event] = self.screen
        await super().on_event(event)

    async def _on_key(self, event: events.Key) -> None:
        typed_on = self._typed_on.pop(event, None)
        if typed_on is None or typed_on is self.screen:
            return  # the App's own handler (bindings, then key_ methods) runs next
        # The key left for a screen that has since been covered (or closed): it belongs to
        # the screen now shown. ``prevent_default`` skips App's own handler for it.
        event.prevent_default()
        screen = self.screen
        for _ in range(MOUNT_WAIT_STEPS):
            # A screen pushed a moment ago may still be composing: its fields (and the one
            # its on_mount focuses) are what the key was meant for.
            if screen.is_mounted:
                break
            await asyncio.sleep(0.005)
        key = event.key
        # Textual's own dispatch of a fresh key (App.on_event), with the screen's bindings
        # checked up front rather than after bubbling: replayed keys arrive faster than a
        # bubbled Tab would move the focus.
        if await self._check_bindings(key, priority=True) or await self._check_bindings(key):
            return
        replay = events.Key(key, event.character)
        replay.set_sender(self)
        (self.screen.focused or self.screen)._forward_event(replay)
