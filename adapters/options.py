"""Typed source settings: each option parses and validates its own value.

Modelled on Harlequin's adapter options: an adapter declares ``SETTINGS`` as a tuple of
these, and the CLI (``--set name=value``), the app's source form and the adapter all go
through :meth:`Option.parse`, so a value is parsed once, the same way everywhere. The
adapter receives parsed values (``bool``, ``int``, ``Decimal``, ``list[str]``...), never
the text the user typed.

Values may arrive as text (the CLI, a form field, a store written by an older release) or
already typed (a store written by this one); ``parse`` accepts both and returns the typed
value, or raises :class:`OptionError` with a one-line message naming the setting.

An option renders itself for the two front ends without this package importing either:
:meth:`Option.to_click` builds a ``click.Option`` (click is imported on demand) and
:attr:`Option.widget` names the form control (``input``, ``switch``, ``select``) the
screen builds, with :attr:`Option.choices` for a select.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar


class OptionError(ValueError):
    """A setting's value is invalid; ``name`` is the setting, ``message`` one plain line."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        self.message = message
        super().__init__(f"setting '{name}': {message}")


_TRUE = frozenset({"1", "true", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "no", "n", "off"})


@dataclass(frozen=True, slots=True)
class Option:
    """A declared setting of an adapter (text by default)."""

    name: str
    label: str
    required: bool = False
    default: Any = None
    help: str = ""
    secret: bool = False
    choices: tuple[str, ...] | None = None

    widget: ClassVar[str] = "input"
    type_name: ClassVar[str] = "text"

    def parse(self, value: Any) -> Any:
        """The typed value of ``value``; ``None`` for empty; :class:`OptionError` if invalid."""
        if value is None:
            return None
        text = str(value).strip() if not isinstance(value, str) else value
        if text == "" and not self.choices:
            return None
        return self._parse(value, text)

    def _parse(self, value: Any, text: str) -> Any:
        return text

    def format(self, value: Any) -> str:
        """The value as the user would type it (for forms and ``source show``)."""
        if value is None:
            return ""
        return str(value)

    def check_required(self, value: Any) -> None:
        if self.required and value in (None, "", []):
            raise OptionError(self.name, "is required")

    def to_click(self) -> Any:
        """A ``click.Option`` (``--name``) that hands the text to :meth:`parse`."""
        import click  # only the CLI needs it; adapters must not import it at load time

        flag = "--" + self.name.replace("_", "-")
        return click.Option(
            [flag, self.name], default=None, help=self.help or self.label,
            type=click.Choice(list(self.choices)) if self.choices else click.STRING,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TextOption(Option):
    """Free text."""


@dataclass(frozen=True, slots=True)
class PathOption(Option):
    """A file path (``~`` expanded when read; existence is checked by the adapter)."""

    type_name: ClassVar[str] = "path"

    def _parse(self, value: Any, text: str) -> Any:
        return str(Path(text.strip()).expanduser()) if text.strip() else None


@dataclass(frozen=True, slots=True)
class IntOption(Option):
    """A whole number, optionally bounded."""

    minimum: int | None = None
    maximum: int | None = None
    type_name: ClassVar[str] = "int"

    def _parse(self, value: Any, text: str) -> Any:
        if isinstance(value, bool):
            raise OptionError(self.name, f"{value!r} is not a whole number")
        if isinstance(value, int):
            n = value
        else:
            s = text.strip()
            if not re.fullmatch(r"[+-]?[0-9]+", s):
                raise OptionError(self.name, f"'{s}' is not a whole number")
            n = int(s)
        if self.minimum is not None and n < self.minimum:
            raise OptionError(self.name, f"{n} is below the minimum {self.minimum}")
        if self.maximum is not None and n > self.maximum:
            raise OptionError(self.name, f"{n} is above the maximum {self.maximum}")
        return n


@dataclass(frozen=True, slots=True)
class DecimalOption(Option):
    """An exact decimal number (never a float)."""

    type_name: ClassVar[str] = "decimal"

    def _parse(self, value: Any, text: str) -> Any:
        if isinstance(value, bool):
            raise OptionError(self.name, f"{value!r} is not a decimal number")
        # A float from JSON or code: its shortest repr is the number that was written.
        s = repr(value) if isinstance(value, float) else text.strip()
        if not re.fullmatch(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)", s):
            raise OptionError(self.name, f"'{s}' is not a decimal number")
        try:
            return Decimal(s)
        except InvalidOperation:  # pragma: no cover - the pattern already excludes these
            raise OptionError(self.name, f"'{s}' is not a decimal number") from None

    def format(self, value: Any) -> str:
        return "" if value is None else format(value, "f")


@dataclass(frozen=True, slots=True)
class BoolOption(Option):
    """Yes or no (``true/false``, ``yes/no``, ``on/off``, ``1/0``)."""

    widget: ClassVar[str] = "switch"
    type_name: ClassVar[str] = "bool"

    def _parse(self, value: Any, text: str) -> Any:
        if isinstance(value, bool):
            return value
        s = text.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        raise OptionError(self.name, f"'{text.strip()}' is not yes or no")

    def format(self, value: Any) -> str:
        return "" if value is None else ("yes" if value else "no")

    def to_click(self) -> Any:
        import click

        flag = "--" + self.name.replace("_", "-")
        return click.Option([f"{flag}/--no-{self.name.replace('_', '-')}", self.name],
                            default=None, help=self.help or self.label)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChoiceOption(Option):
    """One of a fixed list of values (the empty string may be one of them)."""

    widget: ClassVar[str] = "select"
    type_name: ClassVar[str] = "choice"

    def parse(self, value: Any) -> Any:
        if value is None:
            return None
        choices = self.choices or ()
        if isinstance(value, bool) and self.name == "header":
            # Stores written by the old CLI hold header=no as JSON false.
            value = "yes" if value else "no"
        text = str(value)
        if text in choices:
            return text
        if text.strip() in choices:
            return text.strip()
        low = {c.lower(): c for c in choices}
        if text.strip().lower() in low:
            return low[text.strip().lower()]
        shown = ", ".join(repr(c) if c.strip() in ("", ",", ".") else c for c in choices)
        raise OptionError(self.name, f"'{text}' is not one of {shown}")


@dataclass(frozen=True, slots=True)
class ListOption(Option):
    """A list of text items, given as a list or as comma (or newline) separated text.

    ``separator`` ``"\\n"`` keeps commas inside items (patterns, date formats with commas).
    """

    separator: str = ","
    type_name: ClassVar[str] = "list"

    def _parse(self, value: Any, text: str) -> Any:
        if isinstance(value, list | tuple):
            return [str(v).strip() for v in value if str(v).strip()]
        seps = r"\n" if self.separator == "\n" else rf"[{re.escape(self.separator)}\n]"
        return [p.strip() for p in re.split(seps, text) if p.strip()]

    def format(self, value: Any) -> str:
        if not value:
            return ""
        return (self.separator if self.separator != "\n" else "\n").join(value)


def Setting(
    name: str, label: str, *, required: bool = False, default: Any = None, help: str = "",
    secret: bool = False, choices: tuple[str, ...] | None = None,
) -> Option:  # fmt: skip
    """A text setting, or a choice when ``choices`` are given (the pre-typed constructor)."""
    if choices is not None:
        return ChoiceOption(name, label, required, default, help, secret, choices)
    if isinstance(default, bool):
        return BoolOption(name, label, required, default, help, secret)
    return TextOption(name, label, required, default, help, secret)


def parse_settings(options: Sequence[Option], values: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then ``values`` parsed by their options; unknown names are kept as given.

    Raises :class:`OptionError` for the first invalid or missing required setting.
    """
    by_name = {o.name: o for o in options}
    out: dict[str, Any] = {}
    for o in options:
        out[o.name] = o.parse(o.default) if o.default is not None else None
    for key, value in values.items():
        opt = by_name.get(key)
        out[key] = opt.parse(value) if opt is not None else value
    for o in options:
        o.check_required(out.get(o.name))
    return out


def unknown_settings(options: Sequence[Option], values: dict[str, Any]) -> list[str]:
    """Names in ``values`` that no option declares (typos the CLI refuses)."""
    known = {o.name for o in options}
    return [k for k in values if k not in known]
