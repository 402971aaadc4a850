"""Processes that open one new store at once, and interrupts that land anywhere.

The soak's one crash report (issue 12) was SQLite's "user-defined function raised
exception" out of a group write: a Ctrl+C that reached the state log's SQL function at its
very entry (before any ``try`` in it could record it) was swallowed by SQLite and came out
as an OperationalError. These tests drive both that and the neighbouring race (a store
being created while other processes open it and write) with real processes and real
signals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from recon_tui.services.verify import verify_all
from recon_tui.store import Store, keys, schema
from recon_tui.store.errors import StoreError
from tests.integrity_kit import PASSPHRASE, ROOT, env, new_store

CHILD = textwrap.dedent(
    """
    import sys, time
    from decimal import Decimal
    from pathlib import Path
    from recon_tui.model import Side, SourcePair, make_record
    from recon_tui.services.decisions import Decisions
    from recon_tui.store import Store
    from recon_tui.store.pairs import add_pair
    from recon_tui.store.records import apply_batch
    from recon_tui.store.sources import add_source

    db, k, go = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    while time.time() < go:  # all children open at the same moment
        time.sleep(0.001)
    store = Store.open(db, passphrase="{passphrase}")
    add_source(store, "led" + k, "ledger")
    add_source(store, "bank" + k, "csv")
    add_pair(store, SourcePair("p" + k, Side("led" + k), Side("bank" + k)))
    def rec(src, i):
        return make_record(source=src, external_id=f"{{src}}-{{i}}", kind="payment",
                           ts="2026-03-02T10:00:00Z", asset="EUR", amount=f"-{{100 + i}}.25",
                           reference=f"INV-{{i}}", counterparty="ACME")
    apply_batch(store, "led" + k, [rec("led" + k, i) for i in range(8)])
    apply_batch(store, "bank" + k, [rec("bank" + k, i) for i in range(8)])
    ids = dict(store.conn.execute("SELECT external_id, id FROM records").fetchall())
    dec = Decisions(store, actor="child" + k)
    for i in range(8):
        dec.manual_match("p" + k, [ids[f"led{{k}}-{{i}}"]], [ids[f"bank{{k}}-{{i}}"]])
    store.close()
    print("done", k)
    """
).format(passphrase=PASSPHRASE)


def _fresh_store_file(db: Path) -> None:
    """A store as ``Store.init`` leaves it the moment other processes can see it: the key
    info saved and the (empty, 0600) database file made, not one migration applied yet."""
    info = keys.KeyInfo(store_id=keys.new_store_id(), method="passphrase", salt=keys.new_salt())
    info.save(keys.keyinfo_path(db))
    os.close(os.open(db, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


@pytest.mark.parametrize("trial", range(2))
def test_processes_opening_a_new_store_at_once_all_migrate_seal_and_write(
    tmp_path: Path, trial: int
) -> None:
    """Three processes open a store nobody has migrated yet, at the same moment: each
    migration step is applied once (looked at again under the write lock), the audit key
    is made inside the migration that adds the state log, and every process's groups and
    decisions are sealed: no crash, no refusal, verify clean."""
    db = tmp_path / "fresh.db"
    home = tmp_path / "home"
    _fresh_store_file(db)
    go = time.time() + 3.0  # past the children's imports and key derivation
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(k), str(go)], cwd=ROOT,
                              env=env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, stdin=subprocess.DEVNULL) for k in range(3)]  # fmt: skip
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and "Traceback" not in err, err
        assert out.startswith("done"), (out, err)
    store = Store.open(db, passphrase=PASSPHRASE)
    try:
        report = verify_all(store.connection())
        assert report.ok, report.lines()
        assert store.count("SELECT count(*) FROM match_groups WHERE state = 'confirmed'") == 24
        # Every decision from the first on carries its keyed seal, every state row a MAC.
        assert store.count("SELECT count(*) FROM decisions WHERE mac IS NULL") == 0
        assert store.count("SELECT count(*) FROM decisions") >= 24
        assert store.count("SELECT count(*) FROM state_log") >= 24 * 3
        assert store.version == len(schema.MIGRATIONS)
    finally:
        store.close()


def test_ctrl_c_landing_anywhere_in_a_group_write_is_ctrl_c_never_an_operational_error(
    tmp_path: Path,
) -> None:
    """Real timer signals (SIGALRM raising KeyboardInterrupt, as SIGINT's default handler
    does) at a spread of moments in transactions whose triggers call the state log's SQL
    function: every one comes back as KeyboardInterrupt with nothing written, never as
    "user-defined function raised exception"; the store stays verifiable throughout."""
    store = new_store(tmp_path / "sig.db")

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    seen = {"interrupted": 0, "committed": 0}
    other: list[str] = []
    try:
        for i in range(600):
            try:
                signal.setitimer(signal.ITIMER_REAL, 0.0001 + (i % 60) * 0.00003)
                with store.tx() as conn:
                    conn.executemany(
                        "INSERT INTO match_groups (pair, state, origin, created_us) "
                        "VALUES ('ledger-bank', 'suggested', 'engine', 0)", [()] * 20)  # fmt: skip
                signal.setitimer(signal.ITIMER_REAL, 0)
                seen["committed"] += 1
            except KeyboardInterrupt:
                seen["interrupted"] += 1
            except Exception as exc:  # the bug: an OperationalError out of the trigger
                signal.setitimer(signal.ITIMER_REAL, 0)
                other.append(repr(exc))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not other, other[:3]
    assert seen["interrupted"] > 50  # the timer really landed inside transactions
    with store.tx() as conn:  # the store works on: a transaction a signal left open is gone
        before = conn.execute("SELECT count(*) FROM match_groups").fetchone()[0]
    assert before % 20 == 0  # whole transactions only
    report = verify_all(store.connection())
    assert report.ok, report.lines()
    store.close()


def test_an_error_inside_the_state_log_function_is_one_line(tmp_path: Path) -> None:
    """A non-interrupt failure inside the SQL function (here: a connection whose audit key
    is gone) is one StoreError line naming what was refused, nothing written; the CLI
    prints such an error as 'error: …', never a crash report."""
    from recon_tui.services.decisions import Decisions

    store = new_store(tmp_path / "f.db")
    Decisions(store, actor="x").add_note("a sealed entry")
    store._audit.value = None  # as a connection that never got the key would be
    store.conn.execute("DELETE FROM meta WHERE key = 'audit_key'")  # and cannot re-read it
    with pytest.raises(StoreError) as caught:
        with store.tx() as conn:
            conn.execute("INSERT INTO match_groups (pair, state, origin, created_us) "
                         "VALUES ('ledger-bank', 'suggested', 'engine', 0)")  # fmt: skip
    line = str(caught.value)
    assert "\n" not in line and "no audit key" in line and "nothing was written" in line
    assert store.count("SELECT count(*) FROM match_groups") == 0
    # Nor does the decisions log take an unsealed entry on a keyed store.
    from recon_tui.services.decisions import DecisionNotWritten

    with pytest.raises(DecisionNotWritten, match="no audit key"):  # the app's one line
        Decisions(store, actor="x").add_note("unsealed?")
    # verify says the log is keyed but the key record is gone.
    report = verify_all(store.connection())
    assert not report.ok
    store.close()
    # And the store does not quietly make itself a new key (that would wave the keyed
    # history through as legacy entries): one line on open.
    with pytest.raises(StoreError, match="audit key record is missing"):
        Store.open(tmp_path / "f.db", passphrase=PASSPHRASE)
