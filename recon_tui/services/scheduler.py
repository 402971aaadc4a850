"""Scheduled sync and match with APScheduler 3 (in-process ``BackgroundScheduler``).

The schedule is data in the store (:mod:`recon_tui.store.schedule`) over two defaults:
each source with an interval of its own syncs at that interval (``sync:<source>``), and
each pair gets a nightly full match at 02:00 UTC (``match:<pair>``). A row in the table
replaces a job's default (another interval, a cron expression, or off). The scheduler
re-reads the table every few seconds, so ``recon-tui schedule set`` takes effect in a
running service without a restart.

Jobs never overlap themselves (``max_instances=1``), a backlog of missed fires runs once
(``coalesce``), and a fire up to five minutes late still runs (``misfire_grace_time``).
A sync that added or changed records is followed by the incremental match of the pairs
it touches. One source failing is that source's failed run; the others go on. Matching is
serialised on one warm :class:`~recon_tui.services.matching.MatchService`.

:meth:`ServiceScheduler.stop` asks running syncs to stop after the batch they are writing
(:class:`~recon_tui.services.runs.Interrupted` raised between two committed batches), so
a restart resumes from the committed cursor with nothing lost or doubled.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from recon_tui.services import runs
from recon_tui.store import Store, now_us
from recon_tui.store import schedule as schedule_store
from recon_tui.store.pairs import list_pairs
from recon_tui.store.schedule import ScheduleRow
from recon_tui.store.sources import SourceInfo, list_sources

log = logging.getLogger("recon_tui.scheduler")

NIGHTLY_CRON = "0 2 * * *"
JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 300}
RELOAD_EVERY_S = 5.0


class ScheduleError(ValueError):
    """A schedule entry that cannot be: unknown job, bad cron text, both or neither set."""


@dataclass(slots=True)
class Entry:
    """One job of the effective schedule."""

    job: str
    kind: str
    target: str
    interval_s: int | None
    cron: str | None
    full: bool
    enabled: bool
    default: bool
    """True when no row of the table says otherwise."""

    def when(self) -> str:
        if not self.enabled:
            return "off"
        return f"every {self.interval_s}s" if self.interval_s else f"cron '{self.cron}'"

    def trigger(self) -> Any:
        if self.interval_s:
            return IntervalTrigger(seconds=self.interval_s, timezone=UTC)
        return cron_trigger(self.cron or NIGHTLY_CRON)


def cron_trigger(text: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(text, timezone=UTC)
    except ValueError as exc:
        raise ScheduleError(f"cron: '{text}' is not a 5-field crontab expression ({exc})") from None


def _file_only(info: SourceInfo) -> bool:
    from recon_tui.services.sync import _needs_file

    return _needs_file(info)


def effective_schedule(
    store: Store, *, default_interval_s: int | None = None, sources: Iterable[str] | None = None,
    matches: bool = True,
) -> list[Entry]:  # fmt: skip
    """The defaults with the table's rows applied, sorted by job name."""
    wanted = set(sources) if sources else None
    entries: dict[str, Entry] = {}
    for s in list_sources(store):
        if wanted is not None and s.name not in wanted:
            continue
        interval = s.interval_s or default_interval_s
        entries[f"sync:{s.name}"] = Entry(
            f"sync:{s.name}", "sync", s.name, interval, None, False,
            enabled=bool(interval) and s.enabled and not _file_only(s), default=True,
        )  # fmt: skip
    if matches:
        for p in list_pairs(store):
            entries[f"match:{p.name}"] = Entry(f"match:{p.name}", "match", p.name, None,
                                               NIGHTLY_CRON, True, True, True)  # fmt: skip
    for row in schedule_store.list_rows(store.connection()):
        if row.kind == "sync" and wanted is not None and row.target not in wanted:
            continue
        if row.kind == "match" and not matches:
            continue
        entries[row.job] = Entry(row.job, row.kind, row.target, row.interval_s, row.cron,
                                 row.full, row.enabled, False)  # fmt: skip
    return [entries[k] for k in sorted(entries)]


def parse_job(job: str) -> tuple[str, str]:
    kind, sep, target = job.partition(":")
    if not sep or kind not in ("sync", "match") or not target:
        raise ScheduleError(f"job '{job}' is not 'sync:<source>' or 'match:<pair>'")
    return kind, target


