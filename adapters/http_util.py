"""Shared HTTP plumbing of the API adapters (banks, Esplora).

One :class:`HttpSource` per adapter instance wraps an ``httpx.Client`` with what every
API source needs: timeouts, retries with exponential backoff (``stamina``) on network
errors, 429 and 5xx (honouring ``Retry-After``), a cap on response size, exact JSON
(``parse_float=Decimal``; NaN/Infinity refused), and errors as
:class:`~adapters.base.SourceError` located at ``"POST /path"`` with every secret value
redacted from the message (with its URL, base64, hex and case variants: :mod:`adapters.redact`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import stamina

from adapters.base import DecimalOption, IntOption, Option, SourceError
from adapters.redact import Redactor, register

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""Larger responses are refused: no bank page is that big, a runaway server might be."""

HTTP_SETTINGS: tuple[Option, ...] = (
    DecimalOption("timeout", "Timeout (s)", default="30", help="Per-request network timeout"),
    IntOption("retries", "Attempts", default=5, minimum=1,
              help="Attempts on network errors, 429 and 5xx"),
    DecimalOption("retry_wait", "First retry wait (s)", default="0.5",
                  help="Doubles each attempt"),
)
"""Settings every HTTP adapter declares (appended to its own)."""


@dataclass(slots=True)
class Reply:
    """A decoded HTTP response: status, JSON body (``None`` when not JSON) and raw text."""

    status: int
    data: Any
    text: str
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = ""


class _Retryable(Exception):
    """A response that deserves another attempt (429, 5xx)."""

    def __init__(self, reply: Reply, retry_after: float | None) -> None:
        super().__init__(f"HTTP {reply.status}")
        self.reply = reply
        self.retry_after = retry_after


