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
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from recon_tui.demo.world import DemoWorld
from recon_tui.demo_source import BATCH as DEMO_BATCH
from recon_tui.services.prefetch import prefetch
from recon_tui.store import Store
from recon_tui.store.records import PreparedBatch, prepare_batch, write_batch
from recon_tui.store.sources import record_success

BATCH = DEMO_BATCH


def _batches(world: DemoWorld, name: str) -> Iterator[PreparedBatch]:
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
            added = changed = 0
            with run(name) if run else nullcontext() as handle:
                for ready in prefetch(_batches(world, name)):
                    result = write_batch(store, ready)
                    added += result.added
                    changed += result.changed
                record_success(store, name, added, changed, 0)
                if handle is not None:
                    handle.counts.update(added=added, changed=changed, removed=0)
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