def set_entry(
    store: Store, job: str, *, interval_s: int | None = None, cron: str | None = None,
    full: bool | None = None, enabled: bool = True,
) -> Entry:  # fmt: skip
    """Write a job's row (validated: the target exists, one of interval/cron, cron parses)."""
    kind, target = parse_job(job)
    names = {s.name for s in list_sources(store)} if kind == "sync" else {
        p.name for p in list_pairs(store)}  # fmt: skip
    if target not in names:
        what = "source" if kind == "sync" else "pair"
        raise ScheduleError(f"no {what} named '{target}'")
    current = next((e for e in effective_schedule(store) if e.job == job), None)
    if interval_s is not None and cron is not None:
        raise ScheduleError("give --every or --cron, not both")
    if interval_s is None and cron is None:
        if current is not None and (current.interval_s or current.cron):
            interval_s, cron = current.interval_s, current.cron
        elif enabled:
            raise ScheduleError("give --every DURATION or --cron 'm h dom mon dow'")
    if interval_s is not None and interval_s < 1:
        raise ScheduleError("an interval is at least 1s")
    if cron is not None:
        cron_trigger(cron)
    if full is None:
        full = current.full if current is not None else kind == "match"
    with store.tx() as conn:
        schedule_store.upsert(conn, ScheduleRow(job, kind, target, interval_s, cron, full,
                                                enabled, now_us()))  # fmt: skip
    return next(e for e in effective_schedule(store) if e.job == job)


def remove_entry(store: Store, job: str) -> bool:
    """Drop a job's row: the job goes back to its default."""
    parse_job(job)
    return schedule_store.delete(store, job)


