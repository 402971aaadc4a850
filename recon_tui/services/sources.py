"""The sources service: what the CLI's ``source`` commands and the app's source form call.

Adding or editing a source goes through the adapter's typed options
(:mod:`adapters.options`): every value is parsed once, unknown names and invalid values
are refused with one line naming the setting, and the settings a source cannot work
without are required up front (a file source's ``path`` excepted: it comes with
``import``). The adapter is then built once with the result, which catches what only it
can judge (a CSV mapping with neither an amount nor debit and credit columns).

Previews and connection tests go through optional adapter capabilities
(``Adapter.preview``, ``Adapter.test_connection``), so no caller needs to know a kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from adapters import registry
from adapters.base import Adapter, Option, OptionError, PreviewRow, SourceError

__all__ = ["KindInfo", "Option", "PreviewRow", "SourceInfo", "SourceSettingsError", "add_source",
           "check_import", "edit_source", "kind_info", "kinds", "list_sources",
           "parse_settings", "preview", "reads_files", "save_draft", "set_secret",
           "test_connection"]
from recon_tui.store import Store
from recon_tui.store import sources as store_sources
from recon_tui.store.sources import SourceInfo


class SourceSettingsError(ValueError):
    """A source's settings are refused; the message is one line naming the setting."""


@dataclass(frozen=True, slots=True)
class KindInfo:
    """A source kind as a form or ``source kinds`` shows it."""

    kind: str
    label: str
    settings: tuple[Option, ...]
    secrets: tuple[Option, ...]
    reads_files: bool
    can_preview: bool
    can_test: bool


def kind_info(kind: str) -> KindInfo:
    """The declared settings and capabilities of ``kind``; ``SourceSettingsError`` if unknown."""
    cls = _cls(kind)
    return KindInfo(kind, cls.label, tuple(cls.SETTINGS), tuple(cls.SECRETS), cls.reads_files(),
                    cls.implements_preview(),
                    cls.test_connection is not Adapter.test_connection)  # fmt: skip


def kinds() -> list[str]:
    return registry.kinds()


def _cls(kind: str) -> type[Adapter]:
    try:
        return registry.get(kind)
    except KeyError as exc:
        raise SourceSettingsError(str(exc.args[0])) from None


