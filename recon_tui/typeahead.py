"""Keys typed fast land where they would have landed typed slowly (issues 13.6 and 16).

Textual forwards a key to the widget focused *when the app reads it*, and checks the
screen's bindings only when the key bubbles back up unhandled. Two things then go wrong with
a burst of keys (a fast typist, ``tmux send-keys``, a paste of keys):

- **Keys typed while a dialog opens.** Type ``/`` then ``abc`` fast and all four keys go to
  the record pane; ``/`` bubbles back and opens the filter dialog, then ``a``, ``b``, ``c``
  bubble back too, find no binding in the dialog, and are dropped. :class:`TypeAheadApp`
  remembers which screen each key was typed on; a key that bubbles back unhandled after the
  screen has changed is replayed on the screen now shown, as if typed there: its bindings
  first, else the focused widget.
- **Keys typed after one that a binding handles.** In an open dialog, ``name Tab text``: the
  app reads ``t``, ``e``, ``x``, ``t`` and forwards them to the first field while the Tab is
  still on its way back up to the binding that moves the focus, so the Tab looks dropped
  ("nametext" in the first field). Enter in a field (next field), Escape and Ctrl+S (close
  the dialog), Backspace, Home or an arrow in a field (a binding of the field itself) race
  the same way against the characters typed after them. So after a key that types nothing
  (every such key is handled by a binding, if at all) the app *holds* the keys that follow
  until that key's binding has run and the messages it posted have been handled, then
  dispatches them in order. Characters are never held: a character typed into a field is
  the field's own, and a character bound to an action (``/``, ``n``) is the case above.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque

from textual import events
from textual.app import App
from textual.dom import DOMNode
from textual.screen import Screen
from textual.timer import Timer

MOUNT_WAIT_STEPS = 200
"""How long (x 5 ms) a replayed key waits for a screen that is still being mounted."""


HOLD_AT_MOST_S = 0.3
"""A held burst is let go after this long even if the key it waits for never came back (a
widget that consumed it, a screen that closed under it): late rather than lost."""


class TypeAheadApp(App[None]):
    """An :class:`App` that keeps type-ahead keys in order and on the screen they were for."""

    def __init__(self) -> None:
        super().__init__()
        self._typed_on: weakref.WeakKeyDictionary[events.Key, Screen[object]] = (
            weakref.WeakKeyDictionary()
        )
        self._holding: events.Key | None = None
        """The key whose binding the keys in :attr:`_held` wait for (None: nothing held)."""
        self._held: deque[events.Key] = deque()
        self._hold_timer: Timer | None = None

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            if self._holding is not None:
                self._held.append(event)
                return
            if not self.screen_stack:
                # Typed ahead of the quit (the last screen is gone, the app is closing):
                # there is nothing left for it to act on, and asking for the screen raised
                # ScreenStackError out of the app as a crash.
                return
            self._typed_on[event] = self.screen
            if not event.is_printable:
                self._hold_after(event)
            await super().on_event(event)
            if self._holding is event and not event.is_forwarded:
                # A priority binding took it (App.on_event forwards only what none took):
                # it will not come back up, so what it did is done.
                self._release_after_messages()
            return
        await super().on_event(event)

    async def _on_key(self, event: events.Key) -> None:
        # App's own handler runs from here (not after, by the MRO walk), so that the held
        # keys are let go only once the key's binding has run.
        event.prevent_default()
        try:
            await self._dispatch_typed(event)
        finally:
            if self._holding is event:
                self._release_after_messages()

    async def _dispatch_typed(self, event: events.Key) -> None:
        typed_on = self._typed_on.pop(event, None)
        if typed_on is None or typed_on is self.screen:
            await super()._on_key(event)  # the App's own handler: bindings, then key_ methods
            return
        # The key left for a screen that has since been covered (or closed): it belongs to
        # the screen now shown.
        await self._screen_mounted()
        key = event.key
        # Textual's own dispatch of a fresh key (App.on_event), with the screen's bindings
        # checked up front rather than after bubbling: replayed keys arrive faster than a
        # bubbled Tab would move the focus.
        if await self._check_bindings(key, priority=True) or await self._check_bindings(key):
            return
        replay = events.Key(key, event.character)
        replay.set_sender(self)
        (self.screen.focused or self.screen)._forward_event(replay)

    async def _screen_mounted(self) -> None:
        """Wait (a little) for the screen shown to finish mounting: a screen pushed a moment
        ago may still be composing, and its fields (and the one its on_mount focuses) are
        what a key typed now is meant for."""
        screen = self.screen
        for _ in range(MOUNT_WAIT_STEPS):
            if screen.is_mounted:
                return
            await asyncio.sleep(0.005)

    # --- holding the keys typed after one a binding handles ------------------------------------------

    def _hold_after(self, event: events.Key) -> None:
        self._holding = event

        async def give_up() -> None:
            if self._holding is event:
                await self._release()

        # A timer's callback runs in the timer's own task: hand the release to the app's
        # queue, where keys are dispatched one at a time.
        self._hold_timer = self.set_timer(HOLD_AT_MOST_S, lambda: self.call_later(give_up))

    def _release_after_messages(self) -> None:
        """Let the held keys go once what the holding key's binding posted has been handled:
        a callback queued behind those messages on the focused widget, then on each of its
        parents up to the screen (where a dialog moves to its next field on Enter), then on
        the screens below (a dialog's result callback runs on the screen that opened it, and
        may open the next dialog), then on the app itself (behind keys already read but not
        yet dispatched)."""
        holding = self._holding
        nodes: list[DOMNode] = []
        node: DOMNode | None = self.screen.focused or self.screen
        while node is not None and node is not self:
            nodes.append(node)
            node = node.parent
        nodes.extend(s for s in reversed(self.screen_stack) if s not in nodes)
        nodes.append(self)

        def step(i: int) -> None:
            if self._holding is not holding:
                return  # released already (the timer)
            if i == len(nodes) - 1:
                self.call_later(self._release)
            elif not nodes[i].call_later(step, i + 1):
                step(i + 1)  # that widget is closing: nothing more will happen there

        step(0)

    async def _release(self) -> None:
        """Dispatch the held keys in order, as if read now (one may start holding again)."""
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = None
        self._holding = None
        held = list(self._held)
        self._held.clear()
        for i, key in enumerate(held):
            if self._holding is not None:
                # A released key that types nothing holds the rest again, ahead of any kept since.
                self._held.extendleft(reversed(held[i:]))
                return
            await self._screen_mounted()
            await self.on_event(key)
