"""Run history: ``with record_run(store, "sync", "kraken") as run:`` around every sync,
match, export and verify, whoever starts it (the CLI, the app, the service, an API token).

Who started a run is the *origin* (``cli``, ``app``, ``service``, ``api``) and *started_by*
(the OS user, or ``token:<name>``). A process sets its origin once
(:func:`set_default_origin`); a scope overrides it for the runs inside
(:func:`started_by`). A run started inside another run records it as its parent (an API
``POST /v1/runs`` sync is a parent run; each source's sync a child).

The row is written at start and at finish in two short transactions, so a run never holds
the write lock while it works; a failure to write history never fails the work itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import stamina

from recon_tui.store import Store
from recon_tui.store import runs as runs_store
from recon_tui.store.audit import current_actor
from recon_tui.store.db import DatabaseError

log = logging.getLogger("recon_tui.runs")

_default_origin = "cli"
_origin: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "recon_run_origin", default=None
)
_current: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "recon_current_run", default=None
)


class Interrupted(BaseException):
    """Raised between two committed batches when the service is shutting down.

    A ``BaseException`` so the services' ``except Exception`` (which turns source errors
    into a failed report) lets it through: the run is ``interrupted``, not ``failed``.
    """


def set_default_origin(origin: str) -> None:
    """What this process is: ``cli`` (the default), ``app`` or ``service``."""
    global _default_origin
    _default_origin = origin


def default_origin() -> str:
    return _default_origin


@contextlib.contextmanager
def started_by(origin: str, who: str) -> Iterator[None]:
    """Runs started inside this block are recorded as started by ``who`` from ``origin``."""
    token = _origin.set((origin, who))
    try:
        yield
    finally:
        _origin.reset(token)


def _who() -> tuple[str, str]:
    given = _origin.get()
    return given if given is not None else (_default_origin, current_actor())


@dataclass(slots=True)
class Run:
    """The handle a run's body fills in: counts, and an outcome when it is not plain ok."""

    id: int
    counts: dict[str, Any] = field(default_factory=dict)
    outcome: str | None = None
    error: str | None = None
    discard: bool = False
    """Set by a body that turned out to do nothing worth a row (an empty incremental match)."""

    def fail(self, error: str) -> None:
        self.outcome = "failed"
        self.error = error


def current_run() -> int | None:
    """The id of the run the calling code runs inside, if any."""
    return _current.get()


def _busy(exc: Exception) -> bool:
    return isinstance(exc, DatabaseError) and ("locked" in str(exc) or "busy" in str(exc))


def _retrying(fn: Callable[[], Any]) -> Any:
    """A history write retried a few times when another process holds the store's write
    lock past the busy timeout (a long match write): the row must not be lost."""
    for attempt in stamina.retry_context(on=_busy, attempts=4, wait_initial=0.2, wait_max=2.0):
        with attempt:
            return fn()
    return None  # pragma: no cover - retry_context re-raises the last error


def start_run(store: Store, kind: str, scope: str | None = None,
              parent_id: int | None = None) -> int:  # fmt: skip
    """Write a ``running`` row now (e.g. to return its id to an API caller) and return it."""
    origin, who = _who()
    parent = parent_id if parent_id is not None else _current.get()
    return int(_retrying(lambda: runs_store.insert_run(
        store, kind, scope, origin=origin, started_by=who, parent_id=parent)))  # fmt: skip


@contextlib.contextmanager
def record_run(
    store: Store, kind: str, scope: str | None = None, *, run_id: int | None = None
) -> Iterator[Run]:
    """Record the enclosed work as one run (or finish the pre-started ``run_id``).

    An exception marks the run ``failed`` with its one-line message and is re-raised;
    :class:`Interrupted` and ``KeyboardInterrupt`` mark it ``interrupted``.
    """
    rid = run_id
    if rid is None:
        try:
            rid = start_run(store, kind, scope)
        except Exception as exc:  # history must never stop the work
            log.warning("could not record a %s run: %s", kind, exc)
            rid = None
    run = Run(rid or 0)
    token = _current.set(rid) if rid else None
    try:
        yield run
    except (Interrupted, KeyboardInterrupt):
        _finish(store, run, "interrupted", "stopped before it finished")
        raise
    except BaseException as exc:
        _finish(store, run, "failed", f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc))
        raise
    else:
        _finish(store, run, run.outcome or "ok", run.error)
    finally:
        if token is not None:
            _current.reset(token)


def _finish(store: Store, run: Run, outcome: str, error: str | None) -> None:
    if not run.id:
        return
    try:
        if run.discard and outcome == "ok":
            _retrying(lambda: runs_store.discard_run(store, run.id))
            return
        _retrying(lambda: runs_store.finish_run(store, run.id, outcome, run.counts, error))
    except Exception as exc:  # never mask the work's own result
        log.warning("could not finish run %s: %s", run.id, exc)


def pid_alive(pid: int | None) -> bool:
    """Whether a process of this machine still exists (for runs left ``running``)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_orphans(store: Store) -> int:
    """Runs whose process died (a kill, a crash) are marked ``interrupted``."""
    return runs_store.mark_orphans(store, pid_alive)


Args = dict[str, Any]
P = ParamSpec("P")
R = TypeVar("R")


def recorded(
    kind: str,
    *,
    scope: Callable[[Args], str | None],
    store: Callable[[Args], Store] = lambda a: a["store"],
    skip: Callable[[Args], bool] | None = None,
    summary: Callable[[Run, Any], None] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a service entry point so each call is a recorded run (one line at the
    entry point instead of a ``with`` block around its body).

    ``scope``/``store``/``skip`` read the call's bound arguments; ``summary(run, result)``
    turns the result into counts and, for a result that reports a failure, an outcome.
    """

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            a = bound.arguments
            if skip is not None and skip(a):
                return fn(*args, **kwargs)
            with record_run(store(a), kind, scope(a)) as run:
                result = fn(*args, **kwargs)
                if summary is not None:
                    summary(run, result)
            return result

        return call

    return wrap


# --- summaries of the services' results ---------------------------------------------------


def sync_summary(run: Run, report: Any) -> None:
    run.counts = {k: getattr(report, k) for k in
                  ("added", "changed", "removed", "unchanged", "prices", "batches")}  # fmt: skip
    if not report.ok:
        run.fail(report.error or "sync failed")


def match_summary(run: Run, pair_run: Any) -> None:
    run.counts = {"mode": pair_run.mode, "scope": pair_run.scope, "auto": pair_run.auto,
                  "suggested": pair_run.suggested, "reopened": pair_run.reopened}  # fmt: skip
    # An incremental run that found nothing of its pair in the changes is no run at all.
    run.discard = pair_run.mode == "incremental" and pair_run.scope == 0


def export_summary(run: Run, result: Any) -> None:
    run.counts = {"files": len(result.files), "unresolved": result.unresolved,
                  "draft": result.draft, "encrypted": result.encrypted}  # fmt: skip


def startup_check_summary(run: Run, warning: str | None) -> None:
    if warning:
        run.fail(warning)


def verify_summary(run: Run, report: Any) -> None:
    run.counts = {"entries": report.entries, "head": report.head,
                  "problems": len(report.state_problems)}  # fmt: skip
    if not report.ok:
        run.fail(report.lines()[0])
