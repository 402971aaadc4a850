"""A rekey that cannot lose a store: signals (SIGINT, SIGTERM, SIGKILL) at every step of a
real ``recon-tui rekey`` process, a kill in the middle of ``PRAGMA rekey`` itself, and a
keyring rekey interrupted before its switch; afterwards the old or the new key opens the
store with all its data and an intact audit trail."""

from __future__ import annotations

import atexit
import json
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from recon_tui.services.matching import MatchService
from recon_tui.services.sessions import verify_all
from recon_tui.services.sync import import_file
from recon_tui.store import Store, StoreKeyError, keys
from recon_tui.store.db import Store as StoreClass
from tests.integrity_kit import PASSPHRASE, cli, new_store, write_books

NEW = "the-new-passphrase"


_BUILT: dict[int, tuple[Path, int, int]] = {}
"""Stores already built in this process, by size: each test copies one (building the 40k-row
store took most of each PRAGMA-rekey test, 2-3 minutes apiece on a busy machine)."""


def _store(tmp_path: Path, n: int = 200) -> tuple[Path, int, int]:
    """A copy, in ``tmp_path``, of a matched store of two ``n``-row books."""
    if n not in _BUILT:
        home = Path(tempfile.mkdtemp(prefix=f"rekey-template-{n}-"))
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        lp, bp = write_books(home, n)
        store = new_store(home / "r.db")
        import_file(store, "ledger", str(lp))
        import_file(store, "bank", str(bp))
        MatchService(store).run_all()
        counts = (store.count("SELECT count(*) FROM records"),
                  store.count("SELECT count(*) FROM decisions"))  # fmt: skip
        store.close()
        _BUILT[n] = (home / "r.db", *counts)
    template, records, decisions = _BUILT[n]
    for part in template.parent.glob("r.db*"):  # the database and its key info, closed
        shutil.copy2(part, tmp_path / part.name)
    return tmp_path / "r.db", records, decisions


def _open_either(db: Path) -> tuple[str, Store]:
    try:
        return "old", Store.open(db, passphrase=PASSPHRASE)
    except StoreKeyError:
        return "new", Store.open(db, passphrase=NEW)


def _wait_line(proc, text: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if text in line:
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"the rekey never reached {text!r}")


SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}


@pytest.mark.parametrize("step", StoreClass.REKEY_STEPS)
@pytest.mark.parametrize("signame", list(SIGNALS))
def test_a_signal_at_any_rekey_step_never_loses_the_store(tmp_path: Path, step: str,
                                                          signame: str) -> None:  # fmt: skip
    db, records, decisions = _store(tmp_path)
    home = tmp_path / "home"
    proc = cli(db, home, "rekey", "--passphrase", RECON_TUI_NEW_PASSPHRASE=NEW,
               RECON_TUI_REKEY_PAUSE=step, RECON_TUI_REKEY_PAUSE_S="1")  # fmt: skip
    _wait_line(proc, f"rekey-step {step}")
    proc.send_signal(SIGNALS[signame])
    _out, err = proc.communicate(timeout=60)
    which, store = _open_either(db)
    try:
        if signame == "SIGKILL":
            assert proc.returncode == -signal.SIGKILL
        else:
            # Deferred until the store was consistent: the rekey finished, then stopped.
            assert which == "new", err
            if signame == "SIGINT":
                assert proc.returncode == 130 and "after the rekey finished" in err
            else:
                assert proc.returncode == -signal.SIGTERM
        if step in ("switched", "done"):
            assert which == "new"
        if step in ("begin", "next_saved", "prepared") and signame == "SIGKILL":
            assert which == "old"
        assert store.count("SELECT count(*) FROM records") == records
        assert store.count("SELECT count(*) FROM decisions") == decisions
        report = verify_all(store.connection())
        assert report.ok, report.lines()
        # The interrupted switch was finished (or undone) on open: one key info is left.
        assert not keys.keyinfo_next_path(db).exists()
        assert keys.KeyInfo.load(keys.keyinfo_path(db)).salt == store.info.salt
    finally:
        store.close()
    # And the store works on: a second rekey from whichever key opened it.
    s = Store.open(db, passphrase=PASSPHRASE if which == "old" else NEW)
    s.rekey(new_passphrase="third")
    s.close()
    Store.open(db, passphrase="third").close()


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.4])
def test_a_kill_inside_pragma_rekey_rolls_back_to_a_working_key(tmp_path: Path,
                                                                delay: float) -> None:  # fmt: skip
    db, records, decisions = _store(tmp_path, n=20_000)  # a few MB: the rekey takes a while
    home = tmp_path / "home"
    proc = cli(db, home, "rekey", "--passphrase", RECON_TUI_NEW_PASSPHRASE=NEW,
               RECON_TUI_REKEY_PAUSE="prepared", RECON_TUI_REKEY_PAUSE_S="0")  # fmt: skip
    _wait_line(proc, "rekey-step prepared")
    time.sleep(delay)
    proc.kill()
    proc.communicate(timeout=60)
    mid_rekey = Path(f"{db}-journal").exists()  # the kill landed inside PRAGMA rekey
    which, store = _open_either(db)
    try:
        if mid_rekey:  # the hot journal rolls the half-rewritten pages back to the old key
            assert which == "old"
        assert store.count("SELECT count(*) FROM records") == records
        assert store.count("SELECT count(*) FROM decisions") == decisions
        assert verify_all(store.connection()).ok
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()


