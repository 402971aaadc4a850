"""The CLI names records by their external ids (issue 16.2) and gives a typed passphrase
three tries (issue 16.5)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from recon_tui.cli import cli
from recon_tui.services.workspace import DEMO_PASSPHRASE, build_demo
from recon_tui.store import Store


def test_match_dry_run_lists_external_ids(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "d.db"
    build_demo(db, size=60, seed=7, match=False).close()
    monkeypatch.setenv("RECON_TUI_PASSPHRASE", DEMO_PASSPHRASE)
    r = CliRunner().invoke(cli, ["--store", str(db), "match", "--dry-run"])
    assert r.exit_code == 0, r.output
    named = re.findall(r"\b([LR])\[([^\]]*)\]", r.output)
    assert named, r.output
    store = Store.open(db, passphrase=DEMO_PASSPHRASE)
    try:
        for _, inside in named[:50]:
            for part in inside.split(", "):
                ext, rid = part.rsplit(" #", 1)
                got = store.connection().execute(
                    "SELECT external_id FROM records WHERE id = ?", (int(rid),)).fetchone()  # fmt: skip
                assert got == (ext,), part
    finally:
        store.close()


def test_a_typed_passphrase_gets_three_tries(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    Store.init(db, passphrase="right horse").close()
    env = {k: v for k, v in os.environ.items() if k != "RECON_TUI_PASSPHRASE"}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "recon_tui.cli", "--store", str(db),
                             "status"], stdin=child_fd, stdout=child_fd, stderr=child_fd,
                            env=env, start_new_session=True)  # fmt: skip
    os.close(child_fd)
    out = b""

    def read_until(done, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
        nonlocal out
        end = time.monotonic() + timeout
        while not done() and time.monotonic() < end:
            try:
                out += os.read(main_fd, 4096)
            except OSError:  # the child closed the terminal
                break

    for i, answer in enumerate((b"wrong one\n", b"wrong two\n", b"right horse\n")):
        read_until(lambda i=i: out.count(b"passphrase: ") > i)
        os.write(main_fd, answer)
    rc = proc.wait(timeout=60)
    read_until(lambda: False, timeout=1)
    os.close(main_fd)
    text = out.decode("utf-8", "replace")
    assert rc == 0, text
    assert "2 tries left" in text and "1 try left" in text
