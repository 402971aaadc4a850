"""The export dialog (the ``e`` key): where to write a session's export, as a folder, a zip
archive or an encrypted bundle, and whether an unclosed session may go out as a draft.

The dialog only returns an :class:`~recon_tui.services.export_request.ExportRequest`; the
app runs it in a worker (scrypt and fsync take seconds) and shows the outcome, a refusal
(unresolved items, an existing target, a full disk) as one line.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Checkbox, Input, Label, OptionList, Static

from recon_tui.screens.modal_base import Dialog
from recon_tui.services.bundle import Services, bundle_for, services_of
from recon_tui.services.export_request import ExportRequest
from recon_tui.services.sessions import Session
from recon_tui.widgets.tick_box import TickBox

CHECKOUT = Path(__file__).resolve().parents[2]
"""The folder recon-tui runs from (its source checkout): never a place for exports."""


def default_folder() -> Path:
    """Where exports go unless the user says otherwise: their documents folder."""
    import platformdirs

    return Path(platformdirs.user_documents_dir()) / "recon-tui exports"


def refuse_folder(target: Path, checkout: Path = CHECKOUT) -> str | None:
    """Why ``target`` is no place for an export (inside recon-tui's own folder), or None."""
    try:
        resolved = target.resolve()
    except OSError:
        return None
    if resolved == checkout or checkout in resolved.parents:
        return (f"Write to: {target} is inside recon-tui's own folder ({checkout}); choose "
                f"another, e.g. {default_folder()}")  # fmt: skip
    return None


class ExportScreen(Dialog[ExportRequest | None]):
    """Choose how to export ``session_id`` (or a session chosen in the dialog)."""

    def __init__(self, services: object | None = None, session_id: int | None = None) -> None:
        super().__init__()
        self._services = bundle_for(services)
        self.session_id = session_id
        self.choices: list[Session] = []

    @property
    def services(self) -> Services:
        return self._services if self._services is not None else services_of(self.app)

    def compose(self) -> ComposeResult:
        sessions = self.services.sessions
        with Vertical(classes="dialog", id="export-dialog") as v:
            v.border_title = "Export session"
            if self.session_id is None:
                # Closed sessions first: they are what an export is for.
                self.choices = sorted(sessions.all(),
                                      key=lambda s: (s.state != "closed", -s.id))  # fmt: skip
                yield Label("Session (↑↓, Enter)")
                yield OptionList(*(f"{s.id}  {s.state:<6} {s.name}" for s in self.choices),
                                 id="export-session")  # fmt: skip
            else:
                s = sessions.get(self.session_id)
                yield Static(f"Session {s.id} '{s.name}' — {s.state}\n{s.scope.label()}",
                             classes="dialog-message")  # fmt: skip
            yield Label("Write to (a new folder; .zip or bundle file with the options below)")
            yield Input(value=str(default_folder()), id="export-out")
            yield TickBox("Zip archive", id="export-zip")
            yield TickBox("Encrypt (AES-256-GCM bundle, passphrase below)", id="export-encrypt")
            yield TickBox("Draft: export even though the session is not closed", id="export-force")
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

    def result(self) -> ExportRequest:
        sid = self.chosen_session()
        out_text = self.query_one("#export-out", Input).value.strip()
        if not out_text:
            raise ValueError("Write to: give a folder to write to")
        refusal = refuse_folder(Path(out_text).expanduser())
        if refusal:
            raise ValueError(refusal)
        draft = self.query_one("#export-force", Checkbox).value
        session = self.services.sessions.get(sid)
        if session.state != "closed" and not draft:
            # Said here, in the dialog's words (the service's refusal speaks to the CLI).
            raise ValueError(f"session {session.id} is {session.state}: close it on the "
                             "sessions screen first, or tick Draft to export it as a draft")
        if Path(out_text).expanduser() == default_folder():
            # The proposed folder holds every export, one named folder each.
            default_folder().mkdir(parents=True, exist_ok=True)
        encrypt = self.query_one("#export-encrypt", Checkbox).value
        passphrase = None
        if encrypt:
            passphrase = self.query_one("#export-pass", Input).value
            if not passphrase:
                raise ValueError("an encrypted export needs a passphrase")
            if passphrase != self.query_one("#export-pass2", Input).value:
                raise ValueError("the two passphrases differ")
        return ExportRequest(
            sid, Path(out_text).expanduser(), zip_archive=self.query_one("#export-zip", Checkbox).value,
            encrypt=encrypt, passphrase=passphrase,
            force=self.query_one("#export-force", Checkbox).value,
        )  # fmt: skip
