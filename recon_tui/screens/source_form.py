"""Add or edit a source: pick a kind, then a form generated from the kind's typed settings.

Each setting renders as its option asks (a switch for yes/no, a select for a choice, an
input otherwise) and is checked by that option as it is typed, so a wrong value is named
next to its field before anything is saved. Secrets are password fields, never shown
again. Kinds that can preview (CSV mappings) show the first rows as the settings read
them, through the sources service in a worker; the form has no branch for any kind.

The dialog only returns a :class:`SourceDraft`; the sources screen saves it through the
service, off the UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.table import Table
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Label, OptionList, Select, Static, Switch

from recon_tui.screens.modal_base import Dialog
from recon_tui.services import sources as svc
from recon_tui.services.sources import SourceInfo


@dataclass(slots=True)
class SourceDraft:
    """What the form returns: the screen saves it through :mod:`recon_tui.services.sources`."""

    name: str
    kind: str
    settings: dict[str, Any]
    secrets: dict[str, str] = field(default_factory=dict)
    replace: bool = False
    label: str | None = None
    interval_s: int | None = None


class KindScreen(Dialog[str | None]):
    """Choose a source kind from the adapter registry."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="kind-dialog") as v:
            v.border_title = "New source: kind"
            yield OptionList(*svc.kinds(), id="kind-list")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("↑↓ Enter: choose · Esc: cancel", classes="dialog-keys")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(str(event.option.prompt))

    def result(self) -> str | None:
        lst = self.query_one(OptionList)
        return svc.kinds()[lst.highlighted] if lst.highlighted is not None else None


class SourceFormScreen(Dialog[SourceDraft | None]):
    """Returns the validated draft of the source (nothing is saved here)."""

    def __init__(self, kind: str, info: SourceInfo | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.info = info
        self.load_error = ""
        try:
            self.spec: svc.KindInfo | None = svc.kind_info(kind)
        except Exception as exc:  # a broken plugin: say so in the form
            self.spec = None
            self.load_error = str(exc)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="source-dialog") as v:
            v.border_title = f"{'Edit' if self.info else 'Add'} source ({self.kind})"
            with VerticalScroll(id="source-fields"):
                if self.spec is None:
                    yield Static(f"cannot load kind '{self.kind}': {self.load_error}")
                    return
                yield Label("Name")
                yield Input(self.info.name if self.info else "", id="src-name",
                            disabled=self.info is not None)  # fmt: skip
                settings = self.info.settings if self.info else {}
                for s in self.spec.settings:
                    yield Label(_label(s), id=f"label-{s.name}")
                    value = settings.get(s.name, s.default)
                    yield _widget(s, value)
                    yield Static("", id=f"err-{s.name}", classes="field-error")
                for s in self.spec.secrets:
                    yield Label(_label(s) + " (secret: leave empty to keep)")
                    yield Input(password=True, id=f"secret-{s.name}")
            if self.spec.can_preview:
                preview = Static("", id="source-preview")
                preview.border_title = "Preview (first 10 lines)"
                yield preview
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("Tab: next field · Ctrl+S: save · Esc: cancel", classes="dialog-keys")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def _values(self) -> dict[str, Any]:
        """The fields as typed (text, bool, choice); empty ones left out."""
        out: dict[str, Any] = {}
        assert self.spec is not None
        stored = self.info.settings if self.info else {}
        for s in self.spec.settings:
            w = self.query_one(f"#set-{s.name}")
            value: Any = w.value if isinstance(w, Input | Select | Switch) else None
            if isinstance(w, Switch | Select):
                # A switch or select always shows something; it counts as set only when it
                # differs from the default or was set before, so a preset's value survives.
                default = s.parse(s.default) if s.default is not None else None
                if value is Select.BLANK:
                    continue
                if s.name in stored or value != (default if default is not None else False):
                    out[s.name] = bool(value) if isinstance(w, Switch) else value
            elif value not in (None, ""):
                out[s.name] = value
        return out

    def _check_field(self, name: str) -> None:
        """Parse one field with its own option; the message goes right under it."""
        assert self.spec is not None
        opt = next(o for o in self.spec.settings if o.name == name)
        w = self.query_one(f"#set-{name}")
        err = self.query_one(f"#err-{name}", Static)
        try:
            opt.parse(getattr(w, "value", None))
        except ValueError as exc:
            err.update(getattr(exc, "message", str(exc)))
            err.set_class(True, "-shown")
            return
        err.update("")
        err.set_class(False, "-shown")

    def on_input_changed(self, event: Input.Changed) -> None:
        wid = event.input.id or ""
        if wid.startswith("set-"):
            self._check_field(wid[4:])
            self._refresh_preview()

    def on_select_changed(self, event: Select.Changed) -> None:
        self._refresh_preview()

    def on_switch_changed(self, event: Switch.Changed) -> None:
        self._refresh_preview()

    def _refresh_preview(self) -> None:
        if self.spec is not None and self.spec.can_preview:
            self._preview(self._values())

    @work(thread=True, exclusive=True, group="preview")
    def _preview(self, values: dict[str, Any]) -> None:
        try:
            rows = svc.preview(self.kind, values, n=10)
        except Exception as exc:  # a half-typed mapping is normal while editing
            self.app.call_from_thread(self._show_preview, str(exc))
            return
        if not rows:
            self.app.call_from_thread(self._show_preview, "")
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
        self.query_one("#source-preview", Static).update(content)

    def result(self) -> SourceDraft:
        if self.spec is None:
            raise ValueError("this kind cannot be loaded")
        name = self.info.name if self.info else self.query_one("#src-name", Input).value.strip()
        if not name:
            raise ValueError("give the source a name")
        values = self._values()
        try:
            svc.parse_settings(self.kind, values)  # every field, the required ones, the mapping
        except svc.SourceSettingsError as exc:
            raise ValueError(str(exc)) from None
        secrets: dict[str, str] = {}
        for s in self.spec.secrets:
            w = self.query_one(f"#secret-{s.name}", Input)
            if w.value:
                secrets[s.name] = w.value
                w.value = ""  # gone from the form as soon as it is handed over
        return SourceDraft(name, self.kind, values, secrets, replace=self.info is not None,
                           label=self.info.label if self.info else None,
                           interval_s=self.info.interval_s if self.info else None)  # fmt: skip


def _label(s: svc.Option) -> str:
    return s.label + (" *" if s.required else "")


def _widget(s: svc.Option, value: Any) -> Input | Select[str] | Switch:
    """The control the option asks for (``Option.widget``), holding ``value``."""
    wid = f"set-{s.name}"
    if s.widget == "switch":
        try:
            on = bool(s.parse(value)) if value is not None else False
        except ValueError:
            on = False
        return Switch(value=on, id=wid)
    if s.widget == "select" and s.choices:
        options = [(c if c != "" else "(none)", c) for c in s.choices]
        if s.default is None:  # no default: "not set" is a choice of its own
            return Select(options, value=value if value in s.choices else Select.BLANK,
                          allow_blank=True, id=wid)  # fmt: skip
        current = value if value in s.choices else s.choices[0]
        return Select(options, value=current, allow_blank=False, id=wid)
    text = s.format(value) if value is not None and not isinstance(value, str) else (value or "")
    return Input(text, placeholder=s.help, id=wid)
