"""Webhooks against a real loopback receiver: signed JSON (HMAC-SHA256 of the body), retried
with backoff after a 5xx, every delivery recorded; run.finished / run.failed for runs of any
origin, and breaks.aging when a pair's old breaks cross the threshold."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from recon_tui.model import Side, SourcePair
from recon_tui.services.sync import sync_source
from recon_tui.services.webhooks import SIGNATURE_HEADER, Notifier, add_webhook
from recon_tui.store import Store
from recon_tui.store import webhooks as hooks_store
from recon_tui.store.sources import add_pair, add_source
from tests.service_kit import wait_for


class Receiver:
    """Records each POST; answers 500 to the first ``fail_first`` of them."""

    def __init__(self, fail_first: int = 0) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = 500 if len(receiver.got) <= receiver.fail_first else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(b) for _, b in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=2)
    yield r
    r.server.shutdown()


def test_signed_events_retried_and_recorded(store: Store, receiver: Receiver, tmp_path: Path) -> None:
    stmt = tmp_path / "s.csv"
    stmt.write_text("date,amount\n2020-01-02,10.00\n2020-01-03,11.00\n", "utf-8")
    add_source(store, "b", "csv", {"path": str(stmt), "delimiter": ",", "header": "yes",
                                   "date_column": "date", "amount_column": "amount"})  # fmt: skip
    add_source(store, "gone", "csv", {"path": str(tmp_path / "missing.csv"), "delimiter": ",",
                                      "date_column": "date", "amount_column": "amount"})  # fmt: skip
    add_pair(store, SourcePair("b-gone", Side("b"), Side("gone")))
    hid, secret = add_webhook(store, receiver.url, ["run.finished", "run.failed", "breaks.aging"],
                              aging_days=30, aging_threshold=2)  # fmt: skip
    notifier = Notifier(store, poll_s=0.05, aging_every_s=0.05, attempts=4, wait_initial=0.01,
                        wait_max=0.05)  # fmt: skip
    notifier.start()
    try:
        ok = sync_source(store, "b")  # a CLI-style run: the notifier follows the runs table
        bad = sync_source(store, "gone")
        assert ok.ok and not bad.ok
        wait_for(lambda: {e["event"] for e in receiver.events()} >= {
            "run.finished", "run.failed", "breaks.aging"})  # fmt: skip
        wait_for(lambda: len(receiver.events()) >= 4)
    finally:
        notifier.stop()
    for headers, body in receiver.got:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers[SIGNATURE_HEADER.lower()] == expected
        assert headers["content-type"] == "application/json"
        assert secret not in body.decode()
    events = receiver.events()
    failed = [e for e in events if e["event"] == "run.failed"]
    assert len(failed) == 1 and failed[0]["run"]["scope"] == "gone"
    finished = {e["run"]["scope"] for e in events if e["event"] == "run.finished"}
    assert finished == {"b", "gone"}
    aging = [e for e in events if e["event"] == "breaks.aging"]
    assert aging[0]["pair"] == "b-gone" and aging[0]["count"] == 2 and aging[0]["crossed"] == "above"
    rows = hooks_store.deliveries(store.connection(), hid, limit=100)
    assert all(d["outcome"] == "delivered" for d in rows)
    assert max(d["attempts"] for d in rows) == 3  # two 500s, then delivered
    assert len({e["id"] for e in events}) == len(rows)  # a retry is the same event
    # A restarted notifier does not announce the same runs again.
    n = len(receiver.got)
    again = Notifier(store, poll_s=0.05)
    again.start()
    try:
        assert again.pump_runs() == 0
    finally:
        again.stop()
    assert len(receiver.got) == n


def test_undeliverable_hook_is_recorded_as_failed(store: Store) -> None:
    hid, _ = add_webhook(store, "http://127.0.0.1:9/nothing-listens", ["run.finished"])
    notifier = Notifier(store, attempts=2, wait_initial=0.01, wait_max=0.02, timeout_s=1)
    hook = notifier.hooks()[0]
    assert notifier.deliver(hook, "run.finished", {"run": {"id": 1}}) is False
    notifier.stop()
    d = hooks_store.deliveries(store.connection(), hid)[0]
    assert (d["outcome"], d["attempts"]) == ("failed", 2) and "ConnectError" in d["error"]
    with pytest.raises(ValueError):
        add_webhook(store, "ftp://x", ["run.finished"])
    with pytest.raises(ValueError):
        add_webhook(store, "http://x", ["breaks.aging"])
