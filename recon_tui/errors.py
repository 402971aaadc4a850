"""Errors the services raise for something a user asked that cannot be done as asked.

Each message is one line a user can act on. They live below every service (and the store
may raise :class:`GroupConflict`), so no service imports another just for its errors.
"""

from __future__ import annotations


class ReconError(ValueError):
    """Base class: ``str(exc)`` is the user-facing line."""


class DecisionError(ReconError):
    """An operator action that cannot be done as asked; the message says why."""


class GroupConflict(DecisionError):
    """A group write whose records are no longer free (another run or decision took them
    first); checked inside the write's own transaction."""


class SessionLocked(DecisionError):
    """A decision touching a closed (read-only) session."""


class SessionError(ReconError):
    """A session operation that cannot be done as asked."""


class PairError(ReconError):
    """A source pair that cannot be added, changed or removed as asked."""