def parse_settings(kind: str, raw: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Typed values of ``raw`` (text from the CLI or a form, or stored values).

    Empty values are dropped (the option's default applies). Unknown names, invalid values
    and (unless ``partial``) missing required settings raise :class:`SourceSettingsError`.
    """
    cls = _cls(kind)
    options = {o.name: o for o in cls.SETTINGS}
    unknown = sorted(k for k in raw if k not in options)
    if unknown:
        raise SourceSettingsError(
            f"unknown setting(s) {', '.join(unknown)} for kind '{kind}' "
            f"(known: {', '.join(sorted(options))})"
        )
    out: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            parsed = options[key].parse(value)
        except OptionError as exc:
            raise SourceSettingsError(f"setting '{exc.name}': {exc.message}") from None
        if parsed is not None and parsed != "" and parsed != []:
            out[key] = parsed
    if not partial:
        missing = [o.name for o in cls.SETTINGS if o.required and o.name not in out
                   and o.default is None and not (o.name == "path" and cls.reads_files())]
        if missing:
            raise SourceSettingsError(
                f"kind '{kind}' needs setting(s) {', '.join(missing)} "
                f"(--set {missing[0]}=…)"
            )
        try:  # what only the adapter can judge (cross-field rules)
            # Secrets are asked for after the settings are saved: placeholders here, so this
            # check judges the settings alone.
            cls("check", {**out, **({"path": out.get("path") or "(given at import)"}
                                   if cls.reads_files() else {})},
                {s.name: "(checked at sync)" for s in cls.SECRETS})  # fmt: skip
        except SourceError as exc:
            where = f"setting '{exc.where}': " if exc.where else ""
            raise SourceSettingsError(f"{where}{exc.message}") from None
    return out


def _storable(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe values: decimals as exact text (their option parses text back)."""
    return {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in values.items()}


def add_source(
    store: Store, name: str, kind: str, raw: dict[str, Any], *, label: str | None = None,
    interval_s: int | None = None, replace: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Validate and save a source; returns the stored (typed) settings."""
    if not name.strip():
        raise SourceSettingsError("give the source a name")
    if not replace and store_sources.get_source(store, name) is not None:
        raise SourceSettingsError(f"a source named '{name}' already exists (use --replace)")
    values = _storable(parse_settings(kind, raw))
    store_sources.add_source(store, name, kind, values, label=label, interval_s=interval_s,
                             replace=replace)  # fmt: skip
    return values


def edit_source(store: Store, name: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change some settings of a source (``None`` or empty clears one); returns them all."""
    info = _info(store, name)
    merged = {**info.settings}
    for k, v in changes.items():
        if v in (None, ""):
            merged.pop(k, None)
        else:
            merged[k] = v
    values = _storable(parse_settings(info.kind, merged))
    store_sources.add_source(store, name, info.kind, values, label=info.label,
                             interval_s=info.interval_s, replace=True)  # fmt: skip
    return values


def set_secret(store: Store, name: str, secret: str, value: str) -> str:
    """Keep a secret in the keyring (or the encrypted store); returns where it went."""
    info = _info(store, name)
    known = {s.name for s in _cls(info.kind).SECRETS}
    if secret not in known:
        raise SourceSettingsError(f"kind '{info.kind}' has no secret '{secret}' "
                                  f"(known: {', '.join(sorted(known)) or 'none'})")  # fmt: skip
    return store_sources.set_secret(store, name, secret, value)


def list_sources(store: Store) -> list[SourceInfo]:
    """Every configured source with its health."""
    return store_sources.list_sources(store)


def save_draft(
    store: Store, name: str, kind: str, settings: dict[str, Any], secrets: dict[str, str],
    *, replace: bool, label: str | None = None, interval_s: int | None = None,
) -> str:  # fmt: skip
    """Save what the source form returned (settings, then secrets); returns a status line."""
    add_source(store, name, kind, settings, label=label, interval_s=interval_s,
               replace=replace)  # fmt: skip
    for secret, value in secrets.items():
        set_secret(store, name, secret, value)
    return f"source '{name}' ({kind}) {'updated' if replace else 'added'}"


def reads_files(store: Store, name: str) -> bool:
    """Whether ``import FILE`` applies to this source."""
    return _cls(_info(store, name).kind).reads_files()


def check_import(store: Store, name: str) -> None:
    """Refuse, in one line, an import into a source that does not read files."""
    info = _info(store, name)
    if not _cls(info.kind).reads_files():
        raise SourceSettingsError(
            f"source '{name}' ({info.kind}) does not read files; use 'recon-tui sync {name}'"
        )


def test_connection(store: Store, name: str) -> str:
    """One line: what the source's check said, or why it failed."""
    from recon_tui.services.sync import make_adapter

    info = store_sources.get_source(store, name)
    if info is None:
        return f"no source named '{name}'"
    try:
        adapter = make_adapter(store, info)
        if not adapter.implements_test_connection:
            return f"{name}: this kind has no connection test (file sources are checked on import)"
        return f"{name}: {adapter.test_connection()}"
    except SourceError as exc:
        return str(exc)
    except Exception as exc:  # a broken plugin must not take the screen down
        return f"source '{name}': unexpected {type(exc).__name__}: {exc}"


def preview(kind: str, raw: dict[str, Any], n: int = 10) -> list[PreviewRow]:
    """The first ``n`` rows as the settings being edited read them (kinds that can).

    Raises :class:`SourceSettingsError` for settings that cannot be read at all and
    :class:`SourceError` for a file that cannot (both one line).
    """
    cls = _cls(kind)
    if not cls.implements_preview():
        return []
    values = parse_settings(kind, raw, partial=True)
    if not values.get("path"):
        return []
    adapter = cls("preview", values)
    return adapter.preview(n)


def _info(store: Store, name: str) -> SourceInfo:
    info = store_sources.get_source(store, name)
    if info is None:
        raise SourceSettingsError(f"no source named '{name}'")
    return info
