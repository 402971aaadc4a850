"""The sources screen: every configured source with its health; add or edit one through a
form generated from its adapter's declared settings and secrets; test the connection; sync.

Every read and write goes through :mod:`recon_tui.services.sources`; saving a form and
testing a connection run in workers, never on the UI thread."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from recon_tui import bindings
from recon_tui.messages import SyncFinished
from recon_tui.screens.source_form import KindScreen, SourceDraft, SourceFormScreen
from recon_tui.services import sources as svc
from recon_tui.services.workbench import SourceHealth, ago


class SourcesScreen(Screen[None]):
    BINDINGS = bindings.SOURCES

    def __init__(self) -> None:
        super().__init__(id="sources")
        self.items: list[SourceHealth] = []

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        lst = OptionList(id="sources-list")
        lst.border_title = "Sources (a: add · Enter: edit · t: test · S: sync)"
        yield lst
        yield Static("", id="sources-status")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    def load(self) -> None:
        store = self.app.store  # type: ignore[attr-defined]
        now = self.app.now_us()  # type: ignore[attr-defined]
        self.items = [SourceHealth(s, 0) for s in svc.list_sources(store)]
        lst = self.query_one("#sources-list", OptionList)
        keep = lst.highlighted
        lst.clear_options()
        for h in self.items:
            t = Text(no_wrap=True, overflow="ellipsis")
            t.append(f"{h.info.name:<12}", style="bold")
            t.append(f" {h.info.kind:<11} {h.health:<13} synced {ago(h.info.last_sync_us, now)}")
            if h.info.last_error and h.health == "failing":
                t.append(f"\n  {h.info.last_error}")
            lst.add_option(Option(t, id=h.info.name))
        if self.items:
            lst.highlighted = min(keep or 0, len(self.items) - 1)
        lst.focus()

    def _current(self) -> SourceHealth | None:
        i = self.query_one("#sources-list", OptionList).highlighted
        return self.items[i] if i is not None and 0 <= i < len(self.items) else None

    def action_add_source(self) -> None:
        def chosen(kind: str | None) -> None:
            if kind:
                self.app.push_screen(SourceFormScreen(kind), self._save)

        self.app.push_screen(KindScreen(), chosen)

    def action_edit_source(self) -> None:
        cur = self._current()
        if cur is None:
            return
        self.app.push_screen(SourceFormScreen(cur.info.kind, cur.info), self._save)

    def _save(self, draft: SourceDraft | None) -> None:
        if draft is not None:
            self.query_one("#sources-status", Static).update(f"saving {draft.name}…")
            self._save_draft(draft)

    @work(thread=True, exclusive=True, group="save")
    def _save_draft(self, d: SourceDraft) -> None:
        try:
            message = svc.save_draft(self.app.store, d.name, d.kind, d.settings, d.secrets,  # type: ignore[attr-defined]
                                     replace=d.replace, label=d.label,
                                     interval_s=d.interval_s)  # fmt: skip
        except (svc.SourceSettingsError, ValueError) as exc:
            message = str(exc)
        self.app.call_from_thread(self._saved, message)

    def _saved(self, message: str) -> None:
        self._tested(message)
        self.load()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_edit_source()

    def action_sync_now(self) -> None:
        cur = self._current()
        self.app.sync_now([cur.info.name] if cur else None)  # type: ignore[attr-defined]

    def action_test_connection(self) -> None:
        cur = self._current()
        if cur is not None:
            self.query_one("#sources-status", Static).update(f"testing {cur.info.name}…")
            self._test(cur.info.name)

    @work(thread=True, exclusive=True, group="test")
    def _test(self, name: str) -> None:
        self.app.call_from_thread(self._tested, svc.test_connection(self.app.store, name))  # type: ignore[attr-defined]

    def _tested(self, message: str) -> None:
        self.query_one("#sources-status", Static).update(message)
        self.notify(message)

    def on_sync_finished(self, event: SyncFinished) -> None:
        self.load()

