"""Add or edit a source: pick a kind, then a form generated from the adapter's ``SETTINGS``
and ``SECRETS``. Secrets go straight to the keyring (or the encrypted store) and are never
shown again; for CSV statements a live preview shows how the column mapping reads the file."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Label, OptionList, Select, Static

from adapters import registry
from adapters.base import Setting
from recon_tui.screens.modal_base import Dialog
from recon_tui.store.sources import SourceInfo, add_source, set_secret


class KindScreen(Dialog[str | None]):
    """Choose a source kind from the adapter registry."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="kind-dialog") as v:
            v.border_title = "New source: kind"
            yield OptionList(*registry.kinds(), id="kind-list")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("↑↓ Enter: choose · Esc: cancel", classes="dialog-keys")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(str(event.option.prompt))

    def result(self) -> str | None:
        lst = self.query_one(OptionList)
        return registry.kinds()[lst.highlighted] if lst.highlighted is not None else None


class SourceFormScreen(Dialog[str | None]):
    """Returns the saved source's name."""

    def __init__(self, kind: str, info: SourceInfo | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.info = info
        try:
            self.cls: Any = registry.get(kind)
        except Exception as exc:  # a broken plugin: say so in the form
            self.cls = None
            self.load_error = str(exc)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="source-dialog") as v:
            v.border_title = f"{'Edit' if self.info else 'Add'} source ({self.kind})"
            with VerticalScroll(id="source-fields"):
                if self.cls is None:
                    yield Static(f"cannot load kind '{self.kind}': {self.load_error}")
                    return
                yield Label("Name")
                yield Input(self.info.name if self.info else "", id="src-name",
                            disabled=self.info is not None)  # fmt: skip
                settings = self.info.settings if self.info else {}
                for s in self.cls.SETTINGS:
                    yield Label(_label(s))
                    value = settings.get(s.name, s.default)
                    if s.choices:
                        yield Select([(c, c) for c in s.choices], value=value or s.choices[0],
                                     allow_blank=False, id=f"set-{s.name}")  # fmt: skip
                    else:
                        yield Input("" if value is None else str(value), placeholder=s.help,
                                    id=f"set-{s.name}")  # fmt: skip
                for s in self.cls.SECRETS:
                    yield Label(_label(s) + " (secret: leave empty to keep)")
                    yield Input(password=True, id=f"secret-{s.name}")
            if self.kind == "csv":
                preview = Static("", id="csv-preview")
                preview.border_title = "Preview (first 10 lines)"
                yield preview
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Tab: next field · Ctrl+S: save · Esc: cancel", classes="dialog-keys")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def _values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for s in self.cls.SETTINGS:
            w = self.query_one(f"#set-{s.name}")
            value = w.value if isinstance(w, Input | Select) else None
            if value not in (None, "", Select.BLANK):
                out[s.name] = value
        return out

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.kind == "csv" and (event.input.id or "").startswith("set-"):
            self._preview(self._values())

    @work(thread=True, exclusive=True, group="preview")
    def _preview(self, values: dict[str, Any]) -> None:
        from adapters.file_csv import preview

        path = values.get("path")
        if not path:
            return
        try:
            rows = preview(str(path), values, n=10)
        except Exception as exc:  # a half-typed mapping is normal while editing
            self.app.call_from_thread(self._show_preview, str(exc))
            return
        table = Table(box=None, expand=False)
        for col in ("line", "date", "amount", "text / error"):
            table.add_column(col)
        for r in rows:
            if r.record is not None:
                rec = r.record
                table.add_row(str(r.line), f"{rec.ts:%Y-%m-%d}", f"{rec.amount} {rec.asset}",
                              rec.counterparty or rec.reference or rec.memo or "")  # fmt: skip
            else:
                table.add_row(str(r.line), "", "", r.error or "")
        self.app.call_from_thread(self._show_preview, table)

    def _show_preview(self, content: Any) -> None:
        self.query_one("#csv-preview", Static).update(content)

    def result(self) -> str:
        if self.cls is None:
            raise ValueError("this kind cannot be loaded")
        name = self.info.name if self.info else self.query_one("#src-name", Input).value.strip()
        if not name:
            raise ValueError("give the source a name")
        values = self._values()
        missing = [s.name for s in self.cls.SETTINGS if s.required and s.name not in values]
        if missing:
            raise ValueError(f"required: {', '.join(missing)}")
        store = self.app.store  # type: ignore[attr-defined]
        add_source(store, name, self.kind, values, label=self.info.label if self.info else None,
                   interval_s=self.info.interval_s if self.info else None,
                   replace=self.info is not None)  # fmt: skip
        for s in self.cls.SECRETS:
            w = self.query_one(f"#secret-{s.name}", Input)
            if w.value:
                set_secret(store, name, s.name, w.value)
                w.value = ""  # gone from the form as soon as it is stored
        return name


def _label(s: Setting) -> str:
    return s.label + (" *" if s.required else "")
