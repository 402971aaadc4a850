"""Source pairs as first-class objects: listed, added (validated), edited and removed.

A pair's sides must name existing sources; the two sides must differ (a source reconciled
against itself only makes sense with two different accounts); a pair is removed only
while no closed session depends on it (its history would lose its meaning), and its sides
change only while it has no confirmed group (those groups were made for the old sides).
"""

from __future__ import annotations

from recon_tui.errors import PairError
from recon_tui.model import Side, SourcePair
from recon_tui.store import Store
from recon_tui.store import pairs as store_pairs
from recon_tui.store.groups import group_counts
from recon_tui.store.sessions import closed_sessions_of_pair
from recon_tui.store.sources import get_source

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class PairService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def list(self) -> list[SourcePair]:
        return store_pairs.list_pairs(self.store)

    def get(self, name: str) -> SourcePair | None:
        return store_pairs.get_pair(self.store, name)

    def _check(self, pair: SourcePair) -> None:
        if not pair.name or not set(pair.name) <= _NAME_CHARS:
            raise PairError(f"'{pair.name}' is not a pair name (letters, digits, - _ .)")
        for label, side in (("left", pair.left), ("right", pair.right)):
            if get_source(self.store, side.source) is None:
                raise PairError(f"{label} source '{side.source}' does not exist "
                                f"(see 'recon-tui source list')")  # fmt: skip
            if side.account is not None and not side.account.strip():
                raise PairError(f"{label} account is empty (leave it out for every account)")
        if pair.left.source == pair.right.source and (
            pair.left.account is None or pair.right.account is None
            or pair.left.account == pair.right.account
        ):
            raise PairError("both sides are the same records: give each side its own account")
        from matchers.rules import load_rules

        try:
            load_rules(pair.rules)
        except Exception as exc:
            raise PairError(f"rules '{pair.rules}' cannot be loaded: {exc}") from None

    def add(self, pair: SourcePair) -> SourcePair:
        """Add a new pair (refused if the name is taken or the sides make no sense)."""
        self._check(pair)
        with self.store.tx() as conn:
            if store_pairs.get_pair_in(conn, pair.name) is not None:
                raise PairError(f"pair '{pair.name}' already exists (edit it instead)")
            store_pairs.save_pair(conn, pair)
        return pair

    def edit(self, name: str, *, left: Side | None = None, right: Side | None = None,
             rules: str | None = None) -> SourcePair:  # fmt: skip
        """Change a pair's sides or rules; sides only while no confirmed group depends."""
        with self.store.tx() as conn:
            old = store_pairs.get_pair_in(conn, name)
            if old is None:
                raise PairError(f"no source pair '{name}' (see 'recon-tui pair list')")
            new = SourcePair(name, left or old.left, right or old.right, rules or old.rules)
            self._check(new)
            if (new.left, new.right) != (old.left, old.right):
                confirmed = sum(v for k, v in group_counts(conn, name).items()
                                if k.startswith("confirmed:"))  # fmt: skip
                if confirmed:
                    raise PairError(f"pair '{name}' has {confirmed:,} confirmed group(s) over its "
                                    f"sides: add a new pair instead of changing these")  # fmt: skip
            store_pairs.save_pair(conn, new)
        return new

    def remove(self, name: str) -> None:
        """Remove a pair; refused while a closed session depends on it."""
        with self.store.tx() as conn:
            if store_pairs.get_pair_in(conn, name) is None:
                raise PairError(f"no source pair '{name}' (see 'recon-tui pair list')")
            closed = closed_sessions_of_pair(conn, name)
            if closed:
                ids = ", ".join(str(s.id) for s in closed[:5])
                raise PairError(f"pair '{name}' is in closed session(s) {ids}: "
                                f"reopen or keep it")  # fmt: skip
            store_pairs.delete_pair(conn, name)
