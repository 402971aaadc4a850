"""Shared helpers of the integrity tests (locks, rekey, tamper, soak): a ledger and a bank
statement as CSV files whose lines pair one to one, real ``recon-tui`` subprocesses, and
the invariants every run must keep."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from recon_tui.model import Side, SourcePair
from recon_tui.store import Store
from recon_tui.store.sources import add_pair, add_source

ROOT = Path(__file__).resolve().parents[1]
PASSPHRASE = "integrity-pass"
PAIR = "ledger-bank"

CSV_SETTINGS = {"date_column": "date", "amount_column": "amount", "id_column": "id",
                "reference_column": "reference", "counterparty_column": "counterparty",
                "memo_column": "memo", "currency": "EUR"}  # fmt: skip


def write_books(folder: Path, n: int, *, start: int = 0, tag: str = "") -> tuple[Path, Path]:
    """``ledger.csv`` and ``bank.csv``: line i of each is the same payment (same amount and
    reference, the bank a day later)."""
    base = date(2026, 10, 1)
    led = ["date,amount,id,reference,counterparty,memo"]
    bank = ["date,amount,id,reference,counterparty,memo"]
    for i in range(start, start + n):
        day = base + timedelta(days=i % 28)
        amount = f"{(i * 7919) % 100000 / 100 + 1:.2f}"
        ref = f"INV{tag}{i:07d}"
        led.append(f"{day},{amount},L{tag}{i},{ref},Customer {i % 97},invoice {ref}")
        bank.append(f"{day + timedelta(days=1)},{amount},B{tag}{i},{ref},Customer {i % 97},"
                    f"payment {ref}")  # fmt: skip
    lp, bp = folder / f"ledger{tag}.csv", folder / f"bank{tag}.csv"
    lp.write_text("\n".join(led) + "\n", "utf-8")
    bp.write_text("\n".join(bank) + "\n", "utf-8")
    return lp, bp


def new_store(path: Path) -> Store:
    """An empty store with the two CSV sources and their pair."""
    store = Store.init(path, passphrase=PASSPHRASE)
    add_source(store, "ledger", "csv", dict(CSV_SETTINGS))
    add_source(store, "bank", "csv", dict(CSV_SETTINGS))
    add_pair(store, SourcePair(PAIR, Side("ledger"), Side("bank")))
    return store


def env(home: Path, **extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e.update(RECON_TUI_HOME=str(home), RECON_TUI_PASSPHRASE=PASSPHRASE,
             PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring", PYTHONPATH=str(ROOT))  # fmt: skip
    e.pop("RECON_TUI_STORE", None)
    e.update(extra)
    return e


def cli(store: Path, home: Path, *args: str, **extra: str) -> subprocess.Popen[str]:
    """``recon-tui --store STORE ARGS…`` as a real process (stdout and stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "recon_tui.cli", "--store", str(store), *args], cwd=ROOT,
        env=env(home, **extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def run_cli(store: Path, home: Path, *args: str, timeout: float = 300, **extra: str
            ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    p = cli(store, home, *args, **extra)
    out, err = p.communicate(timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def wait_for_holder(store: Path, kind: str, timeout: float = 60) -> dict[str, object]:
    """Block until a process holds the store's run lock for ``kind``."""
    from recon_tui.store.lock import holder

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = holder(store)
        if h and h.get("kind") == kind:
            return h
        time.sleep(0.02)
    raise AssertionError(f"no {kind} run took the lock of {store}")


def doubles(store: Store) -> list[tuple[int, str, int]]:
    """(record, pair, groups) for every record in more than one live confirmed group of a pair."""
    return [tuple(r) for r in store.connection().execute(
        "SELECT m.record_id, g.pair, count(*) FROM group_members m "
        "JOIN match_groups g ON g.id = m.group_id WHERE g.state = 'confirmed' "
        "GROUP BY m.record_id, g.pair HAVING count(*) > 1"
    )]  # fmt: skip


def confirmed(store: Store) -> int:
    return store.count("SELECT count(*) FROM match_groups WHERE state = 'confirmed'")


def crash_reports(home: Path) -> list[Path]:
    folder = home / "crash"
    return sorted(folder.glob("crash-*.txt")) if folder.exists() else []
