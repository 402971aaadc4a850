"""Shared fixtures: every test gets its own data directory and no OS keyring by default,
so nothing touches the developer's real files or secrets."""

from __future__ import annotations

import signal
import threading
import warnings
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


# How Ctrl+C is handled when the session starts. A test that leaves SIGINT replaced or
# blocked in this process changes every later Ctrl+C test, and through the inherited
# signal mask every child process a later test starts (one full single-process run saw
# seven SIGINT tests "not raise"); so it is put back after each test, and named.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    # A suite started as a background job (`cmd &` in a script) inherits SIGINT ignored:
    # Python then installs no KeyboardInterrupt handler, and an ignored signal stays ignored
    # across exec in every child a test starts, so the Ctrl+C tests "did not raise". Ctrl+C
    # is what they test: give this process, and through exec its children, the default.
    signal.signal(signal.SIGINT, signal.default_int_handler)
_SIGINT_AT_START = signal.getsignal(signal.SIGINT)


@pytest.fixture(autouse=True)
def _sigint_restored(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if threading.current_thread() is not threading.main_thread():
        return
    leaked = []
    handler = signal.getsignal(signal.SIGINT)
    if handler is not _SIGINT_AT_START:
        leaked.append(f"SIGINT handler left as {handler!r}")
        signal.signal(signal.SIGINT, _SIGINT_AT_START)
    if signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []):
        leaked.append("SIGINT left blocked")
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    if leaked:
        warnings.warn(f"{request.node.nodeid}: {'; '.join(leaked)} (restored)", stacklevel=1)


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
