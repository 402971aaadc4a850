"""Opening stores, and building the demo workspace from the demo world generator."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters import registry
from recon_tui import paths
from recon_tui.store import Store, StoreNotFound, keys
from recon_tui.store.db import remove_store
from recon_tui.store.pairs import add_pair
from recon_tui.store.sources import add_source

registry.register("demo", "recon_tui.demo_source:DemoAdapter")

DEMO_PASSPHRASE = "demo"
"""The demo holds only generated data; where no keyring exists its passphrase is public."""

DEFAULT_DEMO_SIZE = 400
DEFAULT_DEMO_SEED = 7


def open_store(path: Path | None = None, passphrase: str | None = None) -> Store:
    """Open the store at ``path`` (default location if ``None``)."""
    return Store.open(path or paths.default_store(), passphrase=passphrase)


def _demo_passphrase() -> str | None:
    if keys.keyring_available():
        return None
    return os.environ.get(keys.PASSPHRASE_ENV) or DEMO_PASSPHRASE


def open_demo(path: Path | None = None) -> Store:
    path = path or paths.demo_store()
    return Store.open(path, passphrase=_demo_passphrase())


GENERATE_APART_FROM = 20_000
"""Demo sizes from which the world is generated in a child process (below, starting one
costs more than it saves)."""


def build_demo(
    path: Path | None = None,
    *,
    size: int = DEFAULT_DEMO_SIZE,
    seed: int = DEFAULT_DEMO_SEED,
    fresh: bool = False,
    match: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Store:
    """Create (or, unless ``fresh``, reuse) the demo store: sources, pairs, the world's
    records (generated once and written straight in), and one matching run."""
    from recon_tui import demo
    from recon_tui.demo.load import generate_and_load, load_world

    path = path or paths.demo_store()
    say = progress or (lambda _msg: None)
    if fresh:
        remove_store(path)
    if path.exists():
        try:
            return open_demo(path)
        except StoreNotFound:
            pass
    passphrase = _demo_passphrase()
    store = Store.init(path, passphrase=passphrase, use_keyring=passphrase is None)
    say(f"generating the demo world (size {size}, seed {seed})")
    from recon_tui.services.runs import record_run

    def setup(sources: list[dict[str, Any]], pairs: list[Any]) -> None:
        for src in sources:
            add_source(
                store, src["name"], "demo", {"feed": src["name"], "size": size, "seed": seed},
                label=src.get("label"),
            )  # fmt: skip
        for i, pair in enumerate(pairs):
            add_pair(store, pair, position=i)
        say("writing the demo sources")

    # The world made once, straight in (no second copy); each source's write is its sync run.
    # A big world is generated and converted in a child process while this one writes.
    if size >= GENERATE_APART_FROM:
        generate_and_load(store, size, seed, setup, say,
                          run=lambda name: record_run(store, "sync", name))  # fmt: skip
    else:
        world = demo.generate(size=size, seed=seed)
        setup(world.sources, world.pairs)
        load_world(store, world, say, run=lambda name: record_run(store, "sync", name))
        del world
    if match:
        from recon_tui.services.matching import MatchService

        say("matching")
        for line in MatchService(store, warm=False).run_all().lines():
            say("  " + line)
    return store
