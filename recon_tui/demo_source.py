"""The ``demo`` source kind: serves one source of the generated demo world through the
normal adapter contract, so the demo exercises the real sync path (batches, cursors,
progress, pending-then-booked upserts).

It lives in ``recon_tui`` (not ``adapters``) because it reads :mod:`recon_tui.demo`;
it is registered with the adapter registry at import of :mod:`recon_tui.services.workspace`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from adapters.base import Adapter, Batch, Capabilities, Setting

BATCH = 5_000


@functools.lru_cache(maxsize=2)
def _world(size: int, seed: int) -> Any:
    from recon_tui import demo

    return demo.generate(size=size, seed=seed)


class DemoAdapter(Adapter):
    """One source of the demo world; the cursor is the number of items already served."""

    kind = "demo"
    label = "Demo world feed"
    SETTINGS = (
        Setting("feed", "Demo source to serve", required=True),
        Setting("size", "Records per source", default=400),
        Setting("seed", "Random seed", default=7),
    )
    capabilities = Capabilities(
        fields=frozenset(
            {"txid", "counterparty", "fee", "booking_date", "value_date", "reference"}
        ),
        paging="cursor",
        pending=True,
    )

    def batches(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        world = _world(int(self.settings["size"]), int(self.settings["seed"]))
        feed = self.settings["feed"]
        # Pending versions first, then the booked truth: the store must end up booked.
        items = [*world.pending.get(feed, []), *world.records.get(feed, [])]
        prices = world.prices if feed == "ledger" else []
        start = int((cursor or {}).get("offset", 0))
        total = len(items)
        if start >= total and not prices:
            return
        for i in range(start, max(total, start + 1), BATCH):
            chunk = items[i : i + BATCH]
            # One external id may appear pending and booked in the same chunk: keep the last.
            unique = {r.external_id: r for r in chunk}
            batch_prices = prices if i == start else []
            yield Batch(
                records=list(unique.values()),
                cursor={"offset": min(i + BATCH, total)},
                prices=batch_prices,
                done=min(i + BATCH, total),
                total=total,
            )
