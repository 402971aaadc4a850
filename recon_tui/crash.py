"""Crash reports: an unexpected exception is written to a file, never dumped on the user.

The report holds the traceback and versions; it never holds the store key, passphrases or
source secrets (they are not in local variables we print: only the traceback text is kept).
"""

from __future__ import annotations

import platform
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from recon_tui import __version__, paths


def write_crash_report(exc: BaseException) -> Path:
    """Write a crash report for ``exc``; returns its path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = paths.crash_dir() / f"crash-{stamp}.txt"
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    path.write_text(
        f"recon-tui {__version__} crash report {stamp}\n"
        f"python {sys.version.split()[0]} on {platform.platform()}\n"
        f"argv: {' '.join(sys.argv[1:2])} …\n\n{text}",
        "utf-8",
    )
    return path
