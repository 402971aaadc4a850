"""Soak: random concurrent imports, syncs, matches and operator decisions, with kills, for N
minutes on a scratch store; then the invariants.

Writers run as real ``recon-tui`` processes (``import`` with its automatic match, ``sync``
of a file source with a saved path, ``match``) and as threads of this process through the
service API (``MatchService`` under the run lock, as the app's ``M`` does, and an operator
making decisions: manual matches, explained breaks, confirms, rejects, undos and notes).
A random running process is killed now and then (SIGKILL, or SIGINT as Ctrl+C would).

At the end every attempted file is imported once more (completing what a kill cut short;
imports are idempotent) and a final ``match`` runs; then:

- every record is in at most one live confirmed group per pair (``doubles`` = 0);
- ``verify`` (chain, keyed MACs, state log replay, group/session states) is clean;
- records (source, external id, content hash) equal a serial replay of the same files into
  a fresh store;
- no crash report was written, and no process failed with an unexpected error.

    .venv/bin/python bench/soak.py --minutes 10 --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recon_tui.model import Side, SourcePair  # noqa: E402
from recon_tui.services.decisions import DecisionError, DecisionNotWritten, Decisions  # noqa: E402
from recon_tui.services.matching import MatchService  # noqa: E402
from recon_tui.services.sessions import verify_all  # noqa: E402
from recon_tui.services.sync import import_file, sync_source  # noqa: E402
from recon_tui.store import Store, StoreError  # noqa: E402
from recon_tui.store.sources import add_pair, add_source  # noqa: E402
from tests.integrity_kit import (  # noqa: E402
    CSV_SETTINGS,
    PASSPHRASE,
    doubles,
    env,
    new_store,
    write_books,
)

ALLOWED_FAILURES = ("is busy", "Interrupted", "Aborted")


class Soak:
    def __init__(self, folder: Path, minutes: float, seed: int, batch: int, procs: int) -> None:
        self.folder = folder
        self.home = folder / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.db = folder / "soak.db"
        self.until = time.monotonic() + minutes * 60
        self.rnd = random.Random(seed)
        self.batch = batch
        self.max_procs = procs
        self.ops: Counter[str] = Counter()
        self.killed: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.errors: list[str] = []
        self.attempted: set[tuple[str, str]] = set()  # (source, file) imports tried
        self.lock = threading.Lock()
        self.files: list[tuple[Path, Path]] = []
        self.feed = folder / "feed.csv"
        self.feed_size = 0

    # --- setup -------------------------------------------------------------------------

    def setup(self) -> None:
        store = new_store(self.db)
        settings = dict(CSV_SETTINGS, path=str(self.feed))
        add_source(store, "feed", "csv", settings)
        add_pair(store, SourcePair("ledger-feed", Side("ledger"), Side("feed")))
        store.close()
        for i in range(40):
            self.files.append(write_books(self.folder, self.batch, start=i * self.batch,
                                          tag=f"b{i}"))  # fmt: skip
        self._grow_feed(0)

    def _grow_feed(self, n: int) -> None:
        """The feed (a bank file synced from its saved path) holds the first n+1 batches'
        bank lines under its own ids: it pairs with the same ledger lines."""
        lines = ["date,amount,id,reference,counterparty,memo"]
        for i in range(min(n + 1, len(self.files))):
            for line in self.files[i][1].read_text("utf-8").splitlines()[1:]:
                parts = line.split(",")
                parts[2] = "F" + parts[2]
                lines.append(",".join(parts))
        tmp = self.feed.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n", "utf-8")
        os.replace(tmp, self.feed)

    # --- actions -----------------------------------------------------------------------

    def _spawn(self, kind: str, *args: str) -> subprocess.Popen[str]:
        self.ops[kind] += 1
        return subprocess.Popen(
            [sys.executable, "-m", "recon_tui.cli", "--store", str(self.db), *args], cwd=ROOT,
            env=env(self.home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def random_process(self) -> tuple[str, subprocess.Popen[str]]:
        roll = self.rnd.random()
        if roll < 0.55:
            i = self.rnd.randrange(len(self.files))
            source = self.rnd.choice(["ledger", "bank"])
            path = self.files[i][0 if source == "ledger" else 1]
            with self.lock:
                self.attempted.add((source, str(path)))
            return "import", self._spawn("import", "import", source, str(path))
        if roll < 0.75:
            self.feed_size = min(len(self.files) - 1, self.feed_size + self.rnd.randrange(3))
            self._grow_feed(self.feed_size)  # a feed only grows (file sources see no removals)
            return "sync", self._spawn("sync", "sync", "feed")
        return "match", self._spawn("match", "match")

    def operator(self) -> None:
        """Decisions through the service API, as the app makes them (short transactions)."""
        store = Store.open(self.db, passphrase=PASSPHRASE)
        dec = Decisions(store, actor="soak-operator")
        try:
            while time.monotonic() < self.until:
                try:
                    self._decide(store, dec)
                except DecisionNotWritten as exc:  # the store, not the decision, refused
                    self._failure("decision", str(exc))
                except DecisionError:
                    self.ops["decision refused"] += 1
                except StoreError as exc:
                    self._failure("decision", str(exc))
                time.sleep(self.rnd.uniform(0.01, 0.2))
        finally:
            store.close()

    def _decide(self, store: Store, dec: Decisions) -> None:
        conn = store.connection()
        roll = self.rnd.random()
        pair = self.rnd.choice(["ledger-bank", "ledger-feed"])
        if roll < 0.25:
            row = conn.execute("SELECT id FROM match_groups WHERE state = 'suggested' AND pair = ? "
                               "ORDER BY random() LIMIT 1", (pair,)).fetchone()  # fmt: skip
            if row:
                dec.confirm(row[0])
                self.ops["decision confirm"] += 1
        elif roll < 0.35:
            row = conn.execute("SELECT id FROM match_groups WHERE state = 'suggested' "
                               "ORDER BY random() LIMIT 1").fetchone()  # fmt: skip
            if row:
                dec.reject(row[0], "wrong-amount")
                self.ops["decision reject"] += 1
        elif roll < 0.6:
            right = "bank" if pair == "ledger-bank" else "feed"
            led = conn.execute("SELECT s.record_id, r.amount FROM pair_states s JOIN records r "
                               "ON r.id = s.record_id WHERE s.pair = ? AND s.side = 'L' AND "
                               "s.state = 'open' ORDER BY random() LIMIT 1", (pair,)).fetchone()  # fmt: skip
            if led:
                other = conn.execute("SELECT s.record_id FROM pair_states s JOIN records r ON "
                                     "r.id = s.record_id WHERE s.pair = ? AND s.side = 'R' AND "
                                     "s.state = 'open' AND r.source = ? AND r.amount = ? LIMIT 1",
                                     (pair, right, led[1])).fetchone()  # fmt: skip
                if other:
                    dec.manual_match(pair, [led[0]], [other[0]])
                    self.ops["decision manual_match"] += 1
        elif roll < 0.75:
            row = conn.execute("SELECT record_id, side FROM pair_states WHERE pair = ? AND "
                               "state = 'open' ORDER BY random() LIMIT 1", (pair,)).fetchone()  # fmt: skip
            if row:
                dec.explain(pair, [row[0]], "timing", "soak: arrives next period", side=row[1])
                self.ops["decision explain"] += 1
        elif roll < 0.9:
            dec.undo()
            self.ops["decision undo"] += 1
        else:
            row = conn.execute("SELECT id FROM records ORDER BY random() LIMIT 1").fetchone()
            if row:
                dec.add_note("soak: looked at it", record_id=row[0])
                self.ops["decision note"] += 1

    def matcher_thread(self) -> None:
        """The app's 'M': MatchService in a thread of this process, under the run lock."""
        store = Store.open(self.db, passphrase=PASSPHRASE)
        try:
            while time.monotonic() < self.until:
                time.sleep(self.rnd.uniform(1, 6))
                try:
                    with store.run_lock("match"):
                        MatchService(store).run_all()
                    self.ops["match (thread)"] += 1
                except StoreError as exc:
                    self._failure("match (thread)", str(exc))
        finally:
            store.close()

    def _failure(self, kind: str, text: str) -> None:
        with self.lock:
            if any(a in text for a in ALLOWED_FAILURES):
                self.failed[f"{kind}: busy/interrupted"] += 1
            else:
                self.failed[kind] += 1
                if len(self.errors) < 20:
                    ours = [ln.strip() for ln in text.splitlines() if "recon_tui" in ln]
                    where = f" [last frame of ours: {ours[-1][-160:]}]" if ours else ""
                    self.errors.append(f"{kind}: {text.strip()[-300:]}{where}")

    # --- the run -----------------------------------------------------------------------

    def run(self) -> None:
        threads = [threading.Thread(target=self.operator, daemon=True),
                   threading.Thread(target=self.matcher_thread, daemon=True)]  # fmt: skip
        for t in threads:
            t.start()
        running: list[tuple[str, subprocess.Popen[str]]] = []
        while time.monotonic() < self.until:
            while len(running) < self.max_procs:
                running.append(self.random_process())
            time.sleep(self.rnd.uniform(0.1, 1.0))
            if running and self.rnd.random() < 0.15:
                kind, victim = self.rnd.choice(running)
                if victim.poll() is None:
                    sig = self.rnd.choice([signal.SIGKILL, signal.SIGINT])
                    victim.send_signal(sig)
                    self.killed[f"{kind} {signal.Signals(sig).name}"] += 1
            running = [(k, p) for k, p in running if not self._reap(k, p)]
        for kind, p in running:
            p.wait()
            self._reap(kind, p)
        for t in threads:
            t.join()

    def _reap(self, kind: str, p: subprocess.Popen[str]) -> bool:
        if p.poll() is None:
            return False
        out, err = p.communicate()
        if p.returncode in (-signal.SIGKILL, -signal.SIGINT, 130):
            return True  # killed (or interrupted) on purpose
        if err.rstrip().endswith("KeyboardInterrupt") and ", in main\n" not in err:
            # Ctrl+C while Python was still importing (ours or the standard library's),
            # before the CLI's main() that turns it into "Interrupted." was even called.
            return True
        if p.returncode != 0:
            text = err.strip() or out.strip()
            if kind == "sync" and p.returncode == 1 and "FAILED" in out and not err.strip():
                text = out.strip()
            self._failure(kind, text)
        if "Traceback" in err or "crash report" in err:
            self._failure(kind + " crash", err)
        return True

    # --- the invariants ----------------------------------------------------------------

    def settle(self) -> None:
        """Finish what kills cut short, then one last match (as a user would)."""
        store = Store.open(self.db, passphrase=PASSPHRASE)
        try:
            for source, path in sorted(self.attempted):
                import_file(store, source, path)
            sync_source(store, "feed")
            MatchService(store).run_all()
        finally:
            store.close()

    def replay(self) -> set[tuple[str, str, str]]:
        """The same files imported serially into a fresh store: its records."""
        folder = Path(tempfile.mkdtemp(prefix="integrity-soak-replay-", dir=self.folder))
        store = new_store(folder / "replay.db")
        add_source(store, "feed", "csv", dict(CSV_SETTINGS, path=str(self.feed)))
        try:
            for source, path in sorted(self.attempted):
                import_file(store, source, path)
            sync_source(store, "feed")
            return _records(store)
        finally:
            store.close()

    def check(self, started: float) -> dict[str, Any]:
        self.settle()
        store = Store.open(self.db, passphrase=PASSPHRASE)
        try:
            dup = doubles(store)
            report = verify_all(store.connection())
            mine = _records(store)
            groups = store.count("SELECT count(*) FROM match_groups WHERE state = 'confirmed'")
            decisions = store.count("SELECT count(*) FROM decisions")
        finally:
            store.close()
        theirs = self.replay()
        crashes = list((self.home / "crash").glob("crash-*.txt")) if (self.home / "crash").exists() else []
        return {
            "minutes": round((time.monotonic() - started) / 60, 2),
            "operations": dict(sorted(self.ops.items())),
            "killed": dict(sorted(self.killed.items())),
            "failed": dict(sorted(self.failed.items())),
            "unexpected_errors": self.errors,
            "records": len(mine),
            "replay_records": len(theirs),
            "records_equal_replay": mine == theirs,
            "confirmed_groups": groups,
            "decisions": decisions,
            "doubles": len(dup),
            "doubles_sample": [list(d) for d in dup[:5]],
            "verify_ok": report.ok,
            "verify_first": (report.lines() or [""])[0] if not report.ok else "",
            "crash_reports": len(crashes),
            "crash_samples": [c.read_text("utf-8").strip().splitlines()[-1][:300] for c in crashes[:3]],
            "ok": not dup and report.ok and mine == theirs and not crashes and not self.errors,
        }


def _records(store: Store) -> set[tuple[str, str, str]]:
    return set(store.connection().execute(
        "SELECT source, external_id, content_hash FROM records WHERE removed = 0").fetchall())  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--batch", type=int, default=300, help="lines per imported file")
    p.add_argument("--procs", type=int, default=3, help="concurrent recon-tui processes")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = p.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="integrity-soak-"))
    os.environ.update(env(folder / "home"))
    started = time.monotonic()
    soak = Soak(folder, args.minutes, args.seed, args.batch, args.procs)
    try:
        soak.setup()
        soak.run()
        figures = soak.check(started)
    except BaseException:
        args.keep = True
        raise
    finally:
        if args.keep or not locals().get("figures", {}).get("ok", False):
            print(f"scratch folder kept: {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(figures))
    else:
        for k, v in figures.items():
            print(f"{k:>22}: {v}")
    sys.exit(0 if figures["ok"] else 1)


if __name__ == "__main__":
    main()
