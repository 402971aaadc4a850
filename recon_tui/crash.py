"""Crash reports: an unexpected exception is written to a file, never dumped on the user.

The report holds the traceback and versions; it never holds the store key, passphrases or
source secrets (they are not in local variables we print: only the traceback text is kept,
and every secret this process handed out is masked in it, encoded forms included). The
crash folder is 0700 and each report 0600.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from adapters.redact import redact
from recon_tui import __version__, paths


def write_crash_report(exc: BaseException) -> Path:
    """Write a crash report for ``exc``; returns its path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = paths.crash_dir()
    with contextlib.suppress(OSError):
        os.chmod(folder, 0o700)
    path = folder / f"crash-{stamp}.txt"
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    body = redact(
        f"recon-tui {__version__} crash report {stamp}\n"
        f"python {sys.version.split()[0]} on {platform.platform()}\n"
        f"argv: {' '.join(sys.argv[1:2])} …\n\n{text}"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(body)
    return path
