"""Secret redaction that also catches a secret's encodings.

An exchange or bank that echoes a key back rarely echoes it verbatim: it arrives URL-encoded
in a query string, base64'd in a Basic auth header (often inside ``key:secret``), hex'd,
JSON-escaped or upper/lower-cased. :class:`Redactor` replaces every such form with ``***``:

- the value, URL-encoded (``quote``/``quote_plus``, once and twice), JSON-escaped;
- hex (matched case-insensitively, like everything here);
- base64 (standard and URL-safe, padded or not) of the value alone, and the part of the
  base64 of any longer string that only the value's bytes determine, for each of the three
  alignments: a secret inside ``base64("user:" + secret)`` is caught too.

A process-wide registry (:func:`register`, :func:`redact`) lets places that never saw the
adapter (sync reports, ``last_error``, crash reports, logs) redact what any adapter or the
secret store handed out in this process. Short values (under 6 characters) are not
redacted: they would blank unrelated text.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MIN_SECRET = 6
MIN_FORM = 8
MASK = "***"


def _b64_cores(raw: bytes) -> set[str]:
    """Base64 text that the secret's bytes alone fix, at each alignment in a longer string."""
    cores: set[str] = set()
    for pad in range(3):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = enc(b"\0" * pad + raw + b"\0\0").decode()
            first = -(-pad * 8 // 6)  # the first character not touched by the padding bytes
            last = (pad + len(raw)) * 8 // 6  # one past the last fully fixed character
            core = text[first:last]
            if len(core) >= MIN_FORM:
                cores.add(core)
    return cores


def variants(secret: str) -> set[str]:
    """The textual forms of ``secret`` we redact (before case folding)."""
    raw = secret.encode("utf-8")
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        quote(quote(secret, safe=""), safe=""),
        json.dumps(secret)[1:-1],
        raw.hex(),
    }
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        full = enc(raw).decode()
        forms.update({full, full.rstrip("=")})
    forms |= _b64_cores(raw)
    return {f for f in forms if len(f) >= min(MIN_FORM, len(secret))}


class Redactor:
    """Replaces every known secret, in any of its :func:`variants`, with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.add_all(secrets)

    def add(self, secret: str | None) -> None:
        if not secret or not isinstance(secret, str) or len(secret) < MIN_SECRET:
            return
        new = variants(secret) - self._forms
        if not new:
            return
        with self._lock:
            self._forms |= new
            ordered = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(f) for f in ordered), re.IGNORECASE)

    def add_all(self, secrets: Iterable[str | None]) -> None:
        for s in secrets:
            self.add(s)

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def __bool__(self) -> bool:
        return self._pattern is not None


_REGISTRY = Redactor()


def register(secrets: Iterable[str | None]) -> None:
    """Remember secrets handed out in this process, for :func:`redact`."""
    _REGISTRY.add_all(secrets)


def redact(text: str) -> str:
    """``text`` with every secret registered in this process (and its encodings) masked."""
    return _REGISTRY(text)


class LogFilter(logging.Filter):
    """A logging filter that redacts registered secrets from each record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _REGISTRY:
            record.msg = redact(record.getMessage())
            record.args = None
        return True