class _NotJson(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a number")


def loads(text: str | bytes) -> Any:
    """JSON with exact Decimals; NaN/Infinity refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


def _retry_after(headers: httpx.Headers, cap: float) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, min(float(value), cap))
    except ValueError:
        return None  # an HTTP date; the backoff schedule is good enough


class HttpSource:
    """An HTTP client bound to one source's base URL, settings and secrets."""

    def __init__(
        self,
        source: str,
        base_url: str,
        settings: dict[str, Any],
        secrets: Iterable[str] = (),
        *,
        describe_error: Callable[[Reply], str] | None = None,
        headers: dict[str, str] | None = None,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.source = source
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self._redactor = Redactor(self._secrets)
        register(self._secrets)
        self.timeout = _num(source, "timeout", settings.get("timeout"), 30.0)
        self.attempts = max(1, int(_num(source, "retries", settings.get("retries"), 5)))
        self.wait_initial = _num(source, "retry_wait", settings.get("retry_wait"), 0.5)
        self.wait_max = max(self.wait_initial, 30.0 if self.wait_initial >= 0.5 else 1.0)
        self.max_bytes = max_bytes
        self.describe_error = describe_error or _describe_generic
        if not re.match(r"^https?://", base_url or ""):
            raise SourceError(source, "base_url", f"'{base_url}' is not an http(s) URL")
        self.client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(self.timeout),
            headers={"User-Agent": "recon-tui", "Accept": "application/json", **(headers or {})},
            follow_redirects=False,
        )

    def close(self) -> None:
        self.client.close()

    # -- errors ----------------------------------------------------------------------------

    def add_secret(self, value: str) -> None:
        """Also redact ``value`` (a token obtained at run time) from every message."""
        if value and len(value) >= 4:
            self._secrets = sorted({*self._secrets, value}, key=len, reverse=True)
            self._redactor.add(value)
            register([value])

    def redact(self, text: str) -> str:
        """``text`` with every secret masked, verbatim or encoded (URL, base64, hex, case)."""
        for s in self._secrets:  # short ones (4-5 chars) verbatim only
            text = text.replace(s, "***")
        return self._redactor(text)

    def error(self, where: str, message: str) -> SourceError:
        return SourceError(self.source, self.redact(where), self.redact(message))

    def http_error(self, label: str, reply: Reply) -> SourceError:
        return self.error(label, f"HTTP {reply.status}: {self.describe_error(reply)}")

    # -- requests --------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        label: str | None = None,
    ) -> Reply:
        """One request with retries. Returns any non-retryable reply (the caller judges
        4xx); raises SourceError for network failures and exhausted retries."""
        label = label or f"{method} {path.split('?')[0]}"
        last: Reply | None = None
        try:
            for attempt in stamina.retry_context(
                on=self._should_retry,
                attempts=self.attempts,
                timeout=None,
                wait_initial=self.wait_initial,
                wait_max=self.wait_max,
                wait_jitter=self.wait_initial,
            ):
                with attempt:
                    reply = self._once(method, path, json_body, params, headers, label)
                    last = reply
                    if reply.status == 429 or reply.status >= 500:
                        raise _Retryable(reply, _retry_after(httpx.Headers(reply.headers),
                                                             self.wait_max))
            assert last is not None
            return last
        except _Retryable as exc:
            what = "rate limited" if exc.reply.status == 429 else "server error"
            raise self.error(
                label,
                f"{what} after {self.attempts} attempt(s): HTTP {exc.reply.status}: "
                f"{self.describe_error(exc.reply)}",
            ) from None
        except httpx.TimeoutException:
            raise self.error(
                label, f"timed out after {self.timeout:g}s ({self.attempts} attempt(s))"
            ) from None
        except httpx.TransportError as exc:
            raise self.error(
                label,
                f"network error after {self.attempts} attempt(s): {type(exc).__name__}: {exc}",
            ) from None

    def _should_retry(self, exc: Exception) -> bool | float:
        if isinstance(exc, _Retryable):
            return exc.retry_after if exc.retry_after is not None else True
        return isinstance(exc, httpx.TransportError)

    def _once(
        self,
        method: str,
        path: str,
        json_body: Any,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
        label: str,
    ) -> Reply:
        content = None
        hdrs = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body, default=_json_default).encode()
            hdrs["Content-Type"] = "application/json"
        with self.client.stream(method, path, content=content, params=params, headers=hdrs) as r:
            declared = r.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.max_bytes:
                raise self.error(label, f"response of {declared} bytes exceeds {self.max_bytes}")
            buf = bytearray()
            for chunk in r.iter_bytes():
                buf += chunk
                if len(buf) > self.max_bytes:
                    raise self.error(label, f"response exceeds {self.max_bytes} bytes")
            ctype = r.headers.get("content-type", "")
            text = buf.decode(r.encoding or "utf-8", errors="replace")
            data: Any = None
            if buf.strip():
                try:
                    data = loads(bytes(buf))
                except (ValueError, RecursionError):
                    data = None
            return Reply(r.status_code, data, text, dict(r.headers), ctype)

    def json_ok(self, label: str, reply: Reply) -> Any:
        """The JSON body of a 2xx reply; a clear error for anything else."""
        if not 200 <= reply.status < 300:
            raise self.http_error(label, reply)
        if reply.data is None:
            raise self.error(label, f"expected JSON, got {_snippet(reply)}")
        return reply.data


def _num(source: str, name: str, value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        v = float(str(value))
    except ValueError:
        raise SourceError(source, name, f"setting '{name}' must be a number") from None
    if not v >= 0:
        raise SourceError(source, name, f"setting '{name}' must not be negative")
    return v


def _json_default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return str(o)
    raise TypeError(type(o).__name__)


def _snippet(reply: Reply) -> str:
    """A short, single-line description of a non-JSON body (an HTML error page...)."""
    kind = reply.content_type.split(";")[0].strip() or "no content type"
    text = re.sub(r"<[^>]+>", " ", reply.text)
    text = " ".join(text.split())[:120]
    return f"{kind} ({text!r})" if text else f"{kind} (empty body)"


def _describe_generic(reply: Reply) -> str:
    if isinstance(reply.data, dict):
        for key in ("error_message", "detail", "message", "error", "summary"):
            if isinstance(reply.data.get(key), str):
                return reply.data[key]
    return _snippet(reply)


def snippet(reply: Reply) -> str:
    return _snippet(reply)
