"""The Textual application shell: installs the screens, owns the workers that sync and
match, and routes their news to the screens. The work itself lives in services."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from recon_tui import bindings
from recon_tui.commands import ReconCommands
from recon_tui.messages import StoreChanged, SyncFinished, SyncProgress
from recon_tui.screens.dashboard import DashboardScreen
from recon_tui.screens.help import HelpScreen
from recon_tui.screens.sources import SourcesScreen
from recon_tui.screens.workbench import WorkbenchScreen
from recon_tui.services.bundle import Services
from recon_tui.services.export_request import ExportRequest
from recon_tui.services.runs import set_default_origin
from recon_tui.store import Store
from recon_tui.store.records import ts_to_us
from recon_tui.typeahead import TypeAheadApp


class ReconApp(TypeAheadApp):
    """recon-tui's app, constructed with an open store.

    ``now`` pins the clock the views use for ages ("synced 5m ago", break aging), so
    tests and snapshots are deterministic; ``pair`` opens that pair's workbench at start;
    ``blink=False`` keeps text cursors steady (snapshots must not catch a cursor mid-blink).
    """

    TITLE = "recon-tui"
    CSS_PATH = "app.tcss"
    BINDINGS: list[Binding] = bindings.APP  # type: ignore[assignment]
    COMMANDS = App.COMMANDS | {ReconCommands}

    def __init__(
        self, store: Store, *, now: datetime | None = None, pair: str | None = None,
        blink: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.blink = blink
        set_default_origin("app")  # runs started from here are the app's (run history)
        self.store = store
        store.on_wait = self._store_waiting  # a decision waiting on an import says so
        self.services = Services.for_store(store, clock=self.now_us)
        """Every service the screens call, one per job."""
        self._now = now
        self._start_pair = pair
        self._last_pair: str | None = pair
        self.last_session_id: int | None = None
        """The session last highlighted on the sessions screen (F5 puts the cursor back there)."""
        self.syncing = False
        self._heap_frozen = False

    def _store_waiting(self, line: str) -> None:
        """A write (in a worker) waits for another run: one line, the UI keeps going."""
        try:
            self.call_from_thread(self.notify, line, severity="warning")
        except RuntimeError:  # already on the UI thread
            self.notify(line, severity="warning")

    @property
    def _background_screens(self) -> list[Screen[Any]]:
        # Textual counts the screen beneath the top one as showing through even when the
        # top screen is opaque (every plain screen is), and keeps updating it: a hidden
        # dashboard woken by any message (the type-ahead's release walks every screen)
        # re-marked itself dirty forever and passed that on as a repaint of the *whole*
        # top screen, so each key in the workbench composed a full frame (both panes,
        # candidates, detail) instead of the lines it changed. Nothing below an opaque
        # screen is seen: it is repainted when it comes back on top (ScreenResume).
        stack = self._screen_stack
        if stack and stack[-1].styles.background.a == 1 and stack[-1].styles.opacity == 1:
            return []
        return super()._background_screens

    def now_us(self) -> int:
        return ts_to_us(self._now) if self._now is not None else time.time_ns() // 1000

    def on_mount(self) -> None:
        self.install_screen(DashboardScreen(), "dashboard")
        self.install_screen(SourcesScreen(), "sources")
        self.push_screen("dashboard")
        if self._start_pair:
            self.open_workbench(self._start_pair)
        self._check_audit_trail()
        self.set_timer(0.3, self._after_start)
        # Sources with their own interval sync by themselves while the app is open.
        self.set_interval(30, self._sync_due_sources)

    def _sync_due_sources(self) -> None:
        from recon_tui.services.sync import due_sources

        if self.syncing:
            return
        names = due_sources(self.store, time.time_ns() // 1000)
        if names:
            self.syncing = True
            self._sync(names)

    @work(thread=True, group="startup")
    def _check_audit_trail(self) -> None:
        """Walk the hash chain once at start: a tampered store is said loudly."""
        try:
            warning = self.services.audit.startup_check()
        except Exception as exc:  # a failed check is itself a warning, not a crash
            warning = f"audit check failed: {exc}"
        if warning:
            self.call_from_thread(self.notify, warning, severity="error", timeout=30)

    def _fatal_error(self) -> None:
        """An unexpected error: write a crash report instead of Textual's traceback, which
        would print local variables (possibly secrets) on the user's terminal."""
        from rich.text import Text

        from recon_tui.crash import write_crash_report

        exc = self._exception
        where = write_crash_report(exc) if exc is not None else None
        self.bell()
        self._exit_renderables.append(
            Text(f"recon-tui stopped on an unexpected error; a crash report was written to {where}")
        )
        self._close_messages_no_wait()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if not self.blink and hasattr(event.widget, "cursor_blink"):
            event.widget.cursor_blink = False  # type: ignore[attr-defined]

    def on_unmount(self) -> None:
        self.services.close()
        # What the start froze is collectable again once the app is gone (a process that
        # runs the app more than once, as the tests do, would otherwise keep every run's
        # cyclic garbage of the start for good).
        if self._heap_frozen:
            gc.unfreeze()

    # --- navigation ------------------------------------------------------------------------

    def open_workbench(self, pair_name: str, record_id: int | None = None) -> None:
        """Open a pair's workbench (with ``record_id``: its cursor on that record)."""
        pair = self.services.pairs.get(pair_name)
        if pair is None:
            self.notify(f"no source pair '{pair_name}'", severity="error")
            return
        self._last_pair = pair_name
        self._go_base()
        self.push_screen(WorkbenchScreen(pair, record_id=record_id))

    def _go_base(self) -> None:
        # Keep at most dashboard + one other screen on the stack.
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if len(self.screen_stack) == 2 and self.screen.id != "dashboard":
            self.pop_screen()

    def action_dashboard(self) -> None:
        self._go_base()

    def action_workbench(self) -> None:
        if isinstance(self.screen, WorkbenchScreen):
            return
        name = self._last_pair or next((p.name for p in self.services.pairs.list()), None)
        if name is None:
            self.notify("no source pairs yet", severity="warning")
            return
        self.open_workbench(name)

    def action_sources(self) -> None:
        if self.screen.id == "sources":
            return
        self._go_base()
        self.push_screen("sources")

    def action_sessions(self) -> None:
        from recon_tui.screens.sessions import SessionsScreen

        if isinstance(self.screen, SessionsScreen):
            return
        self._go_base()
        self.push_screen(SessionsScreen())

    def action_runs(self) -> None:
        from recon_tui.screens.runs import RunsScreen

        if not isinstance(self.screen, RunsScreen):
            self._go_base()
            self.push_screen(RunsScreen())

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        screen_id = getattr(self.screen, "HELP_ID", None) or self.screen.id
        # Each screen's help is composed once and kept (installed): opening it again is a
        # push of a ready screen, one frame.
        name = self._prepare_help(screen_id)
        help_screen = self.get_screen(name)
        assert isinstance(help_screen, HelpScreen)
        help_screen.asked()
        self.push_screen(name)

    def _prepare_help(self, screen_id: str | None) -> str:
        name = f"help-{screen_id}"
        if not self.is_screen_installed(name):
            self.install_screen(HelpScreen(screen_id), name)
        return name

    def _after_start(self) -> None:
        """While the app idles after its start: the help composed, the heap frozen."""
        self._prepare_all_help()
        self._freeze_startup_heap()

    def _freeze_startup_heap(self) -> None:
        """Leave what the start built (modules, screens, styles: ~75k objects) out of the
        garbage collector's full passes, which walked all of it: ~45 ms of CPU each, 150+ ms
        on a loaded machine, landing on a random key (a confirm's p95 at 1M per side was
        such a pass). The cyclic garbage of the start still uncollected then (~2k objects)
        stays: collecting it first would cost that full pass on the UI thread now."""
        gc.freeze()
        self._heap_frozen = True

    def _prepare_all_help(self) -> None:
        """Compose the main screens' help while the app idles, so ``?`` is one frame."""
        for screen_id in ("workbench", "dashboard", "sessions", "sources"):
            self._prepare_help(screen_id)

    def action_export(self, session_id: int | None = None) -> None:
        from recon_tui.screens.export import ExportScreen

        self.push_screen(ExportScreen(session_id=session_id), self.run_export)

    def run_export(self, request: ExportRequest | None) -> None:
        """Run what the export dialog asked for, in a worker (scrypt, writes, fsync)."""
        if request is not None:
            self.notify(f"exporting session {request.session_id}…")
            self._export(request)

    @work(thread=True, exclusive=True, group="export")
    def _export(self, request: ExportRequest) -> None:
        try:
            line, ok = request.run(self.store).line(), True
        except Exception as exc:  # one line, never a crash: a full disk, a refusal
            line, ok = str(exc), False
        self.call_from_thread(self.notify, line, severity="information" if ok else "error")

    # --- workers ---------------------------------------------------------------------------

    def _broadcast(self, message: Any) -> None:
        """Send a message to every screen on the stack (and installed ones) that cares."""
        seen = set()
        for screen in [*self.screen_stack, *self._installed_screens.values()]:
            if isinstance(screen, str) or id(screen) in seen:
                continue
            seen.add(id(screen))
            screen.post_message(message.__class__(*_args(message)))

    def sync_now(self, names: Iterable[str] | None = None) -> None:
        if self.syncing:
            self.notify("a sync is already running", severity="warning")
            return
        self.syncing = True
        self.notify("sync started")
        self._sync(list(names) if names else None)

    @work(thread=True, exclusive=True, group="sync")
    def _sync(self, names: list[str] | None) -> None:
        from recon_tui.services.sync import sync_all

        def progress(source: str, done: int, total: int | None) -> None:
            self.call_from_thread(self._broadcast, SyncProgress(source, done, total))

        lines: list[str] = []
        ok = True
        changed: list[int] = []
        try:
            with self.store.run_lock("sync"):  # one writing run at a time, across processes
                for report in sync_all(self.store, names, progress=progress):
                    lines.append(report.line())
                    ok = ok and report.ok
                    changed.extend(report.changed_ids)
                lines += _match_lines(self.store, changed_ids=changed) if changed else []
        except Exception as exc:  # never let a worker crash the app
            ok = False
            lines.append(f"sync failed: {exc}")
        self.call_from_thread(self._synced, lines, ok)

    def _synced(self, lines: list[str], ok: bool) -> None:
        self.syncing = False
        self.notify("\n".join(lines[-6:]) or "nothing to sync",
                    severity="information" if ok else "error")  # fmt: skip
        self._broadcast(SyncFinished(lines, ok))

    def run_matching(self, pairs: list[str] | None = None) -> None:
        self._match(pairs)

    @work(thread=True, exclusive=True, group="match")
    def _match(self, pairs: list[str] | None) -> None:
        lines = _match_lines(self.store, pairs=pairs)
        self.call_from_thread(self._matched, lines)

    def _matched(self, lines: list[str]) -> None:
        self.notify("\n".join(lines[-6:]) or "matching done")
        self._broadcast(StoreChanged("matching"))


def _args(message: Any) -> tuple[Any, ...]:
    if isinstance(message, SyncProgress):
        return (message.source, message.done, message.total)
    if isinstance(message, SyncFinished):
        return (message.lines, message.ok)
    if isinstance(message, StoreChanged):
        return (message.reason,)
    raise TypeError(type(message).__name__)


def _match_lines(store: Store, **kwargs: Any) -> list[str]:
    from recon_tui.services.matching import MatchService

    try:
        with store.run_lock("match"):  # one writing run at a time, across processes
            return list(MatchService(store).run_all(**kwargs).lines())
    except Exception as exc:  # the matcher failing is news, not a crash
        return [f"matching failed: {exc}"]
