"""Full runs of several pairs in worker processes (``services/match_apart.py``) leave the
store exactly as one pair after another does, and a failing pair stops what comes after it
the way it would one after another."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from matchers.rules import RuleError
from recon_tui.services import match_apart, workspace
from recon_tui.services.matching import MatchService
from recon_tui.services.verify import verify_all
from recon_tui.store import Store


def _digest(store: Store) -> str:
    """Every row a match run writes, less its clock (created/decided times, run times)."""
    h = hashlib.sha256()
    for q in (
        "SELECT id, pair, kind, state, origin, rule, score, explanation, adjustments, "
        "decided_by FROM match_groups ORDER BY id",
        "SELECT group_id, record_id, side, pair, confirmed, content_hash FROM group_members "
        "ORDER BY group_id, record_id",
        "SELECT seq, actor, action, pair, group_id, record_ids, before, after, reason "
        "FROM decisions ORDER BY seq",
        "SELECT kind, ref, field, value FROM state_log ORDER BY seq",
        "SELECT pair, record_id, state, group_id FROM pair_states ORDER BY pair, record_id",
        "SELECT * FROM pair_totals ORDER BY 1, 2, 3, 4",
        "SELECT * FROM group_totals ORDER BY 1, 2, 3",
        "SELECT key, value FROM meta WHERE key LIKE 'matched_rev:%' ORDER BY key",
    ):
        for row in store.conn.execute(q):
            h.update(repr(row).encode())
    return h.hexdigest()


def _copy(src: Path, dst: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".keyinfo.json"):
        if Path(f"{src}{suffix}").exists():
            shutil.copy(f"{src}{suffix}", f"{dst}{suffix}")


@pytest.fixture
def unmatched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A demo store of four pairs, loaded and never matched."""
    monkeypatch.setenv("RECON_TUI_PASSPHRASE", "demo")
    path = tmp_path / "unmatched.db"
    workspace.build_demo(path, size=400, seed=11, match=False).close()
    return path


def _open(src: Path, dst: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("RECON_TUI_PASSPHRASE", "demo")
    _copy(src, dst)
    return workspace.open_demo(dst)


def test_pairs_run_apart_write_what_one_after_another_writes(
        unmatched: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    one = _open(unmatched, tmp_path / "one.db", monkeypatch)
    real_worth_it = match_apart.worth_it
    monkeypatch.setattr(match_apart, "worth_it", lambda _n, _items: False)
    seq = MatchService(one, warm=False).run_all()
    monkeypatch.setattr(match_apart, "worth_it", real_worth_it)
    apart = _open(unmatched, tmp_path / "apart.db", monkeypatch)
    assert match_apart.worth_it(4, 10**6)  # two cores here: the test means something
    monkeypatch.setattr(match_apart, "MIN_ITEMS", 0)  # the world is small
    calls: list[int] = []
    real_run_apart = match_apart.run_apart
    monkeypatch.setattr(match_apart, "run_apart",
                        lambda s, jobs: calls.append(len(jobs)) or real_run_apart(s, jobs))
    par = MatchService(apart, warm=False).run_all()
    assert calls == [4]
    assert len(par.runs) == len(seq.runs) == 4
    assert [(r.pair, r.mode, r.scope, r.auto, r.suggested) for r in par.runs] == [
        (r.pair, r.mode, r.scope, r.auto, r.suggested) for r in seq.runs]
    assert sum(r.auto for r in par.runs) > 100
    assert _digest(apart) == _digest(one)
    report = verify_all(apart.conn)
    assert report.ok and not report.state_problems
    # Each pair's run is recorded (by its worker) as a run of this store.
    assert apart.conn.execute(
        "SELECT count(*) FROM runs WHERE kind = 'match' AND outcome = 'ok'").fetchone()[0] == 4
    one.close()
    apart.close()


def test_a_failing_pair_stops_the_pairs_after_it(
        unmatched: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The second pair's rule set is gone (its worker fails loading it): the first pair is
    written, the second raises its own error (not "an earlier pair failed"), and the
    pairs after it write nothing, as when they run one after another."""
    store = _open(unmatched, tmp_path / "fail.db", monkeypatch)
    monkeypatch.setattr(match_apart, "MIN_ITEMS", 0)
    names = [n for (n,) in store.conn.execute("SELECT name FROM source_pairs ORDER BY position")]
    with store.tx() as conn:
        conn.execute("UPDATE source_pairs SET rules = 'no-such-rules' WHERE name = ?", (names[1],))
    with pytest.raises(RuleError, match="no such packaged rule set"):
        MatchService(store, warm=False).run_all()
    written = dict(store.conn.execute("SELECT pair, count(*) FROM match_groups GROUP BY pair"))
    assert written.get(names[0], 0) > 0
    assert all(written.get(n, 0) == 0 for n in names[1:])
    store.close()


def test_a_failure_stops_the_pairs_after_it_and_never_one_before(
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The rule the workers follow, whatever order they happen to start in: the second
    pair failing (its worker fast, the first pair's worker slow to start) stops the third,
    never the first, which writes as it would one after another; Ctrl+C stops all."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    done = [ctx.Event() for _ in range(3)]
    failed = ctx.Value("q", 3)
    monkeypatch.setattr(match_apart, "_W", {"done": done, "failed": failed})
    match_apart._fail(failed, 1)
    done[1].set()
    assert [match_apart._stopped_before(i) for i in range(3)] == [False, False, True]
    with match_apart._in_turn(0):  # the first pair writes
        pass
    done[0].set()
    with pytest.raises(match_apart.EarlierPairFailed):
        with match_apart._in_turn(2):
            pass
    match_apart._fail(failed, -1)  # Ctrl+C in the caller
    assert match_apart._stopped_before(0)
