"""Where recon-tui keeps its files (platformdirs), overridable by ``--store``/``RECON_TUI_STORE``."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_path, user_log_path

APP = "recon-tui"


def data_dir() -> Path:
    """The user's data directory for recon-tui (created on demand)."""
    override = os.environ.get("RECON_TUI_HOME")
    path = Path(override) if override else user_data_path(APP, appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_store() -> Path:
    """The default store path: ``$RECON_TUI_STORE`` or ``<data dir>/recon.db``."""
    env = os.environ.get("RECON_TUI_STORE")
    return Path(env) if env else data_dir() / "recon.db"


def demo_store() -> Path:
    """Where ``recon-tui demo`` builds its workspace."""
    return data_dir() / "demo.db"


def crash_dir() -> Path:
    """Crash reports land here instead of tracebacks on the user's terminal."""
    override = os.environ.get("RECON_TUI_HOME")
    path = Path(override) / "crash" if override else user_log_path(APP, appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path
