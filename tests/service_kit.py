"""Helpers of the service tests: a real uvicorn on an ephemeral 127.0.0.1 port in a thread,
fast runtime options, and polling."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import uvicorn

from recon_tui.api.app import create_app
from recon_tui.services.headless import Options, Runtime
from recon_tui.store import Store

FAST = Options(reload_every=0.3, overview_interval=0.05, webhook_poll_s=0.1,
               webhook_aging_every_s=0.2, webhook_attempts=3, webhook_wait_initial=0.01)  # fmt: skip


@contextlib.contextmanager
def serve(store: Store, options: Options = FAST) -> Iterator[tuple[str, Runtime]]:
    """Start the runtime and a real uvicorn over it; yield (base URL, runtime)."""
    runtime = Runtime(store, options)
    app = create_app(runtime)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped while starting"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", runtime
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def wait_for(check: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {check}"
        time.sleep(every)


def client(base: str, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base, headers=headers, timeout=30)
