"""Structured logging for the headless service: one JSON object per line, in the user log
directory (platformdirs; ``$RECON_TUI_HOME/logs`` when that is set), with every known
secret redacted on the way out.

Redaction is a last line of defence, not the first: nothing logs secrets on purpose. The
filter replaces registered secret values (the store key, the passphrase, source and webhook
secrets) and anything shaped like an API token (``rtk_…``) or a bearer header.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from datetime import UTC, datetime
from logging.handlers import WatchedFileHandler
from pathlib import Path
from typing import Any

from platformdirs import user_log_path

APP = "recon-tui"
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}
_TOKEN_RE = re.compile(r"(rtk_[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-]*")
_BEARER_RE = re.compile(r"(?i)(bearer\s+)[^\s\"']+")


def log_dir() -> Path:
    override = os.environ.get("RECON_TUI_HOME")
    path = Path(override) / "logs" if override else user_log_path(APP, appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_path() -> Path:
    return log_dir() / "service.jsonl"


class Redactor:
    """The secret values to scrub from every line (registered at start)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        if value and len(value) >= 4:
            with self._lock:
                self._values.add(value)

    def scrub(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for v in values:
            if v in text:
                text = text.replace(v, "[redacted]")
        text = _TOKEN_RE.sub(r"\1…[redacted]", text)
        return _BEARER_RE.sub(r"\1[redacted]", text)


REDACTOR = Redactor()


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...extra}`` on one line, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STANDARD and not k.startswith("_"):
                out[k] = v if isinstance(v, int | float | bool | type(None)) else str(v)
        if record.exc_info and record.exc_info[1] is not None:
            # The exception's type and message, never a traceback with its locals.
            exc = record.exc_info[1]
            out["error"] = f"{type(exc).__name__}: {exc}"
        return REDACTOR.scrub(json.dumps(out, ensure_ascii=False, default=str))


def configure(path: Path | None = None, level: int = logging.INFO) -> Path:
    """Send the root logger (and uvicorn's and APScheduler's) to the JSON-lines file."""
    path = path or log_path()
    handler = WatchedFileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_recon_service", False):
            root.removeHandler(h)
            h.close()
    handler._recon_service = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler"):
        logging.getLogger(name).propagate = True
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return path
