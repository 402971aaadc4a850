"""Shared fixtures: every test gets its own data directory and no OS keyring by default,
so nothing touches the developer's real files or secrets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from recon_tui.store import Store


class MemoryKeyring(KeyringBackend):
    """A real keyring backend (the keyring API) that keeps secrets in memory."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


@pytest.fixture
def anyio_backend() -> str:
    """Every async test (Pilot, httpx) runs on asyncio: Textual's loop."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _isolated(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("RECON_TUI_HOME", str(home))
    monkeypatch.delenv("RECON_TUI_STORE", raising=False)
    monkeypatch.delenv("RECON_TUI_PASSPHRASE", raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    yield kr


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.init(tmp_path / "test.db", passphrase="test-passphrase")
    yield s
    s.close()