def test_keyring_rekey_interrupted_before_the_switch_opens_with_the_new_key(
    tmp_path: Path, memory_keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "k.db"
    s = Store.init(path)
    s.set_meta("canary", "kept")
    user = keys.keyring_username(s.info.store_id)

    def crash(_src: Path, _dst: Path) -> None:
        raise KeyboardInterrupt  # the process dies between PRAGMA rekey and the switch

    monkeypatch.setattr(keys, "replace_synced", crash)
    with pytest.raises(KeyboardInterrupt):
        s.rekey()
    s.conn.close()
    monkeypatch.undo()
    assert keys.keyinfo_next_path(path).exists()
    s = Store.open(path)  # the main entry already holds the new key, or ':next' does
    assert s.meta("canary") == "kept" and verify_all(s.connection()).ok
    s.close()
    assert not keys.keyinfo_next_path(path).exists()
    assert set(memory_keyring.items) == {("recon-tui", user)}


def test_key_info_files_are_private_and_durable(tmp_path: Path) -> None:
    s = Store.init(tmp_path / "p.db", passphrase="pw")
    s.rekey(new_passphrase="pw2")
    s.close()
    for p in (tmp_path / "p.db", keys.keyinfo_path(tmp_path / "p.db")):
        assert p.stat().st_mode & 0o777 == 0o600, p
    assert not list(tmp_path.glob("*.tmp"))


BAD_PARAMS = [
    ({"n": 2**30}, "outside 2^10..2^20"),
    ({"n": 2**20, "r": 32}, "would cost more than"),
    ({"n": 3000}, "power of two"),
    ({"r": 0}, "outside 1..32"),
    ({"p": 10**9}, "outside"),
    ({"n": "32768"}, "whole numbers"),
    ({"n": 1.5}, "whole numbers"),
    ({"r": True}, "whole numbers"),
    ({"n": None}, "whole numbers"),
]


@pytest.mark.parametrize(("change", "message"), BAD_PARAMS, ids=[str(c) for c, _ in BAD_PARAMS])
def test_scrypt_parameters_from_a_key_info_file_are_bounded(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = tmp_path / "b.db"
    Store.init(path, passphrase="pw").close()
    info_path = keys.keyinfo_path(path)
    data = json.loads(info_path.read_text())
    data.update(change)
    info_path.write_text(json.dumps(data))
    started = time.monotonic()
    with pytest.raises(StoreKeyError) as caught:
        Store.open(path, passphrase="pw")
    assert time.monotonic() - started < 5
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_damaged_key_info_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    Store.init(path, passphrase="pw").close()
    for text in ("[1, 2]", "{", '{"store_id": "x", "method": "passphrase", "salt": "!!"}',
                 "x" * 100_000):  # fmt: skip
        keys.keyinfo_path(path).write_text(text)
        with pytest.raises(StoreKeyError, match="damaged"):
            Store.open(path, passphrase="pw")
