"""A large store built fast for the app tests: records written with one ``executemany`` per
side (no Record objects, no adapters), so a 100k-row pane costs about a second to set up.

Timestamps repeat (several records share one second) and states mix, so paging must break
ties by id and merge the per-state index ranges exactly as it does on a real store."""

from __future__ import annotations

import random
from pathlib import Path

from recon_tui.model import Side, SourcePair
from recon_tui.store import Store
from recon_tui.store.admission import admit_range
from recon_tui.store.records import RECORD_COLUMNS
from recon_tui.store.sources import add_pair, add_source

T0_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
PAIR = "big"

_COLS = (*RECORD_COLUMNS, "first_seen_us", "changed_us", "rev")
_INSERT = f"INSERT INTO records ({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})"


def _rows(source: str, n: int, seed: int) -> list[tuple[object, ...]]:
    rnd = random.Random(seed)
    rows = []
    ts = T0_US
    for i in range(n):
        # Three records in a row often share a timestamp: ties are broken by id.
        if rnd.random() < 0.6:
            ts += rnd.randrange(1, 3600) * 1_000_000
        cents = rnd.randrange(-5_000_000, 5_000_000) or 1
        amount = f"{'-' if cents < 0 else ''}{abs(cents) // 100}.{abs(cents) % 100:02d}"
        rows.append((
            source, f"{source.upper()}-{i:07d}", "transfer", ts, None, None, "EUR", amount,
            cents * 1_000_000, None, None, f"cp{rnd.randrange(500)}", f"REF{i:07d}", None,
            None, None, None, "final", None, None, f"h{i}", ts, ts, 1,
        ))  # fmt: skip
    return rows


def big_store(path: Path, n_left: int = 100_000, n_right: int = 100_000) -> Store:
    """A store with sources ``left`` (``n_left`` records) and ``right`` (``n_right`` <=
    ``n_left``) and the pair ``big`` between them."""
    if n_right > n_left:
        raise ValueError("the right side is copied from the left one: n_right <= n_left")
    store = Store.init(path, passphrase="big-store")
    add_source(store, "left", "csv")
    add_source(store, "right", "csv")
    add_pair(store, SourcePair(PAIR, Side("left"), Side("right")))
    with store.tx() as conn:
        conn.executemany(_INSERT, _rows("left", n_left, 1))
        # The right side is the left one a minute later: copied inside SQLite, which costs a
        # fraction of the Python round trip.
        picked = ", ".join(
            {"source": "'right'", "external_id": "'RIGHT-' || substr(external_id, 6)",
             "ts_us": "ts_us + 60000000"}.get(c, c)
            for c in _COLS
        )  # fmt: skip
        conn.execute(f"INSERT INTO records ({', '.join(_COLS)}) SELECT {picked} FROM records "
                     "WHERE source = 'left' ORDER BY id LIMIT ?", (n_right,))  # fmt: skip
        # Records written behind the record writer join their pair as it would have them
        # join (set-based admission, in this transaction), all open; then mix the states, differently
        # per side, so a pane merges its per-state index ranges.
        (last,) = conn.execute("SELECT max(id) FROM records").fetchone()
        admit_range(conn, 1, last)
        conn.execute("UPDATE pair_states SET state = CASE WHEN side = 'L' THEN "
                     "CASE record_id % 7 WHEN 0 THEN 'suggested' WHEN 3 THEN 'suggested' "
                     "WHEN 5 THEN 'matched' ELSE 'open' END ELSE "
                     "CASE record_id % 5 WHEN 0 THEN 'suggested' WHEN 1 THEN 'matched' "
                     "ELSE 'open' END END WHERE pair = ?", (PAIR,))  # fmt: skip
    return store


def expected_ids(store: Store, source: str, states: tuple[str, ...] = ("open", "suggested"),
                 *, desc: bool = False) -> list[int]:  # fmt: skip
    """Every id of the side in pane order (ts, id), straight from the records table and
    the pair's states."""
    order = "DESC" if desc else "ASC"
    marks = ", ".join("?" * len(states))
    return [r for (r,) in store.connection().execute(
        f"SELECT r.id FROM records r JOIN pair_states s ON s.record_id = r.id AND s.pair = ? "
        f"WHERE r.source = ? AND s.state IN ({marks}) AND r.removed = 0 "
        f"ORDER BY r.ts_us {order}, r.id {order}", (PAIR, source, *states))]  # fmt: skip