class ServiceScheduler:
    """The service's scheduler: jobs from the effective schedule, plus runs on demand."""

    def __init__(
        self, store: Store, *, default_interval_s: int | None = None,
        sources: Iterable[str] | None = None, matches: bool = True,
        match_after_sync: bool = True, workers: int = 4, reload_every: float = RELOAD_EVERY_S,
        origin: str = "service", on_report: Callable[[Any], None] | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.on_report = on_report
        """Called with each source's :class:`~recon_tui.services.sync.SyncReport`."""
        self.default_interval_s = default_interval_s
        self.sources = list(sources) if sources else None
        self.matches = matches
        self.match_after_sync = match_after_sync
        self.reload_every = reload_every
        self.origin = origin
        self.stopping = threading.Event()
        self._match_lock = threading.Lock()
        self._matcher: Any = None
        self._jobs: dict[str, tuple[Any, ...]] = {}
        self._adhoc = itertools.count(1)
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(workers)}, job_defaults=JOB_DEFAULTS,
            timezone=UTC,
        )  # fmt: skip

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self.reload()
        self.scheduler.add_job(self._reload_job, IntervalTrigger(seconds=self.reload_every),
                               id="schedule-reload", name="schedule-reload")  # fmt: skip
        self.scheduler.start()

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def stop(self, wait: bool = True) -> None:
        """Stop firing; running syncs stop after the batch they are writing."""
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    def jobs(self) -> list[dict[str, Any]]:
        """The scheduled jobs with their next fire time (for the API and the app)."""
        out = []
        for job in self.scheduler.get_jobs():
            if job.id == "schedule-reload" or job.id.startswith("adhoc:"):
                continue
            nxt = getattr(job, "next_run_time", None)
            out.append({"job": job.id, "next_run": nxt.astimezone(UTC).isoformat() if nxt else None})
        return out

    # --- the schedule ----------------------------------------------------------------------

    def _reload_job(self) -> None:
        try:
            self.reload()
        except Exception as exc:  # a bad row must not stop the scheduler
            log.warning("schedule reload failed: %s", exc)

    def reload(self) -> None:
        """Make the scheduler's jobs match the effective schedule (add, change, remove)."""
        wanted = {
            e.job: e for e in effective_schedule(
                self.store, default_interval_s=self.default_interval_s, sources=self.sources,
                matches=self.matches,
            ) if e.enabled
        }  # fmt: skip
        last_sync = {s.name: s.last_sync_us for s in list_sources(self.store)}
        for job in list(self._jobs):
            if job not in wanted:
                self.scheduler.remove_job(job)
                del self._jobs[job]
                log.info("job removed", extra={"job": job})
        for job, e in wanted.items():
            key = (e.interval_s, e.cron, e.full)
            if self._jobs.get(job) == key:
                continue
            func, args = (self.sync_job, (e.target,)) if e.kind == "sync" else (
                self.match_job, (e.target, e.full))  # fmt: skip
            extra: dict[str, Any] = {}
            if e.kind == "sync" and e.interval_s:
                # An interval job first fires one interval after it is added; a source that
                # is already due (never synced, or the service was down) syncs right away.
                last = last_sync.get(e.target)
                due_us = (last or 0) + e.interval_s * 1_000_000
                if due_us <= now_us():
                    extra["next_run_time"] = datetime.now(UTC)
            self.scheduler.add_job(func, e.trigger(), args=args, id=job, name=job,
                                   replace_existing=True, **extra)  # fmt: skip
            self._jobs[job] = key
            log.info("job scheduled", extra={"job": job, "when": e.when()})

    # --- the work --------------------------------------------------------------------------

    def _progress(self, source: str, done: int, total: int | None) -> None:
        if self.stopping.is_set():
            raise runs.Interrupted(f"{source}: stopped after a committed batch")

    def matcher(self) -> Any:
        if self._matcher is None:
            from recon_tui.services.matching import MatchService

            self._matcher = MatchService(self.store)
        return self._matcher

    def sync_job(self, source: str) -> None:
        try:
            with runs.started_by(self.origin, "scheduler"):
                self.sync_sources([source])
        except runs.Interrupted:
            pass  # recorded as an interrupted run; the next start resumes from the cursor

    def match_job(self, pair: str, full: bool) -> None:
        with runs.started_by(self.origin, "scheduler"):
            self.match_pairs([pair], full=full)

    def sync_sources(self, names: list[str]) -> list[Any]:
        """Sync each source (one failing never stops the next), then match what changed."""
        from recon_tui.services.sync import sync_source

        reports = []
        changed: list[int] = []
        for name in names:
            if self.stopping.is_set():
                break
            try:
                with self.store.run_lock("sync"):  # one writing run at a time, across processes
                    report = sync_source(self.store, name, progress=self._progress)
            except runs.Interrupted:
                log.info("sync interrupted by shutdown", extra={"source": name})
                raise
            except Exception as exc:  # the service outlives any one source's bug
                log.error("sync crashed", extra={"source": name, "error": str(exc)})
                continue
            reports.append(report)
            if self.on_report is not None:
                self.on_report(report)
            log.info("sync finished", extra={"source": name, "ok": report.ok,
                                              "added": report.added, "changed": report.changed,
                                              "error": report.error})  # fmt: skip
            changed.extend(report.changed_ids)
        if changed and self.match_after_sync and not self.stopping.is_set():
            self.match_changed(changed)
        return reports

    def match_changed(self, changed_ids: list[int]) -> None:
        """The incremental match of each pair the changed records belong to."""
        from recon_tui.services.matching import pairs_of

        for pair, ids in pairs_of(self.store, changed_ids).items():
            with self._match_lock, self.store.run_lock("match"):
                try:
                    self.matcher().run_all(pairs=[pair], changed_ids=ids)
                except Exception as exc:
                    log.error("incremental match failed", extra={"pair": pair, "error": str(exc)})

    def match_pairs(self, pairs: list[str], *, full: bool = False) -> None:
        for pair in pairs:
            if self.stopping.is_set():
                break
            with self._match_lock, self.store.run_lock("match"):
                try:
                    for line in self.matcher().run_all(pairs=[pair], full=full).lines():
                        log.info("match finished", extra={"pair": pair, "summary": line})
                except Exception as exc:
                    log.error("match failed", extra={"pair": pair, "error": str(exc)})

    # --- runs on demand (the API's POST) ------------------------------------------------------

    def submit(self, run_id: int, kind: str, targets: list[str], *, full: bool = False,
               origin: str = "api", who: str = "api") -> None:  # fmt: skip
        """Run now, on the scheduler's pool, as the already-recorded parent run ``run_id``."""
        self.scheduler.add_job(self._adhoc_job, args=(run_id, kind, targets, full, origin, who),
                               id=f"adhoc:{next(self._adhoc)}", name=f"{kind} run {run_id}",
                               misfire_grace_time=None)  # fmt: skip

    def _adhoc_job(self, run_id: int, kind: str, targets: list[str], full: bool, origin: str,
                   who: str) -> None:  # fmt: skip
        try:
            with runs.started_by(origin, who), runs.record_run(self.store, kind,
                                                               run_id=run_id) as run:
                self._adhoc_body(run, kind, targets, full)
        except runs.Interrupted:
            pass

    def _adhoc_body(self, run: runs.Run, kind: str, targets: list[str], full: bool) -> None:
        if kind == "sync":
            reports = self.sync_sources(targets)
            failed = [r.source for r in reports if not r.ok]
            run.counts = {"sources": len(reports), "failed": len(failed),
                          "added": sum(r.added for r in reports),
                          "changed": sum(r.changed for r in reports)}  # fmt: skip
            if failed:
                run.fail(f"{len(failed)} source(s) failed: {', '.join(failed)}")
        else:
            self.match_pairs(targets, full=full)
            run.counts = {"pairs": len(targets), "full": full}
