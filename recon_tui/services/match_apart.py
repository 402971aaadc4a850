"""Full runs of several pairs at once, in worker processes, written in the pairs' order.

A one-shot run over several pairs (``recon-tui demo``, ``recon-tui match --full``, the
first ``match`` of a new store) built, ran and wrote one pair after another on one core,
and about half of each pair's time is its write. Here each pair is run by a worker
process of its own (two at a time: the machines this runs on have two cores or more):
it opens the store with the key handed over the pipe (never written anywhere), builds the
pair's engine from the store, runs it, and writes the results itself, through the same
:meth:`~recon_tui.services.matching.MatchService.run_pair` as a run in this process.

What overlaps is one pair's engine with the previous pair's write. The writes themselves
go in the pairs' order: a worker waits for the previous pair's write to commit before it
starts its own, so the store ends exactly as one pair after another leaves it (the same
group ids, the same decision chain). That holds because a pair's engine reads only what
no other pair's write changes (its own per-pair states, suggestions, rejections and
learned fees; records and prices are not written by a match).

A failing pair stops the pairs after it (the pairs before it are still written, as one
after another they would be) and is raised here; Ctrl+C stops every pair that has not
written, reaches the workers too, and a transaction cut short leaves nothing.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recon_tui.store import Store
from recon_tui.store.keys import KeyInfo

if TYPE_CHECKING:
    from recon_tui.services.matching import PairRun

WORKERS = 2
"""Pairs run at once (the engine is single-threaded Python; two cores is the target)."""

MIN_ITEMS = 20_000
"""Open records over the full-run pairs from which running apart pays: a worker costs
about a second to start (imports, the store's key schedule), a small pair less than that."""

_WAIT_S = 0.2  # how often a waiting worker looks whether an earlier pair failed

# The worker process's state, set once by _init.
_W: dict[str, Any] = {}


class EarlierPairFailed(RuntimeError):
    """A pair before this one failed: this one does not write (one after another, it would
    never have started)."""


def worth_it(full_runs: int, open_items: int) -> bool:
    """Whether running apart pays: two full runs or more, of ``MIN_ITEMS`` open records or
    more between them, on a machine with two cores."""
    return full_runs >= 2 and open_items >= MIN_ITEMS and (os.cpu_count() or 1) >= 2


def _init(path: Path, key: bytes, info: KeyInfo, done: list[Any], failed: Any) -> None:
    _W.update(store=Store.attach(path, key, info), done=done, failed=failed)


def _stopped_before(index: int) -> bool:
    """Whether a pair before ``index`` failed (or the caller stopped the run: -1)."""
    return bool(_W["failed"].value < index)


def _fail(failed: Any, index: int) -> None:
    """Record that pair ``index`` failed (the earliest failure is what counts)."""
    with failed.get_lock():
        failed.value = min(failed.value, index)


@contextmanager
def _in_turn(index: int) -> Iterator[None]:
    """Hold a pair's write until every pair before it has written (or failed)."""
    done = _W["done"]
    if index > 0:
        while not done[index - 1].wait(_WAIT_S) and not _stopped_before(index):
            pass
        if _stopped_before(index):
            raise EarlierPairFailed("an earlier pair's run failed: this pair was not written")
    yield


def _run(index: int, name: str, changed: list[int] | None, rev: int) -> PairRun:
    from recon_tui.services.matching import MatchService

    done = _W["done"]
    if _stopped_before(index):  # a pair before it failed, or Ctrl+C: not even a run
        done[index].set()
        raise EarlierPairFailed("the run stopped before this pair began")
    svc = MatchService(_W["store"], warm=False)
    svc.write_turn = lambda _name: _in_turn(index)
    try:
        return svc.run_pair(name, changed, rev=rev)
    except BaseException as exc:
        _fail(_W["failed"], index)  # before done: a waiter that wakes on done must see it
        raise _portable(exc) from None
    finally:
        done[index].set()


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives the trip to the caller's process, else its line as a
    RuntimeError (an exception that cannot be rebuilt there would break the whole pool)."""
    try:
        back = pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc if type(back) is type(exc) else RuntimeError(f"{type(exc).__name__}: {exc}")


def run_apart(store: Store, jobs: Sequence[tuple[str, list[int] | None, int]]) -> list[PairRun]:
    """Run ``(pair, changed ids or None for full, revision)`` jobs in worker processes;
    their results in the jobs' order (each pair's run is recorded by its worker)."""
    ctx = mp.get_context("spawn")  # never fork a process holding an open store
    done = [ctx.Event() for _ in jobs]
    failed = ctx.Value("q", len(jobs))  # the earliest failed pair (len: none; -1: stopped)
    path, key, info = store.handoff()
    futures: list[Future[PairRun]] = []
    with ProcessPoolExecutor(max_workers=min(WORKERS, len(jobs)), mp_context=ctx,
                             initializer=_init, initargs=(path, key, info, done, failed),
                             ) as pool:  # fmt: skip
        try:
            futures = [pool.submit(_run, i, *job) for i, job in enumerate(jobs)]
            wait(futures)
        except BaseException:
            _fail(failed, -1)  # Ctrl+C here: no pair that has not written will
            for f in futures:
                f.cancel()
            raise
    errors = [f.exception() for f in futures]
    # The failure itself, not the pairs that then declined to write.
    first = next((e for e in errors if e is not None and not isinstance(e, EarlierPairFailed)),
                 next((e for e in errors if e is not None), None))  # fmt: skip
    if first is not None:
        raise first
    return [f.result() for f in futures]
