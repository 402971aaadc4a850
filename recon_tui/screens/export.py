"""The export dialog (the ``e`` key): where to write a session's export, as a folder, a zip
archive or an encrypted bundle, and whether an unclosed session may go out as a draft.

The dialog only gathers the choices (:class:`~recon_tui.services.export.ExportRequest`);
the export itself (:func:`~recon_tui.services.export.run_request`: scrypt, the streamed
files, fsync) runs in a thread worker, never on the UI thread. A refusal (unresolved
items, an existing target, a full disk) is shown as the dialog's one-line error; success
closes the dialog with the result.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Checkbox, Input, Label, OptionList, Static

from recon_tui.screens.modal_base import Dialog
from recon_tui.services import export as export_service
from recon_tui.services import sessions
from recon_tui.store import Store


class ExportScreen(Dialog[export_service.ExportResult | None]):
    """Export ``session_id`` (or a session chosen in the dialog); returns the result."""

    def __init__(self, store: Store | None = None, session_id: int | None = None) -> None:
        super().__init__()
        self._store = store
        self.session_id = session_id
        self.choices: list[sessions.Session] = []

    @property
    def store(self) -> Store:
        return self._store if self._store is not None else self.app.store  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        conn = self.store.connection()
        with Vertical(classes="dialog", id="export-dialog") as v:
            v.border_title = "Export session"
            if self.session_id is None:
                # Closed sessions first: they are what an export is for.
                self.choices = sorted(sessions.list_sessions(conn),
                                      key=lambda s: (s.state != "closed", -s.id))  # fmt: skip
                yield Label("Session (↑↓, Enter)")
                yield OptionList(*(f"{s.id}  {s.state:<6} {s.name}" for s in self.choices),
                                 id="export-session")  # fmt: skip
            else:
                s = sessions.get_session(conn, self.session_id)
                yield Static(f"Session {s.id} '{s.name}' — {s.state}\n{s.scope.label()}",
                             classes="dialog-message")  # fmt: skip
            yield Label("Write to (a new folder; .zip or bundle file with the options below)")
            yield Input(value=str(Path.cwd()), id="export-out")
            yield Checkbox("Zip archive", id="export-zip")
            yield Checkbox("Encrypt (AES-256-GCM bundle, passphrase below)", id="export-encrypt")
            yield Checkbox("Draft: export even though the session is not closed", id="export-force")
            yield Input(placeholder="passphrase (encrypt only)", password=True, id="export-pass")
            yield Input(placeholder="repeat passphrase", password=True, id="export-pass2")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Ctrl+S: export · Esc: cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        if self.choices:
            self.query_one(OptionList).highlighted = 0

    def chosen_session(self) -> int:
        if self.session_id is not None:
            return self.session_id
        if not self.choices:
            raise ValueError("no sessions yet: open one on the sessions screen")
        i = self.query_one("#export-session", OptionList).highlighted
        if i is None:
            raise ValueError("choose a session")
        return self.choices[i].id

    def result(self) -> export_service.ExportRequest:
        """The user's choices, checked; raises ``ValueError`` with what to fix."""
        sid = self.chosen_session()
        out_text = self.query_one("#export-out", Input).value.strip()
        if not out_text:
            raise ValueError("give a folder to write to")
        encrypt = self.query_one("#export-encrypt", Checkbox).value
        passphrase = None
        if encrypt:
            passphrase = self.query_one("#export-pass", Input).value
            if not passphrase:
                raise ValueError("an encrypted export needs a passphrase")
            if passphrase != self.query_one("#export-pass2", Input).value:
                raise ValueError("the two passphrases differ")
        return export_service.ExportRequest(
            session_id=sid, out=Path(out_text).expanduser(),
            zip_archive=self.query_one("#export-zip", Checkbox).value, encrypt=encrypt,
            passphrase=passphrase, force=self.query_one("#export-force", Checkbox).value,
        )  # fmt: skip

    def action_submit(self) -> None:
        if self.busy:
            return
        try:
            request = self.result()
        except ValueError as exc:
            self.error(str(exc))
            return
        self.busy = True
        self.error("exporting…")
        self.export(request)

    busy = False

    @work(thread=True, exclusive=True, group="export")
    def export(self, request: export_service.ExportRequest) -> None:
        try:
            result = export_service.run_request(self.store, request)
        except export_service.ExportRefused as exc:
            shown = "; ".join(r.line() for r in exc.unresolved[:3])
            self.app.call_from_thread(self._failed, f"{exc}{': ' + shown if shown else ''}")
        except (ValueError, OSError) as exc:  # ExportError, SessionError: one line each
            self.app.call_from_thread(self._failed, str(exc))
        else:
            self.app.call_from_thread(self._done, result)

    def _failed(self, message: str) -> None:
        self.busy = False
        self.error(message)

    def _done(self, result: export_service.ExportResult) -> None:
        self.busy = False
        self.app.notify(result.line())
        self.dismiss(result)
