"""The CLI as a user meets it: one-line errors, exit codes, status text and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recon_tui.cli import main, parse_duration


def run(
    args: list[str], env_pass: str | None = "pw", tmp: Path | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ)
    if env_pass is not None:
        env["RECON_TUI_PASSPHRASE"] = env_pass
    else:
        env.pop("RECON_TUI_PASSPHRASE", None)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    return subprocess.run([sys.executable, "-m", "recon_tui.cli", *args], capture_output=True,
                          text=True, env=env, stdin=subprocess.DEVNULL, timeout=120)  # fmt: skip


def test_init_status_rekey_verify_via_subprocess(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    r = run(["--store", db, "init"])
    assert r.returncode == 0, r.stderr
    assert "passphrase" in r.stdout
    r = run(["--store", db, "init"])
    assert r.returncode == 1 and r.stderr.strip().startswith("error: a store already exists")
    r = run(["--store", db, "status", "--json"])
    data = json.loads(r.stdout)
    assert data["schema_version"] >= 1 and data["records"] == 0
    r = run(["--store", db, "status"], env_pass="wrong")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    r = run(["--store", db, "status"], env_pass=None)
    assert r.returncode == 1 and "RECON_TUI_PASSPHRASE" in r.stderr
    import os

    os.environ["RECON_TUI_NEW_PASSPHRASE"] = "pw2"
    try:
        r = run(["--store", db, "rekey"])
    finally:
        del os.environ["RECON_TUI_NEW_PASSPHRASE"]
    assert r.returncode == 0, r.stderr
    assert run(["--store", db, "status"], env_pass="pw2").returncode == 0
    assert run(["--store", db, "verify"], env_pass="pw2").stdout.startswith("Audit trail intact")


def test_missing_store_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--store", str(tmp_path / "none.db"), "status"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "no store at" in err and "recon-tui init" in err


def test_durations() -> None:
    assert (
        parse_duration("5m") == 300 and parse_duration("90") == 90 and parse_duration("2h") == 7200
    )
