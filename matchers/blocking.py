"""Blocking indexes: how a record finds its few plausible counterparts without an
all-pairs scan.

Three indexes per side, all kept current by ``add``/``remove``:

* keys: exact key (txid, normalised reference, end-to-end id) -> ids;
* amounts: (asset, sign, date bucket) -> ids sorted by |amount|, queried by an amount
  range and a date window. Amount alone would go quadratic on round amounts (100.00),
  hence the date bucket;
* families: (asset, sign, counterparty or reference family, date bucket) -> ids, for
  group rules (batched settlements, split fills).

Every probe is capped at ``max_block`` results. An oversized block falls back to
stricter keys (exact amount, then nearest dates) and is counted in ``stats`` so the
operator sees that some records were matched on a narrowed candidate set.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Iterable, Iterator

from .items import Item

KEY_FIELDS = ("txid", "reference", "end_to_end_id")
FAMILY_FIELDS = ("counterparty", "reference_family")


class SideIndex:
    """The blocking indexes of one side's open items."""

    def __init__(self, day_bucket: int, max_block: int, stats: Counter[str]) -> None:
        self.day_bucket = day_bucket
        self.max_block = max_block
        self.stats = stats
        self.keys: dict[tuple[str, str], list[int]] = {}
        self.amounts: dict[tuple[str, int, int], list[tuple[float, int]]] = {}
        self.families: dict[tuple[str, int, str, str, int], list[int]] = {}
        self.items: dict[int, Item] = {}

    # --- maintenance -------------------------------------------------------------------

    def bulk_add(self, items: Iterable[Item]) -> None:
        """Add many items; amount buckets are sorted once at the end (fast initial load)."""
        keys, amounts, families, store = self.keys, self.amounts, self.families, self.items
        b = self.day_bucket
        for it in items:
            store[it.id] = it
            if it.txid:
                keys.setdefault(("txid", it.txid), []).append(it.id)
            if it.ref:
                keys.setdefault(("reference", it.ref), []).append(it.id)
            if it.e2e:
                keys.setdefault(("end_to_end_id", it.e2e), []).append(it.id)
            db = it.day // b
            amounts.setdefault((it.asset, it.sign, db), []).append((it.mag, it.id))
            if it.cp:
                families.setdefault((it.asset, it.sign, "counterparty", it.cp, db), []).append(it.id)
            if it.family:
                families.setdefault(
                    (it.asset, it.sign, "reference_family", it.family, db), []
                ).append(it.id)
        for lst in amounts.values():
            lst.sort()

    def add(self, it: Item) -> None:
        self.remove(it.id)
        self.items[it.id] = it
        for k in self._key_keys(it):
            self.keys.setdefault(k, []).append(it.id)
        insort(self.amounts.setdefault(self._amount_key(it), []), (it.mag, it.id))
        for k in self._family_keys(it):
            self.families.setdefault(k, []).append(it.id)

    def remove(self, item_id: int) -> Item | None:
        it = self.items.pop(item_id, None)
        if it is None:
            return None
        for k in self._key_keys(it):
            _discard(self.keys, k, it.id)
        lst = self.amounts.get(self._amount_key(it))
        if lst is not None:
            i = bisect_left(lst, (it.mag, it.id))
            if i < len(lst) and lst[i][1] == it.id:
                del lst[i]
            if not lst:
                del self.amounts[self._amount_key(it)]
        for k in self._family_keys(it):
            _discard(self.families, k, it.id)
        return it

    def _key_keys(self, it: Item) -> Iterator[tuple[str, str]]:
        if it.txid:
            yield ("txid", it.txid)
        if it.ref:
            yield ("reference", it.ref)
        if it.e2e:
            yield ("end_to_end_id", it.e2e)

    def _amount_key(self, it: Item) -> tuple[str, int, int]:
        return (it.asset, it.sign, it.day // self.day_bucket)

    def _family_keys(self, it: Item) -> Iterator[tuple[str, int, str, str, int]]:
        db = it.day // self.day_bucket
        if it.cp:
            yield (it.asset, it.sign, "counterparty", it.cp, db)
        if it.family:
            yield (it.asset, it.sign, "reference_family", it.family, db)

    # --- probes ------------------------------------------------------------------------

    def by_key(self, key: str, value: str) -> list[int]:
        """Ids sharing an exact key; an oversized key block returns nothing (counted):
        a reference reused hundreds of times ("SALARY") identifies nothing."""
        ids = self.keys.get((key, value))
        if not ids:
            return []
        if len(ids) > self.max_block:
            self.stats["oversized_key_blocks"] += 1
            return []
        return ids

    def by_amount(
        self, asset: str, signs: tuple[int, ...], lo: float, hi: float, day_lo: int, day_hi: int,
        day: int, target: float,
    ) -> list[int]:
        """Ids with |amount| in [lo, hi] and date in [day_lo, day_hi], at most max_block.

        When more qualify, keep the nearest by (amount gap, date gap, id): deterministic,
        so incremental and full runs see the same narrowed block.
        """
        b = self.day_bucket
        items = self.items
        out: list[int] = []
        for sign in signs:
            for db in range(day_lo // b, day_hi // b + 1):
                lst = self.amounts.get((asset, sign, db))
                if not lst:
                    continue
                i = bisect_left(lst, (lo, -1))
                j = bisect_right(lst, (hi, 1 << 62))
                for _, iid in lst[i:j]:
                    d = items[iid].day
                    if day_lo <= d <= day_hi:
                        out.append(iid)
        if len(out) > self.max_block:
            self.stats["oversized_amount_blocks"] += 1
            out.sort(key=lambda i: (abs(items[i].mag - target), abs(items[i].day - day), i))
            del out[self.max_block :]
        return out

    def by_family(
        self, asset: str, signs: tuple[int, ...], key: str, value: str, day_lo: int, day_hi: int
    ) -> list[int]:
        """Ids of one counterparty / reference family in a date window (uncapped here;
        group matchers cap and count)."""
        b = self.day_bucket
        items = self.items
        out: list[int] = []
        for sign in signs:
            for db in range(day_lo // b, day_hi // b + 1):
                for iid in self.families.get((asset, sign, key, value, db), ()):
                    if day_lo <= items[iid].day <= day_hi:
                        out.append(iid)
        return out


def _discard(index: dict, key: object, item_id: int) -> None:  # type: ignore[type-arg]
    lst = index.get(key)
    if lst is None:
        return
    try:
        lst.remove(item_id)
    except ValueError:
        return
    if not lst:
        del index[key]
