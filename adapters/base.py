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
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from adapters.options import (
    BoolOption,
    ChoiceOption,
    DecimalOption,
    IntOption,
    ListOption,
    Option,
    OptionError,
    PathOption,
    Setting,
    TextOption,
    parse_settings,
)
from recon_tui.model import Price, Record

__all__ = [
    "Adapter", "Batch", "BoolOption", "Capabilities", "ChoiceOption", "DecimalOption",
    "IntOption", "ListOption", "Option", "PathOption", "PreviewRow", "Setting", "SourceError",
    "StatementBalance", "TextOption",
]


class SourceError(Exception):
    """A source failed; ``where`` is a file:line, an endpoint:field, or a setting name."""

    def __init__(self, source: str, where: str | None, message: str) -> None:
        self.source = source
        self.where = where
        self.message = message
        loc = f" at {where}" if where else ""
        super().__init__(f"source '{source}'{loc}: {message}")


BALANCE_KINDS = (
    "opening", "closing", "interim_opening", "interim_closing", "available",
    "forward_available", "ledger",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StatementBalance:
    """A balance a statement states about itself (evidence, not a movement).

    ``kind`` is one of :data:`BALANCE_KINDS`; ``statement`` names the statement inside the
    file (MT940 ``:20:``/``:28C:``, camt ``Stmt/Id``, OFX account) so that re-importing the
    same file replaces rather than adds.
    """

    account: str
    asset: str
    as_of: date
    kind: str
    amount: Decimal
    statement: str
    file: str


@dataclass(slots=True)
class PreviewRow:
    """One parsed line for a live mapping preview: the record, or why it failed."""

    line: int
    cells: list[str]
    record: Record | None
    error: str | None


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
    balances: list[StatementBalance] = field(default_factory=list)
    """Statement balances, stored with the batch (file adapters send them with the last)."""
    warnings: list[str] = field(default_factory=list)
    """One-line notices the user asked for instead of a refusal (``balance_check=warn``)."""
    done: int | None = None
    total: int | None = None
    """Progress hints for progress bars (units of the adapter's choosing)."""


ProgressFn = Callable[[int, int | None], None]


class Adapter(ABC):
    """Base class of every source kind. Subclasses set the class attributes and ``batches``."""

    kind: ClassVar[str]
    label: ClassVar[str]
    SETTINGS: ClassVar[tuple[Option, ...]] = ()
    SECRETS: ClassVar[tuple[Option, ...]] = ()
    capabilities: ClassVar[Capabilities]

    def __init__(
        self, source: str, settings: dict[str, Any], secrets: dict[str, str] | None = None
    ) -> None:
        self.source = source
        try:
            self.settings = parse_settings(self.SETTINGS, settings)
        except OptionError as exc:
            raise SourceError(source, exc.name, f"setting '{exc.name}' {exc.message}"
                              if exc.message == "is required" else exc.message) from None
        self.secrets = dict(secrets or {})
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

    def preview(self, n: int = 10) -> list[PreviewRow]:
        """The first ``n`` rows parsed with the current settings. Optional (file mappings)."""
        raise NotImplementedError

    @classmethod
    def implements_preview(cls) -> bool:
        return cls.preview is not Adapter.preview

    @classmethod
    def reads_files(cls) -> bool:
        """Whether ``import FILE`` makes sense for this kind (it reads a ``path``)."""
        return cls.capabilities.paging == "file" and any(s.name == "path" for s in cls.SETTINGS)

    def error(self, where: str | None, message: str) -> SourceError:
        return SourceError(self.source, where, message)
