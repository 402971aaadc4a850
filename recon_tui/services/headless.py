"""The headless service's runtime: one object that owns the scheduler, the cached overview,
the token checker and the webhook notifier over one open store, and that the API serves.

:meth:`Runtime.start` marks runs orphaned by a dead process as interrupted, checks the
audit trail (a recorded verify run), and starts the threads; :meth:`Runtime.stop` lets the
running sync finish the batch it is writing, then stops everything. :meth:`start_run` is
the API's ``POST /v1/runs``: a parent run row and its audit decision in one transaction,
then the work on the scheduler's pool.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from recon_tui.services import runs
from recon_tui.services.overview import Overview
from recon_tui.services.scheduler import ServiceScheduler
from recon_tui.services.service_log import REDACTOR
from recon_tui.services.tokens import TokenChecker
from recon_tui.services.verify import verify_store
from recon_tui.services.webhooks import Notifier
from recon_tui.store import Store, keys
from recon_tui.store import webhooks as hooks_store
from recon_tui.store.audit import append
from recon_tui.store.pairs import list_pairs
from recon_tui.store.sources import get_secrets, list_sources

log = logging.getLogger("recon_tui.service")


@dataclass(slots=True)
class Options:
    reload_every: float = 5.0
    overview_interval: float = 0.25
    webhook_poll_s: float = 1.0
    webhook_aging_every_s: float = 30.0
    webhook_attempts: int = 5
    webhook_wait_initial: float = 0.5
    verify_on_start: bool = True
    workers: int = 4


class Runtime:
    def __init__(self, store: Store, options: Options | None = None) -> None:
        self.store = store
        self.options = options or Options()
        o = self.options
        self.scheduler = ServiceScheduler(store, reload_every=o.reload_every, workers=o.workers)
        self.overview = Overview(store, min_interval=o.overview_interval)
        self.tokens = TokenChecker(store)
        self.notifier = Notifier(store, poll_s=o.webhook_poll_s,
                                 aging_every_s=o.webhook_aging_every_s,
                                 attempts=o.webhook_attempts,
                                 wait_initial=o.webhook_wait_initial)  # fmt: skip
        self.started = False
        self._lock = threading.Lock()

    # --- lifecycle -----------------------------------------------------------------------

    def register_secrets(self) -> None:
        """Every secret this process could hold goes to the log redactor."""
        from adapters import registry

        REDACTOR.add(self.store._key.hex())
        REDACTOR.add(os.environ.get(keys.PASSPHRASE_ENV))
        for s in list_sources(self.store):
            try:
                names = [x.name for x in registry.get(s.kind).SECRETS]
            except Exception:
                continue
            for value in get_secrets(self.store, s.name, names).values():
                REDACTOR.add(value)
        for h in hooks_store.list_hooks(self.store.connection(), with_secrets=True):
            REDACTOR.add(h.secret)

    def start(self) -> None:
        runs.set_default_origin("service")
        self.register_secrets()
        orphans = runs.mark_orphans(self.store)
        if orphans:
            log.warning("runs left running by a stopped process marked interrupted",
                        extra={"count": orphans})  # fmt: skip
        if self.options.verify_on_start:
            report = verify_store(self.store)
            log.info("audit trail checked", extra={"ok": report.ok, "entries": report.entries})
        self.overview.start()
        self.scheduler.start()
        self.notifier.start()
        self.started = True
        log.info("service started", extra={"jobs": len(self.scheduler.jobs())})

    def stop(self) -> None:
        with self._lock:
            if not self.started:
                return
            self.started = False
        log.info("service stopping: the running batch finishes first")
        self.scheduler.stop(wait=True)
        self.notifier.pump_runs()  # announce the runs that ended with the shutdown
        self.notifier.stop()
        self.overview.stop()
        log.info("service stopped")

    @property
    def ready(self) -> bool:
        return self.started and self.scheduler.running and self.overview.ready

    # --- runs on demand ------------------------------------------------------------------------

    def start_run(self, kind: str, targets: list[str] | None, *, full: bool, token_name: str) -> int:
        """Record a parent run and its audit decision, then queue the work; returns the id."""
        if kind == "sync":
            known = [s.name for s in list_sources(self.store)]
            from recon_tui.services.sync import _needs_file

            default = [s.name for s in list_sources(self.store) if s.enabled and not _needs_file(s)]
        else:
            known = [p.name for p in list_pairs(self.store)]
            default = known
        chosen = list(targets) if targets else default
        unknown = [t for t in chosen if t not in known]
        if unknown:
            what = "source" if kind == "sync" else "pair"
            raise LookupError(f"no {what} named {', '.join(repr(u) for u in unknown)}")
        who = f"token:{token_name}"
        scope = ",".join(chosen) if targets else "*"
        with runs.started_by("api", who), self.store.tx() as conn:
            run_id = runs.start_run(self.store, kind, scope)
            append(conn, "api_run_start", actor=who, actor_kind="api",
                   after={"run_id": run_id, "kind": kind, "targets": chosen, "full": full})  # fmt: skip
        self.scheduler.submit(run_id, kind, chosen, full=full, origin="api", who=who)
        log.info("run started from the API", extra={"run_id": run_id, "kind": kind,
                                                   "token": token_name})  # fmt: skip
        return run_id

    def jobs(self) -> list[dict[str, Any]]:
        return self.scheduler.jobs()
