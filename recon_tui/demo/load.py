"""Writing a generated demo world into a store, at the store's speed.

The demo sources are ``demo`` adapters (:mod:`recon_tui.demo_source`), and a later
``recon-tui sync`` goes through them as for any source. Building the workspace does not:
going through the adapter meant generating the world a second time (the adapter makes
its own) and holding both. Here the world made once is written straight into the store
the way a sync writes it — pending versions first, then the booked records (so the
store keeps the pending-then-booked history), 10,000 records per transaction through
:func:`~recon_tui.store.records.prepare_batch` (converted in a producer thread) and
:func:`~recon_tui.store.records.write_batch` — and each source's cursor is left at its
end, so that sync then finds nothing new. Each source's records are dropped from the
world once written, so memory falls as the load goes on.

:func:`generate_and_load` does the same with the Python half in a second process: the
child generates the world and converts each batch to rows (hashing, JSON), the caller's
process only writes them (SQLite) — the two halves overlap on two cores, and the writer
never holds the world. The child streams (:func:`recon_tui.demo.stream`): each source is
sent as soon as its generator has run and then dropped, so the writer starts on the bank
while the exchanges and the wallet are still being made, and the child never holds the
whole world either (833k records at size 100,000: 923 -> 658 MB peak). The batches and
their order are the same (``_batches``), so the store is identical either way (``tests/test_demo_load.py``).
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import queue
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from recon_tui.demo.world import DemoWorld, _World
from recon_tui.demo_source import BATCH as DEMO_BATCH
from recon_tui.model import SourcePair
from recon_tui.services.prefetch import prefetch
from recon_tui.store import Store
from recon_tui.store.records import PreparedBatch, prepare_batch, write_batch
from recon_tui.store.sources import record_success

BATCH = DEMO_BATCH


def _batches(world: DemoWorld | _World, name: str) -> Iterator[PreparedBatch]:
    """The source's batches exactly as its adapter serves them (pending versions first,
    then the booked records, in the adapter's chunks, each deduplicated the same way), so
    the store, down to record ids and the engine's tie-breaks, is what a sync would make."""
    items = [*world.pending.get(name, []), *world.records.get(name, [])]
    total = len(items)
    prices = list(world.prices) if name == "ledger" else []
    for i in range(0, max(total, 1), BATCH):
        # One external id may appear pending and booked in one chunk: keep the last.
        unique = list({r.external_id: r for r in items[i : i + BATCH]}.values())
        last = i + BATCH >= total
        yield prepare_batch(name, unique, prices=prices if i == 0 else (),
                            cursor={"offset": min(i + BATCH, total)}, set_cursor=last)  # fmt: skip


def _write_source(store: Store, name: str, batches: Iterator[PreparedBatch],
                  run: Callable[[str], AbstractContextManager[Any]] | None) -> tuple[int, int]:
    added = changed = 0
    with run(name) if run else nullcontext() as handle:
        for ready in batches:
            result = write_batch(store, ready)
            added += result.added
            changed += result.changed
        record_success(store, name, added, changed, 0)
        if handle is not None:
            handle.counts.update(added=added, changed=changed, removed=0)
    return added, changed


def load_world(store: Store, world: DemoWorld,
               say: Callable[[str], None] | None = None,
               run: Callable[[str], AbstractContextManager[Any]] | None = None,
               ) -> dict[str, int]:  # fmt: skip
    """Write every source of ``world`` (its sources and pairs already added); returns the
    records written per source. Empties ``world.records``/``pending`` as it goes.

    ``run(name)``, when given, wraps each source's write (the caller records it as that
    source's sync run, as a real first sync would be); it yields a handle with ``counts``."""
    counts: dict[str, int] = {}
    gc_was_enabled = gc.isenabled()
    gc.disable()  # the world is millions of small objects: a collection would rescan them
    try:
        for name in sorted(src["name"] for src in world.sources):  # sync's order
            started = time.perf_counter()
            added, changed = _write_source(store, name, prefetch(_batches(world, name)), run)
            counts[name] = added
            world.records[name] = []
            world.pending[name] = []
            if say:
                seconds = time.perf_counter() - started
                say(f"  {name}: +{added:,} new, {changed:,} changed in {seconds:.1f}s")
    finally:
        if gc_was_enabled:
            gc.enable()
    return counts


