"""The ccxt plumbing of the exchange adapter: one ccxt instance with retries, error mapping,
raw-response capture and exact number extraction.

Role: everything that touches ccxt's transport lives here so the adapter and the
per-exchange profiles only see *pages* of unified structures (with their raw ``info``)
and :class:`~adapters.base.SourceError` on any failure.

Exactness: ccxt parses amounts to float. We never use those floats; amounts are read
from the exchange's raw strings (``info``) by :func:`exact`, which refuses JSON numbers.
To know which raw values were JSON numbers, ccxt's own ``on_json_response`` hook is
replaced by a stdlib ``json.loads`` that records every float token it meets.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ccxt
import stamina

from adapters.base import SourceError
from adapters.redact import LogFilter, Redactor, register
from recon_tui.model import ValidationError, to_decimal

T = TypeVar("T")

# ccxt logs full request headers (API keys) at DEBUG; give it a muted logger of its own.
_WIRE_LOG = logging.getLogger("adapters.ccxt_exchange.wire")
_WIRE_LOG.addFilter(LogFilter())  # should anyone turn the wire log on: no secrets in it
_WIRE_LOG.propagate = False
_WIRE_LOG.setLevel(logging.CRITICAL)

_RETRY_STATUSES = {408, 418, 425, 429, 500, 502, 503, 504, 520, 521, 522, 524}
_AUTH_HINTS = ("invalid signature", "invalid key", "invalid api-key", "api-key",
               "signature for this request", "unauthorized", "-1022", "-2014", "-2015",
               "permission denied", "invalid nonce")


class _BadBody(Exception):
    """Raised from ccxt's response hook: the body can't be a JSON API answer."""


class _NotRetryable(Exception):
    pass


def _scrub_url(url: str | None) -> str:
    """Method-free endpoint label: path only (queries carry signatures and keys)."""
    if not url:
        return "?"
    return urlsplit(url).path or "/"


class CcxtClient:
    """A configured ccxt exchange plus the adapter's transport policy."""

    def __init__(
        self,
        source: str,
        exchange_id: str,
        secrets: dict[str, str],
        *,
        options: dict[str, Any],
        base_url: str | None,
        sandbox: bool,
        timeout_ms: int,
        rate_limit_ms: int | None,
        attempts: int,
        wait_initial: float,
        wait_max: float,
        max_response_bytes: int,
        number_as_str: bool,
    ) -> None:
        self.source = source
        self._secret_values = [v for v in secrets.values() if v]
        self._redact = Redactor(self._secret_values)
        register(self._secret_values)
        cls = getattr(ccxt, exchange_id, None)
        if cls is None or exchange_id not in ccxt.exchanges:
            raise SourceError(source, "exchange", f"'{exchange_id}' is not a ccxt exchange id")
        config: dict[str, Any] = {
            "enableRateLimit": True,
            "timeout": timeout_ms,
            "options": options,
        }
        for name in ("apiKey", "secret", "password"):
            if secrets.get(name):
                config[name] = secrets[name]
        self.ex: ccxt.Exchange = cls(config)
        self.ex.logger = _WIRE_LOG
        self.ex.enableLastHttpResponse = True
        self.ex.enableLastJsonResponse = True
        if number_as_str:
            # Unknown exchanges: ccxt's documented "number = str" mode hands us the strings
            # it read from the payload instead of floats.
            self.ex.number = str
        if rate_limit_ms is not None:
            self.ex.rateLimit = rate_limit_ms
        if sandbox:
            try:
                self.ex.set_sandbox_mode(True)
            except ccxt.NotSupported:
                raise SourceError(source, "sandbox", f"{exchange_id} has no sandbox") from None
        if base_url:
            self.ex.urls["api"] = _rebase(self.ex.urls["api"], base_url.rstrip("/"))
        self.timeout_ms = timeout_ms
        self.attempts = max(1, attempts)
        self.wait_initial = wait_initial
        self.wait_max = wait_max
        self.max_response_bytes = max_response_bytes
        self.float_tokens: set[str] = set()
        self.status: int | None = None
        self.body: str = ""
        self.ex.on_rest_response = self._on_rest_response
        self.ex.on_json_response = self._loads

    # -- ccxt hooks ---------------------------------------------------------------------

    def _on_rest_response(self, code: int, reason: str, url: str, method: str,
                          headers: Any, body: str, req_headers: Any, req_body: Any) -> str:
        self.status = code
        self.body = body
        if len(body) > self.max_response_bytes:
            raise _BadBody(f"response of {len(body)} bytes exceeds the "
                           f"{self.max_response_bytes}-byte page cap")
        text = body.strip()
        if 200 <= code < 300 and text[:1] == "<":
            raise _BadBody(f"HTML page instead of JSON (HTTP {code}{_html_title(text)})")
        return text

    def _loads(self, body: str) -> Any:
        def keep(token: str) -> float:
            self.float_tokens.add(token)
            return float(token)

        return json.loads(body, parse_float=keep)

    # -- calls --------------------------------------------------------------------------

    def endpoint(self) -> str:
        """``"GET /api/v3/myTrades"``: the last request's method and path (no query)."""
        req = getattr(self.ex, "last_request_url", None)
        method = "POST" if getattr(self.ex, "last_request_body", None) else "GET"
        return f"{method} {_scrub_url(req)}"

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one ccxt call with retries on transient failures; map every error.

        ``what`` names the ccxt method for messages until the request URL is known.
        """
        tries = 0
        try:
            for attempt in stamina.retry_context(
                on=self._retryable,
                attempts=self.attempts,
                wait_initial=self.wait_initial,
                wait_max=self.wait_max,
                wait_jitter=self.wait_initial,
                timeout=None,
            ):
                with attempt:
                    tries += 1
                    self.float_tokens = set()
                    self.status = None
                    self.body = ""
                    self.ex.last_request_url = None
                    self.ex.last_request_body = None
                    return fn(*args, **kwargs)
        except SourceError:
            raise
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            raise self._map_error(what, exc, tries) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _retryable(self, exc: Exception) -> bool:
        if isinstance(exc, _BadBody | ccxt.AuthenticationError | ccxt.PermissionDenied):
            return False
        if isinstance(exc, ccxt.RequestTimeout | ccxt.DDoSProtection):
            return True
        if isinstance(exc, ccxt.BaseError) and self.status in _RETRY_STATUSES:
            # Exchanges' own error mapping often turns a 503 JSON body into ExchangeError.
            return True
        if isinstance(exc, ccxt.NetworkError):
            # ccxt maps 400/403/404 to ExchangeNotAvailable too: only retry real outages.
            return self.status is None or self.status in _RETRY_STATUSES
        return False

    def _map_error(self, what: str, exc: BaseException, tries: int) -> SourceError:
        where = self.endpoint() if self.ex.last_request_url else what
        body = (self.body or "").strip()
        after = f" after {tries} attempts" if tries > 1 else ""
        if isinstance(exc, _BadBody):
            msg = str(exc)
        elif isinstance(exc, ccxt.RequestTimeout):
            msg = f"timed out ({self.timeout_ms} ms){after}"
        elif isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied) or (
            isinstance(exc, ccxt.ExchangeError)
            and any(h in str(exc).lower() for h in _AUTH_HINTS)
        ):
            msg = ("authentication failed: the exchange rejected the API key or signature "
                   f"(check apiKey/secret/password): {self._snippet(body or str(exc))}")
        elif body[:1] == "<":
            msg = f"HTML error page (HTTP {self.status}{_html_title(body)}){after}"
        elif isinstance(exc, ccxt.DDoSProtection):
            msg = f"rate limited (HTTP {self.status}){after}: {self._snippet(body)}"
        elif isinstance(exc, ccxt.NetworkError):
            status = f"HTTP {self.status}" if self.status else "network error"
            msg = f"exchange unavailable ({status}){after}: {self._snippet(body or str(exc))}"
        elif isinstance(exc, ccxt.BaseError):
            msg = f"exchange error ({type(exc).__name__}): {self._snippet(body or str(exc))}"
        else:
            # ccxt's parsers choke on malformed payloads with TypeError/KeyError & co.
            msg = f"malformed response ({type(exc).__name__}: {self._snippet(str(exc))})"
        return SourceError(self.source, self._redact(where), self._redact(msg))

    def _snippet(self, text: str, limit: int = 200) -> str:
        text = re.sub(r"https?://\S+", lambda m: _scrub_url(m.group(0)), text)
        for value in self._secret_values:
            text = text.replace(value, "***")
        text = self._redact(text)  # and its URL/base64/hex/case forms
        text = " ".join(text.split())
        return text[:limit] + ("…" if len(text) > limit else "")

    def error(self, where: str, message: str) -> SourceError:
        return SourceError(self.source, where, message)


def _html_title(body: str) -> str:
    m = re.search(r"<title>(.*?)</title>", body, re.I | re.S)
    return f": '{m.group(1).strip()[:80]}'" if m else ""


def _rebase(api: Any, base: str) -> Any:
    """``urls['api']`` with every ``scheme://host`` replaced by ``base`` (paths kept)."""
    if isinstance(api, dict):
        return {k: _rebase(v, base) for k, v in api.items()}
    if isinstance(api, str):
        return re.sub(r"^[a-z]+://[^/]+", base, api)
    return api


