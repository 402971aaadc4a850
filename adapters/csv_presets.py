"""Named CSV mappings for widely used exports (``--set preset=revolut``).

A preset is only a set of CSV settings; anything the user sets on the source overrides
it. Each preset is tested against a real sample export in ``tests/data/real/csv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Preset:
    """A known export layout."""

    name: str
    label: str
    settings: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {}


def _add(name: str, label: str, **settings: Any) -> None:
    PRESETS[name] = Preset(name, label, settings)
