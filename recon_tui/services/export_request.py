"""What the export dialog asks for, as data: the dialog returns it, and the app (or the
sessions screen) runs it in a worker, since scrypt and the writes' fsync take seconds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recon_tui.store import Store


@dataclass(slots=True, frozen=True)
class ExportRequest:
    session_id: int
    out: Path
    zip_archive: bool = False
    encrypt: bool = False
    passphrase: str | None = None
    force: bool = False

    def __repr__(self) -> str:  # never show the passphrase
        return (f"ExportRequest(session_id={self.session_id}, out={str(self.out)!r}, "
                f"zip_archive={self.zip_archive}, encrypt={self.encrypt}, force={self.force})")

    def run(self, store: Store) -> Any:
        """Export (``services.export.export_session``); returns its ``ExportResult``.
        An ``ExportRefused`` becomes one ``ValueError`` line naming what is unresolved."""
        from recon_tui.services import export as export_service

        try:
            return export_service.export_session(
                store, self.session_id, self.out, zip_archive=self.zip_archive,
                encrypt=self.encrypt, passphrase=self.passphrase, force=self.force,
            )  # fmt: skip
        except export_service.ExportRefused as exc:
            shown = "; ".join(r.line() for r in exc.unresolved[:3])
            raise ValueError(f"{exc}{': ' + shown if shown else ''}") from None
