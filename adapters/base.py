"""The adapter contract: settings, secrets and capabilities declared; batches yielded.

An adapter is configured with non-secret ``settings`` (kept in the store) and ``secrets``
(kept in the OS keyring; the sync service passes them in). It declares what it can give
(:class:`Capabilities`) and yields :class:`Batch` objects: normalised records plus the
cursor to resume from *after* that batch. The sync service writes a batch and its cursor
in one transaction, so an adapter never needs to care about crashes.

Errors are :class:`SourceError`, whose message names the source and the place (file and
line, or endpoint and field). Nothing else should escape an adapter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from recon_tui.model import Price, Record


class SourceError(Exception):
    """A source failed; ``where`` is a file:line, an endpoint:field, or a setting name."""

    def __init__(self, source: str, where: str | None, message: str) -> None:
        self.source = source
        self.where = where
        self.message = message
        loc = f" at {where}" if where else ""
        super().__init__(f"source '{source}'{loc}: {message}")


@dataclass(frozen=True, slots=True)
class Setting:
    """A declared option of an adapter; the CLI and the app's forms are generated from these."""

    name: str
    label: str
    required: bool = False
    default: Any = None
    help: str = ""
    secret: bool = False
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a source can give; the UI and matchers read these instead of guessing."""

    fields: frozenset[str]
    """Canonical fields the source fills (``txid``, ``counterparty``, ``fee``, ``booking_date``...)."""
    paging: str
    """``"time"`` (since), ``"cursor"`` (opaque server cursor) or ``"file"`` (whole file)."""
    pending: bool = False
    """Reports pending items that later book."""
    removals: bool = False
    """Reports removed/voided items."""
    prices: bool = False
    """Can provide OHLCV close prices."""


@dataclass(slots=True)
class Batch:
    """A unit of work for the sync service: written atomically with its cursor."""

    records: list[Record] = field(default_factory=list)
    cursor: dict[str, Any] | None = None
    removed: list[str] = field(default_factory=list)
    """External ids the source says no longer exist."""
    prices: list[Price] = field(default_factory=list)
    done: int | None = None
    total: int | None = None
    """Progress hints for progress bars (units of the adapter's choosing)."""


ProgressFn = Callable[[int, int | None], None]


class Adapter(ABC):
    """Base class of every source kind. Subclasses set the class attributes and ``batches``."""

    kind: ClassVar[str]
    label: ClassVar[str]
    SETTINGS: ClassVar[tuple[Setting, ...]] = ()
    SECRETS: ClassVar[tuple[Setting, ...]] = ()
    capabilities: ClassVar[Capabilities]

    def __init__(
        self, source: str, settings: dict[str, Any], secrets: dict[str, str] | None = None
    ) -> None:
        self.source = source
        self.settings = {s.name: s.default for s in self.SETTINGS if s.default is not None}
        self.settings.update(settings)
        self.secrets = dict(secrets or {})
        for s in self.SETTINGS:
            if s.required and self.settings.get(s.name) in (None, ""):
                raise SourceError(source, s.name, f"setting '{s.name}' is required")
            if s.choices and self.settings.get(s.name) not in (None, *s.choices):
                raise SourceError(
                    source,
                    s.name,
                    f"'{self.settings[s.name]}' is not one of {', '.join(s.choices)}",
                )
        for s in self.SECRETS:
            if s.required and not self.secrets.get(s.name):
                raise SourceError(source, s.name, f"secret '{s.name}' is missing from the keyring")

    @abstractmethod
    def batches(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        """Yield batches from ``cursor`` (``None``: from the beginning) onwards."""

    def test_connection(self) -> str:
        """Check credentials/reachability; returns a one-line description. Optional."""
        raise NotImplementedError

    @property
    def implements_test_connection(self) -> bool:
        return type(self).test_connection is not Adapter.test_connection

    def error(self, where: str | None, message: str) -> SourceError:
        return SourceError(self.source, where, message)
