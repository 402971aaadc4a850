"""The audit trail as the app reads it: decisions of a record, group or session (or the
newest ones), and the whole-store check. ``verify`` walks the whole chain: call it from a
worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recon_tui.services import history
from recon_tui.services.runs import recorded, verify_summary
from recon_tui.services.verify import AuditReport, startup_check, verify_all
from recon_tui.store import Store
from recon_tui.store.db import Connection


class AuditService:
    def __init__(self, store: Store, reader: Callable[[], Connection] | None = None) -> None:
        self.store = store
        self._reader = reader or store.connection
        """Where reads go: the app passes its panes' ``conn`` (a reader of the UI thread's
        own there, the worker's connection in a worker)."""

    def _conn(self) -> Connection:
        return self._reader()

    def decisions(self, *, record_id: int | None = None, group_id: int | None = None,
                  session_id: int | None = None, recent: int = 200) -> list[dict[str, Any]]:  # fmt: skip
        conn = self._conn()
        if record_id is None and group_id is None and session_id is None:
            return history.recent(conn, recent)
        return history.decisions_for(conn, record_id=record_id, group_id=group_id,
                                     session_id=session_id)  # fmt: skip

    @recorded("verify", scope=lambda a: "audit", store=lambda a: a["self"].store,
              summary=verify_summary)  # fmt: skip
    def verify(self) -> AuditReport:
        return verify_all(self._conn())

    def startup_check(self) -> str | None:
        return startup_check(self.store)