# --- the same, with generation and conversion in a child process -------------------------

_DEPTH = 4  # batches waiting in the pipe (~10k rows each): bounds the writer's memory


def _produce(size: int, seed: int, q: Any, parent: int) -> None:
    """Child: generate the world, hand over its sources and pairs, then every source's
    batches in sync's order; an error goes to the parent as its traceback."""

    def put(item: tuple[Any, ...]) -> None:
        while True:
            try:
                q.put(item, timeout=1)
                return
            except queue.Full:
                if os.getppid() != parent:  # the writer is gone (killed): stop, quietly
                    # os._exit: a normal exit waits for the queue's feeder thread to flush
                    # into a pipe nobody reads any more, and would hang (holding the world).
                    os._exit(0)

    try:
        from recon_tui import demo

        # Each source is sent as soon as it is complete (demo.stream), so the writer starts
        # on the bank while the other generators run, and a sent source is dropped here.
        for w, name in demo.stream(size=size, seed=seed):
            if name is None:
                put(("world", demo.sources_of(w), list(demo.PAIRS)))
                continue
            for ready in _batches(w, name):
                put(("batch", name, ready))
            put(("end", name, None))
            w.records[name] = []
            w.pending[name] = []
        put(("done", None, None))
    except SystemExit:
        raise
    except BaseException:
        put(("error", traceback.format_exc(), None))


def generate_and_load(
    store: Store, size: int, seed: int,
    setup: Callable[[list[dict[str, Any]], list[SourcePair]], None],
    say: Callable[[str], None] | None = None,
    run: Callable[[str], AbstractContextManager[Any]] | None = None,
) -> dict[str, int]:  # fmt: skip
    """Generate the demo world of ``(size, seed)`` in a child process and write it here.

    ``setup(sources, pairs)`` is called once the child has them (add them to the store);
    then every source is written as :func:`load_world` writes it. Returns the records
    written per source. A failure in the child is raised here as a ``RuntimeError`` with
    its traceback; each source's batches are written as they arrive, in their own
    transactions, exactly as :func:`load_world` does.
    """
    ctx = mp.get_context("spawn")  # never fork a process holding an open store
    q = ctx.Queue(maxsize=_DEPTH)
    child = ctx.Process(target=_produce, args=(size, seed, q, os.getpid()), daemon=True,
                        name="demo-generator")  # fmt: skip

    def receive() -> tuple[str, Any, Any]:
        while True:
            try:
                return q.get(timeout=2)  # type: ignore[no-any-return]
            except queue.Empty:
                if not child.is_alive():
                    raise RuntimeError(
                        f"the demo generator stopped (exit code {child.exitcode})") from None

    counts: dict[str, int] = {}
    child.start()
    try:
        kind, sources, pairs = receive()
        if kind == "error":
            raise RuntimeError(f"the demo generator failed:\n{sources}")
        setup(sources, pairs)
        while True:
            kind, name, _ = head = receive()
            if kind == "done":
                break
            if kind == "error":
                raise RuntimeError(f"the demo generator failed:\n{name}")
            started = time.perf_counter()

            def batches(item: tuple[str, Any, Any] = head) -> Iterator[PreparedBatch]:
                while item[0] != "end":
                    if item[0] == "error":
                        raise RuntimeError(f"the demo generator failed:\n{item[1]}")
                    yield item[2]
                    item = receive()

            added, changed = _write_source(store, name, batches(), run)
            counts[name] = added
            if say:
                seconds = time.perf_counter() - started
                say(f"  {name}: +{added:,} new, {changed:,} changed in {seconds:.1f}s")
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=10)
    return counts
