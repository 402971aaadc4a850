"""The read-only lock of closed sessions: the guard every decision calls before it writes.

Which records a closed session holds is :func:`recon_tui.store.sessions.locked_records`;
this turns that into the one refusal a user sees.
"""

from __future__ import annotations

from collections.abc import Iterable

from recon_tui.errors import SessionLocked
from recon_tui.store import groups
from recon_tui.store.db import Connection
from recon_tui.store.sessions import any_closed, locked_records, session_name


def guard(
    conn: Connection,
    record_ids: Iterable[int] = (),
    group_ids: Iterable[int | None] = (),
    session_id: int | None = None,
) -> None:
    """Refuse (:class:`~recon_tui.errors.SessionLocked`) a decision touching a closed
    session: its records, its groups' records, or the session itself."""
    if not any_closed(conn):
        return
    ids = {int(i) for i in record_ids if i is not None}
    ids.update(groups.member_ids(conn, [int(g) for g in group_ids if g is not None]))
    if session_id is not None:
        found = session_name(conn, session_id)
        if found and found[1] == "closed":
            raise SessionLocked(f"session {session_id} '{found[0]}' is closed and read-only "
                                f"(reopen it to change anything)")  # fmt: skip
    locked = locked_records(conn, ids)
    if locked:
        sid = min(locked.values())
        name = (session_name(conn, sid) or ("?", ""))[0]
        shown = sorted(r for r, s in locked.items() if s == sid)
        more = f" and {len(shown) - 5} more" if len(shown) > 5 else ""
        raise SessionLocked(
            f"session {sid} '{name}' is closed: record(s) {', '.join(map(str, shown[:5]))}{more} "
            f"are read-only (reopen the session to change them)"
        )
