"""Helpers shared by the benchmark scripts: argument parsing, peak memory, JSON output, and
building big stores with the Python half of the work in a second process."""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import queue
import resource
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any


def parser(description: str, default_size: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--size", type=int, default=default_size, help="records per source")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return p


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    ``VmHWM`` of ``/proc/self/status`` where there is one: ``getrusage``'s ``ru_maxrss``
    survives ``exec`` on Linux, so a benchmark's child started by a parent that had just
    built a 500k store reported the parent's 2.3 GB as its own (``bench/export.py`` on a
    fresh build: 2,326 MB, on the same store reused: 279 MB)."""
    hwm = vmhwm_mb("self")
    if hwm is not None:
        return hwm
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def vmhwm_mb(pid: str) -> float | None:
    """``VmHWM`` of ``/proc/<pid>/status`` in MiB, or None (no such process, no /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


class ChildPeak:
    """The highest VmHWM of this process's children while it runs (Linux /proc)."""

    def __init__(self) -> None:
        import threading

        self.peak_mb = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import os

        while not self._done.wait(0.1):
            for task in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
                try:
                    pids = task.read_text().split()
                except OSError:
                    continue
                for pid in pids:
                    hwm = vmhwm_mb(pid)
                    if hwm is not None:
                        self.peak_mb = max(self.peak_mb, hwm)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def report(figures: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(figures))
    else:
        for k, v in figures.items():
            print(f"{k:>24}: {v}", file=sys.stdout)


# --- building big stores: the Python work in a second process ------------------------------


def _produce(fn: Callable[..., Iterable[Any]], jobs: list[tuple[Any, ...]], q: Any) -> None:
    try:
        for job in jobs:
            for item in fn(*job):
                q.put(("item", item))
        q.put(("done", None))
    except BaseException:  # handed to the parent, which raises it
        q.put(("error", traceback.format_exc()))


def produced(fn: Callable[..., Iterable[Any]], jobs: list[tuple[Any, ...]],
             depth: int = 3) -> Iterator[Any]:  # fmt: skip
    """Yield every item of ``fn(*job)`` for each job, in order, computed in one child
    process a few items ahead of the consumer (bounded: at most ``depth`` items waiting).

    A big store's build is half Python (generating records, converting them to rows:
    hashing, JSON) and half SQLite; a producer *thread* shares the GIL with the writer,
    a process does not, so the two halves overlap on this machine's two cores. ``fn``
    must be importable (a module-level function) and its items picklable; the rows it
    yields still go through the store's own writer in this process.
    """
    ctx = mp.get_context("spawn")  # no fork of an open SQLCipher connection
    q = ctx.Queue(maxsize=depth)
    child = ctx.Process(target=_produce, args=(fn, jobs, q), daemon=True)
    child.start()
    try:
        while True:
            try:
                kind, item = q.get(timeout=5)
            except queue.Empty:
                if not child.is_alive():
                    raise RuntimeError(f"the producer process died (exit {child.exitcode})") \
                        from None  # fmt: skip
                continue
            if kind == "done":
                return
            if kind == "error":
                raise RuntimeError(f"the producer process failed:\n{item}")
            yield item
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=10)


def synth_batches(n: int, seed: int, start_id: int, batch: int = 20_000) -> Iterator[Any]:
    """One slice of the matchers' synthetic ledger-vs-bank world (``n`` per side) as
    prepared batches (left side, then right), then ``None`` to mark the slice's end."""
    from matchers.synth import generate
    from recon_tui.store.records import prepare_batch

    world = generate(n, seed=seed, start_id=start_id)
    for side in (world.left, world.right):
        for i in range(0, len(side), batch):
            chunk = side[i : i + batch]
            yield prepare_batch(chunk[0].source, chunk)
    yield None
