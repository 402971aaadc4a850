"""Webhooks: signed JSON events to configured URLs, retried with backoff (stamina), every
delivery recorded.

Events: ``run.finished`` (any run that ended: ok, failed or interrupted), ``run.failed``,
and ``breaks.aging`` when a pair's count of breaks older than a hook's ``aging_days``
crosses its ``aging_threshold`` (upwards or back down). The body is JSON; the
``X-Recon-Signature-256`` header is ``sha256=`` + HMAC-SHA256 of the exact body bytes
under the hook's secret, so a receiver can check it came from this store's service.

The notifier is a thread of the service: it follows the ``runs`` table (so runs started
by the CLI or the app are announced too) from a cursor kept in the store's ``meta``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import uuid
from typing import Any

import httpx
import stamina

from recon_tui.services.overview import run_json
from recon_tui.store import Store, now_us, reports
from recon_tui.store import runs as runs_store
from recon_tui.store import webhooks as hooks_store
from recon_tui.store.pairs import list_pairs
from recon_tui.store.webhooks import Webhook

log = logging.getLogger("recon_tui.webhooks")

EVENTS = ("run.finished", "run.failed", "breaks.aging")
SIGNATURE_HEADER = "X-Recon-Signature-256"
CURSOR_KEY = "webhook_run_cursor"


class Retryable(Exception):
    """A delivery worth trying again (a 5xx or 429 answer)."""


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def add_webhook(
    store: Store, url: str, events: list[str], *, aging_days: int | None = None,
    aging_threshold: int | None = None, secret: str | None = None,
) -> tuple[int, str]:  # fmt: skip
    """Add a hook; returns (id, signing secret) — the secret is shown to the user once."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"'{url}' is not an http(s) URL")
    bad = set(events) - set(EVENTS)
    if bad or not events:
        raise ValueError(f"events must be some of {', '.join(EVENTS)}")
    if "breaks.aging" in events and (aging_days is None or aging_threshold is None):
        raise ValueError("breaks.aging needs --aging-days N and --aging-threshold COUNT")
    secret = secret or secrets.token_urlsafe(32)
    return hooks_store.add(store, url, secret, events, aging_days, aging_threshold), secret


class Notifier:
    """Follows finished runs and break aging; delivers events to the hooks that want them."""

    def __init__(self, store: Store, *, poll_s: float = 1.0, aging_every_s: float = 30.0,
                 attempts: int = 5, wait_initial: float = 0.5, wait_max: float = 30.0,
                 timeout_s: float = 10.0) -> None:  # fmt: skip
        self.store = store
        self.poll_s = poll_s
        self.aging_every_s = aging_every_s
        self.attempts = attempts
        self.wait_initial = wait_initial
        self.wait_max = wait_max
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._notified: set[int] = set()
        self._aging_at = 0.0

    def start(self) -> None:
        if self.store.meta(CURSOR_KEY) is None:
            # Announce what finishes from now on, not the whole history.
            self.store.set_meta(CURSOR_KEY, str(runs_store.max_id(self.store.connection())))
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._client.close()

    def _loop(self) -> None:
        import time

        while not self._stop.is_set():
            try:
                self.pump_runs()
                if time.monotonic() - self._aging_at >= self.aging_every_s:
                    self._aging_at = time.monotonic()
                    self.check_aging()
            except Exception as exc:  # the notifier must outlive a bad hook or a busy store
                log.warning("webhook pump failed: %s", exc)
            self._stop.wait(self.poll_s)

    # --- events ---------------------------------------------------------------------------

    def hooks(self) -> list[Webhook]:
        return [h for h in hooks_store.list_hooks(self.store.connection(), with_secrets=True)
                if h.enabled]  # fmt: skip

    def pump_runs(self) -> int:
        """Announce runs finished since the cursor; returns how many were announced."""
        conn = self.store.connection()
        cursor = int(self.store.meta(CURSOR_KEY, "0") or 0)
        done = runs_store.finished_since(conn, cursor)
        hooks = self.hooks()
        sent = 0
        for r in done:
            if r.id in self._notified:
                continue
            self._notified.add(r.id)
            payload = {"run": run_json(r)}
            self.emit("run.finished", payload, hooks)
            if r.outcome == "failed":
                self.emit("run.failed", payload, hooks)
            sent += 1
        # The cursor only passes runs that are all finished (an older run may still run).
        running = runs_store.oldest_running_id(conn)
        top = max([cursor, *self._notified]) if self._notified else cursor
        new_cursor = top if running is None else min(top, running - 1)
        if new_cursor > cursor:
            self.store.set_meta(CURSOR_KEY, str(new_cursor))
            self._notified = {i for i in self._notified if i > new_cursor}
        return sent

    def check_aging(self) -> None:
        hooks = [h for h in self.hooks() if "breaks.aging" in h.events and h.aging_days]
        if not hooks:
            return
        conn = self.store.connection()
        now = now_us()
        for p in list_pairs(self.store):
            for h in hooks:
                assert h.aging_days is not None and h.aging_threshold is not None
                cutoff = now - h.aging_days * reports.DAY_US
                n = reports.breaks_older_than(conn, p.name, cutoff)
                key = f"webhook_aging:{h.id}:{p.name}"
                was = self.store.meta(key, "below")
                now_state = "above" if n >= h.aging_threshold else "below"
                if now_state != was:
                    self.store.set_meta(key, now_state)
                    self.emit("breaks.aging", {
                        "pair": p.name, "older_than_days": h.aging_days,
                        "threshold": h.aging_threshold, "count": n, "crossed": now_state,
                    }, [h])  # fmt: skip

    def emit(self, event: str, data: dict[str, Any], hooks: list[Webhook]) -> None:
        for h in hooks:
            if event in h.events:
                self.deliver(h, event, data)

    def deliver(self, hook: Webhook, event: str, data: dict[str, Any]) -> bool:
        event_id = str(uuid.uuid4())
        body = json.dumps({"event": event, "id": event_id, "at_us": now_us(), **data},
                          separators=(",", ":"), sort_keys=True).encode("utf-8")  # fmt: skip
        headers = {"Content-Type": "application/json", "X-Recon-Event": event,
                   "X-Recon-Delivery": event_id, SIGNATURE_HEADER: sign(hook.secret, body)}  # fmt: skip
        attempts = 0
        status: int | None = None
        error: str | None = None
        try:
            for attempt in stamina.retry_context(
                on=(httpx.TransportError, Retryable), attempts=self.attempts,
                wait_initial=self.wait_initial, wait_max=self.wait_max,
            ):  # fmt: skip
                with attempt:
                    attempts += 1
                    resp = self._client.post(hook.url, content=body, headers=headers)
                    status = resp.status_code
                    if status >= 500 or status == 429:
                        raise Retryable(f"HTTP {status}")
            ok = 200 <= (status or 0) < 300
            if not ok:
                error = f"HTTP {status}"
        except (httpx.HTTPError, Retryable) as exc:
            ok = False
            error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, Retryable) else str(exc)
        hooks_store.record_delivery(self.store, hook.id, event, event_id, attempts, status,
                                    "delivered" if ok else "failed", error)  # fmt: skip
        log.info("webhook delivery", extra={"hook": hook.id, "event": event, "ok": ok,
                                            "attempts": attempts, "status": status})  # fmt: skip
        return ok