def exact(client: CcxtClient, row: dict[str, Any], field: str, where: str, *,
          required: bool = True) -> Decimal | None:
    """The exact Decimal of ``row[field]`` (a raw exchange payload); refuses JSON numbers.

    Integers are exact and accepted; floats mean the exchange (or a proxy) sent a JSON
    number whose decimal text is already lost, so the sync stops with an error.
    """
    loc = f"{where}: field '{field}'"
    value = row.get(field)
    if value is None or value == "":
        if required:
            raise client.error(loc, "missing")
        return None
    if isinstance(value, float):
        raise client.error(loc, f"amount sent as a JSON number ({value!r}), not a string: "
                                "its exact decimal value is lost")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise client.error(loc, f"expected a decimal string, got {type(value).__name__}")
    try:
        return to_decimal(value, field)
    except ValidationError as exc:
        raise client.error(loc, exc.detail) from None


def text(client: CcxtClient, row: dict[str, Any], field: str, where: str) -> str:
    """A required raw text/id field (ints accepted: ids)."""
    value = row.get(field)
    if value is None or value == "" or isinstance(value, bool | float | dict | list):
        problem = "missing" if value in (None, "") else f"unexpected {type(value).__name__}"
        raise client.error(f"{where}: field '{field}'", problem)
    return str(value)


def now_ms() -> int:
    return int(time.time() * 1000)
